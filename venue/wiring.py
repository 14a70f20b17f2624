"""Wiring for the command line: settings from --config/--db/env, the store, errors → exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from coordinator.persistence import Store, StoreError
from coordinator.persistence.errors import SchemaNotCurrent, StoreUnavailable
from coordinator.settings import Settings, SettingsError, load_settings
from venue.cli import UsageError


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="settings file (TOML or JSON; default $CCP_CONFIG)")
    parser.add_argument("--db", metavar="URL", dest="database_url",
                        help="database URL (default: settings database_url)")


def settings_from(args: argparse.Namespace, **overrides: Any) -> Settings:
    try:
        return load_settings(getattr(args, "config", None),
                             overrides={"database_url": getattr(args, "database_url", None),
                                        **overrides})
    except SettingsError as e:
        raise UsageError(str(e)) from None


def open_store(settings: Settings, *, require_current: bool = True) -> Store:
    try:
        store = Store.open(settings.database_url)
        if require_current:
            store.ensure_current()
        return store
    except SchemaNotCurrent as e:
        raise UsageError(f"{e}") from None
    except StoreUnavailable as e:
        raise UsageError(f"cannot open the store {settings.database_url}: {e}") from None


def store_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[
        [argparse.Namespace], int]:
    """Turn store errors into one-line messages (bad input) instead of tracebacks."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except StoreError as e:
            raise UsageError(f"{type(e).__name__}: {e}") from None

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped
