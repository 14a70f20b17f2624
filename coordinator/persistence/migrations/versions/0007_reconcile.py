"""reconcile: settlement_retries (operators' requests to resubmit a reverted batch)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement_retries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("backend_id", sa.BigInteger(), nullable=False),
        sa.Column("resubmissions", sa.Integer(), nullable=False),
        sa.Column("requested_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["backend_id"], ["settlement_batches.backend_id"],
                                name=op.f("fk_settlement_retries_backend_id_settlement_batches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_retries")),
    )
    op.create_index(op.f("ix_settlement_retries_backend_id"), "settlement_retries",
                    ["backend_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_settlement_retries_backend_id"), table_name="settlement_retries")
    op.drop_table("settlement_retries")
