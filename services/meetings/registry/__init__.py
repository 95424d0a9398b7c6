"""Registry: regions, supervisors, facilitators and groups (upserts publish to `registry.events`)."""
