"""``ccp collateral POSITIONS.json``: the lockup of every (client, pair, expiry) bucket.

Input::

    {"contracts": [... as in the book format ...],
     "positions": [{"clientId", "contractId", "quantity", "entryPrice"?}]}

``quantity`` is a signed decimal (+ long, − short), a whole number of the contract's lots;
``entryPrice`` is required for a forward position (its entry price) and refused otherwise.
Output per bucket: ``underlying`` and ``numeraire`` as decimal strings (``--json`` for JSON).
Exit codes: 0 ok, 2 bad input (path inside the file and reason).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from auction.interchange import contract_from_dict
from auction.products import DEFAULT_CURRENCIES, Contract, Payoff, format_expiry
from auction.units import MAX_UNITS, PrecisionError, fmt, parse_decimal
from coordinator.scenarios import ScenarioError, read_json
from validator.collateral.errors import CollateralError
from validator.collateral.lockup import lockups
from validator.collateral.positions import Position, Positions
from venue.cli import EXIT_OK, UsageError, problems_text

DESCRIPTION = """\
Print the lockup of every (client, pair, expiry) bucket of a positions file.

The file (JSON):
  {"contracts": [ ... as in the book format ... ],
   "positions": [{"clientId": 7, "contractId": 1, "quantity": "-1"},
                 {"clientId": 7, "contractId": 5, "quantity": "2", "entryPrice": "2100.5"}]}

quantity is a signed decimal (+ long, - short), a whole number of the contract's lots;
entryPrice is required for a forward position (its entry price) and refused otherwise.
Output per bucket: the underlying and numeraire locked, as decimals (--json for JSON).
Exit codes: 0 ok, 2 bad input (the path inside the file and the reason). See docs/collateral.md.
"""

_TOP = {"contracts", "positions"}
_CONTRACT = {"contractId", "payoff", "currencyPair", "expiry", "strike", "tickSize", "lotSize",
             "referencePrice", "lowRange", "highRange"}
_POSITION = {"clientId", "contractId", "quantity", "entryPrice"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("collateral", help="print the lockup of each client × pair × expiry",
                              description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("positions", metavar="POSITIONS.json", type=Path,
                   help="the contracts and the positions (format above)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_run)


def _keys(path: str, obj: Any, allowed: set[str], required: set[str]) -> list[str]:
    if not isinstance(obj, Mapping):
        return [f"{path}: expected an object, got {type(obj).__name__}"]
    out = [f"{path}: unknown key {k!r}" for k in sorted(set(obj) - allowed)]
    out += [f"{path}: missing field {k!r}" for k in sorted(required - set(obj))]
    return out


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNITS:
        raise ValueError(f"{what}: expected an integer in [0, {MAX_UNITS}], got {value!r}")
    return value


def parse(data: Any) -> tuple[dict[int, Contract], Positions]:
    """Strict parsing; raises UsageError naming every problem with its path."""
    problems = _keys("positions file", data, _TOP, _TOP)
    if problems:
        raise UsageError(problems_text(problems))
    for name in ("contracts", "positions"):
        if not isinstance(data[name], list):
            raise UsageError(f"{name}: expected a list")
    contracts: dict[int, Contract] = {}
    for i, c in enumerate(data["contracts"]):
        path = f"contracts[{i}]"
        bad = _keys(path, c, _CONTRACT, _CONTRACT - {"strike"})
        if bad:
            problems += bad
            continue
        try:
            contract = contract_from_dict(c)
        except (ValueError, KeyError) as e:
            problems.append(f"{path}: {e}")
            continue
        if contract.contract_id in contracts:
            problems.append(f"{path}: duplicate contractId {contract.contract_id}")
        contracts[contract.contract_id] = contract
    holdings: dict[tuple[int, int], Position] = {}
    for i, p in enumerate(data["positions"]):
        path = f"positions[{i}]"
        bad = _keys(path, p, _POSITION, _POSITION - {"entryPrice"})
        if bad:
            problems += bad
            continue
        try:
            client = _int(p["clientId"], "clientId")
            cid = _int(p["contractId"], "contractId")
            if cid not in contracts:
                raise ValueError(f"contractId: unknown contract {cid}")
            c = contracts[cid]
            lots = c.lots(parse_decimal(p["quantity"], "quantity"))
            for cur in (c.pair.underlying, c.pair.numeraire):
                if cur not in DEFAULT_CURRENCIES:
                    raise ValueError(f"contractId: currency {cur!r} of {c.pair} is not known")
            entry = Fraction(0)
            if c.payoff is Payoff.FORWARD:
                if "entryPrice" not in p:
                    raise ValueError("entryPrice: required for a forward position")
                entry = Fraction(parse_decimal(p["entryPrice"], "entryPrice"))
            elif "entryPrice" in p:
                raise ValueError(f"entryPrice: only forward positions have one, not a {c.payoff}")
            if (client, cid) in holdings:
                raise ValueError(f"client {client} holds contract {cid} twice")
            holdings[(client, cid)] = Position(lots, entry)
        except (ValueError, PrecisionError) as e:
            problems.append(f"{path}.{e}" if str(e).split(":")[0] in _POSITION else f"{path}: {e}")
    if problems:
        raise UsageError(problems_text(problems))
    return contracts, Positions(holdings)


def report(contracts: Mapping[int, Contract], positions: Positions) -> list[dict[str, Any]]:
    rows = []
    for key, lk in lockups(positions, contracts, DEFAULT_CURRENCIES).items():
        u, n = lk.decimals(key.pair, DEFAULT_CURRENCIES)
        rows.append({"clientId": key.client_id, "pair": key.pair,
                     "expiry": format_expiry(key.expiry), "underlying": fmt(u),
                     "numeraire": fmt(n)})
    return rows


def _run(args: argparse.Namespace) -> int:
    try:
        data = read_json(args.positions)
    except ScenarioError as e:
        raise UsageError(problems_text(e.problems, f"{e.file}: ")) from None
    try:
        contracts, positions = parse(data)
        rows = report(contracts, positions)
    except UsageError as e:
        raise UsageError(f"{args.positions}: {e}") from None
    except CollateralError as e:
        raise UsageError(f"{args.positions}: {e}") from None
    if args.json:
        print(json.dumps({"lockups": rows}, indent=2))
        return EXIT_OK
    if not rows:
        print("no positions")
        return EXIT_OK
    print(f"{'client':>8}  {'pair':<10} {'expiry':<8}  {'underlying':>20}  {'numeraire':>20}")
    for r in rows:
        u_sym, n_sym = r["pair"].split("/")
        print(f"{r['clientId']:>8}  {r['pair']:<10} {r['expiry']:<8}  "
              f"{r['underlying'] + ' ' + u_sym:>20}  {Decimal(r['numeraire']):>15,f} {n_sym}")
    return EXIT_OK
