"""An infeasible core of a given-up component (docs/performance.md, "Stop 29 — s23016").

Oracle: ``stages.local_mip`` over the whole price box (``pipeline.WIDE_NEAR``) with both §4a
allowances (rounding; one package short for far and near orders) on the component as the
pipeline last failed on it, with only a subset of its orders *kept* under the rules; the
others are *freed* (any fill 0..q, no price rule: limit raised above every reachable price,
indivisible so that 0 is allowed in the money, no all-or-none, allowance above every gap,
a group of their own) — a relaxation of the model, so an infeasible subset proves the whole
infeasible. A delta debugging (ddmin) shrinks the kept subset while the oracle proves it
infeasible; an undecided answer (node or time limit) counts as "not proven".

    python scripts/infeasible_core.py SEED BOOK [--size N] [--start IDS] [--limit S]
        [--nodes N] [--heuristic EFFORT]

The oracle solves without objective (feasibility: the first point ends the search). On
campaign s23016 (seed 23 book 16) the undecided answers dominate: see the docs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from campaign import draw_recipe

from solver_models import SolverParams, pipeline, solve, stages
from solver_models.generator import generate_book


def failed_part(seed: int, book_no: int, size: int | None):
    """The book, and (market, component) of the pipeline's last failing round (of ``size``
    orders when given)."""
    rng = random.Random(seed)
    recipe = [draw_recipe(rng, seed * 1000 + i, 10_000) for i in range(book_no + 1)][book_no]
    book = generate_book(recipe)
    calls = []
    orig = pipeline._stages

    def spy(market, comp, params, *a, **k):
        r = orig(market, comp, params, *a, **k)
        if isinstance(r, pipeline._Failed):
            calls.append((market, comp))
        return r

    pipeline._stages = spy
    try:
        solve(book, SolverParams())
    finally:
        pipeline._stages = orig
    m, c = next(f for f in reversed(calls) if size is None or len(f[1].orders) == size)
    return book, m, c


class Oracle:
    def __init__(self, m, c, limit: float, nodes: int, heuristic: float | None = None):
        self.m, self.c, self.limit = m, c, limit
        extra = {} if heuristic is None else {"mip_heuristic_effort": heuristic}
        self.params = SolverParams(local_nodes=nodes, highs_options=extra)
        self.reduced = stages.welfare_lp(m, c, self.params, 100.0).reduced
        o = c.orders
        money = m.money(o, c.contracts)
        pos, neg = money.maximum(0), money.minimum(0)
        lo, hi = m.tick_lo[c.contracts], m.tick_hi[c.contracts]
        self.act_hi = pos @ hi + neg @ lo
        self.act_lo = pos @ lo + neg @ hi
        self.calls = 0

    def __call__(self, kept) -> bool | None:
        """True: proven infeasible; False: a point; None: undecided."""
        m, o = self.m, self.c.orders
        free = np.ones(len(o), bool)
        free[list(kept)] = False
        fo = o[free]
        lim, ind, aon = m.limit.copy(), m.indivisible.copy(), m.aon.copy()
        mf, rho, grp = m.min_fill.copy(), m.allowance.copy(), m.group.copy()
        lim[fo] = np.maximum(lim[fo], self.act_hi[free])
        ind[fo], aon[fo], mf[fo] = True, False, 0
        rho[fo] = lim[fo] - self.act_lo[free] + 1
        grp[fo] = grp.max() + 1 + np.arange(len(fo))
        mm = replace(m, limit=lim, indivisible=ind, aon=aon, min_fill=mf, allowance=rho,
                     group=grp)
        self.calls += 1
        seen = []
        solve_ = stages.highs.solve

        def feasibility(model, *a, **k):  # no objective: the first point ends the search
            sol = solve_(replace(model, c=np.zeros_like(model.c)), *a, **k)
            seen.append(sol)
            return sol

        stages.highs.solve = feasibility
        try:
            f = stages.local_mip(mm, self.c, self.reduced, pipeline.WIDE_NEAR, self.params,
                                 self.limit, short=True, near_short=True)
        finally:
            stages.highs.solve = solve_
        if isinstance(f, stages.LocalEquilibrium) or any(s.has_solution for s in seen):
            return False
        return True if f.status == "infeasible" else None


def ddmin(cur: list[int], bad) -> list[int]:
    n = 2
    while len(cur) >= 2:
        chunks = [cur[i * len(cur) // n:(i + 1) * len(cur) // n] for i in range(n)]
        for ch in chunks:
            s = set(ch)
            rest = [x for x in cur if x not in s]
            if bad(rest):
                cur, n = rest, max(n - 1, 2)
                break
        else:
            if n >= len(cur):
                break
            n = min(len(cur), 2 * n)
        print(len(cur), flush=True)
    return cur


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("seed", type=int)
    ap.add_argument("book", type=int)
    ap.add_argument("--size", type=int)
    ap.add_argument("--start", help="order ids kept at the start (comma separated)")
    ap.add_argument("--limit", type=float, default=30.0)
    ap.add_argument("--nodes", type=int, default=20_000)
    ap.add_argument("--heuristic", type=float, help="HiGHS mip_heuristic_effort (0.05 default)")
    a = ap.parse_args()
    _book, m, c = failed_part(a.seed, a.book, a.size)
    ids = m.order_ids[c.orders]
    oracle = Oracle(m, c, a.limit, a.nodes, a.heuristic)
    cur = list(range(len(ids)))
    if a.start:
        want = {int(x) for x in a.start.split(",")}
        cur = [i for i in cur if int(ids[i]) in want]
    t = time.process_time()
    print("orders", len(ids), "start", len(cur), "infeasible:", oracle(cur), flush=True)
    core = ddmin(cur, lambda k: oracle(k) is True)
    print("core order ids:", sorted(int(ids[i]) for i in core))
    print("oracle calls", oracle.calls, f"cpu {time.process_time() - t:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
