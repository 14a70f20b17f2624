"""Fixtures: a store on each engine (SQLite file, throwaway PostgreSQL), clocks, books."""

from __future__ import annotations

import pytest

from coordinator.clock import ManualClock
from coordinator.persistence import Store
from coordinator.persistence.migrate import upgrade
from tests.pg import PgServer

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = PgServer.start()
    except Exception as e:  # never a skip: CI installs PostgreSQL
        pytest.fail(f"cannot start the throwaway PostgreSQL server: {e}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(params=ENGINES)
def db_url(request, tmp_path):
    """An empty database on each engine (no schema)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ccp.sqlite3'}"
    return request.getfixturevalue("pg_server").create_database()


@pytest.fixture
def store(db_url):
    """A store with the current schema."""
    s = Store.open(db_url)
    upgrade(s.engine)
    yield s
    s.dispose()


@pytest.fixture
def clock():
    return ManualClock(1_700_000_000_000)
