"""``ccp serve api|coordinator|settlement|background``: one part of the venue per process
against PostgreSQL and a JSON-RPC node from the settings (``venue/serve.py`` does the work)."""

from __future__ import annotations

import argparse
import logging

from venue.cli import UsageError
from venue.wiring import add_settings_options, open_store, settings_from, store_errors

ROLES = ("api", "coordinator", "settlement", "background")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="one part of the venue per process (production)")
    p.add_argument("role", choices=ROLES, help="the part to run")
    p.add_argument("--port", type=int, help="api: port (default: settings venue_port)")
    p.add_argument("--host", dest="venue_host", help="api: address (default: venue_host)")
    p.add_argument("--rpc", dest="chain_rpc_url", metavar="URL",
                   help="JSON-RPC node (default: settings chain_rpc_url)")
    p.add_argument("--deployment", dest="chain_deployment", metavar="FILE",
                   help="deployment JSON (default: settings chain_deployment)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the part does")
    add_settings_options(p)
    p.set_defaults(handler=store_errors(_serve))


def _serve(args: argparse.Namespace) -> int:
    from venue.serve import serve

    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: not a TCP port")
    settings = settings_from(args, venue_host=args.venue_host, chain_rpc_url=args.chain_rpc_url,
                             chain_deployment=args.chain_deployment)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format=f"%(asctime)s {args.role} %(levelname)s %(name)s: %(message)s")
    store = open_store(settings)
    from settlement.errors import SettlementError

    try:
        return serve(args.role, settings, store, port=args.port)
    except (ValueError, SettlementError) as e:
        raise UsageError(str(e)) from None
    finally:
        store.dispose()
