"""intake: the order id sequence (PostgreSQL) — venue order ids of the client API

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: max + 1 under its writer lock
    op.execute("CREATE SEQUENCE order_ids")
    # past every id stored at the time of the upgrade (live and historical)
    op.execute("SELECT setval('order_ids', greatest("
               "(SELECT coalesce(max(order_id), 0) FROM orders), "
               "(SELECT coalesce(max(order_id), 0) FROM historical_orders)) + 1, false)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE order_ids")
