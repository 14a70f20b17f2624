"""``ccp plot BOOK RESULT.json`` — supply/demand and fills-by-price charts of one contract."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from auction.book import BookError
from auction.interchange import result_from_dict
from coordinator.scenarios import ScenarioError, read_json
from venue.cli import EXIT_OK, UsageError, problems_text
from venue.cli.solve import add_output_arguments, load


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plot", help="charts of a result: supply/demand with the clearing price, fills by price",
        description="Draw, for one contract, its supply and demand curves and net order curve "
                    "with the clearing price marked (supply_demand_<id>.png) and its orders' "
                    "filled and unfilled quantity by limit price (fills_by_price_<id>.png). "
                    "The book is needed too: the result only holds prices and fills.")
    p.add_argument("book", type=Path, help="the scenario or book the result was solved from")
    p.add_argument("result", type=Path, help="the result JSON written by ccp solve")
    p.add_argument("--contract", type=int, metavar="ID",
                   help="contract to draw (default: the most traded one)")
    p.add_argument("-o", "--out", type=Path, default=Path("out/plots"), metavar="DIR",
                   help="output directory (default out/plots)")
    add_output_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from coordinator import plots

    book = load(args.book).book
    try:
        data = read_json(args.result)
    except ScenarioError as e:
        raise UsageError(problems_text(e.problems, f"{e.file}: ")) from None
    if not isinstance(data, dict):
        raise UsageError(f"{args.result}: expected a result object")
    try:
        result = result_from_dict(book, data)
    except BookError as e:
        raise UsageError(
            f"{args.result}: the result does not belong to the book {args.book} (was it solved "
            f"from another book?): {len(e.problems)} problem(s)\n"
            + problems_text(e.problems, "  ")) from None
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise UsageError(f"{args.result}: not a result file ({type(e).__name__}: "
                         f"{str(e)[:200]})") from None
    cid = args.contract if args.contract is not None else plots.most_traded(book, result)
    if cid not in book.contracts:
        raise UsageError(f"--contract {cid}: no such contract in {args.book} "
                         f"(ids {min(book.contracts)}..{max(book.contracts)})")
    files = [plots.supply_demand(book, result, cid, args.out / f"supply_demand_{cid}.png"),
             plots.fills_by_price(book, result, cid, args.out / f"fills_by_price_{cid}.png")]
    if args.as_json:
        print(json.dumps({"contract": cid, "files": [str(f) for f in files]}))
    elif not args.quiet:
        for f in files:
            print(f"wrote {f}")
    return EXIT_OK
