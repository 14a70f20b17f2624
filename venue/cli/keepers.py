"""``ccp keepers add|list|remove``: webhooks that receive alerts and expiry outcomes.

* ``add URL [--secret S] [--event KIND ...]`` — register a webhook; every delivery is a POST
  of the event as JSON, signed ``X-CCP-Signature: sha256=<HMAC-SHA256(secret, body) hex>``.
  Without ``--secret`` one is generated and printed once. Default events: ALERT,
  EXPIRY_SETTLED.
* ``list`` — the keepers with their delivery counts (secrets are never shown).
* ``remove ID`` — stop delivering to a keeper.
"""

from __future__ import annotations

import argparse
import json

from background.operations import Operations
from coordinator.clock import SystemClock
from venue.cli import EXIT_OK, EXIT_VIOLATION, UsageError
from venue.wiring import add_settings_options, open_store, settings_from, store_errors


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("keepers", help="keeper webhooks: add, list, remove",
                              description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="keepers_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="register a webhook URL")
    add.add_argument("url")
    add.add_argument("--secret", help="HMAC key (default: generated, printed once)")
    add.add_argument("--event", action="append", default=[], metavar="KIND",
                     help="outbox event kind to deliver (repeatable; default ALERT and "
                          "EXPIRY_SETTLED)")
    ls = sub.add_parser("list", help="registered keepers and their deliveries")
    ls.add_argument("--json", action="store_true")
    rm = sub.add_parser("remove", help="stop delivering to a keeper")
    rm.add_argument("keeper_id", type=int, metavar="ID")
    for q in (add, ls, rm):
        add_settings_options(q)
    add.set_defaults(handler=store_errors(_add))
    ls.set_defaults(handler=store_errors(_list))
    rm.set_defaults(handler=store_errors(_remove))


def _ops(args: argparse.Namespace) -> Operations:
    settings = settings_from(args)
    return Operations(open_store(settings), settings, SystemClock())


def _add(args: argparse.Namespace) -> int:
    try:
        k = _ops(args).add_keeper(args.url, args.secret, args.event or None)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"keeper {k['id']}: {k['url']} events {', '.join(k['events'])}")
    if not args.secret:
        print(f"secret (shown once): {k['secret']}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    rows = _ops(args).list_keepers()
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for k in rows:
        print(f"{k['id']:>4}  {k['url']}  [{', '.join(k['events'])}]  delivered "
              f"{k['delivered']}, pending {k['pending']}, failed {k['failed']}")
    if not rows:
        print("no keepers")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    if _ops(args).remove_keeper(args.keeper_id):
        print(f"keeper {args.keeper_id} removed")
        return EXIT_OK
    print(f"no active keeper {args.keeper_id}")
    return EXIT_VIOLATION
