"""``ccp auction run-once`` (one auction now) and ``ccp auction loop`` (on the cadence)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys

from coordinator.loop import AuctionReport, BatchStatus, Coordinator
from coordinator.persistence import LeaseHeld, LeaseLost
from venue.cli import EXIT_OK, EXIT_VIOLATION, UsageError
from venue.cli.orders import add_now_option, clock_from
from venue.wiring import add_settings_options, open_store, settings_from, store_errors


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("auction", help="run auctions: run-once, loop")
    sub = p.add_subparsers(dest="auction_command", required=True, metavar="ACTION")
    once = sub.add_parser("run-once", help="cut the book now and run one auction")
    once.add_argument("--json", action="store_true",
                      help="print the auction's report as one JSON object (batch id, status, "
                           "orders, fills, volume, violations, timings)")
    add_now_option(once)
    add_settings_options(once)
    once.set_defaults(handler=store_errors(_run_once))
    lp = sub.add_parser("loop", help="run auctions on the cadence (settings cadence_seconds)")
    lp.add_argument("--max", type=int, metavar="N", help="stop after N auctions")
    lp.add_argument("--cadence", type=float, metavar="SECONDS", dest="cadence_seconds",
                    help="override cadence_seconds")
    lp.add_argument("--wait", action="store_true", dest="lease_wait", default=None,
                    help="wait for the lease if another coordinator holds it")
    add_settings_options(lp)
    lp.set_defaults(handler=store_errors(_loop))


def _print(report: AuctionReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"batchId": report.batch_id, "status": report.status,
                          "orders": report.orders, "fills": report.fills,
                          "volume": report.volume, "violations": list(report.violations),
                          "timings": dict(report.timings)}), flush=True)
    else:
        print(report.line(), flush=True)
        for v in report.violations[:20]:
            print(f"  {v}", flush=True)


def _run_once(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    store = open_store(settings)
    co = Coordinator(store, settings, clock_from(args))
    try:
        co.acquire()
        report = co.run_once()
    except (LeaseHeld, LeaseLost) as e:
        print(f"ccp auction: {e}; not running", file=sys.stderr)
        return EXIT_VIOLATION
    finally:
        try:
            co.release()
        finally:
            store.dispose()
    _print(report, args.json)
    return EXIT_VIOLATION if report.status is BatchStatus.FAILED else EXIT_OK


def _loop(args: argparse.Namespace) -> int:
    if args.max is not None and args.max < 1:
        raise UsageError("--max must be at least 1")
    settings = settings_from(args, cadence_seconds=args.cadence_seconds,
                             lease_wait=args.lease_wait)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("coordinator").setLevel(logging.INFO)
    store = open_store(settings)
    co = Coordinator(store, settings, clock_from(args))
    stopping = {"flag": False}

    def stop(_sig, _frame) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, stop)
    try:
        co.acquire()
        print(f"coordinator {co.holder}: lease taken (token {co.lease.token}); auctions every "
              f"{settings.cadence_seconds:g} s", flush=True)
        co.loop(max_auctions=args.max, should_stop=lambda: stopping["flag"],
                on_report=lambda r: _print(r, False))
    except LeaseHeld as e:
        print(f"ccp auction loop: another coordinator runs against this store: {e}",
              file=sys.stderr)
        return EXIT_VIOLATION
    except LeaseLost as e:
        print(f"ccp auction loop: lost the lease, stopping: {e}", file=sys.stderr)
        return EXIT_VIOLATION
    except KeyboardInterrupt:
        pass
    finally:
        try:
            co.release()
        finally:
            store.dispose()
    return EXIT_OK
