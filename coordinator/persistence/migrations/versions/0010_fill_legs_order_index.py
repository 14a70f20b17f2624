"""streams: fill_legs by order — the stream hub reads an order's fill legs for every EXEC_REPORT

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # fill_legs' primary key starts with batch_id: `WHERE order_id IN (…)` (the stream hub of
    # every API process, coordinator.persistence.streams.fill_legs_of) scanned every fill ever
    op.create_index(op.f("ix_fill_legs_order_id"), "fill_legs", ["order_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fill_legs_order_id"), table_name="fill_legs")
