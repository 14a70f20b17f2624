"""``ccp db upgrade`` (create or update the schema; idempotent) and ``ccp db check``."""

from __future__ import annotations

import argparse

from coordinator.persistence import migrate
from venue.cli import EXIT_OK, EXIT_VIOLATION
from venue.wiring import add_settings_options, open_store, settings_from, store_errors


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("db", help="database schema: upgrade, check")
    sub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = sub.add_parser("upgrade", help="create or update the schema (running it twice "
                                        "changes nothing)")
    add_settings_options(up)
    up.set_defaults(handler=store_errors(_upgrade))
    ck = sub.add_parser("check", help="say whether the schema is current (exit 1 if not)")
    add_settings_options(ck)
    ck.set_defaults(handler=store_errors(_check))


def _upgrade(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    store = open_store(settings, require_current=False)
    try:
        before, after = migrate.upgrade(store.engine)
    finally:
        store.dispose()
    if before == after:
        print(f"schema already current (revision {after}); nothing changed")
    else:
        print(f"schema upgraded from {before or 'nothing'} to revision {after}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    store = open_store(settings, require_current=False)
    try:
        st = migrate.status(store.engine)
    finally:
        store.dispose()
    print(st.describe())
    return EXIT_OK if st.is_current else EXIT_VIOLATION
