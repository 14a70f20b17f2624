"""``ccp expiry status|run|set-price``: the expiry of contracts, for operations.

* ``status [--date YYYYMMDD] [--pair P]`` — every (pair, expiry): its state (OPEN, EXPIRED,
  DUE, PRICED, SETTLED), settlement price and how it was set (fixing or by hand: who, why).
* ``run --date YYYYMMDD [--pair P] [--actor WHO]`` — fix the 12:00 UTC price from the sources
  (if none is stored) and settle; running it again changes nothing.
* ``set-price --date YYYYMMDD --pair P --price X --actor WHO --reason WHY`` — set the
  settlement price by hand when the sources fail, then settle.

Exit codes: 0 ok, 1 no fixing (sources failed: an alert was raised), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from auction.products import parse_expiry
from background.operations import Operations
from venue.cli import EXIT_OK, EXIT_VIOLATION, UsageError
from venue.cli.orders import add_now_option, clock_from
from venue.wiring import add_settings_options, open_store, settings_from, store_errors


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("expiry", help="expiry of contracts: status, run, set a price",
                              description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="expiry_command", required=True, metavar="ACTION")
    st = sub.add_parser("status", help="state and settlement price of each pair × expiry")
    st.add_argument("--date", help="expiry date YYYYMMDD (default: all)")
    st.add_argument("--pair", help="currency pair, e.g. WETH/USDC (default: all)")
    st.add_argument("--json", action="store_true")
    run = sub.add_parser("run", help="fix and settle an expiry (again: changes nothing)")
    run.add_argument("--date", required=True, help="expiry date YYYYMMDD")
    run.add_argument("--pair", help="one pair (default: every pair of the date)")
    run.add_argument("--actor", default=os.environ.get("USER") or "operator",
                     help="who runs it (recorded)")
    run.add_argument("--json", action="store_true")
    sp = sub.add_parser("set-price", help="set a settlement price by hand, then settle")
    sp.add_argument("--date", required=True, help="expiry date YYYYMMDD")
    sp.add_argument("--pair", required=True)
    sp.add_argument("--price", required=True, help="decimal, numeraire per unit")
    sp.add_argument("--actor", required=True, help="who sets it (recorded)")
    sp.add_argument("--reason", required=True, help="why (recorded)")
    sp.add_argument("--json", action="store_true")
    for q in (st, run, sp):
        add_now_option(q)
        add_settings_options(q)
    st.set_defaults(handler=store_errors(_status))
    run.set_defaults(handler=store_errors(_run))
    sp.set_defaults(handler=store_errors(_set_price))


def _ops(args: argparse.Namespace) -> Operations:
    settings = settings_from(args)
    return Operations(open_store(settings), settings, clock_from(args))


def _date(text: str | None):
    if text is None:
        return None
    try:
        return parse_expiry(text)
    except ValueError as e:
        raise UsageError(f"--date: {e}") from None


def _call(fn, *a: Any) -> Any:
    try:
        return fn(*a)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _status(args: argparse.Namespace) -> int:
    rows = _call(_ops(args).expiry_status, _date(args.date), args.pair)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"{'pair':<12} {'expiry':<9} {'state':<8} {'clients':>7} {'price':>14}  set by")
    for r in rows:
        who = "" if r["method"] is None else f"{r['method']} {r['setBy']}"
        if r["method"] == "MANUAL":
            who += f" ({r['reason']})"
        print(f"{r['pair']:<12} {r['expiry']:<9} {r['state']:<8} {r['clients']:>7} "
              f"{r['settlementPrice'] or '-':>14}  {who}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    out = _call(_ops(args).run_expiry, _date(args.date), args.pair, args.actor)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for r in out["results"]:
            if r["status"] == "NO_FIXING":
                print(f"{r['pair']} {out['expiry']}: NO FIXING ({r['rule']}); "
                      + "; ".join(f"{s['source']} {s['status']} {s.get('failure') or ''}".strip()
                                  for s in r["sources"])
                      + " — set the price with `ccp expiry set-price`")
            else:
                print(f"{r['pair']} {r['expiry']}: {r['status']} at {r['price']} "
                      f"({r['movements']} movements)")
    failed = any(r["status"] == "NO_FIXING" for r in out["results"])
    return EXIT_VIOLATION if failed else EXIT_OK


def _set_price(args: argparse.Namespace) -> int:
    out = _call(_ops(args).set_settlement_price, _date(args.date), args.pair, args.price,
                args.actor, args.reason)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        s = out["settlement"]
        print(f"{out['pair']} {out['expiry']}: price {out['price']} set by {out['actor']} "
              f"({out['reason']}); {s['status']} ({s['movements']} movements)")
    return EXIT_OK
