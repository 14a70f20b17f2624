"""Fixtures every test package shares: the session's throwaway PostgreSQL server and an empty
database on each engine (SQLite file, PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.pg import ENGINES, PgServer


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
