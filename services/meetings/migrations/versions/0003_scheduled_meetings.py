"""Scheduled meetings: one row per group and period with its due time.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_meetings",
        sa.Column("group_id", sa.String(80), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scheduled_meetings")
