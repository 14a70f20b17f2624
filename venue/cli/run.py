"""``ccp run [--data DIR] [--host H] [--port P] [--cadence S] [--no-demo-traders]``: the whole
venue in one process on embedded defaults (``venue/run.py`` does the work)."""

from __future__ import annotations

import argparse
import logging
from dataclasses import fields, replace
from pathlib import Path

from coordinator.settings import Settings
from venue.cli import UsageError
from venue.wiring import add_settings_options, settings_from, store_errors


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="the whole venue in one process: API, auctions, chain, demo traders")
    p.add_argument("--data", type=Path, default=Path("ccp-data"), metavar="DIR",
                   help="folder of the SQLite store, the chain state and the demo keys "
                        "(default ./ccp-data; created when missing)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8078, help="port of the API and page (8078)")
    p.add_argument("--cadence", type=float, metavar="SECONDS", dest="cadence_seconds",
                   help="seconds between auctions (default: settings cadence_seconds, 60)")
    p.add_argument("--no-demo-traders", action="store_false", dest="demo_traders",
                   help="no demo market makers and takers")
    p.add_argument("--in-process-chain", action="store_true",
                   help="use the in-process EVM even when anvil is installed (state not kept)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what every part does")
    add_settings_options(p)
    p.set_defaults(handler=store_errors(_run))


#: ``ccp run``'s own defaults where they differ from production's: the local chain has one
#: block a second and never re-orgs, so one confirmation and a monitor one block behind the head
#: are safe; prices every 5 s so that a newcomer sees them move.
RUN_DEFAULTS = {"chain_confirmations": 1, "chain_monitor_depth": 1, "chain_poll_seconds": 0.5,
                "price_poll_seconds": 5.0}


def embedded_defaults(settings: Settings) -> Settings:
    """Apply :data:`RUN_DEFAULTS` to every setting still at its production default (a value
    from a settings file, the environment or the command line wins)."""
    base = Settings()
    known = {f.name for f in fields(Settings)}
    given = {k: v for k, v in RUN_DEFAULTS.items()
             if k in known and getattr(settings, k) == getattr(base, k)}
    return replace(settings, **given) if given else settings


def _run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: not a TCP port")
    if args.cadence_seconds is not None and not args.cadence_seconds > 0:
        raise UsageError(f"--cadence {args.cadence_seconds}: must be positive")
    data = args.data
    if data.exists() and not data.is_dir():
        raise UsageError(f"--data {data}: not a folder")
    data.mkdir(parents=True, exist_ok=True)
    from venue.localchain import anvil_binary

    use_anvil = not args.in_process_chain and anvil_binary() is not None
    if use_anvil:
        db = args.database_url or f"sqlite:///{(data / 'ccp.sqlite3').resolve()}"
    else:
        # The in-process chain ends with the process, so the store must too: a store that
        # outlived its chain would disagree with the next one (funds, positions, the edge).
        ephemeral = data / "ccp-ephemeral.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ephemeral}{suffix}").unlink(missing_ok=True)
        db = args.database_url or f"sqlite:///{ephemeral.resolve()}"
    settings = embedded_defaults(settings_from(args, database_url=db,
                                               cadence_seconds=args.cadence_seconds))
    from venue.run import RunOptions, run

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(RunOptions(data_dir=data, host=args.host, port=args.port,
                          cadence_seconds=args.cadence_seconds, demo_traders=args.demo_traders,
                          use_anvil=use_anvil), settings)
