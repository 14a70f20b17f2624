"""background: price aggregations, settlement prices, expiry runs, expired contracts, alerts,
keepers and their deliveries

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('raised_ms', sa.BigInteger(), nullable=False),
    sa.Column('cleared_ms', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    op.create_index(op.f('ix_alerts_key'), 'alerts', ['key'], unique=False)
    op.create_table('keepers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keepers'))
    )
    op.create_table('keeper_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('keeper_id', sa.BigInteger(), nullable=False),
    sa.Column('event_seq', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_ms', sa.BigInteger(), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('delivered_ms', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['keeper_id'], ['keepers.id'], name=op.f('fk_keeper_deliveries_keeper_id_keepers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keeper_deliveries'))
    )
    op.create_index(op.f('ix_keeper_deliveries_keeper_id_event_seq'), 'keeper_deliveries', ['keeper_id', 'event_seq'], unique=True)
    op.create_index(op.f('ix_keeper_deliveries_status_next_attempt_ms'), 'keeper_deliveries', ['status', 'next_attempt_ms'], unique=False)
    op.create_table('expiry_runs',
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('expiry', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('clients', sa.Integer(), nullable=False),
    sa.Column('movements', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('settled_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['pair'], ['currency_pairs.pair'], name=op.f('fk_expiry_runs_pair_currency_pairs')),
    sa.PrimaryKeyConstraint('pair', 'expiry', name=op.f('pk_expiry_runs'))
    )
    op.create_table('keeper_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('delivery_id', sa.BigInteger(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.Column('duration_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['keeper_deliveries.id'], name=op.f('fk_keeper_attempts_delivery_id_keeper_deliveries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keeper_attempts'))
    )
    op.create_index(op.f('ix_keeper_attempts_delivery_id'), 'keeper_attempts', ['delivery_id'], unique=False)
    op.create_table('price_aggregations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=True),
    sa.Column('observed_ms', sa.BigInteger(), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('spot_price_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['pair'], ['currency_pairs.pair'], name=op.f('fk_price_aggregations_pair_currency_pairs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_aggregations'))
    )
    op.create_index(op.f('ix_price_aggregations_pair_observed_ms'), 'price_aggregations', ['pair', 'observed_ms'], unique=False)
    op.create_table('settlement_prices',
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('expiry', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('set_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['pair'], ['currency_pairs.pair'], name=op.f('fk_settlement_prices_pair_currency_pairs')),
    sa.PrimaryKeyConstraint('pair', 'expiry', name=op.f('pk_settlement_prices'))
    )
    op.create_table('expired_contracts',
    sa.Column('contract_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('settlement_price', sa.BigInteger(), nullable=False),
    sa.Column('expired_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.contract_id'], name=op.f('fk_expired_contracts_contract_id_contracts')),
    sa.PrimaryKeyConstraint('contract_id', name=op.f('pk_expired_contracts'))
    )


def downgrade() -> None:
    op.drop_table('expired_contracts')
    op.drop_table('settlement_prices')
    op.drop_index(op.f('ix_price_aggregations_pair_observed_ms'), table_name='price_aggregations')
    op.drop_table('price_aggregations')
    op.drop_index(op.f('ix_keeper_attempts_delivery_id'), table_name='keeper_attempts')
    op.drop_table('keeper_attempts')
    op.drop_table('expiry_runs')
    op.drop_index(op.f('ix_keeper_deliveries_status_next_attempt_ms'), table_name='keeper_deliveries')
    op.drop_index(op.f('ix_keeper_deliveries_keeper_id_event_seq'), table_name='keeper_deliveries')
    op.drop_table('keeper_deliveries')
    op.drop_table('keepers')
    op.drop_index(op.f('ix_alerts_key'), table_name='alerts')
    op.drop_table('alerts')
