"""Add owners and a things.owner_id column.

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
    op.create_table("owners", sa.Column("id", sa.Integer, primary_key=True))
    with op.batch_alter_table("things") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("things") as batch:
        batch.drop_column("owner_id")
    op.drop_table("owners")
