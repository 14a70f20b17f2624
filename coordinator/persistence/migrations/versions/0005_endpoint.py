"""endpoint: login nonces, sessions, contract delistings, orders by (client, clientOrderId)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_nonces",
        sa.Column("nonce", sa.String(length=120), nullable=False),
        sa.Column("eth_address", sa.String(length=42), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_auth_nonces")),
    )
    op.create_index(op.f("ix_auth_nonces_expires_ms"), "auth_nonces", ["expires_ms"])
    op.create_table(
        "auth_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("eth_address", sa.String(length=42), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"],
                                name=op.f("fk_auth_sessions_client_id_clients")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_auth_sessions")),
    )
    op.create_index(op.f("ix_auth_sessions_expires_ms"), "auth_sessions", ["expires_ms"])
    op.create_table(
        "contract_delistings",
        sa.Column("contract_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("delisted_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.contract_id"],
                                name=op.f("fk_contract_delistings_contract_id_contracts")),
        sa.PrimaryKeyConstraint("contract_id", name=op.f("pk_contract_delistings")),
    )
    op.create_index(op.f("ix_orders_client_id_client_order_id"), "orders",
                    ["client_id", "client_order_id"])
    op.create_index(op.f("ix_historical_orders_client_id_client_order_id"),
                    "historical_orders", ["client_id", "client_order_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_historical_orders_client_id_client_order_id"),
                  table_name="historical_orders")
    op.drop_index(op.f("ix_orders_client_id_client_order_id"), table_name="orders")
    op.drop_table("contract_delistings")
    op.drop_index(op.f("ix_auth_sessions_expires_ms"), table_name="auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_index(op.f("ix_auth_nonces_expires_ms"), table_name="auth_nonces")
    op.drop_table("auth_nonces")
