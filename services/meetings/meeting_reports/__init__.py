"""Meeting reports: one held meeting with attendance, idempotent on the client's `report_id`."""
