"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 12:37:13.880160
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('batches',
    sa.Column('batch_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('solve_status', sa.String(length=24), nullable=True),
    sa.Column('order_count', sa.Integer(), nullable=False),
    sa.Column('fill_count', sa.Integer(), nullable=False),
    sa.Column('volume', sa.BigInteger(), nullable=False),
    sa.Column('book', sa.JSON(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('check_ok', sa.Boolean(), nullable=True),
    sa.Column('violations', sa.JSON(), nullable=False),
    sa.Column('timings', sa.JSON(), nullable=False),
    sa.Column('coordinator', sa.String(length=80), nullable=False),
    sa.Column('started_ms', sa.BigInteger(), nullable=False),
    sa.Column('finished_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_batches'))
    )
    op.create_table('clients',
    sa.Column('client_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('eth_address', sa.String(length=42), nullable=True),
    sa.Column('registered_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_clients')),
    sa.UniqueConstraint('eth_address', name=op.f('uq_clients_eth_address'))
    )
    op.create_table('coordinator_lease',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('holder', sa.String(length=80), nullable=False),
    sa.Column('token', sa.BigInteger(), nullable=False),
    sa.Column('expires_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_coordinator_lease'))
    )
    op.create_table('currencies',
    sa.Column('symbol', sa.String(length=16), nullable=False),
    sa.Column('decimals', sa.Integer(), nullable=False),
    sa.Column('precision', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('symbol', name=op.f('pk_currencies'))
    )
    op.create_table('edges',
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_edges'))
    )
    op.create_table('fill_legs',
    sa.Column('batch_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('order_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('contract_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('lots', sa.BigInteger(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', 'order_id', 'contract_id', name=op.f('pk_fill_legs'))
    )
    op.create_table('historical_orders',
    sa.Column('order_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('client_id', sa.BigInteger(), nullable=False),
    sa.Column('client_order_id', sa.BigInteger(), nullable=True),
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('total_net_price', sa.BigInteger(), nullable=False),
    sa.Column('time_in_force', sa.String(length=24), nullable=False),
    sa.Column('all_or_none', sa.Boolean(), nullable=False),
    sa.Column('min_packages', sa.BigInteger(), nullable=False),
    sa.Column('packages', sa.BigInteger(), nullable=False),
    sa.Column('filled_packages', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('reject_reason', sa.String(length=60), nullable=True),
    sa.Column('admitted_ms', sa.BigInteger(), nullable=False),
    sa.Column('expire_ms', sa.BigInteger(), nullable=True),
    sa.Column('lock_underlying', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('lock_numeraire', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_historical_orders'))
    )
    with op.batch_alter_table('historical_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_historical_orders_client_id'), ['client_id'], unique=False)

    op.create_table('order_state_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('from_status', sa.String(length=40), nullable=True),
    sa.Column('to_status', sa.String(length=40), nullable=False),
    sa.Column('filled_packages', sa.BigInteger(), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.String(length=60), nullable=True),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_state_history'))
    )
    with op.batch_alter_table('order_state_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_state_history_order_id'), ['order_id'], unique=False)

    op.create_table('orders',
    sa.Column('order_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('client_id', sa.BigInteger(), nullable=False),
    sa.Column('client_order_id', sa.BigInteger(), nullable=True),
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('total_net_price', sa.BigInteger(), nullable=False),
    sa.Column('time_in_force', sa.String(length=24), nullable=False),
    sa.Column('all_or_none', sa.Boolean(), nullable=False),
    sa.Column('min_packages', sa.BigInteger(), nullable=False),
    sa.Column('packages', sa.BigInteger(), nullable=False),
    sa.Column('filled_packages', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('reject_reason', sa.String(length=60), nullable=True),
    sa.Column('admitted_ms', sa.BigInteger(), nullable=False),
    sa.Column('expire_ms', sa.BigInteger(), nullable=True),
    sa.Column('lock_underlying', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('lock_numeraire', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_orders'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_admitted_ms'), ['admitted_ms'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_client_id'), ['client_id'], unique=False)

    op.create_table('outbox',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_outbox'))
    )
    op.create_table('currency_pairs',
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('underlying', sa.String(length=16), nullable=False),
    sa.Column('numeraire', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['numeraire'], ['currencies.symbol'], name=op.f('fk_currency_pairs_numeraire_currencies')),
    sa.ForeignKeyConstraint(['underlying'], ['currencies.symbol'], name=op.f('fk_currency_pairs_underlying_currencies')),
    sa.PrimaryKeyConstraint('pair', name=op.f('pk_currency_pairs'))
    )
    op.create_table('fills',
    sa.Column('batch_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('order_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('client_id', sa.BigInteger(), nullable=False),
    sa.Column('packages', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.batch_id'], name=op.f('fk_fills_batch_id_batches')),
    sa.PrimaryKeyConstraint('batch_id', 'order_id', name=op.f('pk_fills'))
    )
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fills_order_id'), ['order_id'], unique=False)

    op.create_table('fund_locks',
    sa.Column('client_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('currency', sa.String(length=16), nullable=False),
    sa.Column('fund_lock_value', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('order_value', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('settle_value', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], name=op.f('fk_fund_locks_client_id_clients')),
    sa.ForeignKeyConstraint(['currency'], ['currencies.symbol'], name=op.f('fk_fund_locks_currency_currencies')),
    sa.PrimaryKeyConstraint('client_id', 'currency', name=op.f('pk_fund_locks'))
    )
    op.create_table('cash_movements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('client_id', sa.BigInteger(), nullable=False),
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('origin_id', sa.BigInteger(), nullable=False),
    sa.Column('underlying_amount', sa.BigInteger(), nullable=False),
    sa.Column('strike_amount', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], name=op.f('fk_cash_movements_client_id_clients')),
    sa.ForeignKeyConstraint(['pair'], ['currency_pairs.pair'], name=op.f('fk_cash_movements_pair_currency_pairs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_movements')),
    sa.UniqueConstraint('key', name=op.f('uq_cash_movements_key'))
    )
    with op.batch_alter_table('cash_movements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cash_movements_origin_origin_id'), ['origin', 'origin_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cash_movements_state'), ['state'], unique=False)

    op.create_table('contracts',
    sa.Column('contract_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('payoff', sa.String(length=16), nullable=False),
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('expiry', sa.Integer(), nullable=False),
    sa.Column('strike', sa.BigInteger(), nullable=True),
    sa.Column('tick_size', sa.BigInteger(), nullable=False),
    sa.Column('lot_size', sa.BigInteger(), nullable=False),
    sa.Column('listed_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['pair'], ['currency_pairs.pair'], name=op.f('fk_contracts_pair_currency_pairs')),
    sa.PrimaryKeyConstraint('contract_id', name=op.f('pk_contracts'))
    )
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contracts_pair_expiry'), ['pair', 'expiry'], unique=False)

    op.create_table('lockups',
    sa.Column('client_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('expiry', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('underlying_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('numeraire_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], name=op.f('fk_lockups_client_id_clients')),
    sa.ForeignKeyConstraint(['pair'], ['currency_pairs.pair'], name=op.f('fk_lockups_pair_currency_pairs')),
    sa.PrimaryKeyConstraint('client_id', 'pair', 'expiry', name=op.f('pk_lockups'))
    )
    op.create_table('spot_prices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pair', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('observed_ms', sa.BigInteger(), nullable=False),
    sa.Column('is_fixing', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.ForeignKeyConstraint(['pair'], ['currency_pairs.pair'], name=op.f('fk_spot_prices_pair_currency_pairs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spot_prices'))
    )
    with op.batch_alter_table('spot_prices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_prices_pair_observed_ms'), ['pair', 'observed_ms'], unique=False)

    op.create_table('cash_movement_positions',
    sa.Column('movement_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('contract_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.contract_id'], name=op.f('fk_cash_movement_positions_contract_id_contracts')),
    sa.ForeignKeyConstraint(['movement_id'], ['cash_movements.id'], name=op.f('fk_cash_movement_positions_movement_id_cash_movements')),
    sa.PrimaryKeyConstraint('movement_id', 'contract_id', name=op.f('pk_cash_movement_positions'))
    )
    op.create_table('cash_movement_trackings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('movement_id', sa.BigInteger(), nullable=False),
    sa.Column('from_state', sa.String(length=24), nullable=True),
    sa.Column('to_state', sa.String(length=24), nullable=False),
    sa.Column('tx_hash', sa.String(length=80), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['movement_id'], ['cash_movements.id'], name=op.f('fk_cash_movement_trackings_movement_id_cash_movements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_movement_trackings'))
    )
    with op.batch_alter_table('cash_movement_trackings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cash_movement_trackings_movement_id'), ['movement_id'], unique=False)

    op.create_table('order_legs',
    sa.Column('order_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('contract_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('lots', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.contract_id'], name=op.f('fk_order_legs_contract_id_contracts')),
    sa.PrimaryKeyConstraint('order_id', 'contract_id', name=op.f('pk_order_legs'))
    )
    op.create_table('positions',
    sa.Column('client_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('contract_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('lots', sa.BigInteger(), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], name=op.f('fk_positions_client_id_clients')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.contract_id'], name=op.f('fk_positions_contract_id_contracts')),
    sa.PrimaryKeyConstraint('client_id', 'contract_id', name=op.f('pk_positions'))
    )
    op.create_table('reference_prices',
    sa.Column('contract_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('low_range', sa.BigInteger(), nullable=False),
    sa.Column('high_range', sa.BigInteger(), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.contract_id'], name=op.f('fk_reference_prices_contract_id_contracts')),
    sa.PrimaryKeyConstraint('contract_id', name=op.f('pk_reference_prices'))
    )



def downgrade() -> None:

    op.drop_table('reference_prices')
    op.drop_table('positions')
    op.drop_table('order_legs')
    with op.batch_alter_table('cash_movement_trackings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cash_movement_trackings_movement_id'))

    op.drop_table('cash_movement_trackings')
    op.drop_table('cash_movement_positions')
    with op.batch_alter_table('spot_prices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_prices_pair_observed_ms'))

    op.drop_table('spot_prices')
    op.drop_table('lockups')
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contracts_pair_expiry'))

    op.drop_table('contracts')
    with op.batch_alter_table('cash_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cash_movements_state'))
        batch_op.drop_index(batch_op.f('ix_cash_movements_origin_origin_id'))

    op.drop_table('cash_movements')
    op.drop_table('fund_locks')
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fills_order_id'))

    op.drop_table('fills')
    op.drop_table('currency_pairs')
    op.drop_table('outbox')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_client_id'))
        batch_op.drop_index(batch_op.f('ix_orders_admitted_ms'))

    op.drop_table('orders')
    with op.batch_alter_table('order_state_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_state_history_order_id'))

    op.drop_table('order_state_history')
    with op.batch_alter_table('historical_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_historical_orders_client_id'))

    op.drop_table('historical_orders')
    op.drop_table('fill_legs')
    op.drop_table('edges')
    op.drop_table('currencies')
    op.drop_table('coordinator_lease')
    op.drop_table('clients')
    op.drop_table('batches')

