"""``Tx.deferred_inserts`` (PostgreSQL): the rows ``insert_rows`` queues are sent in one
pipeline of ``INSERT … SELECT FROM unnest(array literals)``; they must be stored exactly as
the COPY of ``insert_rows`` stores them, whatever the values (quotes, backslashes, braces,
commas, the word NULL, unicode, empty strings, None, extreme integers, JSON text)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, BigInteger, Boolean, Column, MetaData, String, Table, select

from coordinator.persistence import Store
from coordinator.persistence.store import Tx

META = MetaData()


def _columns() -> list[Column]:
    return [Column("id", BigInteger, primary_key=True, autoincrement=False),
            Column("n", BigInteger), Column("s", String(64)), Column("b", Boolean),
            Column("j", JSON)]


COPIED = Table("t_copied", META, *_columns())
DEFERRED = Table("t_deferred", META, *_columns())

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=20) | st.sampled_from(['NULL', '"', '\\', '{}', 'a,b', ' ', '\\"', ''])
ROWS = st.lists(st.tuples(st.none() | st.integers(-2**63, 2**63 - 1), st.none() | TEXT,
                          st.none() | st.booleans(),
                          st.none() | st.dictionaries(TEXT, TEXT | st.integers(), max_size=3)),
                min_size=1, max_size=12)


@pytest.fixture(scope="module")
def pg_store(pg_server):
    store = Store.open(pg_server.create_database())
    META.create_all(store.engine)
    yield store
    store.dispose()


@pytest.mark.postgres
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ROWS)
def test_deferred_inserts_store_what_copy_stores(pg_store, rows):
    dicts = [{"id": i, "n": n, "s": s, "b": b, "j": None if j is None else json.dumps(j)}
             for i, (n, s, b, j) in enumerate(rows)]
    with pg_store.engine.begin() as conn:
        conn.execute(COPIED.delete())
        conn.execute(DEFERRED.delete())
    with pg_store.write() as tx:
        assert isinstance(tx, Tx)
        tx.insert_rows(COPIED, dicts)  # COPY
        with tx.deferred_inserts():
            tx.insert_rows(DEFERRED, dicts)
            with tx.conn.begin_nested():  # nothing is sent before the block ends
                assert tx.conn.execute(select(DEFERRED)).all() == []
    with pg_store.read() as tx:
        copied = tx.conn.execute(select(COPIED).order_by(COPIED.c.id)).all()
        deferred = tx.conn.execute(select(DEFERRED).order_by(DEFERRED.c.id)).all()
    assert deferred == copied
    assert [tuple(r)[1:4] for r in deferred] == [(n, s, b) for n, s, b, _ in rows]
    assert [r.j for r in deferred] == [j for _, _, _, j in rows]
