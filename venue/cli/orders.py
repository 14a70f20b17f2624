"""``ccp orders import BOOK.json``: admit a book file's orders as if they came through the API."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from decimal import Decimal

from auction.units import parse_decimal
from coordinator.clock import Clock, ManualClock, SystemClock
from coordinator.intake import ImportError_, import_book
from coordinator.scenarios import ScenarioError, read_json
from venue.cli import EXIT_OK, UsageError, problems_text
from venue.wiring import add_settings_options, open_store, settings_from, store_errors


def add_now_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--now", metavar="TIME",
                        help="pretend it is TIME (epoch ms or ISO 8601 UTC), e.g. for a "
                             "scenario whose contracts expired in real time")


def clock_from(args: argparse.Namespace) -> Clock:
    if not getattr(args, "now", None):
        return SystemClock()
    from datetime import UTC, datetime

    text = args.now.strip()
    try:
        if text.isdigit():
            dt = datetime.fromtimestamp(int(text[:16]) / 1000, tz=UTC) if len(text) <= 15 \
                else None
            if dt is None or dt.year < 1971:
                raise ValueError
            return ManualClock(int(text))
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        if dt.year < 1971 or dt.year > 9998:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise UsageError(f"--now {text!r}: not epoch ms or an ISO 8601 time between 1971 "
                         "and 9998") from None
    return ManualClock(int(dt.timestamp() * 1000))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("orders", help="orders in the store: import")
    sub = p.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    imp = sub.add_parser("import", help="admit the orders of a book file (admission rules and "
                                        "locks as through the API)")
    imp.add_argument("book", metavar="BOOK.json",
                     help="a book file (interchange format, optional \"funds\")")
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
        cur, sep, amount = item.partition("=")
        try:
            if not sep or not cur.strip():
                raise ValueError("expected CURRENCY=AMOUNT")
            credit[cur.strip()] = parse_decimal(amount, "amount")
        except ValueError as e:
            raise UsageError(f"--credit {item!r}: {e}") from None
    try:
        data = read_json(args.book)
    except ScenarioError as e:
        raise UsageError(problems_text(e.problems, f"{e.file}: ")) from None
    store = open_store(settings)
    try:
        report = import_book(store, data, clock_from(args),
                             end_of_trading=timedelta(hours=settings.end_of_trading_hours),
                             credit=credit, self_match=settings.self_match)
    except ImportError_ as e:
        raise UsageError(problems_text(e.problems, f"{args.book}: ")) from None
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
        if len(report.rejections) > 20:
            print(f"  … and {len(report.rejections) - 20} more (--json lists them all)")
        if any(r.code == "TRADING_CLOSED" for r in report.rejections):
            print("  TRADING_CLOSED: the contracts are past their end of trading at this time; "
                  "to import as of an earlier time pass --now (e.g. --now "
                  "2025-01-03T00:00:00Z). Rejected orders do not keep their ids: importing "
                  "the file again admits them.")
    return EXIT_OK
