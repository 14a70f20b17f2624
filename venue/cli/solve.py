"""``ccp solve SCENARIO`` — clear one scenario, print a summary, write the result.

Also the helpers the other quant commands share: loading a scenario as bad input (exit 2),
``--set key=value`` parsing, and the per-contract traded quantities.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from auction.book import Book
from auction.interchange import result_json_chunks
from auction.result import ClearingResult, surplus, volume
from auction.units import fmt
from coordinator.scenarios import Scenario, ScenarioError, load_scenario
from solver_models.outcome import SPECULATIVE
from solver_models.params import ParamsError, SolverParams
from venue.cli import EXIT_OK, EXIT_VIOLATION, UsageError, problems_text


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "solve", help="clear a scenario (book, YAML book or recipe) and write the result",
        description="Clear one scenario: print status, volume, surplus, fills, stage timings "
                    "and the prices of the most traded contracts; write the result JSON. "
                    "Exit 0 ok, 1 check violations or missed expectations, 2 bad input.")
    p.add_argument("scenario", type=Path, help="scenario file (.json, .yaml)")
    add_set_argument(p)
    p.add_argument("--out", type=Path, metavar="RESULT.json",
                   help="where to write the result (default out/<scenario>.result.json)")
    p.add_argument("--csv", type=Path, metavar="DIR",
                   help="also write prices.csv and fills.csv into DIR")
    p.add_argument("--check", action="store_true",
                   help="run the independent equilibrium check; exit 1 on violations")
    p.add_argument("--top", type=int, default=8, metavar="N",
                   help="how many of the most traded contracts to list (default 8)")
    add_output_arguments(p)
    p.set_defaults(handler=run)


# ------------------------------------------------------------------ shared helpers


def add_set_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="override a solver parameter (repeatable; highs.<option> for HiGHS)")


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", action="store_true", help="print nothing but errors")
    g.add_argument("--json", action="store_true", dest="as_json",
                   help="print one JSON object instead of the readable summary")


def parse_assignments(items: Sequence[str], what: str = "--set") -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def load(path: Path) -> Scenario:
    """Load a scenario or raise UsageError (exit 2) with file, path and reason."""
    try:
        return load_scenario(path)
    except ScenarioError as e:
        raise UsageError("bad scenario\n" + problems_text(e.problems, f"{e.file}: ")) from None


def effective_params(scenario: Scenario, sets: Sequence[str]) -> SolverParams:
    try:
        return scenario.params.with_overrides(parse_assignments(sets))
    except ParamsError as e:
        raise UsageError(f"--set: {e}") from None


def traded(book: Book, result: ClearingResult) -> dict[int, tuple[Decimal, Decimal]]:
    """Per contract: (bought, sold) quantity over all fills (lots summed as integers)."""
    out: dict[int, list[int]] = {}
    per_legs: dict[int, list[tuple[int, int]]] = {}  # id(legs) -> (contract, a) per leg
    for f in result.fills:
        if not f.packages:
            continue
        o = book.order(f.order_id)
        pairs = per_legs.get(id(o.legs))
        if pairs is None:
            pairs = per_legs[id(o.legs)] = [(leg.contract_id, a) for a, leg
                                            in zip(o.ratios, o.legs, strict=True)]
        for cid, a in pairs:
            acc = out.setdefault(cid, [0, 0])
            acc[0 if a > 0 else 1] += abs(a) * f.packages
    return {cid: (book.contracts[cid].quantity(b), book.contracts[cid].quantity(s))
            for cid, (b, s) in out.items()}


def uncleared_orders(book: Book, result: ClearingResult) -> int:
    """How many orders touch a contract the result left uncleared (they could not trade)."""
    if not result.uncleared:
        return 0
    gone = result.uncleared
    return sum(1 for o in book.orders if any(leg.contract_id in gone for leg in o.legs))


def contract_label(book: Book, cid: int) -> str:
    c = book.contracts[cid]
    strike = f" {fmt(c.strike)}" if c.strike is not None else ""
    return f"{c.payoff} {c.pair} {c.expiry:%Y%m%d}{strike}"


@contextmanager
def progress(desc: str, time_limit: float, enabled: bool = True,
             stream: Any = None) -> Iterator[None]:
    """While the body runs, a line on a terminal's stderr with the time elapsed against the
    time limit (like the progress bars of ``bench`` and ``sweep``); nothing when stderr is not
    a terminal (a pipe, a file, a test) or when ``enabled`` is false."""
    stream = stream or sys.stderr
    if not enabled or not stream.isatty():
        yield
        return
    from tqdm import tqdm

    done = threading.Event()
    bar = tqdm(desc=desc, total=round(time_limit, 1), file=stream, leave=False, unit="s",
               bar_format="{desc}: {elapsed} elapsed (time limit {total} s)")

    def tick() -> None:
        while not done.wait(0.5):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        bar.close()


def run_check(book: Book, result: ClearingResult, params: SolverParams) -> Any:
    from validator.equilibrium import check

    return check(book, result, replication=params.replication,
                 bands=params.price_band == "clip")


# ------------------------------------------------------------------ the command


def run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise UsageError("--top must not be negative")
    scenario = load(args.scenario)
    params = effective_params(scenario, args.sets)
    book = scenario.book

    from solver_models import solve

    with progress(f"solve {len(book.orders)} orders", params.time_limit,
                  enabled=not (args.quiet or args.as_json)):
        outcome = solve(book, params)
    result = outcome.result
    status = str(outcome.status)
    out_path = args.out or Path("out") / f"{scenario.name}.result.json"
    vol, surp = volume(book, result), surplus(book, result)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w") as f:  # streamed: no dict of the whole result in memory
        f.writelines(result_json_chunks(book, result, status=status, timings=outcome.timings(),
                                        params=outcome.params.to_dict(), volume_lots=vol,
                                        surplus_lots=surp))
    lost = uncleared_orders(book, result)
    if args.csv:
        write_csv(args.csv, book, result)

    report = run_check(book, result, params) if args.check else None
    missed = scenario.expect.compare(book, status, result) if scenario.expect else []
    if scenario.expect and scenario.expect.check and report is None:
        report = run_check(book, result, params)

    per_contract = traded(book, result)
    top = sorted(per_contract,  # by lots traded (quantities of binaries and options differ)
                 key=lambda c: (-sum(per_contract[c]) / book.contracts[c].lot_size, c))[:args.top]
    summary = {
        "scenario": str(args.scenario), "description": scenario.description,
        "orders": len(book.orders), "contracts": len(book.contracts),
        "status": status, "volume": vol, "surplus": surp,
        "fills": len(result.fills), "uncleared": sorted(result.uncleared),
        "unclearedOrders": lost,
        "timings": outcome.timings(), "components": outcome.components,
        "notes": list(outcome.notes),
        "top": [{"contractId": c, "contract": contract_label(book, c),
                 "price": fmt(book.contracts[c].price(result.prices[c])),
                 "reference": fmt(book.contracts[c].reference_price),
                 "bought": fmt(per_contract[c][0]), "sold": fmt(per_contract[c][1])}
                for c in top],
        "result": str(out_path),
    }
    if report is not None:
        summary["check"] = {"ok": report.ok, "violations": [str(v) for v in report.violations]}
    if scenario.expect is not None:
        summary["expectations"] = {"met": not missed, "missed": missed}
    # No silent loss: a time limit that left orders uncleared fails the command, loudly.
    incomplete = status == "TIME_LIMIT" and lost > 0
    failed = (report is not None and not report.ok) or bool(missed) or incomplete
    if lost:
        share = lost / len(book.orders)
        print(f"{'INCOMPLETE' if incomplete else 'WARNING'}: status {status}: "
              f"{len(result.uncleared)} of {len(book.contracts)} contract(s) left uncleared, "
              f"{lost:,} of {len(book.orders):,} orders ({share:.1%}) not cleared"
              + (" — the time limit cut the solve short; raise time_limit (--set "
                 "time_limit=SECONDS)" if incomplete else ""), file=sys.stderr)

    if args.as_json:
        print(json.dumps(summary, indent=1))
    elif not args.quiet:
        print_summary(summary)
    elif failed:
        for line in summary.get("check", {}).get("violations", []) + missed:
            print(line, file=sys.stderr)
    return EXIT_VIOLATION if failed else EXIT_OK


def print_summary(s: dict[str, Any]) -> None:
    t = s["timings"]
    summed = ("build", "solve", "other", "speculative", "total")
    stages = ", ".join(f"{k} {v:.3f}" for k, v in t.items()
                       if k not in summed and not k.endswith(SPECULATIVE))
    beside = ", ".join(f"{k.removesuffix(SPECULATIVE)} {v:.3f}" for k, v in t.items()
                       if k.endswith(SPECULATIVE))
    print(f"{s['scenario']}: {s['orders']} orders on {s['contracts']} contracts")
    if s["description"]:
        print(f"  {s['description']}")
    print(f"status     {s['status']}  ({s['components']} component(s))")
    for note in s["notes"]:
        print(f"           note: {note}")
    print(f"volume     {s['volume']} lots   surplus {s['surplus']} lots   "
          f"fills {s['fills']} of {s['orders']} orders")
    total, build, solve = t.get("total", 0), t.get("build", 0), t.get("solve", 0)
    if build + solve <= total + 1e-6:
        print(f"timings    total {total:.3f} s = build {build:.3f} s + solve {solve:.3f} s "
              f"+ other {t.get('other', 0):.3f} s "
              "(wall clock; other: Python between stages, waiting)")
    else:  # batches of components cleared side by side: their stages overlap in time
        print(f"timings    total {total:.3f} s wall clock; build {build:.3f} s + solve "
              f"{solve:.3f} s summed over batches cleared side by side (like CPU time)")
    if stages:
        print(f"stages     {stages}  (build + solve of each, in turn)")
    if beside:
        print(f"beside     {t.get('speculative', 0):.3f} s of speculative work on another "
              f"core, not in the total: {beside}")
    if s["top"]:
        print("most traded contracts")
        width = max(len(r["contract"]) for r in s["top"])
        print(f"  {'id':>6}  {'contract':<{width}}  {'price':>10}  {'reference':>10}  "
              f"{'bought':>10}  {'sold':>10}")
        for r in s["top"]:
            print(f"  {r['contractId']:>6}  {r['contract']:<{width}}  {r['price']:>10}  "
                  f"{r['reference']:>10}  {r['bought']:>10}  {r['sold']:>10}")
    else:
        print("no trades")
    if "check" in s:
        c = s["check"]
        if c["ok"]:
            print("check      ok (no violations)")
        else:
            print(f"check      FAILED: {len(c['violations'])} violation(s)")
            for v in c["violations"]:
                print(f"  {v}")
    if "expectations" in s:
        e = s["expectations"]
        print("expected   all met" if e["met"] else
              f"expected   MISSED {len(e['missed'])}:")
        for m in e["missed"]:
            print(f"  {m}")
    print(f"result     {s['result']}")


def write_csv(directory: Path, book: Book, result: ClearingResult) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    per_contract = traded(book, result)
    with (directory / "prices.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["contractId", "payoff", "pair", "expiry", "strike", "referencePrice",
                    "lowRange", "highRange", "price", "bought", "sold", "uncleared"])
        for cid, c in book.contracts.items():
            b, s = per_contract.get(cid, (Decimal(0), Decimal(0)))
            w.writerow([cid, c.payoff, c.pair, f"{c.expiry:%Y%m%d}",
                        "" if c.strike is None else fmt(c.strike), fmt(c.reference_price),
                        fmt(c.low_range), fmt(c.high_range),
                        fmt(c.price(result.prices[cid])) if cid in result.prices else "",
                        fmt(b), fmt(s), cid in result.uncleared])
    filled = result.filled()
    with (directory / "fills.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["orderId", "clientId", "contractId", "side", "quantity", "price",
                    "packages", "allOrNone"])
        for o in book.orders:
            x = filled.get(o.order_id)
            if not x:
                continue
            for a, leg in zip(o.ratios, o.legs, strict=True):
                c = book.contracts[leg.contract_id]
                w.writerow([o.order_id, o.client_id, leg.contract_id, leg.side,
                            fmt(c.quantity(abs(a) * x)), fmt(c.price(result.prices[c.contract_id])),
                            x, o.all_or_none])
