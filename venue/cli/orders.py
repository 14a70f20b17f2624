"""``ccp orders import BOOK.json``: admit a book file's orders as if they came through the API."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from coordinator.clock import Clock, ManualClock, SystemClock
from coordinator.intake import ImportError_, import_book
from venue.cli import EXIT_OK, UsageError
from venue.wiring import add_settings_options, open_store, settings_from, store_errors


def add_now_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--now", metavar="TIME",
                        help="pretend it is TIME (epoch ms or ISO 8601 UTC), e.g. for a "
                             "scenario whose contracts expired in real time")


def clock_from(args: argparse.Namespace) -> Clock:
    if not getattr(args, "now", None):
        return SystemClock()
    text = args.now
    if text.isdigit():
        return ManualClock(int(text))
    from datetime import UTC, datetime

    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now {text!r}: not epoch ms or an ISO 8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return ManualClock(int(dt.timestamp() * 1000))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("orders", help="orders in the store: import")
    sub = p.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    imp = sub.add_parser("import", help="admit the orders of a book file (admission rules and "
                                        "locks as through the API)")
    imp.add_argument("book", metavar="BOOK.json")
    imp.add_argument("--credit", metavar="CUR=AMOUNT", action="append", default=[],
                     help="give every client of the file this balance where the store has "
                          "none (repeatable)")
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_now_option(imp)
    add_settings_options(imp)
    imp.set_defaults(handler=store_errors(_import))


def _import(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    credit: dict[str, Decimal] = {}
    for item in args.credit:
        cur, _, amount = item.partition("=")
        try:
            credit[cur.strip()] = Decimal(amount)
        except InvalidOperation:
            raise UsageError(f"--credit {item!r}: expected CURRENCY=AMOUNT") from None
    try:
        with open(args.book) as f:
            data = json.load(f)
    except OSError as e:
        raise UsageError(f"{args.book}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{args.book}: not JSON: {e}") from None
    store = open_store(settings)
    try:
        report = import_book(store, data, clock_from(args),
                             end_of_trading=timedelta(hours=settings.end_of_trading_hours),
                             credit=credit, self_match=settings.self_match)
    except ImportError_ as e:
        raise UsageError(f"{args.book}: " + "; ".join(e.problems[:10])) from None
    finally:
        store.dispose()
    summary = report.summary()
    if args.json:
        summary["rejections"] = [{"orderId": r.order_id, "code": r.code, "message": r.message}
                                 for r in report.rejections]
        print(json.dumps(summary, indent=2))
    else:
        print(f"{args.book}: {report.admitted} order(s) admitted, {len(report.rejections)} "
              f"rejected {summary['rejectedByCode'] or ''}; contracts: {report.contracts_new} "
              f"new, {report.contracts_known} known")
        for r in report.rejections[:20]:
            print(f"  order {r.order_id}: {r.code} — {r.message}")
    return EXIT_OK
