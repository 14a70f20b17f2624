"""order types: order_flags (reduce-only orders)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_flags",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("reduce_only", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_flags")),
    )


def downgrade() -> None:
    op.drop_table("order_flags")
