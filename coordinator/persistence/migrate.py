"""Schema migrations: upgrade to the newest revision (idempotent) and check whether current."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from coordinator.persistence.errors import translate_errors
from coordinator.persistence.tables import metadata

MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None  # the database's revision (None: no schema)
    head: str  # the newest revision this code knows
    differences: tuple[str, ...] = ()  # tables/columns that differ from the code's model

    @property
    def is_current(self) -> bool:
        return self.current == self.head and not self.differences

    def describe(self) -> str:
        if self.current is None:
            return f"no schema (newest revision {self.head}): run `ccp db upgrade`"
        if self.current != self.head:
            return (f"schema at revision {self.current}, newest is {self.head}: "
                    f"run `ccp db upgrade`")
        if self.differences:
            return (f"schema at revision {self.head} but differs from the model: "
                    + "; ".join(self.differences))
        return f"schema is current (revision {self.head})"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision``; returns (revision before, revision after)."""
    with translate_errors(), engine.begin() as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after


def downgrade(engine: Engine, revision: str) -> None:
    with translate_errors(), engine.begin() as conn:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def status(engine: Engine) -> SchemaStatus:
    with translate_errors(), engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        current = ctx.get_current_revision()
        diffs: tuple[str, ...] = ()
        if current is not None:
            diffs = tuple(_describe(d) for d in compare_metadata(ctx, metadata))
    return SchemaStatus(current, head_revision(), diffs)


def _describe(diff) -> str:
    if isinstance(diff, list):
        return ", ".join(_describe(d) for d in diff)
    op, *rest = diff
    names = [getattr(x, "name", None) or str(x) for x in rest if x is not None][:3]
    return f"{op} {' '.join(str(n) for n in names)}"
