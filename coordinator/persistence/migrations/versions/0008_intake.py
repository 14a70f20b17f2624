"""intake: order_single_legs (the live single-leg orders by client, contract and side)

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_single_legs",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], ondelete="CASCADE",
                                name=op.f("fk_order_single_legs_order_id_orders")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_single_legs")),
    )
    op.create_index(op.f("ix_order_single_legs_client_id_contract_id_side"),
                    "order_single_legs", ["client_id", "contract_id", "side"])
    # The live book's single-leg orders at the time of the upgrade.
    op.execute(
        "INSERT INTO order_single_legs (order_id, client_id, contract_id, side) "
        "SELECT o.order_id, o.client_id, l.contract_id, l.side "
        "FROM orders o JOIN order_legs l ON l.order_id = o.order_id "
        "WHERE (SELECT count(*) FROM order_legs m WHERE m.order_id = o.order_id) = 1")


def downgrade() -> None:
    op.drop_index(op.f("ix_order_single_legs_client_id_contract_id_side"),
                  table_name="order_single_legs")
    op.drop_table("order_single_legs")
