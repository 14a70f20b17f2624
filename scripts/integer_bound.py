"""The integer bound per campaign book (stop 27): engine volume against what whole packages allow.

    nice -n 19 python scripts/integer_bound.py --seed 17 --books 30 --only 3 24 25 26 27 [--limit 60]

For each campaign book (``scripts/campaign.py``'s recipes, same seed and numbering) the engine
solves it; then per component (without the orders touching the contracts the engine left
uncleared, so the figures compare like with like) :func:`solver_models.bound.integer_bound`
twice: with every §4a allowance (an upper bound on the volume of any answer the engine may
return) and exact (the largest volume of an exact equilibrium). When an exact answer trades
more than the engine, it is checked by ``validator.equilibrium.check`` (the engine's result
with that component's fills and prices replaced). ``--limit``: seconds per MIP (the dual
bound is still a bound when it stops).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from auction.result import ClearingResult, Fill
from solver_models import SolverParams, solve
from solver_models.allocation import pro_rata
from solver_models.bound import integer_bound
from solver_models.generator import generate_book
from solver_models.market import Component, Market, build_market, components
from solver_models.pipeline import all_prices
from validator.equilibrium import check

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from campaign import recipes, short


def run(recipe, limit: float) -> None:
    book = generate_book(recipe)
    t0 = time.process_time()
    out = solve(book, SolverParams())
    cpu = time.process_time() - t0
    market = build_market(book)
    index = {int(c): k for k, c in enumerate(market.contract_ids)}
    halted = np.array(sorted(index[c] for c in out.result.uncleared), dtype=np.int64)
    fills = np.zeros(market.n_orders, dtype=np.int64)
    pos = {int(i): n for n, i in enumerate(market.order_ids)}
    for f in out.result.fills:
        fills[pos[f.order_id]] = f.packages
    touching = np.asarray(abs(market.legs[:, halted]).sum(axis=1)).ravel() > 0 \
        if len(halted) else np.zeros(market.n_orders, dtype=bool)
    engine = int(market.vol @ fills)
    print(f"{short(recipe)}: engine {engine} lots (LP {out.lp_volume}, gap "
          f"{1 - engine / max(out.lp_volume, 1):.2%}), {len(out.relaxations)} relaxed, "
          f"{int(touching.sum())} orders on {len(halted)} uncleared contract(s), engine CPU "
          f"{cpu:.2f} s", flush=True)
    total_bound = total_found = total_exact = 0.0
    for comp in components(market):
        keep = comp.orders[~touching[comp.orders]]
        if not len(keep):
            continue
        used = np.unique(market.legs[keep].indices)
        live = Component(keep, comp.atomics, np.intersect1d(comp.contracts, used))
        vol = int(market.vol[keep] @ fills[keep])
        aon = int(market.indivisible[keep].sum())
        relaxed = sum(pos[i] in set(keep.tolist()) for i, _ in out.relaxations)
        relax = integer_bound(market, live, limit, SolverParams())
        ex = integer_bound(market, live, limit, SolverParams(), exact=True)
        bound, found, status, secs = relax.bound, relax.best, relax.status, relax.cpu
        ebound, efound, estatus, esecs = ex.bound, ex.best, ex.status, ex.cpu
        ef, et = ex.fills, ex.ticks
        total_bound += bound
        total_found += found or 0.0
        total_exact += efound or 0.0
        verdict = ""
        if efound is not None and efound > vol + 0.5:
            # the exact MIP's answer, checked exactly: the engine's result with this
            # component's fills and prices replaced
            verdict = "  <-- exact answer above the engine's: " + _verify(
                book, market, out.result, live, fills, ef, et)
        if relaxed and efound is None:  # the fewest relaxations any answer needs
            few = integer_bound(market, live, limit, SolverParams(), fewest=True)
            verdict += (f"; fewest relaxed orders: best {_r(few.best)}, at least "
                        f"{math.ceil(few.bound - 1e-6) if math.isfinite(few.bound) else '?'}"
                        f" [{few.status}, {few.cpu:.1f} s]")
            if few.fills is not None:
                ticks = np.array([out.result.prices[int(market.contract_ids[k])]
                                  for k in live.contracts], dtype=np.int64)
                verdict += (f"; priority loss (money units 10^-{market.money_places}): engine "
                            f"{_loss(market, live, fills[keep], ticks)}, that answer "
                            f"{_loss(market, live, few.fills, few.ticks)} ("
                            + _verify(book, market, out.result, live, fills, few.fills,
                                      few.ticks) + ")")
        print(f"  component {int(keep[0])}: {len(keep)} orders ({aon} indivisible), engine "
              f"{vol} ({relaxed} relaxed); with §4a allowances best "
              f"{_r(found)} bound {bound:.1f} [{status}, {secs:.1f} s]; exact best "
              f"{_r(efound)} bound {ebound:.1f} [{estatus}, {esecs:.1f} s]{verdict}",
              flush=True)
    print(f"  total: engine {engine}, LP {out.lp_volume}; with §4a allowances: best "
          f"{total_found:.0f}, bound {total_bound:.1f} (engine {engine / total_bound:.2%} of "
          f"it); exact equilibria: best {total_exact:.0f}\n", flush=True)


def _pro_rata(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray
              ) -> np.ndarray:
    """The MIP's fills with each group of divisible orders at the money with the same legs and
    limit sharing its total pro rata (rule 8; the MIP does not model it; nobody's class
    changes, so neither balance nor the priority loss does)."""
    o = comp.orders
    gap = market.limit[o] - market.money(o, comp.contracts) @ ticks
    atm = np.flatnonzero(~market.indivisible[o] & (gap == 0))
    out = fills.copy()
    for g in np.unique(market.group[o[atm]]):
        members = atm[market.group[o[atm]] == g]
        out[members] = pro_rata(int(fills[members].sum()), market.q[o[members]], o[members],
                                market.order_ids[o[members]])
    return out


def _loss(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray) -> int:
    """§4a's priority loss Σ (unfilled packages × in-the-money amount) over the divisible orders
    in the money, exact (money units of 10^-D)."""
    o = comp.orders
    gap = market.limit[o] - market.money(o, comp.contracts) @ ticks
    counted = ~market.indivisible[o] & (gap > 0)
    return int(((market.q[o] - fills) * gap)[counted].sum())


def _r(v):
    return "-" if v is None else str(round(v))


def _verify(book, market: Market, engine: ClearingResult, live: Component,
            fills: np.ndarray, comp_fills: np.ndarray, comp_ticks: np.ndarray) -> str:
    """The check's verdict on the engine's result with ``live``'s fills and prices replaced,
    every contract without orders priced again by replication (rule 10, as the engine does)."""
    new = fills.copy()
    new[live.orders] = _pro_rata(market, live, comp_fills, comp_ticks)
    index = {int(c): k for k, c in enumerate(market.contract_ids)}
    with_orders = set(np.unique(market.legs.indices).tolist())
    halted = {index[c] for c in engine.uncleared if index[c] in with_orders}
    ticks = {index[c]: t for c, t in engine.prices.items()
             if index[c] in with_orders and index[c] not in halted}
    ticks.update({int(k): int(t) for k, t in zip(live.contracts, comp_ticks, strict=True)})
    priced, off = all_prices(market, ticks, halted, True)
    cid = market.contract_ids
    result = ClearingResult({int(cid[k]): t for k, t in priced.items()},
                            tuple(Fill(int(market.order_ids[i]), int(new[i]))
                                  for i in np.flatnonzero(new)),
                            frozenset(int(cid[k]) for k in halted | set(off)))
    report = check(book, result)
    rules = sorted({v.rule for v in report.violations})
    return f"check {'ok' if report.ok else 'FAILS ' + ', '.join(rules)}, volume {report.volume}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--books", type=int, default=30)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--max-orders", type=int, default=10_000)
    ap.add_argument("--only", type=int, nargs="*")
    ap.add_argument("--limit", type=float, default=60.0, help="seconds per component's MIP")
    a = ap.parse_args(argv)
    for i, recipe in enumerate(recipes(a.seed, a.books, a.max_orders)):
        if a.only is None or i in a.only:
            print(f"book {i}: ", end="")
            run(recipe, a.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
