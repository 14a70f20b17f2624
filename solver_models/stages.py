"""The clearing stages of one component, each building its model from arrays.

Notation (per component): orders i with q_i packages, exposure B_i (atomic units per package),
effective limit π_i per package, volume v_i lots per package; contracts k with money m_k of one
lot at one tick, band [lo_k, hi_k]; atomic instruments j.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from solver_models import highs
from solver_models.allocation import pro_rata
from solver_models.highs import INF, ArrayModel, Columns
from solver_models.market import Component, Market
from solver_models.outcome import StageReport
from solver_models.params import SolverParams


@dataclass(frozen=True)
class Classification:
    itm: np.ndarray  # bool over the component's orders: strictly in the money at p*
    otm: np.ndarray
    atm: np.ndarray
    reduced: np.ndarray  # π'_i − B_i·p*, numeraire per package
    ticks: np.ndarray  # the contracts' prices at p*, in ticks (float)
    report: StageReport
    # contracts (indices) whose band no equilibrium keeps: their keepers traded (see welfare_lp)
    breached: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lp_volume: float = 0.0  # lots the welfare LP (the relaxation of whole packages) trades


def welfare_lp(market: Market, comp: Component, params: SolverParams,
               time_limit: float, keepers: bool | np.ndarray = True
               ) -> Classification | StageReport:
    """Stage 1 — the welfare LP and its duals.

    ``max Σ_i π'_i x_i  s.t.  Σ_i B_i x_i = 0 (every atomic j),  0 <= x_i <= q_i``
    with π' = π − replication cash. Its duals p are equilibrium prices: an order with
    ``π'_i − B_i·p > 0`` is filled completely, ``< 0`` not at all, ``= 0`` may be partial —
    and every optimal x pairs with every optimal p (LP duality), so this classification fixes
    the set of all equilibria. Returns the classification at p (or a failed report).

    Bands enter as *keepers*: per contract an unlimited buyer just below its band and seller
    just above. If an equilibrium inside the bands exists, it is one of this LP too with the
    keepers out of the money, so by complementary slackness no optimum trades them; a keeper
    that trades therefore proves that no equilibrium keeps that contract in its band (possible
    only through replication or multi-leg orders: single-leg limits are clipped to the band).
    Those contracts are reported as ``breached`` and the LP is solved again without the
    keepers of their independent blocks (a batch is a union of components: the other blocks
    keep theirs, as each would alone). ``keepers``: every contract's (True), none, or those of
    the given contracts.
    """
    t0 = time.perf_counter()
    w = _welfare_model(market, comp, keepers)
    build = time.perf_counter() - t0
    sol = highs.solve(w.model, params, time_limit)
    return _welfare_answer(market, comp, params, time_limit, w, sol, build)


@dataclass(frozen=True)
class _Welfare:
    """The welfare LP's model of a component and what its answer is read with."""

    group: np.ndarray  # group (column) per component order
    first: np.ndarray  # an order (component index) per group
    obj: np.ndarray  # per group
    b: sp.csc_matrix  # atomics × groups
    kept: np.ndarray  # the contracts with band keepers (columns after the groups)
    model: ArrayModel


def _welfare_model(market: Market, comp: Component, keepers: bool | np.ndarray) -> _Welfare:
    # one column per group of identical orders (same legs and limit): same class, summed size
    group = _groups(market, comp.orders)
    _, first = np.unique(group, return_index=True)
    obj, b = market.lp_arrays(comp.orders[first], comp.atomics)
    q = np.bincount(group, weights=market.q[comp.orders]).astype(float)
    # Band keepers: per active contract an unlimited buyer at (low − ε) and seller at
    # (high + ε). Every real limit is clipped into the band, so they never trade; they only
    # keep the duals (the prices) inside the bands.
    kept = comp.contracts if keepers is True else comp.contracts[:0] if keepers is False \
        else keepers
    band_obj, band_b = market.band_keepers(kept, comp.atomics)
    obj_all = np.concatenate((obj, band_obj))
    b_all = sp.hstack([b, band_b]).tocsc()
    upper = np.concatenate((q, np.full(len(band_obj), max(1.0, float(q.sum())))))
    n_row = b.shape[0]
    model = ArrayModel(obj_all, b_all, np.zeros(n_row), np.zeros(n_row),
                       np.zeros(len(upper)), upper, maximize=True)
    return _Welfare(group, first, obj, b, kept, model)


def _welfare_answer(market: Market, comp: Component, params: SolverParams, time_limit: float,
                    w: _Welfare, sol: highs.Solution, build: float
                    ) -> Classification | StageReport:
    """:func:`welfare_lp`'s classification from its model ``w`` and HiGHS's answer ``sol``."""
    report = StageReport("welfare_lp", build, sol.solve_seconds, sol.status, sol.objective,
                         size=w.model.size)
    if not sol.optimal or sol.row_dual is None:
        return report
    n, kept = len(w.obj), w.kept
    traded = np.flatnonzero(sol.x[n:] > 1e-9)
    if len(traded):
        # No equilibrium inside every band: classify without keepers (the grid stages enforce
        # the bands and may still find prices within the rounding allowance), name the bands.
        # the keepers of the blocks (orders and keepers linked through their instruments)
        # where one traded are dropped; the other blocks' LP is unchanged
        col = _linked(w.model.a)[1][n:]  # the keepers' blocks: buyers, then sellers, per contract
        hit = np.isin(col, col[traded])
        rest = kept[~(hit[:len(kept)] | hit[len(kept):])]
        cls = welfare_lp(market, comp, params, time_limit - sol.solve_seconds, keepers=rest)
        if not isinstance(cls, Classification):
            return cls
        return replace(cls, breached=np.union1d(cls.breached, kept[traded % len(kept)]))
    return _classified(market, comp, w, sol.row_dual, sol.x, report)


def _classified(market: Market, comp: Component, w: _Welfare, p: np.ndarray, x: np.ndarray,
                report: StageReport) -> Classification:
    """The orders of ``comp`` classified at the welfare LP's duals ``p`` (its primal ``x``)."""
    obj, b, group = w.obj, w.b, w.group
    reduced = obj - b.T @ p
    scale = 1.0 + np.abs(obj) + abs(b.T) @ np.abs(p)
    tol = 1e-7 * scale
    itm, otm = (reduced > tol)[group], (reduced < -tol)[group]
    tick, cash, terms = market.linking(comp.contracts, comp.atomics)
    lp_volume = float(market.vol[comp.orders[w.first]] @ x[:len(obj)])
    return Classification(itm, otm, ~(itm | otm), reduced[group], (cash + terms @ p) / tick, report,
                          lp_volume=lp_volume)


def welfare_lp_parts(market: Market, comp: Component, parts: list[Component],
                     params: SolverParams, time_limit: float) -> Classification | StageReport:
    """:func:`welfare_lp` of a batch, ``comp`` the union of the independent ``parts``, giving
    each part the classification its welfare LP gives it alone.

    The LP's duals may be degenerate (several optimal prices), and which optimum HiGHS
    returns for a part depends on the whole model: the batch's block-diagonal LP may give a
    part other optimal duals than its LP alone. So the batch's LP is solved once, and a part
    is solved again alone unless **its duals are unique** — proven from the batch's answer:

    * The batch's ``x`` is a basic solution (HiGHS's valid basis, ``Solution.basic``) and the
      part has as many columns strictly inside their bounds as it has rows (atomics). A column
      off its bounds is basic, and a basis restricted to a block of a block-diagonal matrix is
      a basis of the block (square and non-singular), so these columns are the part's basis
      and it is primal non-degenerate. The part's ``x`` is optimal for the part alone (block
      diagonal), and complementary slackness with it makes every optimal dual of the part
      alone satisfy ``B_i·p = π'_i`` on these columns: one solution, the batch's ``p``.
    * Every band keeper of the part is strictly out of the money at that ``p`` (reduced cost
      ``< −tol``): no optimum of the part alone trades one (complementary slackness again),
      so alone the keepers stay and nothing is breached — the classification alone is the
      one at ``p``.

    When every non-basic column's reduced cost is non-zero the rule is also necessary: a
    basic column at a bound, or a basic row, lets the duals move. Only the duals are proven
    equal, as numbers: HiGHS may round them otherwise alone (ticks 1.1e-13 apart on 4 of
    909 parts of the campaign's seeds 17–18, bit-equal on the bench books); a
    proven part's LP volume is the batch's ``x``'s, one of its LP's optima (the same alone
    when it is dual non-degenerate too).

    A part without that proof (e.g. no trade: every column at a bound) gets its LP alone:
    the very model :func:`welfare_lp` builds for it, cut out of the batch's arrays
    (:func:`_welfare_parts`), solved on one HiGHS instance for the batch
    (:class:`highs.Reused`), its duals and ``x`` put in the batch's place before one
    classification; a part whose keepers trade alone takes :func:`welfare_lp`'s whole way.
    Its answer is kept in ``market.memo`` (the model depends only on the part's orders,
    atomics and contracts) for the batch's next rounds. Cost: a HiGHS call per such part
    (docs/performance.md, stops 27–28)."""
    t0 = time.perf_counter()
    o, kc = comp.orders, comp.contracts
    w = _welfare_model(market, comp, True)
    build = time.perf_counter() - t0
    solver = highs.Reused(params)
    sol = solver.solve(w.model, time_limit)
    batch = StageReport("welfare_lp", build, sol.solve_seconds, sol.status, sol.objective,
                        size=w.model.size)
    spent = sol.solve_seconds
    t1 = time.perf_counter()
    n, n_part = len(w.obj), len(parts)
    own_order = _owner(o, [p.orders for p in parts])
    own_contract = _owner(kc, [p.contracts for p in parts])
    col_owner = np.concatenate((own_order[w.first], own_contract, own_contract))
    row_owner = _owner(comp.atomics, [p.atomics for p in parts])
    x, upper = sol.x, w.model.col_hi
    if sol.optimal and sol.row_dual is not None and sol.basic:
        y = sol.row_dual
        margin = 1e-7 * np.maximum(1.0, upper)
        inside = (x > margin) & (x < upper - margin)
        a_k = w.model.a[:, n:]
        k_reduced = w.model.c[n:] - a_k.T @ y
        k_open = k_reduced >= -1e-7 * (1.0 + np.abs(w.model.c[n:]) + abs(a_k.T) @ np.abs(y))
        proven = (np.bincount(col_owner[inside], minlength=n_part)
                  == np.bincount(row_owner, minlength=n_part)) \
            & (np.bincount(col_owner[n:][k_open], minlength=n_part) == 0)
    else:  # no basis to prove anything with: every part alone
        proven = np.zeros(n_part, dtype=bool)
        x, y = np.zeros(len(upper)), np.zeros(len(comp.atomics))
    # each part not proven: its LP alone (cut out of the batch's), its duals and primal put
    # in the batch's place; those whose keepers trade alone take welfare_lp's whole way
    cols_of, rows_of = _by_owner(col_owner, n_part), _by_owner(row_owner, n_part)
    # a part's LP alone depends only on its orders, atomics and contracts: a batch's next
    # round (orders dropped, a part left) finds the answers of its unchanged parts here
    keys = {i: ("welfare_lp alone", o[own_order == i].tobytes(), comp.atomics[rows_of(i)].tobytes(),
                kc[own_contract == i].tobytes()) for i in np.flatnonzero(~proven)}
    todo = [i for i, key in keys.items() if key not in market.memo and len(cols_of(i))]
    cut = dict(zip(todo, _welfare_parts(w.model, [cols_of(i) for i in todo],
                                        [rows_of(i) for i in todo], n), strict=True))
    breaking: dict[int, Component] = {}
    volume_alone = 0.0
    for i, key in keys.items():
        cols, rows = cols_of(i), rows_of(i)
        if not len(cols):  # every order halted
            continue
        if i in cut:
            got = solver.solve(cut[i], time_limit - spent)
            spent += got.solve_seconds
            if not got.optimal or got.row_dual is None:
                return replace(batch, status=got.status, objective=None, size=cut[i].size)
            market.memo[key] = got.x, got.row_dual
        part_x, part_y = market.memo[key]
        if (part_x[(cols < n).sum():] > 1e-9).any():
            breaking[i] = Component(o[own_order == i], comp.atomics[rows], kc[own_contract == i])
            continue
        x[cols], y[rows] = part_x, part_y
    build += time.perf_counter() - t1
    cls = _classified(market, comp, w, y, x, batch)
    breached = [np.zeros(0, dtype=np.int64)]
    for i, piece in breaking.items():
        alone = welfare_lp(market, piece, params, time_limit - spent)
        if not isinstance(alone, Classification):
            return alone
        spent += alone.report.solve_seconds
        mine = own_order == i
        cls.itm[mine], cls.otm[mine], cls.atm[mine] = alone.itm, alone.otm, alone.atm
        cls.reduced[mine] = alone.reduced
        cls.ticks[own_contract == i] = alone.ticks
        breached.append(alone.breached)
        x[cols_of(i)] = 0.0  # its LP volume is its own LP's
        volume_alone += alone.lp_volume
    volume = np.bincount(col_owner[:n], weights=market.vol[o[w.first]] * x[:n],
                         minlength=n_part)
    report = replace(batch, build_seconds=build, solve_seconds=spent,
                     size=f"{batch.size}; {int((~proven).sum())} of {n_part} parts alone "
                          f"({len(cut)} solved)")
    return replace(cls, report=report,
                   breached=np.unique(np.concatenate(breached)).astype(np.int64),
                   lp_volume=float(volume.sum()) + volume_alone)


