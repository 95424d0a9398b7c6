"""Plans with activities, activity progress, evaluations, device sync watermarks, and the projection
of open deviations shown by `GET /groups/{id}`.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("group_id", sa.String(80), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_plans_group_id", "plans", ["group_id"])
    op.create_table(
        "activities",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("plan_id", sa.String(80), nullable=False),
        sa.Column("group_id", sa.String(80), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
    )
    op.create_index("ix_activities_plan_id", "activities", ["plan_id"])
    op.create_table(
        "progress_reports",
        sa.Column("progress_id", sa.String(80), primary_key=True),
        sa.Column("activity_id", sa.String(80), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_progress_reports_activity_id", "progress_reports", ["activity_id"])
    op.create_table(
        "evaluations",
        sa.Column("evaluation_id", sa.String(80), primary_key=True),
        sa.Column("group_id", sa.String(80), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_evaluations_group_id", "evaluations", ["group_id"])
    op.create_table(
        "device_syncs",
        sa.Column("device_id", sa.String(120), primary_key=True),
        sa.Column("facilitator_id", sa.String(80), nullable=False),
        sa.Column("synced_through", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "open_deviations",
        sa.Column("deviation_id", sa.String(80), primary_key=True),
        sa.Column("group_id", sa.String(80), nullable=False),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_open_deviations_group_id", "open_deviations", ["group_id"])


def downgrade() -> None:
    for table in ("open_deviations", "device_syncs", "evaluations", "progress_reports", "activities", "plans"):
        op.drop_table(table)
