"""How many items each device still holds after its latest sync, as the field app reports it.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device_syncs") as batch:
        batch.add_column(sa.Column("pending_count", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_syncs") as batch:
        batch.drop_column("pending_count")