def _welfare_parts(model: ArrayModel, cols: list[np.ndarray], rows: list[np.ndarray], n: int
                   ) -> list[ArrayModel]:
    """Parts' welfare LPs cut out of their batch's ``model`` (its first ``n`` columns groups,
    then keepers): per part the very model :func:`_welfare_model` builds for it alone — the
    batch's columns ``cols[i]`` (its groups, then its contracts' keepers: buyers, sellers)
    and rows ``rows[i]``, in the batch's order, which is the order alone (groups by book-wide
    id, atomics and contracts by index): the same numbers, each column's non-zeros in the
    same order, the keepers' bound from the part's own sizes summed as alone
    (tests/solver_models/test_welfare_parts.py compares every array)."""
    if not cols:
        return []
    a = model.a
    renumber = np.full(a.shape[0], -1, dtype=np.int64)  # the part's columns touch its rows only
    for r in rows:
        renumber[r] = np.arange(len(r))
    every = np.concatenate(cols)
    start = a.indptr[every]
    length = a.indptr[every + 1] - start
    ends = np.cumsum(length)
    take = np.repeat(start - ends + length, length) + np.arange(ends[-1] if len(ends) else 0)
    data, indices = a.data[take], renumber[a.indices[take]].astype(np.int32)
    c, hi = model.c[every], model.col_hi[every]
    out, at, nz = [], 0, 0
    for col, row in zip(cols, rows, strict=True):
        k, groups = len(col), int((col < n).sum())
        indptr = np.zeros(k + 1, dtype=np.int32)
        np.cumsum(length[at:at + k], out=indptr[1:])
        q = hi[at:at + groups]
        upper = np.concatenate((q, np.full(k - groups, max(1.0, float(q.sum())))))
        out.append(ArrayModel(c[at:at + k], Columns(indptr, indices[nz:nz + indptr[-1]],
                                                    data[nz:nz + indptr[-1]], (len(row), k)),
                              np.zeros(len(row)), np.zeros(len(row)), np.zeros(k), upper,
                              maximize=True))
        at, nz = at + k, nz + int(indptr[-1])
    return out


def _by_owner(owner: np.ndarray, n: int):
    """``f(i)`` for ``i < n``: the indices whose ``owner`` is ``i``, increasing (one sort)."""
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n + 1))
    return lambda i: order[bounds[i]:bounds[i + 1]]


