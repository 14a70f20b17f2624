"""settlement: batches, their parts and transactions, applied chain events

Revision ID: 0004
Revises: 0003 (the lead re-chains the numbered migrations at the merge)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement_batches",
        sa.Column("backend_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("pair", sa.String(length=40), nullable=False),
        sa.Column("ledger", sa.String(length=42), nullable=False),
        sa.Column("gas_limit", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("resubmissions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("final", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("applied_block", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("backend_id", name=op.f("pk_settlement_batches")),
    )
    op.create_index(op.f("ix_settlement_batches_final"), "settlement_batches", ["final"])
    op.create_table(
        "settlement_parts",
        sa.Column("backend_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("part_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("movement_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("underlying_amount", sa.BigInteger(), nullable=False),
        sa.Column("strike_amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=True),
        sa.ForeignKeyConstraint(["backend_id"], ["settlement_batches.backend_id"],
                                name=op.f("fk_settlement_parts_backend_id_settlement_batches")),
        sa.ForeignKeyConstraint(["movement_id"], ["cash_movements.id"],
                                name=op.f("fk_settlement_parts_movement_id_cash_movements")),
        sa.PrimaryKeyConstraint("backend_id", "part_no", name=op.f("pk_settlement_parts")),
    )
    op.create_index(op.f("ix_settlement_parts_movement_id"), "settlement_parts",
                    ["movement_id"])
    op.create_table(
        "settlement_part_positions",
        sa.Column("backend_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("part_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("contract_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("backend_id", "part_no", "contract_id",
                                name=op.f("pk_settlement_part_positions")),
    )
    op.create_table(
        "settlement_txs",
        sa.Column("tx_hash", sa.String(length=80), nullable=False),
        sa.Column("backend_id", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("replacement", sa.Boolean(), nullable=False),
        sa.Column("sent_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["backend_id"], ["settlement_batches.backend_id"],
                                name=op.f("fk_settlement_txs_backend_id_settlement_batches")),
        sa.PrimaryKeyConstraint("tx_hash", name=op.f("pk_settlement_txs")),
    )
    op.create_index(op.f("ix_settlement_txs_backend_id"), "settlement_txs", ["backend_id"])
    op.create_table(
        "chain_events",
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", sa.String(length=80), nullable=False),
        sa.Column("block_hash", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=True),
        sa.Column("client_id", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=42), nullable=True),
        sa.Column("amount", sa.String(length=80), nullable=True),
        sa.Column("balance", sa.String(length=80), nullable=True),
        sa.Column("backend_id", sa.BigInteger(), nullable=True),
        sa.Column("applied_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index", name=op.f("pk_chain_events")),
    )
    op.create_index(op.f("ix_chain_events_address"), "chain_events", ["address"])


def downgrade() -> None:
    op.drop_index(op.f("ix_chain_events_address"), table_name="chain_events")
    op.drop_table("chain_events")
    op.drop_index(op.f("ix_settlement_txs_backend_id"), table_name="settlement_txs")
    op.drop_table("settlement_txs")
    op.drop_table("settlement_part_positions")
    op.drop_index(op.f("ix_settlement_parts_movement_id"), table_name="settlement_parts")
    op.drop_table("settlement_parts")
    op.drop_index(op.f("ix_settlement_batches_final"), table_name="settlement_batches")
    op.drop_table("settlement_batches")
