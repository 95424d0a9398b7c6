"""The group read model: `GET /groups/{id}` with recent meetings and open deviations."""