def _owner(items: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Per item the index of the (disjoint) group holding it, −1 if none."""
    every = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    label = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    order = np.argsort(every, kind="stable")
    every, label = every[order], label[order]
    if not len(every):
        return np.full(len(items), -1)
    at = np.minimum(np.searchsorted(every, items), len(every) - 1)
    return np.where(every[at] == items, label[at], -1)


@dataclass(frozen=True)
class Allocation:
    fills: np.ndarray  # packages per component order
    report: StageReport
    # orders in the money left one package short (whole-package rounding), per component order
    short: np.ndarray | None = None


def _groups(market: Market, orders: np.ndarray, limits: bool = True) -> np.ndarray:
    """Group id per order (0 … groups − 1): identical legs (contracts and ratios) and, with
    ``limits``, identical effective limit — from the book-wide ids the market computed once
    (one 1-D integer unique here, no row comparisons)."""
    keys = (market.group if limits else market.signature)[orders]
    _, inverse = np.unique(keys, return_inverse=True)
    return inverse.ravel()


def give_way(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray
             ) -> np.ndarray:
    """The whole-package allowance only where it is needed, at the chosen prices: an order in
    the money one package short takes the package back from a marginal order (at the money or
    in the money within its rounding allowance) with the same legs and the lowest lower limit;
    that order's group of identical orders is shared pro rata again (rule 8). Then, §4a's
    "shortfalls go first to the orders least in the money per package": an order still short
    takes its package back from an order with the same legs filled completely, less in the
    money beyond its allowance, of two packages or more (the least in the money first; ties:
    the largest, the latest entry), which is short instead — a smaller priority loss. Balance
    holds (the same legs move), every other rule too (a marginal order may be partly filled).
    Returns the fills, changed or not."""
    o = comp.orders
    q, limit, rho = market.q[o], market.limit[o], market.allowance[o]
    divisible = ~market.indivisible[o]
    gap = limit - market.money(o, comp.contracts) @ ticks  # π − a·p, exact
    marginal = divisible & (gap >= 0) & (gap <= rho)
    short = np.flatnonzero(divisible & (gap > rho) & (fills == q - 1) & (fills >= 1))
    if not len(short):
        return fills
    fills = fills.copy()
    legs = _groups(market, o, limits=False)
    ids = market.order_ids[o]
    for i in short[np.argsort(-limit[short], kind="stable")]:  # the best limit first
        giver = np.flatnonzero(marginal & (legs == legs[i]) & (limit < limit[i]) & (fills > 0))
        if not len(giver):
            continue
        members = np.flatnonzero(marginal & (legs == legs[i]) & (limit == limit[giver].min()))
        fills[members] = pro_rata(int(fills[members].sum()) - 1, q[members], o[members],
                                  ids[members])
        fills[i] += 1
    beyond = divisible & (gap > rho)
    for i in short[np.argsort(-gap[short], kind="stable")]:  # the most in the money first
        if fills[i] == q[i]:
            continue
        taker = np.flatnonzero(beyond & (legs == legs[i]) & (gap < gap[i]) & (fills == q)
                               & (q >= 2))
        if not len(taker):
            continue
        j = taker[np.lexsort((-ids[taker], -taker, -q[taker], gap[taker]))[0]]
        fills[j] -= 1
        fills[i] += 1
    return fills


def _representatives(market: Market, members: np.ndarray, orders: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Groups of identical orders among ``members`` (positions into ``orders``): group id per
    member, a representative member per group, the number of groups."""
    if not len(members):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0
    group = _groups(market, orders[members])
    n_g = int(group.max()) + 1
    first = np.zeros(n_g, dtype=np.int64)
    first[group[::-1]] = members[::-1]
    return group, first, n_g


SHORT_CANDIDATES = 16  # groups per atomic instrument that may be one package short


def _short_groups(market: Market, comp: Component, mask: np.ndarray, reduced: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Groups of identical divisible orders in the money (``mask`` over the component's
    orders) that may be one package short (the whole-package allowance). An order keeps at
    least one package, and pro rata takes the package from the group's largest order, so a
    group qualifies when one of its orders has two or more; and only the ``SHORT_CANDIDATES``
    least in the money (``reduced``) on each atomic instrument are offered, since those are
    the ones the least priority loss picks (a model with every group in the money of a 100k
    book takes seconds). Members, group per member, a representative per group, the number
    of groups."""
    o = comp.orders
    members = np.flatnonzero(mask)
    if not len(members):  # no allowance asked for (or no order in the money)
        none = np.zeros(0, dtype=np.int64)
        return none, none, none, 0
    group, first, n = _representatives(market, members, o)
    ok = np.zeros(n, dtype=bool)
    np.logical_or.at(ok, group, market.q[o[members]] >= 2)
    touch = market.exposure_in(o[first], comp.atomics).tocoo()
    g, j = touch.row[ok[touch.row]], touch.col[ok[touch.row]]
    by = np.lexsort((reduced[first][g], j))  # per atomic, least in the money first
    g, j = g[by], j[by]
    rank = np.arange(len(j)) - np.searchsorted(j, j)  # position among the atomic's groups
    chosen = np.zeros(n, dtype=bool)
    chosen[g[rank < SHORT_CANDIDATES]] = True
    keep = chosen[group]
    return members[keep], (np.cumsum(chosen) - 1)[group[keep]], first[chosen], int(chosen.sum())


def _one_short(market: Market, orders: np.ndarray, fills: np.ndarray, members: np.ndarray,
               group: np.ndarray, taken: np.ndarray) -> None:
    """In place: ``taken[h]`` packages (per group h of the short groups, full before) off
    group h, one package off each of its ``taken[h]`` largest orders of two packages or more
    (ties: the latest entry, then the larger id) — the orders pro rata (rule 8) would leave
    short of ``Q − taken[h]``: for one package, exactly its split (the largest order gives
    it); for more, its split whenever that leaves no order two short, and otherwise still one
    package per order (the allowance is one package per order, never unfilled)."""
    q, ids = market.q[orders], market.order_ids[orders]
    for h in np.flatnonzero(taken):
        m = members[group == h]
        n = round(float(taken[h]))
        able = m[q[m] >= 2]
        if n > len(able):
            raise ValueError(f"{n} packages short over {len(able)} orders of two or more")
        # the largest first; ties: the latest entry (the larger index), then the larger id
        by = np.lexsort((ids[able], orders[able], q[able]))[::-1]
        fills[able[by[:n]]] -= 1


def _unbalanceable(a: sp.csr_matrix, hi: np.ndarray, rhs: np.ndarray) -> bool:
    """Whether ``a x = rhs`` (exact integers) has no integer solution with ``0 <= x <= hi``,
    by two necessary conditions checked per row: ``rhs`` between the least and the most the
    row can reach, and a multiple of the gcd of the row's coefficients. True only when that
    is proven (the MIP would be infeasible); False when in doubt (then the MIP decides).
    Columns with ``hi`` 0 take part in nothing (the probe passes a component's every order,
    holding those it does not free at 0)."""
    a = a.tocsr()
    a.sum_duplicates()
    hi = np.asarray(hi, dtype=np.int64)
    rhs = np.asarray(rhs, dtype=np.int64)
    if a.nnz and float(np.abs(a.data).max()) * float(hi.max(initial=0)) * a.shape[1] >= 2.0**62:
        return False  # int64 could overflow: leave it to the solver
    reach = a.data * hi[a.indices]
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    most = np.bincount(rows, weights=np.maximum(reach, 0), minlength=a.shape[0])
    least = np.bincount(rows, weights=np.minimum(reach, 0), minlength=a.shape[0])
    if np.any(rhs > most + 0.5) or np.any(rhs < least - 0.5):  # sums below 2^62: exact enough
        return True
    g = np.zeros(a.shape[0], dtype=np.int64)
    filled = np.flatnonzero(np.diff(a.indptr) > 0)
    if len(filled):  # rows are contiguous in CSR: one gcd reduction per non-empty row
        # a column held at 0 (hi 0) adds nothing a row can reach: left out of its gcd
        g[filled] = np.gcd.reduceat(np.where(hi[a.indices] > 0, np.abs(a.data), 0),
                                    a.indptr[filled])
    return bool(np.any(np.where(g > 0, rhs % np.maximum(g, 1), rhs) != 0))


# two lexicographic levels are one weighted solve only while the weighted objective stays
# below this (far inside the integers float64 holds exactly); else one solve per level
ONE_SOLVE_BELOW = 2.0 ** 50


ALONE_ORDERS = 200  # a block of the allowance's model with this many orders is solved alone


def allocation_mip(market: Market, comp: Component, cls: Classification, params: SolverParams,
                   time_limit: float, short: bool = False, exposure: sp.csr_matrix | None = None,
                   unfilled_loss: np.ndarray | None = None, start: np.ndarray | None = None,
                   feasibility: bool = False, surplus: bool = False
                   ) -> Allocation | StageReport:
    """Stage 2 (:func:`_allocation_mip`); with the whole-package allowance, each independent
    block of the balance (a batch is a union of components) solved alone: the least loss and
    the volume are sums over the blocks, so their lexicographic optima side by side are the
    batch's, and branch and bound on independent blocks together multiplies their trees (a
    batch of two 1,500-order components of a random book, issue 17: 20 s in one model). A
    block where nothing may be short is the model without the allowance. ``feasibility``:
    whether any allocation balances, no more (:func:`_allocation_mip`)."""
    if exposure is None:
        exposure = market.exposure_in(comp.orders, comp.atomics)
    blocks = _blocks(exposure) if short else []
    # small blocks stay together (one model: a solver call per block costs more than their
    # branch and bound together), large ones are solved alone
    small = [b for b in blocks if len(b[0]) < ALONE_ORDERS]
    blocks = [b for b in blocks if len(b[0]) >= ALONE_ORDERS]
    if small:
        blocks.append(tuple(np.sort(np.concatenate(x)) for x in zip(*small, strict=True)))
    if len(blocks) <= 1:
        return _allocation_mip(market, comp, cls, params, time_limit, short, exposure,
                               unfilled_loss, start, feasibility, surplus)
    # the smallest first: a block whose balance no whole packages reach fails the whole
    # batch, and is found before the large blocks are solved
    blocks.sort(key=lambda b: len(b[0]))
    o = comp.orders
    fills = np.zeros(len(o), dtype=np.int64)
    shorted = np.zeros(len(o), dtype=bool)
    build = solve = 0.0
    gap = 0.0
    last: StageReport | None = None
    for rows, cols in blocks:
        part = Component(o[rows], comp.atomics[cols], comp.contracts)
        sub = Classification(cls.itm[rows], cls.otm[rows], cls.atm[rows], cls.reduced[rows],
                             cls.ticks, cls.report)
        block = exposure[rows][:, cols]
        loss = None if unfilled_loss is None else unfilled_loss[rows]
        given = None if start is None else start[rows]
        t0 = time.perf_counter()
        alloc = _allocation_mip(market, part, sub, params, time_limit, True, block, loss,
                                given, feasibility, surplus)
        if isinstance(alloc, StageReport) and alloc.status == "infeasible":
            alloc = _allocation_mip(market, part, sub, params,
                                    time_limit - (time.perf_counter() - t0), False, block, loss,
                                    given, feasibility, surplus)
        time_limit -= time.perf_counter() - t0
        last = alloc.report if isinstance(alloc, Allocation) else alloc
        build += last.build_seconds
        solve += last.solve_seconds
        if not isinstance(alloc, Allocation):
            return replace(last, build_seconds=build, solve_seconds=solve)
        gap = max(gap, last.gap or 0.0)
        fills[rows] = alloc.fills
        if alloc.short is not None:
            shorted[rows] = alloc.short
    assert last is not None
    report = replace(last, build_seconds=build, solve_seconds=solve, gap=gap,
                     objective=float(market.vol[o] @ fills), bound=None,
                     size=f"{len(blocks)} blocks; last: {last.size}")
    return Allocation(fills, report, shorted if shorted.any() else None)


def _allocation_mip(market: Market, comp: Component, cls: Classification, params: SolverParams,
                    time_limit: float, short: bool = False, exposure: sp.csr_matrix | None = None,
                    unfilled_loss: np.ndarray | None = None, start: np.ndarray | None = None,
                    feasibility: bool = False, surplus: bool = False
                    ) -> Allocation | StageReport:
    """Stage 2 — maximum volume in whole packages among the equilibria of stage 1.

    Fixed: x_i = q_i in the money (divisible), 0 out of the money. Variables: X_g ∈ [0, Q_g]
    integer per group g of identical at-the-money divisible orders (shared pro rata later);
    z_i ∈ {0, 1} per indivisible order in or at the money (all-or-none: x = q·z; minimum
    quantity: x_i ∈ [min_i·z_i, q_i·z_i] integer).
    ``max Σ v·x  s.t.  Σ_g B_g X_g + Σ_i B_i x_i = −Σ_{fixed} B_i q_i`` (exact integer rows).

    ``short`` — the whole-package allowance (README "Decisions"), for when no allocation in
    whole packages balances: per group h of identical divisible orders in the money a binary
    S_h takes one package off one of them (``− Σ_h B_h S_h`` joins the balance). First the least
    priority loss ``min Σ_h r_h·S_h`` (r_h the order's reduced cost at the LP's prices, rounded
    up to a money unit: what one package short costs it), then the maximum volume with that
    loss kept — one integral solve of ``volume − W·loss`` with exact gaps, as below.

    ``unfilled_loss`` — §4a's priority loss at fixed prices (:func:`least_loss`): per
    component order, what one unfilled package costs it in money units (10^-D, exact integers:
    ``π − a·p`` when in the money, else 0). Then, as with ``short``, the least priority loss
    ``Σ_g loss_g·(Q_g − X_g)`` over the free divisible groups first (indivisible orders may stay
    unfilled in the money: no loss), then the maximum volume with that loss kept: one integral
    solve of ``volume − W·loss`` (W above the volume's span, so its order is exactly (loss,
    volume)), or two solves where ``W·loss`` could pass 2^50; exact gaps (:func:`exact_gap`),
    so neither level is left to a gap.

    ``surplus`` (with ``unfilled_loss``; :func:`least_loss` with ``rule5``) — a third level,
    rule 5 at fixed prices: the least unfilled lots not out of the money, measured as
    ``scripts/objectives.py`` measures them (the lots of a divisible order not out of the
    money that gets nothing; indivisible orders do not count). Per group of free divisible
    orders a binary ``U_g <= X_g`` and ``Σ_g lots_g·(1 − U_g)``: a group counts when it gets
    nothing (how a group's fill is split among its orders is rule 8's pro rata, after).
    Adjacent levels are merged into one integral objective while ``W·upper + lower`` stays
    below ``ONE_SOLVE_BELOW``; else one solve per level, each kept as a bound.

    ``exposure``: the component's ``market.exposure[o][:, comp.atomics]`` when the caller has
    it (the probe calls this many times for one component).

    ``start``: fills per component order known to balance (least loss: the answer's), given
    to HiGHS as its first incumbent — when they are one of this model's allocations, branch
    and bound starts with their objective as a bound (and HiGHS ignores them otherwise); the
    optimum is the same, exact gaps decide it.

    ``feasibility``: only whether some allocation balances (no objective: HiGHS stops at its
    first one; the fills are any such allocation) — when the caller needs the model's status
    and not its optimum (:func:`grid_reachable` proved the optimum could not be priced).
    """
    t0 = time.perf_counter()
    o = comp.orders
    indiv = market.indivisible[o]
    fixed_full = cls.itm & ~indiv
    free_div = cls.atm & ~indiv
    free_ind = (cls.itm | cls.atm) & indiv
    if exposure is None:
        exposure = market.exposure_in(o, comp.atomics)  # orders × atomics, int64
    q = market.q[o]
    rhs = -(exposure.T @ (q * fixed_full))
    fills = np.where(fixed_full, q, 0).astype(np.int64)

    div_idx = np.flatnonzero(free_div)
    group, first, n_g = _representatives(market, div_idx, o)
    group_q = np.bincount(group, weights=q[div_idx], minlength=n_g).astype(np.int64)
    ind_idx = np.flatnonzero(free_ind)
    mq = ind_idx[~market.aon[o[ind_idx]]]  # minimum-quantity orders need x and z
    itm_idx, s_group, s_first, n_s = _short_groups(market, comp, fixed_full & short,
                                                   cls.reduced)
    if short and not n_s:  # nothing may be short: the same model as without the allowance
        return StageReport("allocation_mip", time.perf_counter() - t0, 0.0, "infeasible")

    n_var = n_g + len(ind_idx) + len(mq) + n_s
    if n_var == 0:
        ok = not np.any(rhs)
        return (Allocation(fills, StageReport("allocation_mip", time.perf_counter() - t0, 0.0,
                                              "optimal" if ok else "infeasible", 0.0))
                if ok else StageReport("allocation_mip", 0.0, 0.0, "infeasible"))
    # columns: [X_g ...][z_i (aon: x=q z; minqty: z)][x_i for minqty][S_h]
    aon_mask = market.aon[o[ind_idx]]
    ind_coef = np.where(aon_mask, q[ind_idx], 0)
    # one row of exposure per column, times its coefficient (minimum-quantity z: 0, dropped),
    # gathered at once; transposed, the balance rows
    col_rows = np.concatenate((first[:n_g], ind_idx, mq, s_first)).astype(np.int64)
    col_coef = np.concatenate((np.ones(n_g, np.int64), ind_coef.astype(np.int64),
                               np.ones(len(mq), np.int64), np.full(n_s, -1, np.int64)))
    stacked = exposure[col_rows]
    stacked = sp.csr_matrix((stacked.data * np.repeat(col_coef, np.diff(stacked.indptr)),
                             stacked.indices, stacked.indptr), shape=stacked.shape)
    stacked.eliminate_zeros()
    balance_int = stacked.T.tocsr()
    if _unbalanceable(balance_int, np.concatenate((group_q, np.ones(len(ind_idx), np.int64),
                                                   q[mq], np.ones(n_s, np.int64))), rhs):
        return StageReport("allocation_mip", time.perf_counter() - t0, 0.0, "infeasible")
    balance = balance_int.astype(float)
    vol = market.vol[o]
    c = np.concatenate((vol[first] if n_g else np.zeros(0), vol[ind_idx] * ind_coef, vol[mq],
                        -vol[s_first]))
    col_lo = np.zeros(n_var)
    col_hi = np.concatenate((group_q, np.ones(len(ind_idx)), q[mq], np.ones(n_s))).astype(float)
    rows = [balance]
    row_lo = [rhs.astype(float)]
    row_hi = [rhs.astype(float)]
    if len(mq):  # min·z <= x <= q·z for minimum-quantity orders
        zpos = n_g + np.searchsorted(ind_idx, mq)
        xpos = n_g + len(ind_idx) + np.arange(len(mq))
        r = np.arange(len(mq))
        link_lo = sp.csr_matrix((np.concatenate((np.ones(len(mq)), -market.min_fill[o[mq]])),
                                 (np.concatenate((r, r)), np.concatenate((xpos, zpos)))),
                                shape=(len(mq), n_var))
        link_hi = sp.csr_matrix((np.concatenate((np.ones(len(mq)), -q[mq].astype(float))),
                                 (np.concatenate((r, r)), np.concatenate((xpos, zpos)))),
                                shape=(len(mq), n_var))
        rows += [link_lo, link_hi]
        row_lo += [np.zeros(len(mq)), np.full(len(mq), -INF)]
        row_hi += [np.full(len(mq), INF), np.zeros(len(mq))]
    integer = np.ones(n_var, dtype=bool)
    if feasibility:  # any allocation: no objective (nor loss) to optimise
        c = np.zeros(n_var)
        n_s_loss = 0
    else:
        n_s_loss = n_s
    loss = np.zeros(n_var)
    if n_s_loss:
        # in money units (10^-D), rounded up: integral objectives solve faster
        loss[n_var - n_s:] = np.ceil(np.maximum(cls.reduced[s_first], 0.0)
                                     * 10.0 ** market.money_places - 1e-6).clip(1.0)
    # at fixed prices: Σ_g loss_g·(Q_g − X_g) is a constant minus Σ_g loss_g·X_g
    exact = unfilled_loss is not None and not feasibility
    if exact and n_g:
        loss[:n_g] = -np.maximum(unfilled_loss[first[:n_g]], 0).astype(float)
    x0 = None if start is None else _start_columns(
        market, o, exposure, fills, start, (div_idx, group, n_g), ind_idx, mq,
        (itm_idx, s_group, n_s), col_hi)
    # rule 5 at fixed prices (least loss): the unfilled lots of the free divisible orders (all
    # of them not out of the money; orders fixed full or at 0 add a constant), counted as
    # scripts/objectives.py counts them — an order's lots when it gets nothing. Per group a
    # binary U_g <= X_g ("the group trades"), the surplus Σ_g lots_g·(1 − U_g)
    n_u = n_g if exact and surplus else 0
    lots = np.zeros(n_var + n_u)
    if n_u:
        lots[n_var:] = (group_q * vol[first[:n_g]]).astype(float)  # maximised: −surplus
        r = np.arange(n_u)
        rows = [sp.hstack((m, sp.csr_matrix((m.shape[0], n_u)))).tocsr() for m in rows]
        rows.append(sp.csr_matrix((np.concatenate((np.ones(n_u), -np.ones(n_u))),
                                   (np.concatenate((r, r)), np.concatenate((r, n_var + r)))),
                                  shape=(n_u, n_var + n_u)))
        row_lo.append(np.zeros(n_u))
        row_hi.append(np.full(n_u, INF))
        c = np.concatenate((c, np.zeros(n_u)))
        loss = np.concatenate((loss, np.zeros(n_u)))
        col_lo = np.concatenate((col_lo, np.zeros(n_u)))
        col_hi = np.concatenate((col_hi, np.ones(n_u)))
        integer = np.concatenate((integer, np.ones(n_u, dtype=bool)))
        if x0 is not None:
            x0 = np.concatenate((x0, (x0[:n_g] > 0).astype(float)))
    build = time.perf_counter() - t0
    # the levels, each maximised in turn: the least loss (the whole-package allowance's, or
    # the one at fixed prices), the volume, the least surplus (rule 5, at fixed prices).
    # Integral objectives: adjacent levels are one solve of ``W·upper + lower`` (W above the
    # lower level's whole span over the columns' box, so the order of its values is exactly
    # the levels' order), with exact gaps, while that stays far inside the integers float64
    # holds exactly (ONE_SOLVE_BELOW) — else one solve per level, each kept as a bound for
    # the next. One solve instead of two: 0.88 → 0.62 s of HiGHS over the allowance's models
    # of the bench books (2026-12-04, same (loss, volume) on each)
    levels = [f for f, on in ((-loss, bool(np.any(loss))), (c, True),
                              (lots, bool(np.any(lots)))) if on]
    span = col_hi - col_lo
    merged = [levels[-1]]
    for f in reversed(levels[:-1]):
        weight = float(np.abs(merged[0]) @ span) + 1.0
        if weight * (float(np.abs(f) @ span) + 1.0) < ONE_SOLVE_BELOW:
            merged[0] = weight * f + merged[0]
        else:
            merged.insert(0, f)
    a = sp.vstack(rows).tocsc()
    lo, hi = np.concatenate(row_lo), np.concatenate(row_hi)
    spent = 0.0
    for f in merged[:-1]:  # the upper levels alone, each kept as a bound
        model = ArrayModel(f, a, lo, hi, col_lo, col_hi, integer, maximize=True)
        sol = highs.solve(model, params, time_limit, options=exact_gap(f) if exact else None,
                          start=x0)
        spent += sol.solve_seconds
        if not sol.has_solution:
            return StageReport("allocation_mip", build, spent, sol.status, size=model.size)
        best = float(f @ np.rint(sol.x))
        a = sp.vstack((a, sp.csr_matrix(f))).tocsc()
        lo, hi = np.append(lo, best - 0.5), np.append(hi, INF)  # whole units
        time_limit -= sol.solve_seconds
        if x0 is not None and float(f @ x0) < best - 0.5:
            x0 = None  # not among this level's optima
    c = merged[-1]
    model = ArrayModel(c.astype(float), a, lo, hi, col_lo, col_hi, integer, maximize=True)
    weighted = len(merged) < len(levels)
    sol = highs.solve(model, params, time_limit,
                      options=exact_gap(c) if exact or weighted else None, start=x0)
    # the solve time counts every level's solve
    report = StageReport("allocation_mip", build, spent + sol.solve_seconds, sol.status,
                         sol.objective, sol.bound, sol.gap, model.size)
    if not sol.has_solution:
        return report
    x = np.rint(sol.x).astype(np.int64)
    ids = market.order_ids[o]
    for g in range(n_g):
        members = div_idx[group == g]
        fills[members] = pro_rata(int(x[g]), q[members], o[members], ids[members])
    z = x[n_g:n_g + len(ind_idx)]
    fills[ind_idx[aon_mask]] = q[ind_idx[aon_mask]] * z[aon_mask]
    fills[mq] = x[n_g + len(ind_idx):n_g + len(ind_idx) + len(mq)]
    _one_short(market, o, fills, itm_idx, s_group, x[n_var - n_s:n_var])
    if np.any(exposure.T @ fills):  # exact integer balance, whatever the MIP tolerances did
        return StageReport("allocation_mip", build, sol.solve_seconds, "inexact balance")
    return Allocation(fills, report, fixed_full & (fills < q) if n_s else None)


def _start_columns(market: Market, o: np.ndarray, exposure: sp.csr_matrix, fixed: np.ndarray,
                   start: np.ndarray, groups: tuple[np.ndarray, np.ndarray, int],
                   ind_idx: np.ndarray, mq: np.ndarray,
                   shorts: tuple[np.ndarray, np.ndarray, int], col_hi: np.ndarray
                   ) -> np.ndarray | None:
    """The columns of :func:`_allocation_mip` for the fills ``start`` (per order of ``o``):
    per group of free divisible orders its sum, per indivisible order its binary (and its
    fill for minimum quantities), per short group its missing package — or None unless those
    fills are one of the model's allocations, in exact integers: the orders it fixes as it
    fixes them (``fixed``), all-or-none and minimum quantities kept, at most one package
    short per short group, balanced. HiGHS would reject an infeasible start only after
    trying to repair it."""
    div_idx, group, n_g = groups
    itm_idx, s_group, n_s = shorts
    start = np.asarray(start, dtype=np.int64)
    q = market.q[o]
    free = np.zeros(len(o), dtype=bool)
    free[div_idx] = free[ind_idx] = free[itm_idx] = True
    aon = ind_idx[market.aon[o[ind_idx]]]
    if np.any(start[~free] != fixed[~free]) or np.any(start < 0) or np.any(start > q) \
            or np.any((start[aon] != 0) & (start[aon] != q[aon])) \
            or np.any((start[mq] != 0) & (start[mq] < market.min_fill[o[mq]])) \
            or np.any(exposure.T @ start):
        return None
    x0 = np.concatenate((np.bincount(group, weights=start[div_idx], minlength=n_g),
                         start[ind_idx] > 0, start[mq],
                         np.bincount(s_group, weights=q[itm_idx] - start[itm_idx],
                                     minlength=n_s))).astype(float)
    return None if np.any(x0 > col_hi) else x0


def loss_at(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray
            ) -> tuple[np.ndarray, int]:
    """§4a's priority loss of ``fills`` at ``ticks``, exact: per component order its gap
    ``π − a·p`` (money units 10^-D), and ``Σ (unfilled packages)·gap`` over the divisible
    orders in the money (indivisible ones may stay unfilled in the money, rule 2)."""
    o = comp.orders
    gap = market.limit[o] - market.money(o, comp.contracts) @ ticks
    lost = ~market.indivisible[o] & (gap > 0)
    return gap, int(((market.q[o] - fills)[lost] * gap[lost]).sum())


def least_loss(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray,
               params: SolverParams, time_limit: float, offered: np.ndarray | None = None,
               rule5: bool = False) -> Allocation | StageReport | None:
    """§4a at the answer's prices: the least priority loss, then the maximum volume (then,
    with ``rule5``, the least surplus).

    A route decides the fills where the priority loss is not yet known: the allocation MIP at
    the LP's prices (every free order there exactly at the money: no loss), the local search
    by volume (the loss is bilinear in fills and prices). Price selection then puts prices on
    the grid that minimise the loss of *those* fills (least rounding), so among allocations of
    equal volume the loss was whichever HiGHS's path returned. Here, when the answer at
    ``ticks`` has a loss (divisible orders in the money within their allowance not filled
    completely, or one package short), every order is
    classified at ``ticks`` exactly — beyond its allowance ρ in the money (fills completely),
    ``0 <= gap <= ρ`` (free), out of the money (none), where ``gap = π − a·p`` in money units —
    and :func:`allocation_mip` decides the fills again: the least loss ``Σ gap·(unfilled
    packages)`` at ``ticks``, then the maximum volume with that loss kept (integral, exact
    gaps). One restriction keeps the model small: a group of identical divisible orders
    (same legs and limit) in the money that the answer filled completely stays filled
    completely (on orders_100k the free model has 2,368 columns and its least loss takes
    1.8 s, this one 1,656 and 0.07 s), so the loss is the least over the allocations that
    keep them, not over every allocation at ``ticks``. The answer's fills are one allocation of that model, so the loss never grows;
    the volume drops only where a smaller loss needs it (§4a: the relaxation before the
    volume). The loss is measured at ``ticks``, the prices price selection chose for the
    route's fills (the approximation: not over every price vector). An answer with orders
    one package short (the whole-package allowance) is replaced when whole packages balance
    at ``ticks`` without it (§4a allows it only when none does): the short orders are in the
    money beyond ρ there, so this model fills them completely.

    ``offered`` (over the component's orders; the answer leaves them unfilled): indivisible
    orders dropped at the money in an earlier round (rule 2 lets them stay unfilled there),
    offered again here — the prices moved since, and one in (or at) the money at ``ticks`` may
    now find its counterparts. They are free in the same model (all or none), so one MIP
    decides both (the loss, then the volume); a block is solved when it has a loss or such an
    order in or at the money (a block with neither keeps the answer's fills, as without
    ``offered``), and its new fills are kept when not worse at (loss, volume), as above.
    None when there is nothing to do (no loss, nothing offered in or at the money).

    ``rule5``: a third level, rule 5 at ``ticks`` — the least unfilled lots not out of the
    money (:func:`allocation_mip`'s ``surplus``), and every block with a free divisible order
    is solved (not only those with a loss). :func:`pipeline._least_loss` asks for it in the
    step whose fills are published with ``ticks``; the first step keeps (loss, volume) only,
    since its ties lead price selection to the prices (another tie there can end at a larger
    loss: campaign seed 25, book 19)."""
    o = comp.orders
    gap, loss = loss_at(market, comp, fills, ticks)
    back = np.zeros(len(o), dtype=bool) if offered is None else offered & (gap >= 0)
    q, rho = market.q[o], market.allowance[o]
    divisible = ~market.indivisible[o]
    if rule5:  # every block with a free divisible order (rule 5 at ``ticks``)
        back |= divisible & (gap >= 0) & (gap <= rho)
    if loss == 0 and not back.any():
        return None
    # fixed full: beyond the allowance in the money, and groups of identical orders (same legs
    # and limit: they share pro rata) in the money that the answer filled completely
    group = _groups(market, o)
    short_of = np.bincount(group, weights=fills < q)
    kept = divisible & (gap > 0) & (short_of[group] == 0)
    itm, otm = (gap > rho) | kept, gap < 0
    cls = Classification(itm, otm, ~(itm | otm), gap * 10.0 ** -market.money_places,
                         ticks.astype(float), StageReport("least_loss"))
    lost = np.where(divisible & (gap > 0), (q - fills) * gap, 0)
    unfilled = np.where(divisible, gap, 0)  # what one unfilled package costs (in the money)
    vol = market.vol[o]
    # rule 5 as scripts/objectives.py measures it: the lots of divisible orders not out of
    # the money that get nothing
    surplus_lots = np.where(divisible & (gap >= 0), q * vol, 0)
    exposure = market.exposure_in(o, comp.atomics)
    new = fills.copy()
    short = np.zeros(len(o), dtype=bool)
    build = solve = 0.0
    last: StageReport | None = None
    changed = False
    # independent blocks (a batch is a union of components; the loss and the volume are sums
    # over them, so their lexicographic optima are the blocks' side by side): each block alone,
    # only those with a loss — B&B on independent blocks together multiplies their trees
    for rows, cols in _blocks(exposure):
        if not (lost[rows].any() or back[rows].any()) or not len(cols):
            continue
        part = Component(o[rows], comp.atomics[cols], comp.contracts)
        sub = Classification(cls.itm[rows], cls.otm[rows], cls.atm[rows], cls.reduced[rows],
                             cls.ticks, cls.report)
        block = exposure[rows][:, cols]
        t0 = time.perf_counter()
        alloc = allocation_mip(market, part, sub, params, time_limit, exposure=block,
                               unfilled_loss=unfilled[rows], start=fills[rows], surplus=rule5)
        if isinstance(alloc, StageReport) and alloc.status == "infeasible" \
                and np.any((divisible & (gap > rho) & (fills < q))[rows]):
            # the answer has orders short and whole packages do not balance without: the
            # allowance at ``ticks``, each short package costing its gap (exact there)
            alloc = allocation_mip(market, part, sub, params,
                                   time_limit - (time.perf_counter() - t0), short=True,
                                   exposure=block, unfilled_loss=unfilled[rows],
                                   start=fills[rows], surplus=rule5)
        time_limit -= time.perf_counter() - t0
        last = alloc.report if isinstance(alloc, Allocation) else alloc
        build += last.build_seconds
        solve += last.solve_seconds
        if not isinstance(alloc, Allocation):
            if last.status != "infeasible":
                return replace(last, name="least_loss", build_seconds=build,
                               solve_seconds=solve)
            continue
        # the short candidates are the least in the money per instrument, which the answer's
        # short orders need not be: kept only when not worse at (loss, volume, surplus)
        new_lost = np.where((divisible & (gap > 0))[rows], (q[rows] - alloc.fills) * gap[rows], 0)
        if (int(new_lost.sum()), -int(vol[rows] @ alloc.fills),
                int(surplus_lots[rows] @ (alloc.fills == 0))) \
                > (int(lost[rows].sum()), -int(vol[rows] @ fills[rows]),
                   int(surplus_lots[rows] @ (fills[rows] == 0))) \
                or np.array_equal(alloc.fills, fills[rows]):  # the answer's own fills
            continue
        new[rows] = alloc.fills
        if alloc.short is not None:
            short[rows] = alloc.short
        changed = True
    if last is None:
        return None
    report = replace(last, name="least_loss", build_seconds=build, solve_seconds=solve)
    if not changed:
        return report
    return Allocation(new, report, short if short.any() else None)


def _linked(m: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """The connected components of the bipartite graph of ``m``'s non-zeros (its rows and
    columns the nodes, each non-zero an edge): a label per row and per column."""
    nz = m != 0
    _, label = connected_components(sp.bmat([[None, nz], [nz.T, None]], format="csr"),
                                    directed=False)
    return label[:m.shape[0]], label[m.shape[0]:]


def _blocks(exposure: sp.csr_matrix) -> list[tuple[np.ndarray, np.ndarray]]:
    """Independent blocks of a balance (orders × atomic instruments, linked by a non-zero
    exposure): per block its rows (orders) and columns (instruments), in index order;
    orders without exposure are blocks without columns."""
    row_label, col_label = _linked(exposure)
    # each block's rows and columns by one stable sort of the labels (index order kept),
    # not one scan of every label per block (an order without exposure is a block)
    rows, cols = np.argsort(row_label, kind="stable"), np.argsort(col_label, kind="stable")
    r_lab, c_lab = row_label[rows], col_label[cols]
    blocks = np.unique(r_lab)
    r_at = np.searchsorted(r_lab, blocks), np.searchsorted(r_lab, blocks, side="right")
    c_at = np.searchsorted(c_lab, blocks), np.searchsorted(c_lab, blocks, side="right")
    return [(rows[r_at[0][i]:r_at[1][i]], cols[c_at[0][i]:c_at[1][i]])
            for i in range(len(blocks))]


@dataclass(frozen=True)
class Prices:
    ticks: np.ndarray  # per active contract of the component
    atomic: np.ndarray  # atomic prices (numeraire per unit), for contracts without orders
    reports: tuple[StageReport, ...]


PRICE_NEAR_STEPS = 5  # order rows modelled from the start: this many ticks from the money


def price_selection(market: Market, comp: Component, fills: np.ndarray, cls_atm: np.ndarray,
                    near: np.ndarray, params: SolverParams, time_limit: float,
                    short: np.ndarray | None = None, *, least_at: np.ndarray | None = None
                    ) -> Prices | StageReport:
    """Stage 3 — prices on the tick grid, inside the bands, for the fills of stage 2.

    Integer ticks t_k per active contract, atomic prices u_j (free), linked by
    ``tick_k·t_k − Σ_j coef_kj u_j = cash_k``. Per order, with money m and limit π (exact
    integers): filled at all ``Σ a·m·t <= π``; not filled completely ``Σ a·m·t + s >= π`` with
    its rounding slack ``0 <= s <= ρ`` (rule 2's allowance: the equilibrium may lie between grid
    prices). An order the allocation left one package ``short`` (the whole-package allowance)
    only keeps its limit when filled. Identical rows are merged. Lexicographically:
    (0) exact first — every s fixed at 0; only when that is infeasible the least rounding
    ``min Σ (unfilled packages)·s``, kept as a bound while (a) and (b) choose;
    (a) minimum surplus (rule 5) — an unfilled group g watched for it gets a binary y_g and the
    rows ``Σ a·m·t + s_g + δ_g·y_g >= π_g + δ_g``, ``s_g <= ρ_g·y_g`` (δ_g its lattice step:
    y_g = 0 keeps it strictly out of the money), minimising Σ (unfilled lots)·y_g; (b) then
    prices closest to the reference: ``min Σ_k |t_k − ref_k|`` (in ticks). (a) and (b) are one
    solve of ``W·surplus + distance`` (W above any distance inside the bands: the order of its
    values is exactly (surplus, distance)) when the reference ticks are whole and W·surplus is
    far inside float64's integers — about half the HiGHS time of the two solves.

    Rows are added lazily: the model starts with the order rows within ``PRICE_NEAR_STEPS`` ticks
    of the money at ``near`` (the LP's prices, in ticks) and the watched groups (at the money
    at the LP's prices or near the reference). After (b) every row is checked in exact
    integers; a violated row is added, an unfilled group not strictly out of the money (or
    needing rounding) is added and watched with its neighbours, and (0)–(b) run again. Each run
    optimises over fewer constraints than the full problem, so its optima are bounds; the
    last run violates nothing, so it is optimal for the full problem. The same check follows
    (0) and (a): when their solution already misses a row the round ends there (its later
    stages would be solved again over more rows) — only the last round, which runs every
    stage, decides the answer.
    """
    deadline = time.perf_counter() + time_limit
    t0 = time.perf_counter()
    o = comp.orders
    q = market.q[o]
    indiv = market.indivisible[o]
    kc = comp.contracts
    nk, na = len(kc), len(comp.atomics)
    money = market.money(o, kc)  # orders × active contracts, int

    full = fills == q
    partial = (fills > 0) & ~full
    zero = (fills == 0) & ~indiv
    if short is not None:  # one package short by the allowance: only the limit binds (if filled)
        full |= short & (fills > 0)
        partial &= ~short
        zero &= ~short
    group = _groups(market, o)
    # one row per (group, kind): full (<=), partial (<= and >= with slack), zero (>= with
    # slack). Identical legs and limit share a group, so rows dedupe exactly.
    kind = np.select([full, partial, zero], [0, 1, 2], default=-1)
    keep = kind >= 0
    _, first, inverse = np.unique((group * 3 + kind)[keep], return_index=True,
                                  return_inverse=True)
    inverse = inverse.ravel()
    rep = np.flatnonzero(keep)[first]
    rkind = kind[rep]
    n_r = len(rep)
    unfilled = np.bincount(inverse, weights=(q - fills)[keep], minlength=n_r)
    unfilled_lots = np.bincount(inverse, weights=((q - fills) * market.vol[o])[keep],
                                minlength=n_r)
    rho = np.where(rkind == 0, 0, market.allowance[o[rep]]).astype(float)
    row_money = money[rep]
    lim = market.limit[o[rep]]
    step = np.asarray(abs(row_money).sum(axis=1)).ravel()  # money of one tick on every leg
    capped = rkind == 0  # rows a·m·t <= π (full); the others a·m·t + s >= π
    # lattice step of each row: gcd of |a|·m over its legs
    lattice = np.zeros(n_r, dtype=np.int64)
    np.gcd.at(lattice, np.repeat(np.arange(n_r), np.diff(row_money.indptr)),
              np.abs(row_money.data).astype(np.int64))
    lattice = lattice.astype(float)
    zero_rows = rkind == 2

    def rows_near(t: np.ndarray, steps: int) -> np.ndarray:
        at = row_money @ t
        return np.where(capped, at > lim - steps * step, at < lim + steps * step)

    watched = zero_rows & np.bincount(inverse, weights=cls_atm[keep], minlength=n_r).astype(bool)
    active = watched | (rkind == 1)
    for centre in (near, market.ref_ticks[kc]):
        active |= rows_near(np.rint(centre).astype(np.int64), PRICE_NEAR_STEPS)

    # columns: t (nk, integer) | u (na) | d (nk, distance) | s (active rows) | y (watched rows)
    n_base = nk + na + nk
    D = slice(nk + na, n_base)
    prices_block, prices_lo, prices_hi, base_lo, base_hi = _price_rows(market, comp,
                                                                       market.ref_ticks[kc])
    prices_block = prices_block.tocoo()
    # whether slack is allowed (after the exact attempt failed, or known to fail: ``least_at``,
    # the prices of a batch's least rounding for a block of it that needed rounding there)
    rounding = least_at is not None
    # objectives already optimised, kept as rows c·x <= value; c over the base columns and per
    # order row (the weight of its s column, and of its y column when watched)
    bounds: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
    build = time.perf_counter() - t0
    reports: list[StageReport] = []

    parts: dict[tuple[bytes, bytes], tuple] = {}  # per (active, watched): the fixed blocks

    def fixed_parts() -> tuple:
        """What the models of one round share (every block but the bound rows), made once
        per active and watched rows."""
        key = (active.tobytes(), watched.tobytes())
        hit = parts.get(key)
        if hit is not None:
            return hit
        r = np.flatnonzero(active)
        w = np.flatnonzero(watched)  # watched rows are active
        n_a, n_w = len(r), len(w)
        slack = rkind[r] > 0
        part = np.flatnonzero(rkind[r] == 1)
        lim_r = lim[r].astype(float)
        delta = lattice[w]  # lattice step of each watched row
        w_pos = np.searchsorted(r, w)
        m_r = row_money[r].astype(float).tocoo()
        n_col = n_base + n_a + n_w
        s_of = n_base + np.arange(n_a)
        y_of = n_base + n_a + np.arange(n_w)
        # one COO of every block (scipy's block stacking costs more than the model here)
        in_part = np.isin(m_r.row, part)  # partial rows again: their limit
        mp = m_r.row[in_part]
        m_p = m_r.col[in_part], m_r.data[in_part]
        sl = np.flatnonzero(slack)
        r1 = 3 * nk  # the order rows, then the partial ones, the s−ρy ones, the bounds
        r2 = r1 + n_a
        r3 = r2 + len(part)
        r4 = r3 + n_w
        data = (prices_block.data, m_r.data, np.ones(len(sl)), delta, m_p[1], np.ones(n_w),
                -rho[w])
        rows = (prices_block.row, r1 + m_r.row, r1 + sl, r1 + w_pos,
                r2 + np.searchsorted(part, mp), r3 + np.arange(n_w), r3 + np.arange(n_w))
        cols = (prices_block.col, m_r.col, s_of[sl], y_of, m_p[0], s_of[w_pos], y_of)
        ord_lo = np.where(capped[r], -INF, lim_r)
        ord_lo[w_pos] += delta
        row_lo = (prices_lo, ord_lo, np.full(len(part), -INF))
        row_hi = (prices_hi, np.where(capped[r], lim_r, INF), lim_r[part], np.zeros(n_w))
        col_lo = np.concatenate((base_lo, np.zeros(n_a + n_w)))
        integer = np.concatenate((np.ones(nk, bool), np.zeros(na + nk + n_a, bool),
                                  np.ones(n_w, bool)))
        hit = parts[key] = (r, w, n_a, n_w, n_col, r4, data, rows, cols, row_lo, row_hi,
                            col_lo, integer)
        return hit

    def model(c_base: np.ndarray, c_s: np.ndarray, c_y: np.ndarray) -> ArrayModel:
        (r, w, n_a, n_w, n_col, r4, data, rows, cols, row_lo, row_hi, col_lo,
         integer) = fixed_parts()
        cost = np.array([np.concatenate((cb, cs[r], cy[w])) for cb, cs, cy, _ in bounds]
                        ).reshape(-1, n_col)
        c_row, c_col = np.nonzero(cost)
        a = sp.csr_matrix((np.concatenate((*data, cost[c_row, c_col])),
                           (np.concatenate((*rows, r4 + c_row)),
                            np.concatenate((*cols, c_col)))),
                          shape=(r4 + len(cost), n_col)).tocsc()
        row_lo = np.concatenate((*row_lo, np.full(n_w + len(bounds), -INF)))
        row_hi = np.concatenate((*row_hi, [v for *_, v in bounds]))
        col_hi = np.concatenate((base_hi, rho[r] if rounding else np.zeros(n_a), np.ones(n_w)))
        c = np.concatenate((c_base, c_s[r], c_y[w]))
        return ArrayModel(c, a, row_lo, row_hi, col_lo, col_hi, integer)

    def stage(name: str, c_base: np.ndarray, c_s: np.ndarray, c_y: np.ndarray,
              options: dict | None = None) -> np.ndarray | None:
        """Optimise under the objectives before it; keep it as a bound; t or None."""
        nonlocal build
        t1 = time.perf_counter()
        m = model(c_base, c_s, c_y)
        sol = highs.solve(m, params, deadline - time.perf_counter(), options=options)
        reports.append(StageReport(name, build + time.perf_counter() - t1 - sol.solve_seconds,
                                   sol.solve_seconds, sol.status, sol.objective, sol.bound,
                                   sol.gap, m.size))
        build = 0.0
        if not sol.has_solution:
            return None
        x = sol.x.copy()
        x[:nk] = np.rint(x[:nk])
        x[n_base + int(active.sum()):] = np.rint(x[n_base + int(active.sum()):])
        bounds.append((c_base, c_s, c_y, float(m.c @ x) + 0.5))  # objectives are whole units
        return x

    none_base, none_rows = np.zeros(n_base), np.zeros(n_r)
    distance = none_base.copy()
    distance[D] = 1.0
    # (a) and (b) in one solve: ``W·surplus + distance`` with W above any distance inside the
    # bands, so that the order of its values is exactly (surplus, distance) — when the
    # reference ticks are whole (both objectives integral at an optimum: an absolute gap of
    # 1/2 leaves nothing) and W·surplus stays far inside float64's integers; else two solves
    ref = market.ref_ticks[kc]
    span = float(np.maximum(market.tick_hi[kc] - ref, ref - market.tick_lo[kc]).sum()) + 1.0
    one_solve = bool(np.all(ref == np.rint(ref))) and np.isfinite(span) \
        and span * (float(unfilled_lots.sum()) + 1.0) < ONE_SOLVE_BELOW

    def missed(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row at ``t`` in exact integers: the ``a·m·t`` of each, the rows whose limit is
        broken and the unfilled groups not strictly out of the money (or needing rounding)
        that the model did not see or watch."""
        at = row_money @ t
        broken = ~active & ((capped & (at > lim)) | (~capped & (at < lim)))
        return at, broken, zero_rows & ~watched & (at <= lim)

    least: list = []  # the last rounding stage's prices and value, [t, value]

    def rounding_at(t: np.ndarray) -> float | None:
        """The rounding ``Σ (unfilled packages)·s`` over the active rows at ``t`` with every s
        at its least (exact integers), or None when no slack within the allowance reaches a
        row there (a watched row's y at 1 keeps exactly the unwatched row)."""
        r = np.flatnonzero(active)
        at = row_money[r] @ t
        gap = lim[r] - at
        limited = capped[r] | (rkind[r] == 1)  # filled at all: the limit holds
        s = np.where(capped[r], 0, np.maximum(gap, 0))
        if np.any(limited & (gap < 0)) or np.any(s > rho[r]):
            return None
        return float(unfilled[r] @ s)

    def lexicographic() -> np.ndarray | StageReport:
        """(0)–(b) on the active rows: the solution's x, or the report of the failed stage;
        after (0) or (a), the solution's x already when its prices miss a row (the round's
        later stages would be solved again over more rows: the next round starts at once).

        The least rounding is not solved again while the last rounding stage's prices still
        reach every active row with no more rounding: a round adds rows (and watches rows,
        whose y at 1 is the row unwatched), so the model only narrows, and a solution of the
        wider model that the narrower one keeps at the same value is optimal there too — the
        rounds that only watch the unfilled rows found at the money cost one MIP less each."""
        del bounds[:]
        todo = [n for n in (
            ("rounding_mip", none_base, unfilled, none_rows) if rounding else None,
            ("surplus_mip", none_base, none_rows, unfilled_lots) if watched.any() else None,
            ("reference_mip", distance, none_rows, none_rows)) if n is not None]
        if watched.any() and one_solve:
            todo[-2:] = [("reference_mip", distance, none_rows, span * unfilled_lots,
                          {"mip_rel_gap": 0.0, "mip_abs_gap": 0.5})]
        if rounding and not least and least_at is not None:
            # the batch's least rounding, at its optimum on this block's rows (the same rows:
            # the batch's optimum is the sum of its blocks' own)
            value = rounding_at(least_at)
            if value is not None:
                least[:] = [least_at, value]
        if rounding and least:
            value = rounding_at(least[0])
            if value is not None and value <= least[1]:
                bounds.append((none_base, unfilled, none_rows, value + 0.5))
                least[1] = value
                todo = todo[1:]
        for i, objective in enumerate(todo):
            x = stage(*objective)
            if x is None:
                return reports[-1]
            if objective[0] == "rounding_mip":
                least[:] = [x[:nk].astype(np.int64), bounds[-1][3] - 0.5]
            if i < len(todo) - 1 and any(m.any() for m in missed(x[:nk].astype(np.int64))[1:]):
                return x
        return x

    while True:
        x = lexicographic()
        if isinstance(x, StageReport):
            if x.status == "infeasible" and not rounding and np.any(rho[rkind > 0] > 0):
                # no exact equilibrium on the grid: the least rounding — per independent block
                # of the price model, each exact when it can be (the lexicographic optimum is
                # per block: a block that needs no rounding is priced as if alone)
                rounding = True
                blocks = _price_blocks(market, comp)
                if len(blocks) > 1:
                    # which blocks need rounding: those using it at the batch's least rounding
                    # (over the active rows: a lower bound; a group found wrong splits again)
                    del bounds[:]
                    x = stage("rounding_mip", none_base, unfilled, none_rows,
                              {"mip_rel_gap": 0.0, "mip_abs_gap": 0.5})  # each block at its own
                    if x is None:
                        return reports[-1]
                    r = np.flatnonzero(active)
                    used = unfilled[r] * x[n_base:n_base + len(r)] > 0.5
                    block_of = np.empty(len(o), dtype=np.int64)
                    for i, b in enumerate(blocks):
                        block_of[np.searchsorted(o, b.orders)] = i
                    rounded = np.zeros(len(blocks), bool)
                    rounded[block_of[rep[r[used]]]] = True
                    return _per_block(market, comp, blocks, rounded, x[:nk].astype(np.int64),
                                      fills, cls_atm, near, params, deadline, short,
                                      tuple(reports))
                continue
            return x
        t = x[:nk].astype(np.int64)
        at, broken, unseen = missed(t)
        if not broken.any() and not unseen.any():
            return Prices(t, x[nk:nk + na], tuple(reports))
        if unseen.any():  # watch them and their neighbours
            watched |= zero_rows & (at <= lim + step)
        active |= watched | broken | rows_near(t, 1)


def _price_blocks(market: Market, comp: Component) -> list[Component]:
    """Independent blocks of a component's price model: contracts and atomic instruments linked
    by an order's legs (every order, rowed or not: a block holds whole orders) or by a
    replication row (a contract and its atomic instruments); per block its orders, atomic
    instruments and contracts, in index order (blocks by their first contract). Atomic
    instruments without a contract of the component join no block."""
    o, kc, at = comp.orders, comp.contracts, comp.atomics
    n_o = len(o)
    # contracts × (orders | atomic instruments): an order's legs, a contract's replication
    lk, other = _linked(sp.hstack([market.money(o, kc).T, market.linking(kc, at)[2]]))
    if len(np.unique(np.concatenate((lk, other)))) == 1:
        return [comp]
    lo, la = other[:n_o], other[n_o:]
    _, first = np.unique(lk, return_index=True)
    return [Component(o[lo == b], at[la == b], kc[lk == b]) for b in lk[np.sort(first)]]


def _per_block(market: Market, comp: Component, blocks: list[Component], rounded: np.ndarray,
               least: np.ndarray, fills: np.ndarray, cls_atm: np.ndarray, near: np.ndarray,
               params: SolverParams, deadline: float, short: np.ndarray | None,
               reports: tuple[StageReport, ...]) -> Prices | StageReport:
    """Price selection on independent blocks, the prices side by side, so that no block's
    objective trades against another's and a batch of parts is priced as each part alone:
    each block that needs rounding (``rounded``: its least rounding over the batch's active
    rows, a lower bound, is positive — so its exact attempt fails alone too) alone, from its
    own least rounding on (at the batch's ``least`` rounding prices: the batch's optimum on
    its active rows is the sum of its blocks' own, so those prices start each block at its
    optimum there, the MIP not solved again); the others together as one model, exact first (their stages (a)
    and (b) are sums of independent integral objectives, each solved to its optimum, so each
    block is at its own; should the exact attempt fail over more rows, that model splits
    again). When every block is in one group, each block alone (the group would be the same
    model again)."""
    exact = [b for b, need in zip(blocks, rounded, strict=True) if not need]
    if 0 < len(exact) < len(blocks):
        groups = [(Component.union(exact), False)] + [
            (b, True) for b, need in zip(blocks, rounded, strict=True) if need]
    else:
        groups = list(zip(blocks, rounded.tolist(), strict=True))
    ticks = np.zeros(len(comp.contracts), dtype=np.int64)
    atomic = np.zeros(len(comp.atomics))
    for b, need in groups:
        ro = np.searchsorted(comp.orders, b.orders)
        rk = np.searchsorted(comp.contracts, b.contracts)
        got = price_selection(market, b, fills[ro], cls_atm[ro], near[rk], params,
                              deadline - time.perf_counter(),
                              None if short is None else short[ro],
                              least_at=least[rk] if need else None)
        if isinstance(got, StageReport):
            return got
        ticks[rk] = got.ticks
        atomic[np.searchsorted(comp.atomics, b.atomics)] = got.atomic
        reports += got.reports
    return Prices(ticks, atomic, reports)


def _price_rows(market: Market, comp: Component, centre: np.ndarray
                ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The prices of a grid model: columns t (integer ticks per active contract) | u (atomic
    prices, free) | d (distance per contract); rows ``tick_k·t_k − Σ_j coef_kj·u_j = cash_k``
    (replication) and ``d_k >= |t_k − centre_k|``; t inside the bands. Returns the rows, their
    bounds and the columns' bounds."""
    kc = comp.contracts
    nk, na = len(kc), len(comp.atomics)
    ticks, cash, terms = market.linking(kc, comp.atomics)
    terms = terms.tocoo()
    k = np.arange(nk)
    ones = np.ones(nk)
    d = nk + na + k  # the distance columns
    rows = sp.csr_matrix((
        np.concatenate((ticks, -terms.data, -ones, ones, ones, ones)),
        (np.concatenate((k, terms.row, nk + k, nk + k, 2 * nk + k, 2 * nk + k)),
         np.concatenate((k, nk + terms.col, k, d, k, d)))),
        shape=(3 * nk, 2 * nk + na))
    # rows: linking (price units) | d_k − t_k >= −centre_k | d_k + t_k >= centre_k
    lo = np.concatenate((cash, -centre, centre))
    hi = np.concatenate((cash, np.full(2 * nk, INF)))
    col_lo = np.concatenate((market.tick_lo[kc], np.full(na, -INF), np.zeros(nk)))
    col_hi = np.concatenate((market.tick_hi[kc], np.full(na, INF), np.full(nk, INF)))
    return rows, lo, hi, col_lo, col_hi


GRID_GAP = 0.05  # relative gap of the nearest grid prices (a start for the grid route)


def grid_classification(market: Market, comp: Component, cls: Classification,
                        params: SolverParams, time_limit: float) -> Classification | StageReport:
    """Stage 2'' — the LP's prices rounded onto the grid, and every order classified there.

    When price selection cannot put the LP's allocation on the grid, start from the grid: the
    grid prices nearest the LP's, ``min Σ_k |t_k − p*_k|`` in ticks (linked through
    replication, inside the bands), and at them each order exactly (``gap = π − a·m·t``,
    integers): in the money beyond its rounding allowance (``gap > ρ``: fills completely;
    an indivisible one may stay unfilled), marginal (``0 <= gap <= ρ``: free) or out of the
    money (none). An allocation that balances at these fixed prices is an equilibrium there by
    construction, so the allocation MIP and price selection (which may move the prices again)
    take it from here.
    """
    t0 = time.perf_counter()
    kc = comp.contracts
    nk, na = len(kc), len(comp.atomics)
    rows, lo, hi, col_lo, col_hi = _price_rows(market, comp, cls.ticks)
    c = np.concatenate((np.zeros(nk + na), np.ones(nk)))
    integer = np.concatenate((np.ones(nk, bool), np.zeros(na + nk, bool)))
    model = ArrayModel(c, rows.tocsc(), lo, hi, col_lo, col_hi, integer)
    build = time.perf_counter() - t0
    # a start, not an answer (price selection moves the prices again): near enough is enough
    sol = highs.solve(model, params, time_limit, options={"mip_rel_gap": GRID_GAP})
    report = StageReport("grid_prices", build, sol.solve_seconds, sol.status, sol.objective,
                         sol.bound, sol.gap, model.size)
    if not sol.has_solution:
        return report
    t = np.rint(sol.x[:nk]).astype(np.int64)
    o = comp.orders
    gap = market.limit[o] - market.money(o, kc) @ t
    itm, otm = gap > market.allowance[o], gap < 0
    return Classification(itm, otm, ~(itm | otm), gap * 10.0 ** -market.money_places,
                          t.astype(float), report, cls.breached)


def grid_reachable(market: Market, comp: Component, cls: Classification, params: SolverParams,
                   time_limit: float) -> StageReport:
    """Whether grid prices exist (inside the bands, linked by replication) that keep the
    welfare LP's classification up to the rounding allowance: every order that may be filled
    (in or at the money) within its limit, ``a·m·t <= π``, and every divisible order that may
    be left short of full (at or out of the money) within its allowance of the money,
    ``a·m·t >= π − ρ`` — in exact integers, the rows of the orders near the money at the LP's
    prices only (within ``PRICE_NEAR_STEPS`` ticks; a relaxation: "infeasible" is proven for
    every order's rows too). Status "optimal" when such prices exist, "infeasible" when not.

    Such prices price *every* allocation of the allocation MIP (each of its orders keeps
    both sides or the one its fill needs), so when they exist price selection finds prices
    for the direct route's fills. When they do not, the LP's equilibrium is off the grid
    beyond the allowance and the direct route's fills, chosen blind to the grid, have prices
    only by chance (never on the bench books of issue 17): the local search at the LP's
    classification (:func:`local_mip`, neighbourhood 0) — the same allocations with the
    prices on the grid, so the same least loss and volume whenever the direct route would
    have priced its fills — answers instead. One small MIP over the prices (milliseconds),
    against an allocation MIP and price selection thrown away (mixed_10k: 0.12 s)."""
    t0 = time.perf_counter()
    o = comp.orders
    kc = comp.contracts
    nk, na = len(kc), len(comp.atomics)
    money = market.money(o, kc)
    limit = market.limit[o]
    divisible = ~market.indivisible[o]
    upper = cls.itm | cls.atm
    lower = divisible & (cls.atm | cls.otm)
    step = np.asarray(abs(money).sum(axis=1)).ravel()
    at = money @ cls.ticks  # a·m·t at the LP's prices (float ticks)
    near = cls.atm | (np.abs(at - limit) <= PRICE_NEAR_STEPS * step)
    # one row per (group of identical orders, sides): identical legs and limit, same rows
    key = _groups(market, o) * 4 + upper * 2 + lower
    _, first = np.unique(np.where(near & (upper | lower), key, -1), return_index=True)
    rep = first[near[first] & (upper | lower)[first]]
    rows, lo, hi, col_lo, col_hi = _price_rows(market, comp, cls.ticks)
    rho = market.allowance[o[rep]]
    order_rows = sp.hstack([money[rep].astype(float), sp.csr_matrix((len(rep), nk + na))])
    model = ArrayModel(np.zeros(2 * nk + na), sp.vstack([rows, order_rows]).tocsc(),
                       np.concatenate((lo, np.where(lower[rep], limit[rep] - rho, -INF))),
                       np.concatenate((hi, np.where(upper[rep], limit[rep], INF))),
                       col_lo, col_hi,
                       np.concatenate((np.ones(nk, bool), np.zeros(na + nk, bool))))
    build = time.perf_counter() - t0
    sol = highs.solve(model, params, time_limit)
    return StageReport("grid_test", build, sol.solve_seconds, sol.status, size=model.size)


@dataclass(frozen=True)
class LocalEquilibrium:
    fills: np.ndarray
    atm: np.ndarray  # orders exactly at the money at the prices found
    ticks: np.ndarray  # the prices found
    report: StageReport
    short: np.ndarray | None = None  # orders in the money left one package short


def exact_gap(c: np.ndarray) -> dict:
    """HiGHS gap options under which a MIP with the integral objective ``c`` (integer
    coefficients, integer columns; continuous columns at cost 0) stops only at its optimum:
    any two objective values differ by a multiple of ``g = gcd(c)``, so an absolute gap of
    ``g / 2`` — below that step, with room for HiGHS's tolerances — leaves nothing, and the
    relative gap (``params.mip_gap``, which on a large objective allows whole lots) is off."""
    step = np.gcd.reduce(np.abs(np.rint(c[c != 0]).astype(np.int64))) if np.any(c) else 1
    return {"mip_rel_gap": 0.0, "mip_abs_gap": float(step) / 2.0}


def _tightest(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct key, the position of its least value (ties: the first) and that value."""
    order = np.lexsort((values, keys))
    first = order[np.r_[True, keys[order][1:] != keys[order][:-1]]] if len(order) else order
    return first, values[first]


PRICES_UNREACHABLE = "prices unreachable"  # the reason of local_mip's report: see local_mip
NO_ROOT_POINT = "no point at the root"  # local_mip's reason with ``gate``: see local_mip
# local_mip's gate: the feasibility model's root node alone (presolve, root LP, separation,
# root heuristics), without HiGHS's restart (a second presolve and root), deterministic limits
GATE_OPTIONS = {"mip_max_nodes": 1, "mip_allow_restart": False}
# a search after the gate, and any search of a component of more than BRANCHING_ORDERS orders:
# no strong branching — HiGHS's strong-branching budget is 100,000 LP iterations whatever the
# model (what the wide searches spent before their node limit), each as dear as the model is
# large, so the work is the node limit's LPs (docs/performance.md, "Stop 28"; "Stop 31 —
# sb31": campaign s39012's 8,654-order component 16.4 → 4.6 s of CPU, the results' changes
# within those of another HiGHS seed). Small components keep it: it is cheap there and finds
# exact equilibria the node limit alone misses (test_bound.py, seed 33: 153 lots, not 69)
SEARCH_OPTIONS = {"mip_pscost_minreliable": 0}
BRANCHING_ORDERS = 512  # pipeline.WIDE_LADDER_ORDERS too: beyond it the wide rungs are gated


def _far_rows(market: Market, o: np.ndarray, far_full: np.ndarray, far_zero: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The local search's far rows on the ticks: per legs (the same ``a·m`` and ``ρ``) one
    row of the orders in the money, ``a·m·t <= π`` with their least ``π``, and one of those
    out of it, ``a·m·t >= π − ρ`` with their largest ``π − ρ`` — the same prices satisfy all
    of them (mixed_10k: 3,755 rows, one per legs and limit, become 901; mixed 1M: ~200k
    become ~4,700). Positions in ``o``, lower and upper bounds (floats)."""
    far = np.flatnonzero(far_full | far_zero)
    limit, rho = market.limit[o[far]], market.allowance[o[far]]
    full = far_full[far]
    sig = market.signature[o[far]]
    up, up_lim = _tightest(sig[full], limit[full])
    dn, dn_neg = _tightest(sig[~full], -(limit[~full] - rho[~full]))
    rows = np.concatenate((far[full][up], far[~full][dn]))
    lo = np.concatenate((np.full(len(up), -INF), -dn_neg.astype(float)))
    hi = np.concatenate((up_lim.astype(float), np.full(len(dn), INF)))
    return rows, lo, hi


def _prices_unreachable(market: Market, comp: Component, money: sp.csr_matrix,
                        far_full: np.ndarray, far_zero: np.ndarray, params: SolverParams,
                        time_limit: float, cancel: highs.Cancel | None
                        ) -> StageReport | None:
    """The local search's price part alone — integer ticks ``t`` in the bands, tied to the
    atomic prices by the linking rows, that keep every far order in its class (in the money:
    ``a·m·t <= π``; out of it: ``a·m·t >= π − ρ``) — as a feasibility MIP: its report when no
    such prices exist, else None. Those rows, bounds and integrality are the same with and
    without the whole-package allowance (only fills and shortfalls differ), so neither search
    has an answer: one small solve instead of two large ones (mixed 1M: the two searches of
    each of its largest components, 200k rows, were infeasible for this reason alone, 5–16 s
    each). Far orders with the same legs (hence the same ``a·m`` and ``ρ``) are one row, its
    tightest limit: the same prices satisfy it."""
    t0 = time.perf_counter()
    o = comp.orders
    kc = comp.contracts
    rows, lo, hi = _far_rows(market, o, far_full, far_zero)
    if not len(rows):
        return None
    nk, na = len(kc), len(comp.atomics)
    ticks, cash, terms = market.linking(kc, comp.atomics)
    a = sp.vstack([sp.hstack([money[rows].astype(float), sp.csr_matrix((len(rows), na))]),
                   sp.hstack([sp.diags(ticks, dtype=float), -terms])]).tocsc()
    row_lo = np.concatenate((lo, cash))
    row_hi = np.concatenate((hi, cash))
    model = ArrayModel(np.zeros(nk + na), a, row_lo, row_hi,
                       np.concatenate((market.tick_lo[kc], np.full(na, -INF))),
                       np.concatenate((market.tick_hi[kc], np.full(na, INF))),
                       np.concatenate((np.ones(nk, bool), np.zeros(na, bool))))
    build = time.perf_counter() - t0
    sol = highs.solve(model, params, time_limit, cancel, {"mip_max_nodes": params.local_nodes})
    if sol.status != "infeasible":
        return None
    return StageReport("local_mip", build, sol.solve_seconds, "infeasible",
                       size=f"{PRICES_UNREACHABLE}: far orders' classes on the grid " + model.size,
                       reason=PRICES_UNREACHABLE)


def local_mip(market: Market, comp: Component, reduced: np.ndarray, near_ticks: int,
              params: SolverParams, time_limit: float, cancel: highs.Cancel | None = None,
              short: bool = False, gate: bool = False, near_short: bool = False,
              feasibility: bool = False) -> LocalEquilibrium | StageReport:
    """Stage 2' — an exact integer equilibrium around the LP's prices, when stage 2 or 3 fails.

    Whole packages can make the LP's equilibrium unreachable (a vertex whose at-the-money
    orders balance only with fractions, or whose prices are off the tick grid). Orders whose
    reduced cost is within ``near_ticks`` ticks of zero become *near*: fill x_i ∈ [0, q_i]
    integer with binaries y_i (filled at all) and w_i (not full) and the clearing rule as
    big-M rows over integer tick prices t:
    ``a·m·t <= π_i + M_i(1 − y_i)``, ``x_i <= q_i·y_i`` (a fill respects the limit);
    ``a·m·t >= π_i − ρ_i − M_i(1 − w_i)``, ``x_i >= q_i(1 − w_i) − q_i(1 − y_i)`` (not full ⇒
    not in the money beyond its rounding allowance ρ_i; an indivisible order may also be 0).
    Far orders keep the LP's class as fixed rows; balance ``Σ_near B x = −Σ_far-full B q`` in
    exact integers; maximise the volume of the near orders. Identical divisible near orders
    (same legs and limit, hence the same class) are one unit, shared pro rata afterwards
    (rule 8). With ``short`` (the whole-package allowance, for when the search without it is
    infeasible) a binary S_h per group of far orders in the money takes one package off it
    (``− Σ_h B_h S_h`` in the balance); with ``near_short`` too, a near unit of divisible
    orders may be short as well:
    binaries σ_u1 >= σ_u2 >= … (one per member of two packages or more: one package per
    order, never unfilled) relax its "full unless w" row to ``x + q·w + Σ_k σ_uk >= q``, each
    with its loss ``L_uk >= π − a·m·t − M(1 − σ_uk)`` (integer, money units: the unit's
    in-the-money amount per package at the *chosen* prices); after the solve a unit in the
    money beyond ρ and not full has its ``q − x`` packages off as many of its largest orders
    (:func:`_one_short`). The least priority loss ``Σ_h r_h·S_h + Σ L_uk`` first (r_h the
    reduced cost at the LP's prices in whole money units, rounded up, as in
    :func:`allocation_mip`), then the maximum volume ``Σ v·x − Σ_h v_h S_h``: one integral
    objective ``volume − W·loss`` with W above the volume's whole span, so that its order is
    exactly (loss, volume); solved with an absolute gap below its step and no relative gap
    (:func:`exact_gap`), so no lot is left to a gap (a relative gap of 10⁻⁶ on an objective of
    −9.4·10⁶ could leave 9). ``params.local_nodes`` still bounds the search (rule 9).
    Without ``short`` the price part is solved alone first (:func:`_prices_unreachable`, a few
    ms on mixed_10k): when no grid prices keep the far orders' classes, the report's reason is
    :data:`PRICES_UNREACHABLE` and the search with the allowance, whose price part is the
    same, is not run (pipeline). With ``short`` alone (the search without the allowance is
    known infeasible from the direct route) the MIP decides, as before.
    With ``gate`` the same model without its objective is solved first at its root alone
    (:data:`GATE_OPTIONS`: one node, no restart; no branching, so no strong branching either)
    and the search runs only when that root finds a point (an exact equilibrium exists: the
    search's answer beats a relaxed one), which it is given as its first incumbent;
    otherwise the report's reason is :data:`NO_ROOT_POINT`. A gated search, and any search of
    a component of more than :data:`BRANCHING_ORDERS` orders, runs without strong branching
    (:data:`SEARCH_OPTIONS`). Deterministic bounds on the work (pipeline._wide: a wide
    neighbourhood's MIP spent HiGHS's strong-branching budget, up to 100,000 LP iterations,
    before its node limit whatever that limit, 0.6-8.9 s of CPU, mostly finding nothing).
    With ``feasibility`` the model is solved without objective (the first point ends the
    search; :mod:`solver_models.core`'s oracle: only whether a point exists is asked).
    """
    t0 = time.perf_counter()
    o = comp.orders
    q = market.q[o]
    indiv = market.indivisible[o]
    kc = comp.contracts
    nk, na = len(kc), len(comp.atomics)
    money = market.money(o, kc)
    limit = market.limit[o]
    # money of one tick per leg, or the rounding allowance when larger
    step = np.maximum(np.asarray(abs(money).sum(axis=1)).ravel(), market.allowance[o]).astype(float)
    scale = 10.0 ** -market.money_places
    near = np.abs(reduced) <= near_ticks * step * scale + 1e-9 * (1 + np.abs(reduced))
    near |= indiv & (reduced > 0)  # an indivisible order in the money may fill or not
    far_full = ~near & (reduced > 0) & ~indiv
    far_zero = ~near & (reduced < 0) & ~indiv
    # indivisible orders out of the money stay unfilled
    nidx = np.flatnonzero(near)
    exposure = market.exposure_in(o, comp.atomics)
    rhs = -(exposure.T @ (q * far_full))
    if not short and _unbalanceable(exposure[nidx].T, q[nidx], rhs):
        # the near orders cannot balance the far ones, whatever the prices (each near order
        # 0 … q_i in whole packages relaxes the model's units): infeasible without a model
        return StageReport("local_mip", time.perf_counter() - t0, 0.0, "infeasible",
                           size=f"near={len(nidx)} balance unreachable (bounds, gcd)")
    if not short:  # no grid prices keep the far orders' classes: no search has an answer
        unreachable = _prices_unreachable(market, comp, money, far_full, far_zero, params,
                                          time_limit, cancel)
        if unreachable is not None:
            return replace(unreachable, build_seconds=time.perf_counter() - t0
                           - unreachable.solve_seconds)
    # far rows, deduplicated by identical legs and limit (not by legs alone, as
    # _prices_unreachable's: the same optimum, but where the search stops at its node limit
    # the other model's path ends elsewhere — campaign seed 26 book 1: 69 lots fewer)
    group = _groups(market, o)
    kind = np.select([far_full, far_zero], [0, 2], default=-1)
    keep = kind >= 0
    _, first = np.unique((group * 3 + kind)[keep], return_index=True)
    rep = np.flatnonzero(keep)[first]
    n_r = len(rep)
    lim_far = limit[rep].astype(float)
    far_lo = np.where(kind[rep] == 0, -INF, lim_far - market.allowance[o][rep])
    far_hi = np.where(kind[rep] == 2, INF, lim_far)
    # near units: one per group of identical divisible orders (shared pro rata afterwards),
    # one per indivisible order
    near_div, near_ind = nidx[~indiv[nidx]], nidx[indiv[nidx]]
    _, g_first, g_of = np.unique(group[near_div], return_index=True, return_inverse=True)
    g_of = g_of.ravel()
    units = np.concatenate((near_div[g_first], near_ind))
    uq = np.concatenate((np.bincount(g_of, weights=q[near_div]).astype(np.int64), q[near_ind]))
    u_ind = indiv[units]
    nn = len(units)
    lo_t, hi_t = market.tick_lo[kc], market.tick_hi[kc]
    mn = money[units]
    pos, neg = mn.maximum(0), mn.minimum(0)
    act_hi = pos @ hi_t + neg @ lo_t
    act_lo = pos @ lo_t + neg @ hi_t
    big = np.maximum(act_hi - limit[units], limit[units] - act_lo).astype(float) + 1.0
    # far groups in the money that may be one package short (the whole-package allowance)
    s_members, s_group, s_first, n_s = _short_groups(market, comp, far_full & short, reduced)
    # near divisible units that may be short: one package off each of up to n2 members (those
    # of two packages or more: never unfilled), the k-th by a binary σ_uk, its loss L_uk the
    # unit's in-the-money amount per package at the chosen prices (big-M, money units)
    n_g = len(g_first)
    n2 = np.bincount(g_of, weights=q[near_div] >= 2, minlength=n_g).astype(np.int64) \
        if short and near_short else np.zeros(n_g, dtype=np.int64)
    ku = np.repeat(np.arange(n_g), n2)  # the unit of each σ/L pair
    n_k = len(ku)
    # columns: t (nk) | u (na) | x (nn) | y (nn) | w (nn) | σ (n_k) | L (n_k) | S (n_s)
    ncol = nk + na + 3 * nn + 2 * n_k + n_s
    X, Y, W = nk + na, nk + na + nn, nk + na + 2 * nn
    SG = nk + na + 3 * nn
    L0, S0 = SG + n_k, SG + 2 * n_k
    r = np.arange(nn)
    Z = lambda a, b: sp.csr_matrix((a, b))  # noqa: E731
    ticks, cash, terms = market.linking(kc, comp.atomics)

    def cols(pairs: list[tuple[np.ndarray, np.ndarray]], rows: int) -> sp.csr_matrix:
        ri = np.concatenate([np.arange(len(c)) for c, _ in pairs])
        ci = np.concatenate([c for c, _ in pairs])
        vi = np.concatenate([v for _, v in pairs])
        return sp.csr_matrix((vi, (ri, ci)), shape=(rows, ncol))

    k = np.arange(n_k)
    first_k = np.r_[True, ku[1:] != ku[:-1]] if n_k else np.zeros(0, dtype=bool)
    chain = np.flatnonzero(~first_k)  # σ_u,k−1 >= σ_uk: the unit's shortfalls in turn
    n_c = len(chain)
    blocks = [
        # far rows on prices
        sp.hstack([money[rep].astype(float), Z(n_r, ncol - nk)]),
        # linking rows
        sp.hstack([sp.diags(ticks, dtype=float), -terms, Z(nk, ncol - nk - na)]),
        # balance
        sp.hstack([Z(na, nk + na), exposure[units].T.astype(float), Z(na, 2 * nn + 2 * n_k),
                   -exposure[s_first].T.astype(float)]),
        # a·m·t − M(y... ) : a·m·t + M y <= π + M
        sp.hstack([mn.astype(float), Z(nn, na + nn), sp.diags(big),
                   Z(nn, nn + n_s + 2 * n_k)]),
        # a·m·t − M w >= π − M
        sp.hstack([mn.astype(float), Z(nn, na + 2 * nn), sp.diags(-big), Z(nn, n_s + 2 * n_k)]),
        # x − q y <= 0
        cols([(X + r, np.ones(nn)), (Y + r, -uq.astype(float))], nn),
        # x + q w + Σ_k σ_uk >= q: not full only when w (or by the unit's shortfalls); an
        # indivisible order also 0 when not y (x + q w − q y >= 0)
        sp.csr_matrix((np.concatenate((np.ones(nn), uq.astype(float),
                                       -(uq * u_ind).astype(float), np.ones(n_k))),
                       (np.concatenate((r, r, r, ku)),
                        np.concatenate((X + r, W + r, Y + r, SG + k)))), shape=(nn, ncol)),
        # a·m·t + L_uk − M σ_uk >= π − M: a shortfall costs the unit's π − a·m·t
        sp.hstack([mn[ku].astype(float), Z(n_k, ncol - nk)])
        + sp.csr_matrix((np.concatenate((np.ones(n_k), -big[ku])),
                         (np.concatenate((k, k)), np.concatenate((L0 + k, SG + k)))),
                        shape=(n_k, ncol)),
        sp.csr_matrix((np.concatenate((np.ones(n_c), -np.ones(n_c))),
                       (np.concatenate((np.arange(n_c),) * 2),
                        np.concatenate((SG + chain - 1, SG + chain)))), shape=(n_c, ncol)),
    ]
    a = sp.vstack(blocks).tocsc()
    lim_n = limit[units].astype(float)
    rho = market.allowance[o].astype(float)  # rule 2's rounding allowance
    row_lo = np.concatenate((far_lo, cash,
                             rhs.astype(float), np.full(nn, -INF), lim_n - rho[units] - big,
                             np.full(nn, -INF), np.where(u_ind, 0.0, uq.astype(float)),
                             lim_n[ku] - big[ku], np.zeros(n_c)))
    row_hi = np.concatenate((far_hi, cash, rhs.astype(float),
                             lim_n + big, np.full(nn, INF), np.zeros(nn), np.full(nn, INF),
                             np.full(n_k + n_c, INF)))
    col_lo = np.concatenate((lo_t, np.full(na, -INF), np.zeros(3 * nn + n_s + 2 * n_k)))
    col_hi = np.concatenate((hi_t, np.full(na, INF), uq.astype(float),
                             np.ones(2 * nn + n_k), big[ku], np.ones(n_s)))
    # indivisible near orders: all-or-none x = q·y, minimum quantity x >= min·y
    extra = []
    if u_ind.any():
        ii = np.flatnonzero(u_ind)
        mins = np.where(market.aon[o[units[ii]]], uq[ii], market.min_fill[o[units[ii]]])
        extra.append((cols([(X + ii, np.ones(len(ii))), (Y + ii, -mins.astype(float))], len(ii)),
                      np.zeros(len(ii)), np.full(len(ii), INF)))
    for m_, lo_, hi_ in extra:
        a = sp.vstack([a, m_]).tocsc()
        row_lo = np.concatenate((row_lo, lo_))
        row_hi = np.concatenate((row_hi, hi_))
    integer = np.concatenate((np.ones(nk, bool), np.zeros(na, bool),
                              np.ones(3 * nn + n_s + 2 * n_k, bool)))
    build = time.perf_counter() - t0
    c = np.zeros(ncol)
    c[X:X + nn] = market.vol[o[units]]
    if n_s or n_k:  # §4a: the least priority loss before the volume, in one integral objective
        # far groups' loss in money units (10^-D) at the LP's prices, rounded up, as the
        # allocation MIP's; near units' the L_uk columns, exact at the chosen prices
        loss = np.ceil(np.maximum(reduced[s_first], 0.0) * 10.0 ** market.money_places
                       - 1e-6).clip(1.0)
        # the volume Σ v·x − Σ_h v_h S_h spans less than ``weight``: one money unit of loss
        # outweighs any volume, so the order of the objective values is (loss, volume)
        vol_s = market.vol[o[s_first]].astype(float)
        weight = float(market.vol[o[units]] @ uq) + vol_s.sum() + 1.0
        c[S0:] = -(vol_s + weight * loss)
        c[L0:S0] = -weight
    if feasibility:
        c = np.zeros(ncol)
    model = ArrayModel(c, a, row_lo, row_hi, col_lo, col_hi, integer, maximize=True)
    start, gate_seconds = None, 0.0
    if gate:
        point = highs.solve(replace(model, c=np.zeros(ncol)), params, time_limit, cancel,
                            GATE_OPTIONS)
        if not point.has_solution:
            return StageReport("local_mip", build, point.solve_seconds, point.status,
                               size=f"{NO_ROOT_POINT}: near={len(nidx)} units={nn} "
                               + model.size, reason=NO_ROOT_POINT)
        start, gate_seconds = point.x, point.solve_seconds
        time_limit -= gate_seconds
    sol = highs.solve(model, params, time_limit, cancel,
                      {"mip_max_nodes": params.local_nodes, **exact_gap(c),
                       **(SEARCH_OPTIONS if gate or len(o) > BRANCHING_ORDERS else {})},
                      start=start)
    report = StageReport("local_mip", build, gate_seconds + sol.solve_seconds, sol.status,
                         sol.objective, sol.bound, sol.gap,
                         f"near={len(nidx)} units={nn} " + model.size)
    if not sol.has_solution:
        return report
    fills = np.where(far_full, q, 0).astype(np.int64)
    x = np.rint(sol.x[X:X + nn]).astype(np.int64)
    t = np.rint(sol.x[:nk]).astype(np.int64)
    gap = limit - money @ t  # π − a·p per order at the prices found, exact
    fills[near_ind] = x[n_g:]
    order = np.argsort(g_of, kind="stable")
    bounds = np.searchsorted(g_of[order], np.arange(n_g + 1))
    near_short = np.zeros(len(o), dtype=bool)
    for g in range(n_g):
        members = near_div[order[bounds[g]:bounds[g + 1]]]
        i = members[0]
        if gap[i] > market.allowance[o[i]] and x[g] < uq[g]:
            # in the money beyond ρ and not full: the whole-package allowance, one package
            # off each of uq − x members (the model's σ)
            if uq[g] - x[g] > n2[g]:  # the model's rows up to HiGHS's tolerances
                return StageReport("local_mip", build, sol.solve_seconds, "inexact shortfall")
            fills[members] = q[members]
            _one_short(market, o, fills, members, np.zeros(len(members), dtype=np.int64),
                       np.array([uq[g] - x[g]]))
            near_short[members] = fills[members] < q[members]
        else:
            fills[members] = pro_rata(int(x[g]), q[members], o[members],
                                      market.order_ids[o[members]])
    _one_short(market, o, fills, s_members, s_group, np.rint(sol.x[S0:]))
    if np.any(exposure.T @ fills):
        return StageReport("local_mip", build, sol.solve_seconds, "inexact balance")
    short_mask = (far_full | near_short) & (fills < q)
    return LocalEquilibrium(fills, gap == 0, t, report, short_mask)


def allocation_bound(market: Market, comp: Component, cls: Classification, params: SolverParams,
                     time_limit: float, exposure: sp.csr_matrix | None = None,
                     exposure_t: sp.csr_matrix | None = None) -> tuple[float, StageReport]:
    """An upper bound on the volume (lots) of any allocation :func:`allocation_mip` can return
    for ``cls`` without the whole-package allowance: the fixed orders' volume (divisible in the
    money: complete) plus the LP relaxation ``max Σ v_i x_i  s.t.  Σ B_i x_i = −Σ_fixed B_i q_i,
    0 <= x_i <= q_i`` over the orders that model leaves free (divisible at the money, indivisible
    in or at the money; all-or-none and minimum quantity relaxed to any x in [0, q]) — every
    allocation of the MIP is feasible here. ``-inf`` when the relaxation is infeasible (so is the
    MIP) or when no whole packages ``x_i ∈ {0 … q_i}`` balance (:func:`_unbalanceable`: a row's
    right-hand side beyond its reach, or not a multiple of its gcd; then no LP is solved — the
    MIP's allocations are such packages, so it has none), ``+inf`` when it could not be solved
    (nothing is known). A margin of one lot plus 10^-6 relative covers the LP's tolerances. Used by the §4a probe to skip moves that cannot win."""
    t0 = time.perf_counter()
    o = comp.orders
    indiv = market.indivisible[o]
    fixed_full = cls.itm & ~indiv
    free = np.flatnonzero((cls.atm & ~indiv) | ((cls.itm | cls.atm) & indiv))
    if exposure is None:
        exposure = market.exposure_in(o, comp.atomics)
    q = market.q[o]
    fixed_volume = float(market.vol[o][fixed_full] @ q[fixed_full])
    rhs = -(exposure.T @ (q * fixed_full)).astype(float)
    if not len(free):
        value = fixed_volume if not np.any(rhs) else -np.inf
        return value, StageReport("probe", time.perf_counter() - t0, 0.0, "optimal")
    if exposure_t is not None:  # ``exposure.T`` as CSR, made once per component (the probe):
        # the same test over every order, those not free held at 0 — no rows gathered per move
        hi = np.zeros(len(o), dtype=np.int64)
        hi[free] = q[free]
        unreachable = _unbalanceable(exposure_t, hi, rhs.astype(np.int64))
    else:
        unreachable = _unbalanceable(exposure[free].T, q[free], rhs.astype(np.int64))
    if unreachable:
        # no whole packages x_i in [0, q_i] balance (bounds, gcd): the MIP, whose allocations
        # are such packages, has none either — no LP needed
        return -np.inf, StageReport("probe", time.perf_counter() - t0, 0.0, "infeasible",
                                    size="bound unreachable (bounds, gcd)")
    free_exposure = exposure[free]
    model = ArrayModel(market.vol[o[free]].astype(float), free_exposure.T.tocsc().astype(float),
                       rhs, rhs, np.zeros(len(free)), q[free].astype(float), maximize=True)
    build = time.perf_counter() - t0
    sol = highs.solve(model, params, time_limit)
    report = StageReport("probe", build, sol.solve_seconds, sol.status, sol.objective,
                         size="bound " + model.size)
    if sol.status == "infeasible":
        return -np.inf, report
    if not sol.optimal or sol.objective is None:
        return np.inf, report
    return fixed_volume + sol.objective + 1.0 + 1e-6 * (1.0 + abs(sol.objective)), report
