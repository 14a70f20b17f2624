"""The integer bound: the most volume any answer in whole packages can trade (stop 27).

Not a stage of the pipeline: a measuring tool for small components (``scripts/integer_bound.py``;
docs/performance.md, "Stop 27"). One big-M MIP per component over everything the engine's
answers satisfy (auction.md §4, §4a):

* fills in whole packages ``x_i ∈ {0, …, q_i}``; all-or-none and minimum quantity: ``x_i = 0``
  or ``x_i ≥ min_i`` (binary ``y_i``);
* prices on the grid: an integer tick ``t_k ∈ [lo_k, hi_k]`` per contract (bands), tied to one
  price per atomic instrument ``u_j`` by the replication rows (parity, rule 10);
* balance per atomic instrument (rule 3);
* limits (rule 1): ``y_i = 1 ⇒ π_i − a_i·p ≥ 0``;
* price priority (rule 2) with every §4a allowance granted: a divisible order in the money by
  more than its rounding allowance ρ_i (``w_i = 1``) is filled to at least ``q_i − 1`` (one
  package short allowed always, not only when nothing balances), ``q_i`` when ``q_i = 1``;
  indivisible orders may stay unfilled. ``exact=True``: no allowance (ρ = 0, nobody short) —
  the exact equilibria.

The probe, "short only when nothing balances" and the least priority loss that §4a ranks before
the volume are dropped, so the MIP's dual bound bounds the volume of every answer the engine
may return; with ``exact`` its optimum is the largest volume of an exact equilibrium (rule 4).
The dual bound stays a bound when the time limit stops the MIP. Floats: a bound may be a
fraction of a lot loose, never tight; an answer found must be checked exactly
(``validator.equilibrium.check``) before it is believed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from solver_models import highs
from solver_models.highs import ArrayModel
from solver_models.market import Component, Market
from solver_models.params import SolverParams


@dataclass(frozen=True)
class IntegerBound:
    bound: float  # upper bound on the volume (lots); -inf: no answer at all, inf: unknown
    best: float | None  # the volume of the best answer found, None when none
    status: str  # HiGHS's: "optimal", "time_limit", "infeasible", …
    cpu: float  # process CPU seconds of the solve
    fills: np.ndarray | None  # packages per component order of the best answer
    ticks: np.ndarray | None  # ticks per component contract of the best answer


def integer_bound(market: Market, comp: Component, time_limit: float, params: SolverParams,
                  exact: bool = False, fewest: bool = False) -> IntegerBound:
    """The component's MIP (module docstring), stopped after ``time_limit`` seconds.
    ``exact``: no §4a relaxation (ρ = 0, nobody short) — the best volume of an exact
    equilibrium. ``fewest``: the fewest §4a relaxations instead of the most volume — ``bound``
    and ``best`` count orders (divisible, strictly in the money, not filled completely), the
    bound from below."""
    o, kc, at = comp.orders, comp.contracts, comp.atomics
    n, nk, na = len(o), len(kc), len(at)
    scale = 10.0 ** -market.money_places
    q = market.q[o].astype(float)
    mn = market.min_fill[o].astype(float)
    indiv = market.indivisible[o]
    div = np.flatnonzero(~indiv)
    nd = len(div)
    money = market.money(o, kc).astype(float) * scale  # a·m per tick, numeraire
    limit = market.limit[o].astype(float) * scale
    rho = market.allowance[o].astype(float) * scale * (not exact)
    lo, hi = market.tick_lo[kc].astype(float), market.tick_hi[kc].astype(float)
    pos, neg = money.maximum(0), money.minimum(0)
    most = pos @ hi + neg @ lo  # the largest a·p over the band box
    least = pos @ lo + neg @ hi
    big_lim = np.maximum(most - limit, 0) + 1.0  # a·p − π ≤ big when y = 0
    big_pri = np.maximum(limit - least - rho, 0) + 1.0  # π − a·p − ρ ≤ big when w = 1
    # columns: x (n), y (n), w (nd), t (nk), u (na)
    cx, cy, cw, ct, cu = 0, n, 2 * n, 2 * n + nd, 2 * n + nd + nk
    # fewest: per divisible order s (strictly in the money), f (filled completely), c ≥ s − f
    cs, cf, cc = cu + na, cu + na + nd, cu + na + 2 * nd
    ncol = cu + na + (3 * nd if fewest else 0)
    rows, lo_r, hi_r = [], [], []

    def add(block, lo_v, hi_v):
        rows.append(block)
        lo_r.append(np.broadcast_to(lo_v, block.shape[0]).astype(float))
        hi_r.append(np.broadcast_to(hi_v, block.shape[0]).astype(float))

    def cols(m: sp.spmatrix, start: int) -> sp.csr_matrix:
        m = sp.csr_matrix(m)
        return sp.csr_matrix((m.data, m.indices + start, m.indptr), shape=(m.shape[0], ncol))

    eye = sp.identity(n, format="csr")
    exposure = market.exposure_in(o, at).astype(float)
    add(cols(exposure.T, cx), 0.0, 0.0)  # balance
    tick, cash, terms = market.linking(kc, at)
    add(cols(sp.diags(tick), ct) - cols(terms, cu), cash, cash)  # parity
    add(cols(eye, cx) - cols(sp.diags(q), cy), -np.inf, 0.0)  # x ≤ q y
    add(cols(eye, cx) - cols(sp.diags(mn), cy), 0.0, np.inf)  # x ≥ min y
    # limits: a·p + big·y ≤ π + big
    add(cols(money, ct) + cols(sp.diags(big_lim), cy), -np.inf, limit + big_lim)
    if nd:
        sel = sp.csr_matrix((np.ones(nd), (np.arange(nd), div)), shape=(nd, n))
        # priority: −a·p − big·w ≤ ρ − π (w = 0 ⇒ in the money by at most ρ)
        add(cols(-(sel @ money), ct) - cols(sp.diags(big_pri[div]), cw), -np.inf,
            rho[div] - limit[div])
        need = q[div] if exact else np.where(q[div] >= 2, q[div] - 1, q[div])
        add(cols(sel, cx) - cols(sp.diags(need), cw), 0.0, np.inf)  # x ≥ need·w
        if fewest:  # s = 0 ⇒ π − a·p ≤ 0 (money is whole units of 10^-D: half a unit slack)
            add(cols(-(sel @ money), ct) - cols(sp.diags(big_pri[div] + rho[div]), cs),
                -np.inf, 0.5 * scale - limit[div])
            add(cols(sel, cx) - cols(sp.diags(q[div]), cf), 0.0, np.inf)  # x ≥ q·f
            unit = sp.identity(nd, format="csr")
            add(cols(unit, cc) - cols(unit, cs) + cols(unit, cf), 0.0, np.inf)  # c ≥ s − f
    a = sp.vstack(rows).tocsc()
    c = np.zeros(ncol)
    extra = 3 * nd if fewest else 0
    if fewest:
        c[cc:cc + nd] = -1.0
    else:
        c[cx:cx + n] = market.vol[o].astype(float)
    col_lo = np.concatenate((np.zeros(2 * n + nd), lo, np.full(na, -highs.INF), np.zeros(extra)))
    col_hi = np.concatenate((q, np.ones(n + nd), hi, np.full(na, highs.INF), np.ones(extra)))
    integer = np.concatenate((np.ones(2 * n + nd + nk, dtype=bool), np.zeros(na, dtype=bool),
                              np.ones(2 * nd if fewest else 0, dtype=bool),
                              np.zeros(nd if fewest else 0, dtype=bool)))
    model = ArrayModel(c, a, np.concatenate(lo_r), np.concatenate(hi_r), col_lo, col_hi,
                       integer, maximize=True)
    t0 = time.process_time()
    sol = highs.solve(model, params, time_limit, options={"mip_rel_gap": 0.0})
    cpu = time.process_time() - t0
    bound = sol.bound if sol.bound is not None and math.isfinite(sol.bound) else math.inf
    if sol.status == "infeasible":
        bound = -math.inf
    best = sol.objective
    if fewest:  # counts: the MIP maximised −count
        bound, best = -bound, None if best is None else -best
    fills = ticks = None
    if sol.x is not None:
        fills = np.rint(sol.x[cx:cx + n]).astype(np.int64)
        ticks = np.rint(sol.x[ct:ct + nk]).astype(np.int64)
    return IntegerBound(bound, best, sol.status, cpu, fills, ticks)
