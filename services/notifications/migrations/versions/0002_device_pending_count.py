"""How many items each facilitator's device still holds after its latest sync (the console's
"3 catatan masih di HP"), from `meetings.device_synced.v1`.

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
    with op.batch_alter_table("device_syncs") as batch:
        batch.add_column(sa.Column("pending_count", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_syncs") as batch:
        batch.drop_column("pending_count")
