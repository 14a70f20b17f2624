"""Migrations: `ccp db upgrade` creates the schema, is idempotent; `ccp db check` tells."""

from __future__ import annotations

from importlib import resources

from sqlalchemy import inspect

from coordinator.persistence import Store
from coordinator.persistence.migrate import downgrade, head_revision, status, upgrade
from coordinator.persistence.tables import metadata
from venue.cli import main


def _schema(engine) -> dict:
    insp = inspect(engine)
    out = {}
    for name in sorted(insp.get_table_names()):
        out[name] = ([(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
                     sorted(str(i["name"]) for i in insp.get_indexes(name)))
    return out


def test_upgrade_creates_every_table_and_is_idempotent(db_url):
    store = Store.open(db_url)
    try:
        assert not status(store.engine).is_current
        assert upgrade(store.engine) == (None, head_revision())
        first = _schema(store.engine)
        assert set(metadata.tables) <= set(first)
        assert upgrade(store.engine) == (head_revision(), head_revision())
        assert _schema(store.engine) == first
        st = status(store.engine)
        assert st.is_current, st.describe()
        assert st.differences == ()
    finally:
        store.dispose()


def test_downgrade_to_nothing_then_upgrade_again(db_url):
    store = Store.open(db_url)
    try:
        upgrade(store.engine)
        downgrade(store.engine, "base")
        assert status(store.engine).current is None
        assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
        upgrade(store.engine)
        assert status(store.engine).is_current
    finally:
        store.dispose()


def test_cli_upgrade_twice_and_check(db_url, capsys):
    assert main(["db", "check", "--db", db_url]) == 1
    assert "run `ccp db upgrade`" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert "upgraded" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert main(["db", "check", "--db", db_url]) == 0
    assert "current" in capsys.readouterr().out


def test_check_notices_a_schema_that_drifted(db_url, capsys):
    store = Store.open(db_url)
    try:
        upgrade(store.engine)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE stray (x INTEGER)")
        st = status(store.engine)
        assert not st.is_current
        assert "stray" in st.describe()
    finally:
        store.dispose()
    assert main(["db", "check", "--db", db_url]) == 1


def test_cli_bad_url_is_bad_input(capsys):
    assert main(["db", "check", "--db", "mysql://nowhere/x"]) == 2
    assert "database_url" in capsys.readouterr().err


def test_migration_files_ship_inside_the_package():
    root = resources.files("coordinator.persistence") / "migrations"
    assert (root / "env.py").is_file()
    assert (root / "script.py.mako").is_file()
    versions = [p.name for p in (root / "versions").iterdir() if p.name.endswith(".py")]
    assert any(v.startswith("0001_") for v in versions)
