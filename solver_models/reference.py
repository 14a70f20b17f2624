"""The original engine's big-M formulation (auction.md §5) as a reference model, in Pyomo.

For small books and comparisons only (``SolverParams(formulation="bigm")``). It maximises
volume without price priority across groups, so its results may fail the equilibrium check
of auction.md §4; that is expected. See ``docs/reference_model.md``.

**Groups and intervals.** Divisible orders are grouped by their package ratio vector ``a``
over contracts (same side and same leg proportions: ``w = a/Σ|a|``). Inside group *i* the orders
with the same limit form interval *j* (sorted by decreasing limit, the most willing first) with
``q_ij`` packages in total and limit ``π_ij`` per package: the effective limit
``min(π, band cap)`` with ``price_band="clip"``, the plain ``π`` with ``"ignore"``.

**Variables.** ``t_k`` integer ticks in the band ``[L_k, U_k]`` for every priced contract (so
prices are on the grid, no rounding of prices beyond the solver's integrality tolerance);
``x_i ≥ 0`` integer packages per group; binary ``b_ij``; integer ``y_ij ∈ [0, q_ij]`` packages.
With replication, continuous atomic prices ``s_a`` and ``tick_k·t_k = Σ_a R_ka·s_a + cash_k``.

**Rows** (each written in whole steps of the group's price lattice ``μ_i`` — ``book.price_lattice``
— so that every coefficient and right-hand side is an integer, exact in floating point; this is
``w·p ≤ l`` multiplied by ``Σ|a_i|/μ_i``)::

    Σ_i U_ai·x_i = 0                                 balance per atomic instrument (units)
    b_i1 ≥ b_i2 ≥ …                                  intervals activate from the most willing
    g_i·t − B_ij·(1 − b_ij) ≤ l_ij                   b = 1 ⇒ the limit holds
    g_i·t + A_ij·b_ij ≥ l_ij                         b = 0 ⇒ at or out of the money
    Σ_j y_ij = x_i,  y_ij ≤ q_ij·b_ij,  y_ij ≥ q_ij·b_i,j+1
    A_ij = l_ij + sup(−g_i·t) + 1,  B_ij = sup(g_i·t) − l_ij + 1   over the price box

Indivisible orders (all-or-none, minimum quantity) are not merged into intervals: each has a
binary ``f_o`` and integer fill ``z_o ∈ {0} ∪ [min_fill, q]`` (``min_fill·f ≤ z ≤ q·f``) and the
big-M row ``g·t − B(1 − f) ≤ l`` (filled ⇒ limit holds); they are free to stay unfilled.

**Objectives** (lexicographic; each optimum is fixed as a constraint before the next stage):
1. ``bigm_volume``: max ``Σ |a_i|·x_i`` lots (the spec's ``Σ x`` with normalised weights);
2. ``bigm_surplus``: min ``Σ b_ij·q_ij·|a_i|`` lots (executable quantity; volume is fixed);
3. ``bigm_premium``: max ``Σ y_ij·π_ij`` (numeraire), fixed within relative 1e-9;
4. ``bigm_reference``: min ``Σ_k |t_k − ref_k|`` in ticks — an L1 MIP stage where the original
   solved a QP (squared distance).

Reading back: ticks and package fills are integer variables, read as the nearest integer
(they differ from it only by the integrality tolerance); then balance and limits are re-checked
in exact integers/fractions. Interval fills go to orders pro rata by size (largest remainder,
ties by entry order, then id).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from math import lcm
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from auction.book import Book
from auction.orders import Order
from auction.replication import Atomic, replicate
from auction.result import ClearingResult, Fill, no_trade, published_prices
from solver_models.allocation import pro_rata
from solver_models.outcome import SolveOutcome, SolveStatus, StageReport
from solver_models.params import SolverParams

SOLVER_NAME = "pyomo/highs (big-M reference)"
PREMIUM_REL_TOL = 1e-9


# --------------------------------------------------------------------------- the book as groups

@dataclass
class _Interval:
    limit: int  # l_ij in steps of the group's price lattice
    premium: Fraction  # π_ij per package, numeraire
    orders: list[int]  # indices into book.orders, entry order
    size: int  # q_ij packages


@dataclass
class _Group:
    """Divisible orders with one ratio vector (or one indivisible order on its own)."""

    coef: tuple[tuple[int, int], ...]  # (contractId, g) price-row coefficients, integers
    lots: int  # |a|_1: lots per package
    units: dict[int, Fraction]  # atomic row -> units per package
    intervals: list[_Interval] = field(default_factory=list)
    min_fill: int = 0  # indivisible orders only


@dataclass
class _Problem:
    groups: list[_Group]  # divisible
    singles: list[_Group]  # indivisible orders, one interval each
    priced: list[int]  # contracts with a price variable
    atomics: list[Atomic]
    identities: list[tuple[int, list[tuple[int, int]], Fraction]]  # (cid, [(atomic, coef)], cash)
    notes: list[str]


def _limit(book: Book, order: Order, bands: bool) -> Fraction:
    return book.effective_limit(order) if bands else order.limit_per_package


def _as_int(value: Fraction, what: str) -> int:
    if value.denominator != 1:
        raise AssertionError(f"{what}: {value} is not a whole number of lattice steps")
    return int(value)


def _atomic_key(a: Atomic) -> tuple[Any, ...]:
    return (str(a.kind), a.pair, a.expiry, a.strike is not None, a.strike or 0,
            a.contract_id if a.contract_id is not None else -1)


def _problem(book: Book, params: SolverParams) -> _Problem:
    bands = params.price_band == "clip"
    reps = {cid: replicate(c, params.replication) for cid, c in book.contracts.items()}
    traded = {leg.contract_id for o in book.orders for leg in o.legs}
    # contracts sharing an atomic with a traded one (transitively) get a price variable too, so
    # that their bands and grids bind the replication identity as they do in the result
    atoms_of = {cid: {a for a, _ in r.terms} for cid, r in reps.items()}
    priced = set(traded)
    atoms = set().union(*(atoms_of[c] for c in priced)) if priced else set()
    changed = params.replication
    while changed:
        changed = False
        for cid in book.contracts:
            if cid not in priced and atoms_of[cid] & atoms:
                priced.add(cid)
                atoms |= atoms_of[cid]
                changed = True
    atomics = sorted(atoms, key=_atomic_key)
    row = {a: i for i, a in enumerate(atomics)}

    def units(order: Order) -> dict[int, Fraction]:
        out: dict[int, Fraction] = {}
        for a, leg in zip(order.ratios, order.legs, strict=True):
            c = book.contracts[leg.contract_id]
            for atom, coef in reps[leg.contract_id].terms:
                r = row[atom]
                out[r] = out.get(r, Fraction(0)) + a * Fraction(c.lot_size) * coef
        return {r: v for r, v in out.items() if v}

    def coef(order: Order) -> tuple[tuple[tuple[int, int], ...], Fraction]:
        mu = Fraction(book.price_lattice(order))
        g = tuple((leg.contract_id,
                   _as_int(a * Fraction(book.contracts[leg.contract_id].lot_size)
                           * Fraction(book.contracts[leg.contract_id].tick_size) / mu,
                           f"order {order.order_id} coefficient"))
                  for a, leg in zip(order.ratios, order.legs, strict=True))
        return g, mu

    groups: dict[tuple[Any, ...], _Group] = {}
    by_limit: dict[tuple[Any, ...], dict[int, _Interval]] = {}
    singles: list[_Group] = []
    for idx, o in enumerate(book.orders):
        g, mu = coef(o)
        lim = _limit(book, o, bands)
        li = _as_int(lim / mu, f"order {o.order_id} limit")
        if o.indivisible:
            s = _Group(g, o.lots_per_package, units(o), min_fill=o.min_fill)
            s.intervals.append(_Interval(li, lim, [idx], o.packages))
            singles.append(s)
            continue
        key = tuple((leg.contract_id, a) for a, leg in zip(o.ratios, o.legs, strict=True))
        if key not in groups:
            groups[key] = _Group(g, o.lots_per_package, units(o))
            by_limit[key] = {}
        iv = by_limit[key].get(li)
        if iv is None:
            iv = by_limit[key][li] = _Interval(li, lim, [], 0)
        iv.orders.append(idx)
        iv.size += o.packages
    for key, grp in groups.items():
        grp.intervals = sorted(by_limit[key].values(), key=lambda v: -v.limit)

    identities = []
    if params.replication:
        for cid in sorted(priced):
            identities.append((cid, [(row[a], c) for a, c in reps[cid].terms],
                               Fraction(reps[cid].cash)))
    notes = [
        "formulation bigm: the original engine's big-M MIP (auction.md §5); no price priority "
        "across groups, so the result may fail the equilibrium check",
        "stage bigm_reference minimises the L1 distance to the reference prices in ticks "
        "(the original used a QP)",
        "prices are integer tick variables in the bands; fills whole packages, read back as the "
        "nearest integer and re-checked exactly",
    ]
    if not bands:
        notes.append("price_band=ignore: raw limits π are used, but the price box is still "
                     "the band (the big-M constants need a finite box)")
    if singles:
        notes.append(f"{len(singles)} indivisible order(s) modelled one by one (fill binary, "
                     "minimum fill), outside the interval chains and the surplus objective")
    if params.split_components:
        notes.append("split_components is ignored by bigm: the book is one model")
    return _Problem(list(groups.values()), singles, sorted(priced), atomics, identities, notes)


# --------------------------------------------------------------------------- the Pyomo model

def _box(book: Book, g: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """(inf, sup) of g·t over the price box."""
    lo = hi = 0
    for cid, c in g:
        a, b = book.contracts[cid].band_ticks
        lo += c * (a if c > 0 else b)
        hi += c * (b if c > 0 else a)
    return lo, hi


def _build(book: Book, prob: _Problem) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel(name="bigm_reference")
    K = prob.priced
    m.t = pyo.Var(K, domain=pyo.Integers,
                  bounds=lambda _m, k: book.contracts[k].band_ticks)
    items = [(gi, j) for gi, grp in enumerate(prob.groups) for j in range(len(grp.intervals))]
    m.x = pyo.Var(range(len(prob.groups)), domain=pyo.NonNegativeIntegers)
    m.b = pyo.Var(items, domain=pyo.Binary)
    m.y = pyo.Var(items, domain=pyo.NonNegativeIntegers,
                  bounds=lambda _m, gi, j: (0, prob.groups[gi].intervals[j].size))
    S = range(len(prob.singles))
    m.f = pyo.Var(S, domain=pyo.Binary)
    m.z = pyo.Var(S, domain=pyo.NonNegativeIntegers,
                  bounds=lambda _m, s: (0, prob.singles[s].intervals[0].size))
    m.cons = pyo.ConstraintList()

    def money(g: tuple[tuple[int, int], ...]) -> Any:
        return sum(c * m.t[cid] for cid, c in g)

    # balance per atomic instrument, each row scaled to integer coefficients
    rows: dict[int, list[tuple[Fraction, Any]]] = {}
    for gi, grp in enumerate(prob.groups):
        for r, u in grp.units.items():
            rows.setdefault(r, []).append((u, m.x[gi]))
    for s, single in enumerate(prob.singles):
        for r, u in single.units.items():
            rows.setdefault(r, []).append((u, m.z[s]))
    for r in sorted(rows):
        d = lcm(*(u.denominator for u, _ in rows[r]))
        m.cons.add(sum(int(u * d) * v for u, v in rows[r]) == 0)

    # replication identities: tick_k·t_k = Σ_a R_ka·s_a + cash_k
    if prob.identities:
        m.s = pyo.Var(range(len(prob.atomics)), domain=pyo.Reals)
        for cid, terms, cash in prob.identities:
            tick = Fraction(book.contracts[cid].tick_size)
            m.cons.add(float(tick) * m.t[cid] == sum(c * m.s[r] for r, c in terms) + float(cash))

    # group price rows and the interval chains
    for gi, grp in enumerate(prob.groups):
        inf, sup = _box(book, grp.coef)
        expr = money(grp.coef)
        n = len(grp.intervals)
        for j, iv in enumerate(grp.intervals):
            big_a = iv.limit - inf + 1
            big_b = sup - iv.limit + 1
            m.cons.add(expr - big_b * (1 - m.b[gi, j]) <= iv.limit)
            m.cons.add(expr + big_a * m.b[gi, j] >= iv.limit)
            m.cons.add(m.y[gi, j] <= iv.size * m.b[gi, j])
            if j + 1 < n:
                m.cons.add(m.b[gi, j] >= m.b[gi, j + 1])
                m.cons.add(m.y[gi, j] >= iv.size * m.b[gi, j + 1])
        m.cons.add(sum(m.y[gi, j] for j in range(n)) == m.x[gi])

    for s, single in enumerate(prob.singles):
        iv = single.intervals[0]
        _inf, sup = _box(book, single.coef)
        m.cons.add(money(single.coef) - (sup - iv.limit + 1) * (1 - m.f[s]) <= iv.limit)
        m.cons.add(m.z[s] <= iv.size * m.f[s])
        m.cons.add(m.z[s] >= single.min_fill * m.f[s])

    # the objective expressions of the four stages
    m.volume = pyo.Expression(expr=sum(grp.lots * m.x[gi] for gi, grp in enumerate(prob.groups))
                              + sum(sg.lots * m.z[s] for s, sg in enumerate(prob.singles)))
    m.executable = pyo.Expression(expr=sum(
        prob.groups[gi].intervals[j].size * prob.groups[gi].lots * m.b[gi, j]
        for gi, j in items))
    premiums = [iv.premium for grp in prob.groups for iv in grp.intervals]
    premiums += [sg.intervals[0].premium for sg in prob.singles]
    m.premium_scale = lcm(*(p.denominator for p in premiums)) if premiums else 1
    sc = m.premium_scale
    m.premium = pyo.Expression(expr=sum(
        int(prob.groups[gi].intervals[j].premium * sc) * m.y[gi, j] for gi, j in items)
        + sum(int(sg.intervals[0].premium * sc) * m.z[s] for s, sg in enumerate(prob.singles)))
    m.dist = pyo.Var(K, domain=pyo.NonNegativeReals)
    for k in K:
        ref = float(book.contracts[k].reference_ticks)
        m.cons.add(m.dist[k] >= m.t[k] - ref)
        m.cons.add(m.dist[k] >= ref - m.t[k])
    m.distance = pyo.Expression(expr=sum(m.dist[k] for k in K))
    return m


# --------------------------------------------------------------------------- solving

@dataclass
class _StageResult:
    report: StageReport
    feasible: bool
    optimal: bool
    timed_out: bool
    infeasible: bool
    objective: float | None


_STATUS = {TerminationCondition.convergenceCriteriaSatisfied: "optimal",
           TerminationCondition.maxTimeLimit: "time_limit",
           TerminationCondition.provenInfeasible: "infeasible",
           TerminationCondition.infeasibleOrUnbounded: "infeasible_or_unbounded"}


def _solve_stage(opt: Highs, m: pyo.ConcreteModel, name: str, params: SolverParams,
                 time_left: float, build_seconds: float, scale: float, size: str) -> _StageResult:
    options: dict[str, Any] = {"random_seed": params.random_seed, "presolve": params.presolve}
    options.update(params.highs_options)
    t0 = time.perf_counter()
    res = opt.solve(m, load_solutions=False, raise_exception_on_nonoptimal_result=False,
                    threads=params.threads, time_limit=max(time_left, 0.01),
                    rel_gap=params.mip_gap, solver_options=options)
    wall = time.perf_counter() - t0
    try:  # translating the Pyomo model into HiGHS is model building, not solving
        translate = res.timing_info.timer.get_total_time("set_instance")
    except (AttributeError, KeyError):
        translate = 0.0
    tc = res.termination_condition
    feasible = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if feasible:
        res.solution_loader.load_vars()
    obj = res.incumbent_objective
    bound = res.objective_bound
    gap = None
    if obj is not None and bound is not None:
        gap = 0.0 if obj == bound else abs(bound - obj) / max(abs(obj), 1e-10)
    report = StageReport(name, build_seconds + translate, wall - translate,
                         _STATUS.get(tc, str(getattr(tc, "name", tc))),
                         None if obj is None else obj / scale,
                         None if bound is None else bound / scale, gap, size)
    return _StageResult(report, feasible,
                        tc == TerminationCondition.convergenceCriteriaSatisfied,
                        tc == TerminationCondition.maxTimeLimit,
                        tc in (TerminationCondition.provenInfeasible,
                               TerminationCondition.infeasibleOrUnbounded),
                        obj)


def _size(m: pyo.ConcreteModel) -> str:
    n_int = sum(1 for v in m.component_data_objects(pyo.Var) if v.is_integer())
    return f"rows={m.nconstraints()} cols={m.nvariables()} int={n_int}"


@dataclass
class _Values:
    ticks: dict[int, int]
    y: dict[tuple[int, int], int]
    z: dict[int, int]


def _snapshot(m: pyo.ConcreteModel) -> _Values:
    """The loaded solution, integers read as the nearest integer."""
    def r(v: Any) -> int:
        return round(pyo.value(v))
    return _Values({k: r(m.t[k]) for k in m.t}, {i: r(m.y[i]) for i in m.y},
                   {s: r(m.z[s]) for s in m.z})


def solve_reference(book: Book, params: SolverParams) -> SolveOutcome:
    """Clear ``book`` with the big-M reference model (formulation ``bigm``)."""
    start = time.perf_counter()
    deadline = start + params.time_limit
    t0 = time.perf_counter()
    prob = _problem(book, params)
    notes = list(prob.notes)
    if not book.orders:
        return SolveOutcome(SolveStatus.OPTIMAL,
                            no_trade(book, frozenset(), replication=params.replication), params, (),
                            time.perf_counter() - start, SOLVER_NAME, 0, tuple(notes))
    m = _build(book, prob)
    build = time.perf_counter() - t0
    opt = Highs()

    stages: list[StageReport] = []
    best: _Values | None = None
    timed_out = infeasible = False
    plan = [("bigm_volume", m.volume, pyo.maximize, 1.0),
            ("bigm_surplus", m.executable, pyo.minimize, 1.0),
            ("bigm_premium", m.premium, pyo.maximize, float(m.premium_scale)),
            ("bigm_reference", m.distance, pyo.minimize, 1.0)]
    m.fixed = pyo.ConstraintList()
    size = _size(m)
    for i, (name, expr, sense, scale) in enumerate(plan):
        time_left = deadline - time.perf_counter()
        if time_left <= 0:
            timed_out = True
            notes.append(f"no time left for stage {name}")
            break
        tb = time.perf_counter()
        if i:
            m.del_component(m.obj)
        m.obj = pyo.Objective(expr=expr, sense=sense)
        sr = _solve_stage(opt, m, name, params, time_left,
                          (build if i == 0 else 0.0) + time.perf_counter() - tb, scale, size)
        stages.append(sr.report)
        if sr.feasible:
            best = _snapshot(m)
        if not sr.optimal:
            if i == 0 and sr.infeasible:
                infeasible = True
            elif sr.timed_out:
                timed_out = True
                notes.append(f"stage {name} hit the time limit"
                             + ("" if sr.feasible else " without a solution"))
            else:
                timed_out = timed_out or best is None
                notes.append(f"stage {name} ended {sr.report.status}: the result is optimal "
                             "for the stages before it only")
            break
        # fix this stage's value before the next one (from the incumbent: valid at any gap)
        v = pyo.value(expr)
        if name == "bigm_premium":
            tol = max(0.5, PREMIUM_REL_TOL * abs(v))
        else:
            v, tol = round(v), 0.5
        if i + 1 < len(plan):
            m.fixed.add(expr >= v - tol if sense == pyo.maximize else expr <= v + tol)

    wall = time.perf_counter() - start
    if infeasible:
        notes.append("the big-M model is infeasible: no price vector in the box lets the "
                     "forced interval fills balance")
        return SolveOutcome(SolveStatus.NOT_CLEARED, no_trade(book), params, tuple(stages),
                            wall, SOLVER_NAME, 1, tuple(notes))
    if best is None:
        return SolveOutcome(SolveStatus.TIME_LIMIT if timed_out else SolveStatus.NOT_CLEARED,
                            no_trade(book), params, tuple(stages), wall, SOLVER_NAME, 1,
                            tuple(notes))
    result, problems = _result(book, prob, best, params.replication)
    if problems:
        notes.extend(problems)
        return SolveOutcome(SolveStatus.NOT_CLEARED, no_trade(book), params, tuple(stages),
                            time.perf_counter() - start, SOLVER_NAME, 1, tuple(notes))
    status = SolveStatus.TIME_LIMIT if timed_out else SolveStatus.OPTIMAL
    return SolveOutcome(status, result, params, tuple(stages), time.perf_counter() - start,
                        SOLVER_NAME, 1, tuple(notes))


# --------------------------------------------------------------------------- back to orders

def _result(book: Book, prob: _Problem, vals: _Values, replication: bool
            ) -> tuple[ClearingResult, list[str]]:
    """Interval fills to order fills (pro rata), prices for every contract, exact re-check."""
    fills: dict[int, int] = {}
    for gi, grp in enumerate(prob.groups):
        for j, iv in enumerate(grp.intervals):
            y = vals.y.get((gi, j), 0)
            if not y:
                continue
            orders = [book.orders[i] for i in iv.orders]
            alloc = pro_rata(y, np.array([o.packages for o in orders]), np.array(iv.orders),
                             np.array([o.order_id for o in orders]))
            for o, x in zip(orders, alloc, strict=True):
                if x:
                    fills[o.order_id] = int(x)
    for s, sg in enumerate(prob.singles):
        if vals.z.get(s, 0):
            fills[book.orders[sg.intervals[0].orders[0]].order_id] = vals.z[s]
    # rule 10: contracts without a price variable publish their replication (as the matcher)
    prices, off = published_prices(book.contracts, vals.ticks, frozenset(), replication)

    problems: list[str] = []
    units: dict[int, Fraction] = {}
    grp_units: dict[int, dict[int, Fraction]] = {}
    limits: dict[int, Fraction] = {}
    for grp in [*prob.groups, *prob.singles]:
        for iv in grp.intervals:
            for o_idx in iv.orders:
                grp_units[o_idx], limits[o_idx] = grp.units, iv.premium
    for idx, o in enumerate(book.orders):
        x = fills.get(o.order_id, 0)
        if not x:
            continue
        for r, u in grp_units[idx].items():
            units[r] = units.get(r, Fraction(0)) + x * u
        # the model's limit rows hold exactly for every filled order
        if book.order_money(o, prices) > limits[idx]:
            problems.append(f"exact re-check: order {o.order_id} filled beyond its limit")
    for r, v in sorted(units.items()):
        if v:
            problems.append(f"exact re-check: {prob.atomics[r]} out of balance by {v}")
    return ClearingResult(prices, tuple(Fill(i, x) for i, x in fills.items()),
                          frozenset(off)), problems

