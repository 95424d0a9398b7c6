"""Two-way evaluations (evaluasi): facilitator ↔ group, and supervisor → facilitator."""
