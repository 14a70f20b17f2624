"""Fixtures every test package shares: the session's throwaway PostgreSQL server and an empty
database on each engine (SQLite file, PostgreSQL)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tests.pg import ENGINES, PgServer

# The suite is a gate: every run draws the same examples, so a failure is the code's, never the
# draw's (CI included). Fresh random examples, to look for counterexamples:
# HYPOTHESIS_PROFILE=explore .venv/bin/python -m pytest --hypothesis-seed=N ... — what that
# finds is kept as an explicit test (tests/solver_models/test_pipeline_properties.py has five).
settings.register_profile("gate", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))


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
