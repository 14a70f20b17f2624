"""Coordinator settings: strict (unknown keys rejected), defaults in one place.

Precedence, lowest first: the defaults below → a config file (TOML or JSON; ``--config FILE`` or
``$CCP_CONFIG``) → environment variables ``CCP_<NAME>`` (e.g. ``CCP_DATABASE_URL``) → explicit
overrides (command-line options). A key the settings do not know is an error, in a file and in
an override; a value of the wrong type is an error naming the key and where it came from.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "CCP_"
CONFIG_ENV = "CCP_CONFIG"


class SettingsError(ValueError):
    """A settings key that does not exist, or a value of the wrong type or range."""


@dataclass(frozen=True)
class Settings:
    """Everything the coordinator reads from its environment.

    * ``database_url`` — SQLAlchemy URL: ``sqlite:///path`` (the embedded default) or
      ``postgresql+psycopg://user@host:port/db``.
    * ``cadence_seconds`` — time between auction cut-offs (auction.md §6).
    * ``end_of_trading_hours`` — a contract stops trading this long before its expiry.
    * ``lease_seconds`` — how long the coordinator's lease lasts without renewal.
    * ``lease_wait`` — a second coordinator waits for the lease (true) or exits (false).
    * ``solver`` — solver parameters (``SolverParams`` keys), recorded with every batch.
    * ``check_replication`` / ``check_bands`` — options of the independent check.
    * ``apply_retries`` — how often an auction is re-cut when its book changed under it.
    * ``outbox_poll_seconds`` — how often a publisher without LISTEN/NOTIFY polls.

    The venue's process roles (``ccp run``, ``ccp serve``; ``venue/``):

    * ``venue_host`` / ``venue_port`` — where ``ccp serve api`` listens (``--port`` overrides).
      The chain of ``ccp serve`` comes from the ``chain_…`` settings of settlement.
    """

    database_url: str = "sqlite:///ccp.sqlite3"
    cadence_seconds: float = 60.0
    end_of_trading_hours: float = 12.0
    lease_seconds: float = 30.0
    lease_wait: bool = False
    solver: Mapping[str, Any] = field(default_factory=dict)
    check_replication: bool = True
    check_bands: bool = True
    apply_retries: int = 3
    outbox_poll_seconds: float = 1.0
    # --- venue ---
    venue_host: str = "127.0.0.1"
    venue_port: int = 8078

    def __post_init__(self) -> None:
        for name in ("cadence_seconds", "lease_seconds", "outbox_poll_seconds"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        if self.end_of_trading_hours < 0:
            raise SettingsError("end_of_trading_hours must not be negative")
        if self.apply_retries < 0:
            raise SettingsError("apply_retries must not be negative")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise SettingsError(f"database_url must be a sqlite:// or postgresql:// URL, "
                                f"got {self.database_url!r}")
        object.__setattr__(self, "solver", dict(self.solver))
        if not 0 < self.venue_port < 65536:
            raise SettingsError(f"venue_port must be a TCP port, got {self.venue_port}")

    @property
    def cadence_ms(self) -> int:
        return round(self.cadence_seconds * 1000)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["solver"] = dict(self.solver)
        return d

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "settings",
                     base: Settings | None = None) -> Settings:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise SettingsError(f"{source}: unknown setting(s) {', '.join(unknown)} "
                                f"(known: {', '.join(known)})")
        values = {k: _coerce(k, v, str(known[k].type), source) for k, v in data.items()}
        try:
            return replace(base or cls(), **values)
        except SettingsError as e:
            raise SettingsError(f"{source}: {e}") from None


def _coerce(name: str, value: Any, typ: str, source: str) -> Any:
    bad = SettingsError(f"{source}: {name}: bad value {value!r} (expected {typ})")
    if typ == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise bad
    if typ == "int":
        if isinstance(value, bool):
            raise bad
        try:
            if isinstance(value, float) and not value.is_integer():
                raise bad
            return int(value)
        except (TypeError, ValueError):
            raise bad from None
    if typ == "float":
        if isinstance(value, bool):
            raise bad
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad from None
    if typ == "str":
        if not isinstance(value, str):
            raise bad
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise bad from None
    if not isinstance(value, Mapping):
        raise bad
    return dict(value)


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as e:
        raise SettingsError(f"{p}: cannot read config file: {e.strerror}") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text.decode())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SettingsError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {e}") \
            from None
    if not isinstance(data, dict):
        raise SettingsError(f"{p}: expected a table of settings")
    return data


def load_settings(config: str | Path | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Defaults → config file → environment → overrides (``None`` values are ignored)."""
    env = os.environ if env is None else env
    settings = Settings()
    config = config or env.get(CONFIG_ENV)
    if config:
        settings = Settings.from_mapping(read_config_file(config), str(config), settings)
    names = {f.name for f in fields(Settings)}
    from_env = {name: env[ENV_PREFIX + name.upper()] for name in names
                if ENV_PREFIX + name.upper() in env}
    if from_env:
        settings = Settings.from_mapping(from_env, "environment", settings)
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        if given:
            settings = Settings.from_mapping(given, "command line", settings)
    return settings
