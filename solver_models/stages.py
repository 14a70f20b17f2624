"""The clearing stages of one component, each building its model from arrays.

Notation (per component): orders i with q_i packages, exposure B_i (atomic units per package),
effective limit π_i per package, volume v_i lots per package; contracts k with money m_k of one
lot at one tick, band [lo_k, hi_k]; atomic instruments j.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from solver_models import highs
from solver_models.allocation import pro_rata
from solver_models.highs import INF, ArrayModel
from solver_models.market import Component, Market
from solver_models.outcome import StageReport
from solver_models.params import SolverParams


@dataclass(frozen=True)
class Classification:
    itm: np.ndarray  # bool over the component's orders: strictly in the money at p*
    otm: np.ndarray
    atm: np.ndarray
    reduced: np.ndarray  # π'_i − B_i·p*, numeraire per package
    report: StageReport


def welfare_lp(market: Market, comp: Component, params: SolverParams,
               time_limit: float, keepers: bool = True) -> Classification | StageReport:
    """Stage 1 — the welfare LP and its duals.

    ``max Σ_i π'_i x_i  s.t.  Σ_i B_i x_i = 0 (every atomic j),  0 <= x_i <= q_i``
    with π' = π − replication cash. Its duals p are equilibrium prices: an order with
    ``π'_i − B_i·p > 0`` is filled completely, ``< 0`` not at all, ``= 0`` may be partial —
    and every optimal x pairs with every optimal p (LP duality), so this classification fixes
    the set of all equilibria. Returns the classification at p (or a failed report).
    """
    t0 = time.perf_counter()
    # one column per group of identical orders (same legs and limit): same class, summed size
    group = _groups(market, comp.orders)
    _, first = np.unique(group, return_index=True)
    obj, b = market.lp_arrays(comp.orders[first], comp.atomics)
    q = np.bincount(group, weights=market.q[comp.orders]).astype(float)
    n = len(q)
    # Band keepers: per active contract an unlimited buyer at (low − ε) and seller at
    # (high + ε). Every real limit is clipped into the band, so they never trade; they only
    # keep the duals (the prices) inside the bands.
    band_obj, band_b = market.band_keepers(comp.contracts if keepers else comp.contracts[:0],
                                           comp.atomics)
    obj_all = np.concatenate((obj, band_obj))
    b_all = sp.hstack([b, band_b]).tocsc()
    upper = np.concatenate((q, np.full(len(band_obj), max(1.0, float(q.sum())))))
    n_row = b.shape[0]
    model = ArrayModel(obj_all, b_all, np.zeros(n_row), np.zeros(n_row),
                       np.zeros(len(upper)), upper, maximize=True)
    build = time.perf_counter() - t0
    sol = highs.solve(model, params, time_limit)
    report = StageReport("welfare_lp", build, sol.solve_seconds, sol.status, sol.objective,
                         size=model.size)
    if not sol.optimal or sol.row_dual is None:
        return report
    if np.any(sol.x[n:] > 1e-9):
        # Through replication the bands need not form one box of atomic prices (a call and a
        # forward at their band edges can undercut a put's band): clear without keepers; the
        # grid stages enforce the bands.
        return welfare_lp(market, comp, params, time_limit - sol.solve_seconds, keepers=False)
    p = sol.row_dual
    reduced = obj - b.T @ p
    scale = 1.0 + np.abs(obj) + abs(b.T) @ np.abs(p)
    tol = 1e-7 * scale
    itm, otm = (reduced > tol)[group], (reduced < -tol)[group]
    return Classification(itm, otm, ~(itm | otm), reduced[group], report)


@dataclass(frozen=True)
class Allocation:
    fills: np.ndarray  # packages per component order
    report: StageReport


def _groups(market: Market, orders: np.ndarray) -> np.ndarray:
    """Group id per order: identical legs (contracts and ratios) and identical limit."""
    legs = market.legs[orders]
    width = int(np.diff(legs.indptr).max()) if len(orders) else 0
    keys = np.zeros((len(orders), 2 * width + 1), dtype=np.int64)
    counts = np.diff(legs.indptr)
    pos = np.arange(legs.nnz) - np.repeat(legs.indptr[:-1], counts)
    rows = np.repeat(np.arange(len(orders)), counts)
    keys[rows, 2 * pos] = legs.indices + 1
    keys[rows, 2 * pos + 1] = legs.data
    keys[:, -1] = market.limit[orders]
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    return inverse.ravel()


def allocation_mip(market: Market, comp: Component, cls: Classification, params: SolverParams,
                   time_limit: float) -> Allocation | StageReport:
    """Stage 2 — maximum volume in whole packages among the equilibria of stage 1.

    Fixed: x_i = q_i in the money (divisible), 0 out of the money. Variables: X_g ∈ [0, Q_g]
    integer per group g of identical at-the-money divisible orders (shared pro rata later);
    z_i ∈ {0, 1} per indivisible order in or at the money (all-or-none: x = q·z; minimum
    quantity: x_i ∈ [min_i·z_i, q_i·z_i] integer).
    ``max Σ v·x  s.t.  Σ_g B_g X_g + Σ_i B_i x_i = −Σ_{fixed} B_i q_i`` (exact integer rows).
    """
    t0 = time.perf_counter()
    o = comp.orders
    indiv = market.indivisible[o]
    fixed_full = cls.itm & ~indiv
    free_div = cls.atm & ~indiv
    free_ind = (cls.itm | cls.atm) & indiv
    exposure = market.exposure[o][:, comp.atomics]  # orders × atomics, int64
    q = market.q[o]
    rhs = -(exposure.T @ (q * fixed_full))
    fills = np.where(fixed_full, q, 0).astype(np.int64)

    div_idx = np.flatnonzero(free_div)
    group = _groups(market, o[div_idx]) if len(div_idx) else np.zeros(0, dtype=np.int64)
    n_g = int(group.max()) + 1 if len(group) else 0
    first = np.zeros(n_g, dtype=np.int64)
    if n_g:
        first[group[::-1]] = div_idx[::-1]  # a representative order per group
    group_q = np.bincount(group, weights=q[div_idx], minlength=n_g).astype(np.int64)
    ind_idx = np.flatnonzero(free_ind)
    mq = ind_idx[~market.aon[o[ind_idx]]]  # minimum-quantity orders need x and z

    n_var = n_g + len(ind_idx) + len(mq)
    if n_var == 0:
        ok = not np.any(rhs)
        return (Allocation(fills, StageReport("allocation_mip", time.perf_counter() - t0, 0.0,
                                              "optimal" if ok else "infeasible", 0.0))
                if ok else StageReport("allocation_mip", 0.0, 0.0, "infeasible"))
    # columns: [X_g ...][z_i (aon: x=q z; minqty: z)][x_i for minqty]
    aon_mask = market.aon[o[ind_idx]]
    cols_b = [exposure[first].T] if n_g else []
    ind_coef = np.where(aon_mask, q[ind_idx], 0)
    cols_b.append(exposure[ind_idx].T @ sp.diags(ind_coef, dtype=np.int64))
    cols_b.append(exposure[mq].T)
    balance = sp.hstack(cols_b).tocsr().astype(float)
    vol = market.vol[o]
    c = np.concatenate((vol[first] if n_g else np.zeros(0), vol[ind_idx] * ind_coef, vol[mq]))
    col_lo = np.zeros(n_var)
    col_hi = np.concatenate((group_q, np.ones(len(ind_idx)), q[mq])).astype(float)
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
    a = sp.vstack(rows).tocsc()
    model = ArrayModel(c.astype(float), a, np.concatenate(row_lo), np.concatenate(row_hi),
                       col_lo, col_hi, np.ones(n_var, dtype=bool), maximize=True)
    build = time.perf_counter() - t0
    sol = highs.solve(model, params, time_limit)
    report = StageReport("allocation_mip", build, sol.solve_seconds, sol.status, sol.objective,
                         sol.bound, sol.gap, model.size)
    if not sol.has_solution:
        return report
    x = np.rint(sol.x).astype(np.int64)
    for g in range(n_g):
        members = div_idx[group == g]
        fills[members] = pro_rata(int(x[g]), q[members], o[members], market.order_ids[o[members]])
    z = x[n_g:n_g + len(ind_idx)]
    fills[ind_idx[aon_mask]] = q[ind_idx[aon_mask]] * z[aon_mask]
    fills[mq] = x[n_g + len(ind_idx):]
    if np.any(exposure.T @ fills):  # exact integer balance, whatever the MIP tolerances did
        return StageReport("allocation_mip", build, sol.solve_seconds, "inexact balance")
    return Allocation(fills, report)


@dataclass(frozen=True)
class Prices:
    ticks: np.ndarray  # per active contract of the component
    atomic: np.ndarray  # atomic prices (numeraire per unit), for contracts without orders
    reports: tuple[StageReport, ...]


def price_selection(market: Market, comp: Component, fills: np.ndarray, cls_atm: np.ndarray,
                    params: SolverParams, time_limit: float) -> Prices | StageReport:
    """Stage 3 — prices on the tick grid, inside the bands, for the fills of stage 2.

    Integer ticks t_k per active contract, atomic prices u_j (free), linked by
    ``tick_k·t_k − Σ_j coef_kj u_j = cash_k``. Per order, with money m and limit π (exact
    integers): filled at all ``Σ a·m·t <= π``; not filled completely ``Σ a·m·t + s >= π`` with
    its rounding slack ``0 <= s <= ρ`` (rule 2's allowance: the equilibrium may lie between grid
    prices). Identical rows are merged. Lexicographically:
    (0) exact first — every s fixed at 0; only when that is infeasible the least rounding
    ``min Σ (unfilled packages)·s``, kept as a bound while (a) and (b) choose;
    (a) minimum surplus — an unfilled group g at the money at p* gets a binary y_g and the row
    ``Σ a·m·t + s_g + δ_g·y_g >= π_g + δ_g`` (δ_g its lattice step: y_g = 0 forces it out of
    the money), minimising Σ (unfilled lots)·y_g; (b) then prices closest to the reference:
    ``min Σ_k |t_k − ref_k|`` (in ticks).
    """
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
    zero_atm = zero & cls_atm
    group = _groups(market, o)
    limit = market.limit[o]
    # one row per (group, kind): full (<=), partial (<= and >= with slack), zero (>= with
    # slack); zero-at-the-money groups get the surplus binary. Identical legs and limit share a
    # group, so rows dedupe exactly.
    kind = np.select([full, partial, zero], [0, 1, 2], default=-1)
    keep = kind >= 0
    key = group * 3 + kind
    _, first, inverse = np.unique(key[keep], return_index=True, return_inverse=True)
    rep = np.flatnonzero(keep)[first]
    rkind = kind[rep]
    n_r = len(rep)
    unfilled = np.bincount(inverse.ravel(), weights=(q - fills)[keep], minlength=n_r)
    rho = np.where(rkind == 0, 0, market.allowance[o[rep]]).astype(float)
    surplus_rep = zero_atm[rep]
    unfilled_lots = np.bincount(group[zero_atm], weights=(q * market.vol[o])[zero_atm],
                                minlength=int(group.max()) + 1 if len(group) else 0)
    n_y = int(surplus_rep.sum())
    # lattice step of each surplus row: gcd of |a|·m over its legs
    y_rows = np.flatnonzero(surplus_rep)
    delta = np.array([np.gcd.reduce(np.abs(money[rep[r]].data)) for r in y_rows], dtype=np.int64)
    lim = limit[rep].astype(float)
    slack = rkind > 0
    part = np.flatnonzero(rkind == 1)

    # columns: t (nk, integer) | u (na) | s (n_r) | y (n_y, binary) | d (nk, distance)
    A_ord = money[rep].astype(float)
    r_lo = np.where(slack, lim, -INF)
    r_hi = np.where(slack, INF, lim)
    y_mat = sp.csr_matrix((delta.astype(float), (y_rows, np.arange(n_y))), shape=(n_r, n_y))
    s_mat = sp.diags(slack.astype(float), format="csr")
    r_lo[y_rows] += delta
    # linking rows (price units): tick_k·t_k − Σ coef·u = cash_k
    ticks, cash, terms = market.linking(kc, comp.atomics)
    # distance rows: d_k − t_k >= −ref_k ; d_k + t_k >= ref_k
    ref = market.ref_ticks[kc]
    eye = sp.identity(nk, format="csr")
    z = lambda r, c: sp.csr_matrix((r, c))  # noqa: E731
    A = sp.vstack([
        sp.hstack([A_ord, z(n_r, na), s_mat, y_mat, z(n_r, nk)]),
        sp.hstack([A_ord[part], z(len(part), na + n_r + n_y + nk)]),  # partial: the limit
        sp.hstack([sp.diags(ticks, dtype=float), -terms, z(nk, n_r + n_y + nk)]),
        sp.hstack([-eye, z(nk, na + n_r + n_y), eye]),
        sp.hstack([eye, z(nk, na + n_r + n_y), eye]),
    ]).tocsc()
    row_lo = np.concatenate((r_lo, np.full(len(part), -INF), cash, -ref, ref))
    row_hi = np.concatenate((r_hi, lim[part], cash, np.full(2 * nk, INF)))
    col_lo = np.concatenate((market.tick_lo[kc], np.full(na, -INF), np.zeros(n_r), np.zeros(n_y),
                             np.zeros(nk)))
    col_hi = np.concatenate((market.tick_hi[kc], np.full(na, INF), rho, np.ones(n_y),
                             np.full(nk, INF)))
    integer = np.concatenate((np.ones(nk, bool), np.zeros(na + n_r, bool), np.ones(n_y, bool),
                              np.zeros(nk, bool)))
    S = slice(nk + na, nk + na + n_r)
    Y = slice(nk + na + n_r, nk + na + n_r + n_y)
    build = time.perf_counter() - t0
    reports = []

    def stage(name: str, c: np.ndarray):
        nonlocal build
        model = ArrayModel(c, A, row_lo, row_hi, col_lo, col_hi, integer)
        sol = highs.solve(model, params, time_limit)
        reports.append(StageReport(name, build, sol.solve_seconds, sol.status, sol.objective,
                                   sol.bound, sol.gap, model.size))
        build = 0.0
        return sol if sol.has_solution else None

    def keep_at_most(c: np.ndarray, value: float) -> None:
        nonlocal A, row_lo, row_hi
        A = sp.vstack([A, sp.csr_matrix(c)]).tocsc()
        row_lo = np.append(row_lo, -INF)
        row_hi = np.append(row_hi, value + 0.5)

    def surplus_then_reference() -> Prices | StageReport:
        if n_y:
            c = np.zeros(A.shape[1])
            c[Y] = unfilled_lots[group[rep[y_rows]]]
            sol = stage("surplus_mip", c)
            if sol is None:
                return reports[-1]
            keep_at_most(c, float(np.dot(c[Y], np.rint(sol.x[Y]))))
        c = np.zeros(A.shape[1])
        c[-nk:] = 1.0
        sol = stage("reference_mip", c)
        if sol is None:
            return reports[-1]
        return Prices(np.rint(sol.x[:nk]).astype(np.int64), sol.x[nk:nk + na], tuple(reports))

    # (0) most components have an exact equilibrium: try it first, no slack anywhere
    slack_hi = col_hi[S].copy()
    col_hi[S] = 0.0
    exact = surplus_then_reference()
    if isinstance(exact, Prices) or exact.status != "infeasible" or not np.any(slack_hi > 0):
        return exact
    # otherwise the least rounding, kept while choosing surplus and reference
    col_hi[S] = slack_hi
    c = np.zeros(A.shape[1])
    c[S] = unfilled
    sol = stage("rounding_mip", c)
    if sol is None:
        return reports[-1]
    keep_at_most(c, float(np.dot(unfilled, np.maximum(0.0, sol.x[S]))))
    return surplus_then_reference()


@dataclass(frozen=True)
class LocalEquilibrium:
    fills: np.ndarray
    atm: np.ndarray  # orders exactly at the money at the prices found
    report: StageReport


def local_mip(market: Market, comp: Component, reduced: np.ndarray, near_ticks: int,
              params: SolverParams, time_limit: float) -> LocalEquilibrium | StageReport:
    """Stage 2' — an exact integer equilibrium around the LP's prices, when stage 2 or 3 fails.

    Whole packages can make the LP's equilibrium unreachable (a vertex whose at-the-money
    orders balance only with fractions, or whose prices are off the tick grid). Orders whose
    reduced cost is within ``near_ticks`` ticks of zero become *near*: fill x_i ∈ [0, q_i]
    integer with binaries y_i (filled at all) and w_i (not full) and the clearing rule as
    big-M rows over integer tick prices t:
    ``a·m·t <= π_i + M_i(1 − y_i)``, ``x_i <= q_i·y_i`` (a fill respects the limit);
    ``a·m·t >= π_i − ρ_i − M_i(1 − w_i)``, ``x_i >= q_i(1 − w_i) − q_i(1 − y_i)`` (not full ⇒
    not in the money beyond its rounding allowance ρ_i; an indivisible order may also be 0).
    Far orders keep the LP's
    class as fixed rows; balance ``Σ_near B x = −Σ_far-full B q`` in exact integers;
    maximise the volume of the near orders. Identical divisible near orders (same legs and
    limit, hence the same class) are one unit, shared pro rata afterwards (rule 8).
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
    exposure = market.exposure[o][:, comp.atomics]
    rhs = -(exposure.T @ (q * far_full))
    # far rows, deduplicated by identical legs and limit
    group = _groups(market, o)
    kind = np.select([far_full, far_zero], [0, 2], default=-1)
    keep = kind >= 0
    _, first = np.unique((group * 3 + kind)[keep], return_index=True)
    rep = np.flatnonzero(keep)[first]
    n_r = len(rep)
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
    # columns: t (nk) | u (na) | x (nn) | y (nn) | w (nn)
    ncol = nk + na + 3 * nn
    X, Y, W = nk + na, nk + na + nn, nk + na + 2 * nn
    r = np.arange(nn)
    Z = lambda a, b: sp.csr_matrix((a, b))  # noqa: E731
    ticks, cash, terms = market.linking(kc, comp.atomics)

    def cols(pairs: list[tuple[np.ndarray, np.ndarray]], rows: int) -> sp.csr_matrix:
        ri = np.concatenate([np.arange(len(c)) for c, _ in pairs])
        ci = np.concatenate([c for c, _ in pairs])
        vi = np.concatenate([v for _, v in pairs])
        return sp.csr_matrix((vi, (ri, ci)), shape=(rows, ncol))

    blocks = [
        # far rows on prices
        sp.hstack([money[rep].astype(float), Z(n_r, ncol - nk)]),
        # linking rows
        sp.hstack([sp.diags(ticks, dtype=float), -terms, Z(nk, 3 * nn)]),
        # balance
        sp.hstack([Z(na, nk + na), exposure[units].T.astype(float), Z(na, 2 * nn)]),
        # a·m·t − M(y... ) : a·m·t + M y <= π + M
        sp.hstack([mn.astype(float), Z(nn, na + nn), sp.diags(big), Z(nn, nn)]),
        # a·m·t − M w >= π − M
        sp.hstack([mn.astype(float), Z(nn, na + 2 * nn), sp.diags(-big)]),
        # x − q y <= 0
        cols([(X + r, np.ones(nn)), (Y + r, -uq.astype(float))], nn),
        # x + q w >= q: not full only when w; an indivisible order also 0 when not y
        # (x + q w − q y >= 0)
        cols([(X + r, np.ones(nn)), (W + r, uq.astype(float)),
              (Y + r, -(uq * u_ind).astype(float))], nn),
    ]
    a = sp.vstack(blocks).tocsc()
    lim_far = limit[rep].astype(float)
    lim_n = limit[units].astype(float)
    rho = market.allowance[o].astype(float)  # rule 2's rounding allowance
    row_lo = np.concatenate((np.where(kind[rep] == 0, -INF, lim_far - rho[rep]), cash,
                             rhs.astype(float), np.full(nn, -INF), lim_n - rho[units] - big,
                             np.full(nn, -INF), np.where(u_ind, 0.0, uq.astype(float))))
    row_hi = np.concatenate((np.where(kind[rep] == 2, INF, lim_far), cash, rhs.astype(float),
                             lim_n + big, np.full(nn, INF), np.zeros(nn), np.full(nn, INF)))
    col_lo = np.concatenate((lo_t, np.full(na, -INF), np.zeros(3 * nn)))
    col_hi = np.concatenate((hi_t, np.full(na, INF), uq.astype(float), np.ones(2 * nn)))
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
    integer = np.concatenate((np.ones(nk, bool), np.zeros(na, bool), np.ones(3 * nn, bool)))
    c = np.zeros(ncol)
    c[X:X + nn] = market.vol[o[units]]
    model = ArrayModel(c, a, row_lo, row_hi, col_lo, col_hi, integer, maximize=True)
    build = time.perf_counter() - t0
    sol = highs.solve(model, params, time_limit)
    report = StageReport("local_mip", build, sol.solve_seconds, sol.status, sol.objective,
                         sol.bound, sol.gap, f"near={len(nidx)} units={nn} " + model.size)
    if not sol.has_solution:
        return report
    fills = np.where(far_full, q, 0).astype(np.int64)
    x = np.rint(sol.x[X:X + nn]).astype(np.int64)
    n_g = len(g_first)
    fills[near_ind] = x[n_g:]
    order = np.argsort(g_of, kind="stable")
    bounds = np.searchsorted(g_of[order], np.arange(n_g + 1))
    for g in range(n_g):
        members = near_div[order[bounds[g]:bounds[g + 1]]]
        fills[members] = pro_rata(int(x[g]), q[members], o[members],
                                  market.order_ids[o[members]])
    t = np.rint(sol.x[:nk]).astype(np.int64)
    if np.any(exposure.T @ fills):
        return StageReport("local_mip", build, sol.solve_seconds, "inexact balance")
    return LocalEquilibrium(fills, (money @ t) == limit, report)


