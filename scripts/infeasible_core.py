"""An infeasible core of a given-up component (docs/performance.md, "Stop 29 — s23016"), by
the engine's own search (``solver_models.core``: its oracle and QuickXplain), with the limits given
here instead of the engine's (a time limit per call, more nodes, no bound on the calls).

Oracle: ``stages.local_mip`` over the whole price box (``core.WIDE_NEAR``) with both §4a
allowances (rounding; one package short for far and near orders) on the component as the
pipeline last failed on it, with only a subset of its orders *kept* under the rules; the
others are *freed* (any fill 0..q, no price rule: limit raised above every reachable price,
indivisible so that 0 is allowed in the money, no all-or-none, allowance above every gap,
a group of their own) — a relaxation of the model, so an infeasible subset proves the whole
infeasible. A search (QuickXplain) shrinks the kept subset while the oracle proves it
infeasible; an undecided answer (node or time limit) counts as "not proven".

    python scripts/infeasible_core.py SEED BOOK [--size N] [--start IDS] [--limit S]
        [--nodes N] [--heuristic EFFORT] [--root]

The oracle solves without objective (feasibility: the first point ends the search). On
campaign s23016 (seed 23 book 16) the undecided answers dominate: see the docs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from campaign import recipes

from solver_models import SolverParams, pipeline, solve
from solver_models.core import Oracle, quickxplain
from solver_models.generator import generate_book


def failed_part(seed: int, book_no: int, size: int | None):
    """The book, and (market, component) of the pipeline's last failing round (of ``size``
    orders when given)."""
    book = generate_book(recipes(seed, book_no + 1)[book_no])
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("seed", type=int)
    ap.add_argument("book", type=int)
    ap.add_argument("--size", type=int)
    ap.add_argument("--start", help="order ids kept at the start (comma separated)")
    ap.add_argument("--limit", type=float, default=30.0)
    ap.add_argument("--nodes", type=int, default=20_000)
    ap.add_argument("--heuristic", type=float, help="HiGHS mip_heuristic_effort (0.05 default)")
    ap.add_argument("--root", action="store_true",
                    help="each call its root node alone, as the engine's (else up to --nodes)")
    a = ap.parse_args()
    _book, m, c = failed_part(a.seed, a.book, a.size)
    ids = m.order_ids[c.orders]
    extra = {} if a.heuristic is None else {"mip_heuristic_effort": a.heuristic}
    oracle = Oracle(m, c, SolverParams(local_nodes=a.nodes, highs_options=extra),
                    float("inf"), a.limit, gate=a.root)
    cur = list(range(len(ids)))
    if a.start:
        want = {int(x) for x in a.start.split(",")}
        cur = [i for i in cur if int(ids[i]) in want]
    t = time.process_time()
    print("orders", len(ids), "start", len(cur), "infeasible:", oracle(cur), flush=True)
    core = quickxplain(cur, lambda k: oracle(k) is True, 10**9)
    print("core order ids:", None if core is None else sorted(int(ids[i]) for i in core))
    print("oracle calls", oracle.calls, f"cpu {time.process_time() - t:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
