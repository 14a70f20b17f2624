"""PostgreSQL plans every execution of the store's statements for the tables as they are
(``plan_cache_mode = force_custom_plan``, ``coordinator.persistence.engine``): psycopg prepares a
statement after 5 executions and PostgreSQL may then keep one generic plan, chosen while a table
was small, until the next ANALYZE. On a fresh store taking 2,000 orders/s the intake's
clientOrderId lookup grew from 2.6 to 9 ms a call within a minute that way (README, stop 25)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from coordinator.persistence import Store

pytestmark = pytest.mark.postgres


def test_every_connection_of_the_store_plans_for_the_tables_as_they_are(pg_server):
    store = Store.open(pg_server.create_database())
    try:
        with store.read() as a, store.read() as b:  # two pooled connections
            modes = {tx.conn.execute(text("SHOW plan_cache_mode")).scalar() for tx in (a, b)}
        assert modes == {"force_custom_plan"}
    finally:
        store.dispose()


def test_an_orders_fill_legs_are_read_through_an_index(pg_server):
    """The stream hub of every API process reads the fill legs of the orders of each
    EXEC_REPORT (``fill_legs_of``): by ``order_id``, which fill_legs' primary key (batch first)
    does not lead with — without ``ix_fill_legs_order_id`` every read scanned every fill."""
    from coordinator.persistence.migrate import upgrade

    store = Store.open(pg_server.create_database())
    try:
        upgrade(store.engine)
        with store.write() as tx:
            tx.conn.execute(text(
                "INSERT INTO fill_legs (batch_id, order_id, contract_id, lots, price) "
                "SELECT i / 100, i, 1 + i % 7, 1, 100 FROM generate_series(1, 20000) AS i"))
            tx.conn.execute(text("ANALYZE fill_legs"))
        with store.read() as tx:
            plan = "\n".join(r[0] for r in tx.conn.execute(text(
                "EXPLAIN SELECT * FROM fill_legs WHERE order_id IN (17, 4242, 19999) "
                "ORDER BY order_id, batch_id, contract_id")))
        assert "ix_fill_legs_order_id" in plan, plan
    finally:
        store.dispose()
