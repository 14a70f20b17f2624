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
