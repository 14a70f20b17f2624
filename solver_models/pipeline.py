"""The clearing pipeline (auction.md §4): split, clear each component, assemble one result.

Per component: one contract traded by single-leg orders → sort and sweep (no solver);
otherwise welfare LP → allocation MIP over the at-the-money orders → price selection on the
tick grid. Each component's answer is re-verified in exact integers before it is accepted; a
component that cannot be cleared in time, or whose equilibrium has no grid prices the engine
can find, is left uncleared (no fills, reference prices) and the outcome says so.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from auction.book import Book
from auction.result import ClearingResult, Fill, published_prices
from auction.units import decimal_places, fmt
from solver_models import highs
from solver_models.core import WIDE_NEAR, Oracle, infeasible_core
from solver_models.market import Component, Market, build_market, components
from solver_models.outcome import SPECULATIVE, SolveOutcome, SolveStatus, StageReport
from solver_models.params import SolverParams
from solver_models.stages import (
    ALONE_ORDERS,
    BRANCHING_ORDERS,
    NO_ROOT_POINT,
    PRICES_UNREACHABLE,
    Allocation,
    Classification,
    LocalEquilibrium,
    Prices,
    allocation_bound,
    allocation_mip,
    give_way,
    grid_classification,
    grid_reachable,
    least_loss,
    local_mip,
    loss_at,
    price_selection,
    welfare_lp,
    welfare_lp_parts,
)
from solver_models.sweep import sweep

LOCAL_NEIGHBOURHOODS = (0, 1, 4)  # steps of reduced cost around the LP's prices (0: at the money)
# stop 27: an independent part of at most this many orders whose answer relaxes rule 2 is
# searched once over the whole price box for an exact equilibrium
# (_wide); the full-range MIP cost ≤ 0.64 s of CPU per component on 60-order books, ~2 s at 313
WIDE_ORDERS = 64
# WIDE_NEAR (solver_models.core): ticks of reduced cost, every order near (the whole band box)
# larger parts, up to WIDE_LADDER_ORDERS orders: exact searches this many ticks of reduced cost
# out instead, nearest first (branch wide17b: 64 ticks finds campaign seed 17 book 3's exact
# equilibria, 0.6-0.9 s of CPU at 310-313 orders; the whole box ~2 s there; mixed_2k's relaxed
# parts of 871-885 orders have none within 64 ticks and would pay 0.13 s each, +40 %); each
# rung gated by its root (stages.local_mip, gate: branch wide17c, docs/performance.md "Stop 28");
# _wide adds the whole box (WIDE_NEAR) as the last rung, gated too, for parts of at most
# WIDE_BOX_ORDERS orders (branch box17: campaign s35003's 125-order part has its exact
# equilibrium only beyond 64 ticks; the whole box's gate cost 0.08-0.28 s of CPU on the parts
# of 75 and 125 orders it cleared exactly, 0.35-1.6 s on the parts of 228-466 orders of
# campaign seeds 17 and 35, none of which it found an exact point in: +30 % of seed 17's CPU
# for the whole ladder; docs/performance.md "Stop 28 — the whole box as the ladder's last rung")
WIDE_LADDER = (16, 64)
# one bound with stages.BRANCHING_ORDERS: beyond it a search runs without strong branching
WIDE_LADDER_ORDERS = BRANCHING_ORDERS
# a component about to be given up gets WIDE_LADDER's rungs up to this many orders (_stages),
# gated beyond WIDE_LADDER_ORDERS: a cost bound (branch near17: the gated rungs, with near
# orders short as the fallback, cost campaign s23016's 1,138-order part 1.2 -> 7.9 s of CPU
# finding nothing, s25011's 681-order part 0.4 -> 2.5 s finding its answer; a larger
# component's roots would approach the time limit)
GIVE_UP_LADDER_ORDERS = 2048
# a component about to be given up whose part (of at most CORE_ORDERS orders) is proven to have
# no §4a answer in its bands has the contracts of an infeasible core halted (solver_models.core)
# and the rest starts over, at most CORE_HALTS times per route (so at most CORE_HALTS core
# searches of core.CORE_CALLS roots each; beyond, the component is given up). Work bounds
# (issue 17, branch halt17): campaign s56013's 264-order part, 44 roots of the whole box's
# feasibility model, ~1 s of CPU; the one root of s23016's 1,138-order part costs 3.7 s,
# undecided
CORE_HALTS = 3
CORE_ORDERS = WIDE_LADDER_ORDERS
WIDE_BOX_ORDERS = 2 * WIDE_ORDERS
BATCH_ORDERS = 2000  # components below stages.ALONE_ORDERS: cleared in batches of this size
WORKERS = 2  # batches of components cleared side by side (threads; at most the machine's CPUs)


@dataclass
class _Progress:
    stages: dict[str, list[float]] = field(default_factory=dict)  # name -> [build, solve, n]
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False
    not_cleared: bool = False
    largest: dict[str, StageReport] = field(default_factory=dict)
    lp_volume: dict[int, float] = field(default_factory=dict)  # component -> LP relaxation lots
    component: int = -1  # the component being cleared (its first order)

    def add(self, report: StageReport) -> None:
        key = report.name + (SPECULATIVE if report.parallel else "")
        acc = self.stages.setdefault(key, [0.0, 0.0, 0])
        acc[0] += report.build_seconds
        acc[1] += report.solve_seconds
        acc[2] += 1
        self.largest[key] = report

    def merge(self, other: _Progress) -> None:
        """Add the progress of another part of the book (cleared on its own)."""
        for key, (b, s, n) in other.stages.items():
            acc = self.stages.setdefault(key, [0.0, 0.0, 0])
            acc[0] += b
            acc[1] += s
            acc[2] += n
            self.largest[key] = other.largest[key]
        self.notes.extend(other.notes)
        self.timed_out |= other.timed_out
        self.not_cleared |= other.not_cleared
        self.lp_volume.update(other.lp_volume)

    def reports(self) -> tuple[StageReport, ...]:
        out = []
        for key, (b, s, n) in self.stages.items():
            last = self.largest[key]
            out.append(StageReport(last.name, b, s, last.status, last.objective, last.bound,
                                   last.gap, f"{n} component(s); last: {last.size}".strip(),
                                   last.parallel))
        return tuple(out)


def solve_equilibrium(book: Book, params: SolverParams) -> SolveOutcome:
    start = time.perf_counter()
    deadline = start + params.time_limit
    prog = _Progress()
    t0 = time.perf_counter()
    market = build_market(book, params.replication, params.price_band == "clip")
    comps = components(market, params.split_components)
    prog.add(StageReport("build_market", time.perf_counter() - t0, 0.0, "ok",
                         size=f"orders={market.n_orders} atomics={len(market.atomics)}"))

    fills = np.zeros(market.n_orders, dtype=np.int64)
    ticks: dict[int, int] = {}  # contract index -> ticks
    uncleared: set[int] = set()
    relaxed: dict[int, str] = {}  # order index -> "rounding" | "short" (auction.md §4a)

    busy = _Busy()

    def clear_batch(batch: list[Component], in_doubt: Callable[..., None] = lambda parts=None: None
                    ) -> tuple[_Cleared | StageReport, _Progress]:
        """One batch of components, with its own progress (batches run side by side);
        ``in_doubt`` is called when its route first fails, or with the parts that leave it."""
        own = _Progress()
        with busy:
            return _clear(market, Component.union(batch), params, deadline, own,
                          searching=len(batch) == 1, spare_core=busy.spare,
                          in_doubt=in_doubt, parts=batch), own

    batches = _batches(market, comps)
    # a batch that failed: a part needs the local search (hard, and harder side by side), so
    # its components are cleared one by one (again side by side)
    together, alone = _batches_then_alone(clear_batch, batches)
    for b, batch in enumerate(batches):
        answer, own = together[b]
        prog.merge(own)  # in the batches' order, whatever finished first (rule 9)
        failed = isinstance(answer, StageReport) and len(batch) > 1
        left = range(len(batch)) if failed else _left(answer)
        answers = [] if failed else [
            (Component.union([p for c, p in enumerate(batch) if c not in left]), answer)]
        for c in left:  # the parts of a failed batch, or those that left the batch
            part, own = alone[b, c]()
            prog.merge(own)
            answers.append((batch[c], part))
        for comp, ans in answers:
            if isinstance(ans, StageReport):
                _give_up(prog, comp, market, ans)
                uncleared.update(int(k) for k in comp.contracts)
                continue
            fills[comp.orders] = ans.fills
            ticks.update(ans.ticks)
            relaxed.update(ans.relaxed)
            uncleared.update(int(k) for k in ans.halted)

    prices, off_grid = all_prices(market, ticks, uncleared, params.replication)
    if off_grid:
        prog.notes.append(
            f"{len(off_grid)} contract(s) without orders to clear ({_ids(market, off_grid)}) "
            "not priced: their replication is off their tick grid or outside their band; listed uncleared")
        uncleared = uncleared | set(off_grid)
    cid = market.contract_ids
    traded_orders = np.flatnonzero(fills)
    result = ClearingResult(
        {int(cid[k]): t for k, t in prices.items()},
        tuple(map(Fill, market.order_ids[traded_orders].tolist(),
                  fills[traded_orders].tolist())),
        frozenset(int(cid[k]) for k in uncleared))
    status = (SolveStatus.TIME_LIMIT if prog.timed_out else
              SolveStatus.NOT_CLEARED if uncleared - set(off_grid) else SolveStatus.OPTIMAL)
    lp_volume = round(sum(prog.lp_volume.values()))
    traded = int(market.vol @ fills)
    if lp_volume:
        prog.notes.append(f"volume {traded} lots; the welfare LP (fractional packages) trades "
                          f"{lp_volume}: gap {1 - traded / lp_volume:.2%}")
    blocked = int(_touching(market, np.arange(market.n_orders),
                            np.array(sorted(uncleared), dtype=np.int64)).sum())
    if blocked:
        prog.notes.append(f"{'TIME LIMIT: ' if prog.timed_out else ''}{blocked} of "
                          f"{market.n_orders} orders ({blocked / market.n_orders:.1%}) touch "
                          "uncleared or halted contracts and were not cleared")
    uses = tuple((int(market.order_ids[i]), kind) for i, kind in sorted(relaxed.items()))
    if uses:
        prog.notes.append(f"§4a relaxations on {len(uses)} of {market.n_orders} orders "
                          f"({len(uses) / max(market.n_orders, 1):.2%}): "
                          f"{sum(k == 'rounding' for _, k in uses)} within the rounding "
                          f"allowance, {sum(k == 'short' for _, k in uses)} one package short")
    return SolveOutcome(status, result, params, prog.reports(), time.perf_counter() - start,
                        highs.version(), len(comps), tuple(prog.notes), uses, blocked,
                        lp_volume)


def _left(answer) -> tuple[int, ...]:
    """The parts of a batch that left it (their answers are each part's alone): none when
    ``answer`` is not a batch's :class:`_Cleared`."""
    return getattr(answer, "left", ())


def _batches_then_alone(work, batches: list[list[Component]]):
    """``work(batch, in_doubt)`` of every batch, and ``work([component])`` of every component
    of a batch that fails or that left its batch (:func:`_left`): each batch's answer (in the
    batches' order) and, per (batch, component), a function giving the component's answer
    alone — to be called only for a batch that failed or a part that left.

    On one thread: the batches, then the components of the failed ones. On ``WORKERS``
    threads, as soon as a batch of several is in doubt (``in_doubt()``: its route failed beyond
    the allocation — price selection found no grid prices for it — and it fails as a whole:
    alone a part would search before dropping anything; or a part without indivisible orders
    at the money does not balance) its components are queued behind the batches left (largest
    first), so a thread with no batch left clears them alone while the batch is still being
    cleared — the work its failure needs next, started early on a spare core; so are the parts
    that leave it (``in_doubt(parts)``, :func:`_clear`), whose answers alone are needed anyway.
    A component whose batch cleared after all (without it leaving) is skipped, or stopped (its
    next solves return at once) if it started. An
    answer depends only on the book, the component and the parameters (the clock only as the
    deadline), so which thread computed it, and when, changes nothing (rule 9)."""
    multi = [b for b, batch in enumerate(batches) if len(batch) > 1]
    tasks = len(batches) + sum(len(batches[b]) for b in multi)
    workers = _workers(tasks)
    if workers <= 1:
        together = [work(batch, lambda parts=None: None) for batch in batches]
        return together, {(b, c): (lambda comp=comp: work([comp]))
                          for b in multi for c, comp in enumerate(batches[b])}
    # called when the batch cleared and the part did not leave it
    stop = {(b, c): highs.Cancel() for b in multi for c in range(len(batches[b]))}
    later: dict[tuple[int, int], object] = {}
    lock = threading.Lock()

    with ThreadPoolExecutor(workers) as pool:

        def alone_task(b: int, c: int):
            if stop[b, c].called:
                return None
            with highs.cancelled_by(stop[b, c]):
                return work([batches[b][c]])

        def start_alone(b: int, parts: tuple[int, ...] | None = None) -> None:
            with lock:
                todo = [c for c in (range(len(batches[b])) if parts is None else parts)
                        if (b, c) not in later]
                for c in sorted(todo, key=lambda c: -len(batches[b][c].orders)):
                    later[b, c] = pool.submit(alone_task, b, c)

        def batch_task(b: int):
            answer, own = work(batches[b], (lambda parts=None: start_alone(b, parts))
                               if b in multi else lambda parts=None: None)
            if b in multi and not isinstance(answer, StageReport):
                for c in set(range(len(batches[b]))) - set(_left(answer)):
                    stop[b, c]()
            return answer, own

        futures = {b: pool.submit(batch_task, b)
                   for b in sorted(range(len(batches)),
                                   key=lambda b: -sum(len(c.orders) for c in batches[b]))}
        together = [futures[b].result() for b in range(len(batches))]
        for b in multi:  # failed without doubt first (a deadline, the exact check): now
            answer = together[b][0]
            start_alone(b, None if isinstance(answer, StageReport) else _left(answer))
        with lock:
            return together, {bc: f.result for bc, f in later.items()}


def _cores() -> int:
    return os.cpu_count() or 1


def _workers(tasks: int) -> int:
    """Threads clearing ``tasks`` batches (or components) side by side."""
    return min(WORKERS, _cores(), tasks)


class _Busy:
    """How many batches are being cleared at the moment (a context per batch)."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self._n += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._n -= 1

    def spare(self) -> bool:
        """A core no batch uses. The speculative local search starts only then: beside as many
        batches as cores it takes their CPU. Results are the same either way (it is a head
        start on work the pipeline does anyway when the direct route fails, never a choice)."""
        with self._lock:
            return self._n < _cores()


def _ids(market: Market, contracts: list[int]) -> str:
    ids = [str(int(market.contract_ids[k])) for k in contracts[:8]]
    return ", ".join(ids) + (", …" if len(contracts) > 8 else "")


def _batches(market: Market, comps: list[Component]) -> list[list[Component]]:
    """Components in entry order, the small ones (a solver call each costs more than its
    model) gathered into batches of about ``BATCH_ORDERS`` orders.

    **A component of ``stages.ALONE_ORDERS`` orders or more is a batch of its own** — the
    size from which the allowance's blocks get a model each (:func:`stages.allocation_mip`),
    for the same reason: below it a solver call costs more than the model, above it the
    model costs more than the call, and batching saves only calls. A large part in a batch
    saves little and costs the others much: every round the batch needs (indivisible orders
    dropped, a part leaving, the batch failing and every part cleared again) solves its model
    again. A batch gives each part its answer alone (:func:`_clear`; its welfare LP's
    classification alone, :func:`_welfare_lp`), so only the time changes (stop 27:
    orders_1k 0.42 → 0.32 s CPU, mixed_2k 0.42 → 0.34, aon_heavy's thrown away batch gone)."""
    out: list[list[Component]] = []
    batch: list[Component] = []
    size = 0
    for comp in sorted(comps, key=lambda c: int(c.orders[0])):
        if len(comp.orders) >= ALONE_ORDERS or _sweepable(market, comp):
            out.append([comp])
            continue
        batch.append(comp)
        size += len(comp.orders)
        if size >= BATCH_ORDERS:
            out.append(batch)
            batch, size = [], 0
    if batch:
        out.append(batch)
    return out


def _sweepable(market: Market, comp: Component) -> bool:
    """One contract traded by single-leg orders only."""
    return len(comp.contracts) == 1 and bool(np.all(np.diff(market.legs[comp.orders].indptr) == 1))


def _clear(market: Market, comp: Component, params: SolverParams, deadline: float,
           prog: _Progress, searching: bool = True,
           spare_core: Callable[[], bool] = lambda: True,
           in_doubt: Callable[..., None] = lambda parts=None: None,
           parts: list[Component] | None = None) -> _Cleared | StageReport:
    """Fills, contract ticks and atomic prices of one component, or the report of the stage
    that failed. ``searching=False``: only the direct route, no local search. ``parts``: the
    independent components ``comp`` is the union of (a batch), when more than one.

    When the stages fail, indivisible orders at the money drop out (they may stay unfilled,
    auction.md §4 rule 2) and they run again — in a batch only those of the parts whose own
    allocation does not balance (:func:`_unbalanced`); when none is left and the local search
    failed too, contracts whose band no equilibrium keeps are halted (the circuit breaker:
    their orders wait for the next auction) and the rest starts over.

    **A batch follows alone**: a part whose route alone would differ from the batch's (it
    balances with the whole-package allowance, which alone its direct route takes, where the
    batch would drop its indivisible orders: :func:`_unbalanced`) leaves the batch — its
    answer is its own alone (``in_doubt(parts)`` is told, the answer's ``left`` lists it) —
    and the other parts go on together; when fewer than two would be left, the batch fails
    and every part is cleared alone.

    **Both routes below ``stages.ALONE_ORDERS`` orders** (auction.md §4a: the least priority
    loss first): where the allocation balances only with the whole-package allowance while
    indivisible orders are at the money, dropping them is the other way, and neither is
    better on every component (stop 26 round 3: of 7 such choices on the bench the drop route
    won 2). A component below ``ALONE_ORDERS`` orders (alone, not a batch) where that choice
    arose is cleared both ways — the allowance first (the direct route's), then dropping
    first in every round (from the allowance route's last round: the rounds before it are the
    same on both routes, :func:`_route`; not at all when the choice did not arise in that
    round) — and the better answer by :func:`_rank` is kept. The bound is a work
    limit, not a property of the answers (like ``LOCAL_NEIGHBOURHOODS``): below it both routes
    cost a few ms (the components batched, :func:`_batches`); above it the second route is a
    large component's last round and what follows it again (stop 29, from the last round:
    mixed_10k 0.37 → 0.72 s of solve wall, replication_heavy 0.33 → 0.59 s; both better by
    §4a there — README "Known limitations"), and the allowance's answer is kept. A batch
    drops first (a part with the choice leaves it, :func:`_unbalanced`), so a part clears as
    it does alone."""
    if deadline <= time.perf_counter():
        return StageReport("deadline", status="time_limit")
    prog.component = int(comp.orders[0])
    if _sweepable(market, comp):
        swept = _sweep(market, comp, prog)
        if isinstance(swept, _Cleared):  # exact: a sweep is its own relaxation
            prog.lp_volume[prog.component] = float(market.vol[comp.orders] @ swept.fills)
        return swept
    if parts is not None and len(parts) > 1:
        return _route(market, comp, params, deadline, prog, searching, spare_core, in_doubt,
                      parts, drop_first=True)
    if len(comp.orders) >= ALONE_ORDERS:
        return _route(market, comp, params, deadline, prog, searching, spare_core, in_doubt,
                      parts)
    choice = {"arose": False}
    allow = _Progress(component=prog.component)
    second = _route(market, comp, params, deadline, allow, searching, spare_core, in_doubt,
                    parts, choice=choice)
    if not choice["arose"]:  # not in the last round: dropping first gives the same answer
        prog.merge(allow)
        return second
    # the drop route's rounds before the allowance route's last one are that route's own
    # (:func:`_route`, ``choice``): it starts at the last round, as the allowance route left it
    drop = _Progress(component=prog.component)
    first = _route(market, comp, params, deadline, drop, searching, spare_core, in_doubt,
                   parts, drop_first=True, start=choice["start"])
    if isinstance(first, StageReport) or isinstance(second, StageReport):
        keep = int(isinstance(first, StageReport) and not isinstance(second, StageReport))
    else:
        keep = int(not _rank(market, comp, first) < _rank(market, comp, second))
    # a tie keeps the allowance's answer (the route a component of ALONE_ORDERS or more takes).
    # The losing route's time limit is merged too: had it not stopped early, its answer might
    # have won, so the result depends on the limit (rule 9) and TIME_LIMIT says so
    for n, p in enumerate((drop, allow)):
        if n != keep:  # its stages ran: their time counts; its notes describe another answer
            p.notes.clear()
            p.lp_volume.clear()
        prog.merge(p)
    return (first, second)[keep]


def _rank(market: Market, comp: Component, answer: _Cleared) -> tuple:
    """The order of two answers for one component: orders touching halted contracts (not
    cleared), §4a's priority loss, then rules 4–6 (volume, surplus at the money, distance
    of the prices to the references); smaller is better."""
    o = comp.orders
    priced = ~_touching(market, o, answer.halted)
    ticks = np.array([answer.ticks.get(int(k), 0) for k in comp.contracts], dtype=np.int64)
    cleared = o[priced]
    fills = answer.fills[priced]
    gap, loss = loss_at(market, Component(cleared, comp.atomics, comp.contracts), fills, ticks)
    at_money = ~market.indivisible[cleared] & (gap == 0)
    surplus = int(((market.q[cleared] - fills) * market.vol[cleared])[at_money].sum())
    distance = sum(abs(t - float(market.ref_ticks[k])) for k, t in answer.ticks.items())
    return int((~priced).sum()), loss, -int(market.vol[o] @ answer.fills), surplus, distance


def _route(market: Market, comp: Component, params: SolverParams, deadline: float,
           prog: _Progress, searching: bool, spare_core: Callable[[], bool],
           in_doubt: Callable[..., None], parts: list[Component] | None,
           drop_first: bool = False, choice: dict | None = None, start: tuple | None = None
           ) -> _Cleared | StageReport:
    """:func:`_clear`'s rounds on one route: the whole-package allowance before dropping
    indivisible orders at the money (``choice`` told when that was a choice), or dropping
    them first (``drop_first``).

    **Only the last round differs** (a component alone, not a batch): a round where the
    choice does not arise is the same on both routes (the allowance is not tried, or not
    balanced: the same failure, the same orders dropped), and one where it arises and that
    fails drops the same orders as dropping first does at once (the indivisible orders at the
    money; issue 17, campaign s47009: a 147-order component's ten rounds, cleared twice). So
    ``choice["arose"]`` tells whether the choice arose in the route's last round, and
    ``choice["start"]`` is the route's state when that round began; the drop route starts
    there (``start``) — before, it would clear the same rounds again, and where the choice
    arose only in an earlier round its answer would be the allowance route's."""
    o = comp.orders
    live = comp
    halted = np.zeros(0, dtype=np.int64)
    notes = len(prog.notes)
    batch_parts = parts
    rounds: list[np.ndarray] = []  # the indivisible orders dropped, round by round
    cores = 0  # contracts halted for an infeasible core (CORE_HALTS)
    # the local searches that found nothing since the route last lost more than indivisible
    # orders at the money: gated in the rounds after (_stages, ``barren``)
    barren: set[tuple] = set()
    if start is not None:  # the allowance route's state at its last round (above)
        live, halted, dropped, earlier, timed_out, was_barren = start
        barren = set(was_barren)
        rounds = list(dropped)
        prog.notes.extend(earlier)
        prog.timed_out |= timed_out
    allowance = False  # a batch's round again with the allowance (none of its parts drops)
    shadow: list[str] = []  # the notes the drop route has at this round (``choice``)
    began = seen = len(prog.notes)  # this round's first note, the first after its stages
    while True:
        if choice is not None:  # this round's (above)
            if "start" in choice:  # the last round's notes, but the stages' where it arose
                shadow += prog.notes[(seen if choice["arose"] else began):]
            began = len(prog.notes)
            choice["arose"] = False
            choice["start"] = (live, halted, list(rounds), list(shadow), prog.timed_out,
                               frozenset(barren))
        if not len(live.orders):  # every order touched a halted contract
            answer = (np.zeros(0, dtype=np.int64), _no_prices(live))
            break
        answer = _stages(market, live, params, deadline, prog, searching, spare_core,
                         drop_first and not allowance, choice,
                         parts if parts is not None and len(parts) > 1 else None, barren)
        seen = len(prog.notes)  # the stages' notes before, the route's own after
        retried, allowance = allowance, False
        if not isinstance(answer, _Failed):
            break
        batch = parts is not None and len(parts) > 1
        if answer.report.name != "allocation_mip":  # not only indivisible orders in the way
            in_doubt()
            if batch:  # alone, a part would search before it drops anything: so it shall
                del prog.notes[notes:]
                return answer.report
        drop, leave = _unbalanced(market, live, parts, answer, params, deadline, prog) \
            if len(answer.atm_indivisible) else (answer.atm_indivisible, [])
        if drop is None and batch and answer.cls is not None and drop_first and not retried:
            # every part with indivisible orders at the money balances in whole packages (no
            # choice): the failure is another part's — the round again, the allowance allowed
            allowance = True
            continue
        if drop is None or (leave and len(parts) - len(leave) < 2):
            # the parts that fail have no indivisible orders to drop (alone they search), or
            # too few parts would be left to batch: each part is cleared alone
            in_doubt()
            del prog.notes[notes:]
            return answer.report
        if leave:  # cleared alone (in_doubt starts them); the others go on as a batch
            barren.clear()  # another model: its searches as new
            in_doubt(tuple(c for c, p in enumerate(batch_parts) if any(p is q for q in leave)))
            parts = [p for p in parts if all(p is not q for q in leave)]
            comp = Component.union(parts)
            o = comp.orders
            live = Component(live.orders[np.isin(live.orders, o)], comp.atomics, comp.contracts)
            prog.lp_volume.pop(prog.component, None)  # the batch's LP, with the parts that left
            prog.component = int(o[0])
            rounds = [d[np.isin(d, o)] for d in rounds]
            prog.notes[notes:] = [_drop_note(d) for d in rounds if len(d)]
        if len(drop):
            keep = ~np.isin(live.orders, drop)
            live = Component(live.orders[keep], live.atomics, live.contracts)
            rounds.append(drop)
            prog.notes.append(_drop_note(drop))
        elif leave:  # the others go on
            continue
        elif searching and len(answer.breached) and answer.report.status != "time_limit":
            halted = np.union1d(halted, answer.breached)
            live = _without(market, live, answer.breached)
            barren.clear()  # a contract less: another model, its searches as new
            prog.notes.append(_halt_note(market, answer.breached))
        elif searching and not batch and answer.report.status != "time_limit" \
                and cores < CORE_HALTS and len(live.orders) <= CORE_ORDERS \
                and (core := _core(market, live, params, deadline, prog)) is not None:
            # nothing left to drop or halt, and no §4a answer in the bands at all (proven): the
            # circuit breaker for the contracts of an infeasible core (README "Decisions")
            cores += 1
            contracts, note = core
            barren.clear()
            halted = np.union1d(halted, contracts)
            live = _without(market, live, contracts)
            prog.notes.append(note)
        else:
            del prog.notes[notes:]
            return answer.report
    fills_live, prices = answer
    ticks_live = prices.ticks
    if len(live.orders):
        # §4a: the least priority loss at the answer's prices; indivisible orders dropped at
        # the money in an earlier round offered again there, in the same MIP — those whose
        # contracts all have prices in the answer (a halt after the drop may have left a
        # contract that only dropped orders traded out of ``live``)
        dropped = _without(market, comp, halted).orders
        dropped = dropped[~np.isin(dropped, live.orders)]
        dropped = dropped[~_touching(market, dropped, np.setdiff1d(
            np.unique(market.legs[dropped].indices), live.contracts))]
        offered = None
        if len(dropped):
            every = np.union1d(live.orders, dropped)
            offered = np.isin(every, dropped)
            ext = np.zeros(len(every), dtype=np.int64)
            ext[~offered] = fills_live
            live = Component(every, live.atomics, live.contracts)
            fills_live = ext
        least = _least_loss(market, live, fills_live, ticks_live, params, deadline, prog,
                            offered)
        if least[0] is not fills_live:  # the notes on shorts are the new answer's
            fills_live, ticks_live = least
            _drop_short_notes(prog, notes)
            _note_short(prog, sum(k == "short" for k in
                                  _relaxed(market, live, fills_live, ticks_live).values()))
        if offered is not None:
            regained = int((offered & (fills_live > 0)).sum())
            if regained:
                prog.notes.append(f"{regained} indivisible order(s) left unfilled at the money "
                                  "in an earlier round filled at the answer's prices")
            else:  # the component as the stages left it
                live = Component(live.orders[~offered], live.atomics, live.contracts)
                fills_live = fills_live[~offered]
        # per independent part (a batch's parts as each alone: the same answer either way)
        small = [part for part in (parts if parts is not None and len(parts) > 1 else [comp])
                 if len(part.orders) <= max(WIDE_ORDERS, WIDE_LADDER_ORDERS)]
        uses = np.fromiter(_relaxed(market, live, fills_live, ticks_live), dtype=np.int64) \
            if small else np.zeros(0, dtype=np.int64)
        wide = [(part, _wide(market, part, live, fills_live, ticks_live, halted, params,
                             deadline, prog)) for part in small if np.isin(uses, part.orders).any()]
        if any(w is not None for _, w in wide):
            every = np.union1d(live.orders, np.concatenate([p.orders for p, w in wide if w]))
            ext = np.zeros(len(every), dtype=np.int64)
            ext[np.searchsorted(every, live.orders)] = fills_live
            ticks_live = ticks_live.copy()
            for part, w in wide:
                if w is not None:
                    ext[np.searchsorted(every, part.orders)] = w[0]
                    ticks_live[np.searchsorted(live.contracts, part.contracts)] = w[1]
            live = Component(every, live.atomics, live.contracts)
            fills_live = ext
            _drop_short_notes(prog, notes)
            _note_short(prog, sum(k == "short" for k in
                                  _relaxed(market, live, fills_live, ticks_live).values()))
        probed = _probe(market, live, fills_live, ticks_live, params, deadline, prog)
        if probed is not None:
            fills_live, ticks_live = probed
            _drop_short_notes(prog, notes)  # no longer true
    fills = np.zeros(len(o), dtype=np.int64)
    fills[np.searchsorted(o, live.orders)] = fills_live
    priced = ~_touching(market, o, halted)
    if not _exact_ok(market, _without(market, comp, halted), fills[priced], ticks_live,
                     live.contracts):
        del prog.notes[notes:]
        return StageReport("exact_check", status="violated")
    ticks = {int(k): int(t) for k, t in zip(live.contracts, ticks_live, strict=True)}
    left = () if parts is batch_parts else tuple(
        c for c, p in enumerate(batch_parts) if all(p is not q for q in parts))
    return _Cleared(fills, ticks, halted, _relaxed(market, live, fills_live, ticks_live), left)


def _drop_note(drop: np.ndarray) -> str:
    return f"{len(drop)} indivisible order(s) at the money left unfilled"


def _wide(market: Market, part: Component, live: Component, fills: np.ndarray,
          ticks: np.ndarray, halted: np.ndarray, params: SolverParams, deadline: float,
          prog: _Progress) -> tuple[np.ndarray, np.ndarray] | None:
    """§4a and rule 4 over the whole price box, on a small independent part (stop 27). The
    stages look for equilibria near the welfare LP's prices (the allocation there, the local
    search's neighbourhoods, the probe's one step); whole packages and all-or-none orders can
    put the exact equilibria, and those with the most volume, far from them
    (docs/performance.md, "Stop 27": 21 of 26 random 60-order books whose answer relaxed rule
    2 had an exact one). For an answer (``fills`` of ``live``'s orders at ``ticks`` of its
    contracts) that uses a §4a relaxation in ``part``, when ``part`` has at most
    ``WIDE_ORDERS`` orders and no halted contract, the local search runs over it with every
    order near (the whole band box; every order of the part, those dropped at the money
    included) for exact equilibria (no rounding allowance). A part of up to
    ``WIDE_LADDER_ORDERS`` orders gets the neighbourhoods of ``WIDE_LADDER`` instead, nearest
    first, then (parts of at most ``WIDE_BOX_ORDERS`` orders) the whole box, until one finds a
    better answer: ungated the whole box costs ~2 s of CPU at 313 orders, 64 ticks 0.6-0.9 s
    and finds campaign seed 17 book 3's exact equilibria (11 forward ticks from the LP's
    prices); campaign s35003's 125-order part has its only beyond 64 ticks
    (tests/solver_models/test_fresh_books.py). Each of these rungs is gated
    (``local_mip(gate=True)``, stop 28; the whole box since branch box17): the search runs
    only when the root node of its feasibility model finds an exact equilibrium, then without
    strong branching and node-limited (``params.local_nodes``); deterministic limits only
    (rule 9). Ungated, a rung cost 0.6-8.9 s of CPU whatever its node limit, mostly finding
    nothing (campaign seed 17 books 9 and 25); a gate that finds nothing costs one root
    (0.1-0.6 s there). The bound on the part's size is the cost's: the relaxed parts of
    mixed_2k (871-885 orders) have no exact equilibrium within 64 ticks and the two searches
    would add 40 % to its time. Its answer,
    priced, replaces the stages' when better by (priority loss, volume): the part's fills (over
    ``part.orders``) and ticks (over ``part.contracts``). ``None``: the stages' answer stands."""
    o = part.orders
    ladder = (WIDE_NEAR,) if len(o) <= WIDE_ORDERS else (*WIDE_LADDER, WIDE_NEAR) \
        if len(o) <= WIDE_BOX_ORDERS else WIDE_LADDER
    if len(o) > max(WIDE_ORDERS, WIDE_LADDER_ORDERS) or np.isin(part.contracts, halted).any() \
            or not np.isin(part.contracts, live.contracts).all() \
            or deadline <= time.perf_counter():
        return None
    ext = np.zeros(len(o), dtype=np.int64)
    mine = np.isin(live.orders, o)
    ext[np.searchsorted(o, live.orders[mine])] = fills[mine]
    t = ticks[np.searchsorted(live.contracts, part.contracts)]
    # called only where §4a is used (the caller: a relaxed order in ``part``); leaving an
    # indivisible order in the money unfilled (rule 2's exception) too would search 12 parts
    # of aon_heavy (+0.19 s of CPU, one answer better) and 4 of mixed_2k (+0.09 s, none)
    _, loss = loss_at(market, part, ext, t)
    cls = welfare_lp(market, part, params, deadline - time.perf_counter())
    if not isinstance(cls, Classification):
        return None
    # exact equilibria only (no rounding allowance): §4a's loss 0, the only answer that beats a
    # relaxed one whatever its volume; relaxed answers are the stages' (near the LP's prices)
    exact = replace(market, allowance=np.zeros_like(market.allowance))
    best = None
    for near in ladder:
        if deadline <= time.perf_counter():
            break
        found = local_mip(exact, part, cls.reduced, near, params, deadline - time.perf_counter(),
                          gate=len(o) > WIDE_ORDERS)
        prog.add(replace(found.report if isinstance(found, LocalEquilibrium) else found,
                         name="wide_search"))
        if not isinstance(found, LocalEquilibrium):
            continue
        prices = _prices(market, part, found.fills, found.atm, found.ticks, params, deadline,
                         prog)
        if not isinstance(prices, Prices):
            continue
        _, new_loss = loss_at(market, part, found.fills, prices.ticks)
        volume, new_volume = int(market.vol[o] @ ext), int(market.vol[o] @ found.fills)
        if (new_loss, -new_volume) < (loss, -volume):
            best = found, prices, new_loss, new_volume
            break
    if best is None:
        return None
    found, prices, new_loss, new_volume = best
    where = "over the whole price box" if near == WIDE_NEAR else f"within {near} ticks"
    prog.notes.append(f"the exact search {where} found a better answer (§4a, rule "
                      f"4): priority loss {loss} -> {new_loss} (10^-{market.money_places}), "
                      f"volume {volume} -> {new_volume} lots")
    return found.fills, prices.ticks


def _unbalanced(market: Market, live: Component, parts: list[Component] | None,
                failed: _Failed, params: SolverParams, deadline: float, prog: _Progress
                ) -> tuple[np.ndarray | None, list[Component]]:
    """The indivisible orders at the money to drop after the allocation failed, and the parts
    of a batch that leave it. Alone, a component drops its own when its allocation balances
    neither in whole packages nor with the whole-package allowance (its direct route takes
    the allowance where that balances). A batch's allocation fails when one of its parts'
    does, and the parts are independent: so in a batch each part with indivisible orders at
    the money does what it would alone (at the batch's classification, which is its own):
    a part whose allocation balances in whole packages keeps them; one that balances only
    with the allowance leaves the batch (alone its direct route takes the allowance, and below
    ``ALONE_ORDERS`` orders dropping them is cleared too: so it shall, :func:`_clear`); one
    that balances with neither drops them. All of them and no
    part leaving when ``live`` is one part; None when no part drops or leaves (the failure is
    a part's without indivisible orders at the money: alone it takes the allowance, so the
    batch's round runs again with it, :func:`_clear`, or it would search, so the batch fails
    and its parts are cleared alone)."""
    drop = failed.atm_indivisible
    cls = failed.cls
    if parts is None or len(parts) < 2:
        return drop, []
    if cls is None:  # not the allocation's infeasibility: alone a part would search
        return None, []
    o = live.orders
    out, leave = [], []
    for part in parts:
        mine = np.isin(o, part.orders)
        own = drop[np.isin(drop, part.orders)]
        if not len(own):
            continue
        sub = Classification(cls.itm[mine], cls.otm[mine], cls.atm[mine], cls.reduced[mine],
                             cls.ticks, cls.report)
        piece = Component(o[mine], part.atomics, live.contracts)
        if _balances(market, piece, sub, params, deadline, prog, short=False):
            continue
        if _balances(market, piece, sub, params, deadline, prog, short=True):
            leave.append(part)
        else:
            out.append(own)
    if not out:
        return (np.zeros(0, dtype=np.int64) if leave else None), leave
    return np.sort(np.concatenate(out)), leave


def _balances(market: Market, comp: Component, cls: Classification, params: SolverParams,
              deadline: float, prog: _Progress, short: bool) -> bool:
    """Whether an allocation balances (in whole packages, or with the whole-package allowance
    when ``short``), no more: the optimum is not used, so HiGHS stops at its first allocation
    (aon_heavy: a 280-column part that balances, 0.062 → 0.046 s). Not proven infeasible (a
    limit) counts as balancing, as on the direct route (which then does not drop)."""
    alloc = allocation_mip(market, comp, cls, params, deadline - time.perf_counter(), short,
                           feasibility=True)
    rep = alloc.report if isinstance(alloc, Allocation) else alloc
    prog.add(rep)
    return rep.status != "infeasible"


def _least_loss(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray,
                params: SolverParams, deadline: float, prog: _Progress,
                offered: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """§4a at the answer's prices (:func:`stages.least_loss`): the fills decided again there,
    the least priority loss first, then priced again (price selection's least rounding can
    only lower that loss; rules 5–6 for the new fills). When that moves the prices, the fills
    are decided once more at the new prices and kept with them, so that the answer's fills
    always have the least loss (then the most volume) at the answer's prices among the
    allocations :func:`stages.least_loss` considers. The fills published with the final
    prices (the last step's, or the answer's when the first step kept them) are decided there
    with rule 5 too (``rule5``: loss, volume, then the least surplus); the first step keeps
    (loss, volume) only. ``offered``: indivisible orders dropped
    at the money in an earlier round (unfilled in ``fills``), offered again at those prices in
    the same MIP (:func:`stages.least_loss`; once one in or at the money, the prices moved
    since it was dropped, may find its counterparts) — one MIP where the regain of stop 25
    solved one of its own beside it. The answer unchanged when there is nothing to do, or a
    stage fails."""
    alloc = _loss_step(market, comp, fills, ticks, params, deadline, prog, offered)
    if alloc is None:
        # the answer's fills kept at ``ticks``: rule 5 there too when least loss had
        # something to decide (a loss, or an order offered in or at the money)
        gap, loss = loss_at(market, comp, fills, ticks)
        if loss == 0 and (offered is None or not np.any(offered & (gap >= 0))):
            return fills, ticks
        again = _loss_step(market, comp, fills, ticks, params, deadline, prog, offered,
                           rule5=True)
        return (fills if again is None else again.fills), ticks
    gap, _ = loss_at(market, comp, alloc.fills, ticks)
    free = (gap >= 0) & (gap <= market.allowance[comp.orders])
    if offered is not None:  # indivisible orders in or at the money watched too
        free |= market.indivisible[comp.orders] & (gap >= 0)
    prices = _prices(market, comp, alloc.fills, free, ticks.astype(float), params, deadline,
                     prog, alloc.short)
    moved = isinstance(prices, Prices) and not np.array_equal(prices.ticks, ticks)
    new = prices.ticks if moved else ticks
    # one package short only where no marginal order can give way at the prices (as a route)
    fills = alloc.fills if alloc.short is None else give_way(market, comp, alloc.fills, new)
    if not _exact_ok(market, comp, fills, new, comp.contracts):
        return alloc.fills, ticks
    # the fills published with ``new`` decided once more there, with rule 5: the least loss,
    # the most volume, then the least surplus at those prices (the first step's ties are
    # left as they were: another tie at ``ticks`` leads price selection elsewhere, where
    # the loss may be larger)
    again = _loss_step(market, comp, fills, new, params, deadline, prog,
                       None if offered is None else offered & (fills == 0), rule5=True)
    return (fills if again is None else again.fills), new


def _loss_step(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray,
               params: SolverParams, deadline: float, prog: _Progress,
               offered: np.ndarray | None = None, rule5: bool = False) -> Allocation | None:
    """:func:`stages.least_loss` at ``ticks`` (``offered``: as there), its report recorded:
    the new allocation (an equilibrium at ``ticks``, checked in exact integers), or None."""
    alloc = least_loss(market, comp, fills, ticks, params, deadline - time.perf_counter(),
                       offered, rule5)
    if alloc is None:
        return None
    prog.add(alloc.report if isinstance(alloc, Allocation) else alloc)
    if not isinstance(alloc, Allocation) \
            or not _exact_ok(market, comp, alloc.fills, ticks, comp.contracts):
        return None
    return alloc


@dataclass(frozen=True)
class _Cleared:
    fills: np.ndarray  # packages per order of the component
    ticks: dict[int, int]  # contract index -> ticks, for the component's cleared contracts
    halted: np.ndarray  # contract indices halted: no equilibrium keeps them in their bands
    relaxed: dict[int, str] = field(default_factory=dict)  # order index -> §4a relaxation
    # a batch's parts (indices) that left it: cleared alone, not in ``fills`` (_clear)
    left: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Failed:
    report: StageReport
    atm_indivisible: np.ndarray  # indivisible orders at the money when the allocation failed
    breached: np.ndarray  # contracts whose band no equilibrium keeps (the welfare LP's keepers)
    cls: Classification | None = None  # the classification whose allocation failed


def _relaxed(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray
             ) -> dict[int, str]:
    """The §4a relaxations a component's answer uses, per order index: a divisible order in
    the money (exact integers, at ``ticks``) not filled completely — ``"short"`` when one
    package short beyond its rounding allowance, else ``"rounding"``."""
    o = comp.orders
    gap = market.limit[o] - market.money(o, comp.contracts) @ ticks
    q = market.q[o]
    idx = np.flatnonzero(~market.indivisible[o] & (gap > 0) & (fills < q))
    return {int(o[i]): "rounding" if gap[i] <= market.allowance[o[i]] else "short"
            for i in idx}


PROBE_SOLVES = 24  # allocation MIPs one component's probe may run at most


def _probe(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray,
           params: SolverParams, deadline: float, prog: _Progress
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """§4a's probe: an answer that uses a relaxation is wrong when moving one atomic
    instrument's price by one step admits an exact equilibrium. For each instrument of the
    component and each direction, every contract on it moves by one step of the instrument
    (the least common multiple of its contracts' ticks, so every price stays on its grid),
    every order is classified there in exact integers (in, at or out of the money, no
    allowance) and the allocation MIP looks for whole packages that balance — an exact
    equilibrium at those prices by construction. The instruments of the relaxed orders come
    first; a move that leaves every order's class as it is at the answer's prices (or as at
    a move already tried) is not solved again, and at most ``PROBE_SOLVES`` MIPs run
    (deterministic). The exact equilibrium with the most volume (then the least distance to
    the reference prices; then the first found) replaces the relaxed answer; None when there
    is none, or nothing was relaxed."""
    relaxed = _relaxed(market, comp, fills, ticks)
    if not relaxed:
        return None
    o = comp.orders
    kc = comp.contracts
    money = market.money(o, kc)
    limit = market.limit[o]
    terms = market.contract_terms[kc][:, comp.atomics].tocsc()
    places = max(decimal_places(market.book.contracts[int(c)].tick_size)
                 for c in market.contract_ids[kc])
    tick_units = np.array([int(market.book.contracts[int(c)].tick_size.scaleb(places))
                           for c in market.contract_ids[kc]], dtype=np.int64)
    # the relaxed orders' instruments first, then the others, each in index order
    exposure = market.exposure_in(o, comp.atomics)  # made once for every move's allocation
    mine = np.zeros(len(comp.atomics), dtype=bool)
    mine[np.unique(exposure[np.searchsorted(o, sorted(relaxed))].tocoo().col)] = True
    order = np.concatenate((np.flatnonzero(mine), np.flatnonzero(~mine)))

    def classes(t: np.ndarray) -> tuple[np.ndarray, bytes]:
        gap = limit - money @ t
        return gap, np.sign(gap).astype(np.int8).tobytes()

    seen = {classes(ticks)[1]}
    moves: list[np.ndarray] = []  # the prices of each MIP to run, in turn
    for j in order:
        rows = terms.indices[terms.indptr[j]:terms.indptr[j + 1]]
        coefs = terms.data[terms.indptr[j]:terms.indptr[j + 1]]
        if not len(rows):
            continue
        step = int(np.lcm.reduce(tick_units[rows]))
        for sign in (1, -1):
            t2 = ticks.copy()
            t2[rows] += sign * coefs * (step // tick_units[rows])
            if np.any(t2 < market.tick_lo[kc]) or np.any(t2 > market.tick_hi[kc]):
                continue
            _, key = classes(t2)
            if key in seen:
                continue
            seen.add(key)
            if len(moves) >= PROBE_SOLVES:
                break
            moves.append(t2)
    best = _probe_best(market, comp, moves, lambda t: classes(t)[0], params, deadline, prog,
                       exposure)
    if best is None:
        return None
    prog.notes.append("an exact equilibrium one step away replaced an answer with §4a "
                      "relaxations")
    return best[1], best[2]


def _probe_best(market: Market, comp: Component, moves: list[np.ndarray], gap_at,
                params: SolverParams, deadline: float, prog: _Progress, exposure
                ) -> tuple[tuple, np.ndarray, np.ndarray] | None:
    """The probe's answer over ``moves`` (the ticks of each, in turn; ``gap_at(t)``: every
    order's ``π − a·p`` there, exact, recomputed rather than kept — per order, per move, it
    would hold hundreds of MB on a 1M book): the allocation with the most volume, then the
    least distance to the reference prices, then the first move —
    the same as solving every move's allocation MIP in turn, with fewer MIPs: each move's
    volume is bounded first by an LP (:func:`stages.allocation_bound`, milliseconds against
    seconds for the MIP), the moves are solved from the highest bound down, and those whose
    bound is below the best volume found cannot win and are not solved (exact: a bound is never
    below the volume the MIP can return). ((vol, −dist), fills, ticks) or None."""
    o, kc = comp.orders, comp.contracts

    def classified(t2: np.ndarray) -> Classification:
        gap = gap_at(t2)
        return Classification(gap > 0, gap < 0, gap == 0, gap * 10.0 ** -market.money_places,
                              t2.astype(float), StageReport("probe"))

    bounds = []
    exposure_t = exposure.T.tocsr() if moves else None
    for t2 in moves:
        if deadline <= time.perf_counter():
            break
        bound, report = allocation_bound(market, comp, classified(t2), params,
                                         deadline - time.perf_counter(), exposure, exposure_t)
        prog.add(report)
        bounds.append(bound)
    best = None  # ((vol, -dist, -move), fills, ticks)
    for i in sorted(range(len(bounds)), key=lambda i: (-bounds[i], i)):
        bound, t2 = bounds[i], moves[i]
        if bound == -np.inf or (best is not None and bound < best[0][0]):
            break  # sorted: no later move can reach the best volume either
        if deadline <= time.perf_counter():
            break
        cls = classified(t2)
        alloc = allocation_mip(market, comp, cls, params, deadline - time.perf_counter(),
                               exposure=exposure)
        prog.add(replace(alloc.report if isinstance(alloc, Allocation) else alloc,
                         name="probe"))
        if not isinstance(alloc, Allocation):
            continue
        vol = int(market.vol[o] @ alloc.fills)
        dist = float(np.abs(t2 - market.ref_ticks[kc]).sum())
        if best is None or (vol, -dist, -i) > best[0]:
            best = ((vol, -dist, -i), alloc.fills, t2)
    return best


def _touching(market: Market, orders: np.ndarray, contracts: np.ndarray) -> np.ndarray:
    """Per order, whether it has a leg on one of ``contracts``."""
    if not len(contracts):
        return np.zeros(len(orders), dtype=bool)
    return np.asarray(abs(market.legs[orders][:, contracts]).sum(axis=1)).ravel() > 0


def _without(market: Market, comp: Component, contracts: np.ndarray) -> Component:
    """The component without ``contracts``, the orders touching them, and the contracts only
    those orders traded: like a contract without orders, such a contract is priced afterwards
    by replication and listed uncleared when that is off its grid or outside its band — its
    band does not bind the rest (README, rule 10)."""
    orders = comp.orders[~_touching(market, comp.orders, contracts)]
    traded = np.unique(market.legs[orders].indices)
    return Component(orders, comp.atomics, comp.contracts[np.isin(comp.contracts, traded)])


def _core(market: Market, live: Component, params: SolverParams, deadline: float,
          prog: _Progress) -> tuple[np.ndarray, str] | None:
    """The contracts of an infeasible core of ``live`` (:func:`core.infeasible_core`: no §4a
    answer inside the bands exists, proven by the engine's own model) and the note of their
    halt; None when the search proves nothing (a point, or undecided: a node or call limit)
    — nothing is halted on an unproven claim."""
    oracle = Oracle(market, live, params, deadline)
    found = infeasible_core(market, live, params, deadline, oracle=oracle)
    for r in oracle.reports:
        prog.add(replace(r, name="infeasible_core"))
    prog.timed_out |= oracle.timed_out  # the clock decided an answer: the result depends on it
    if found is None or not found.kept:  # no orders: bands alone (the band keepers' case)
        return None
    kept = live.orders[list(found.kept)]
    contracts = np.unique(market.legs[kept].indices)
    waiting = int(_touching(market, live.orders, contracts).sum())
    ids = ", ".join(str(int(i)) for i in market.order_ids[kept])
    return contracts, _halt_note(
        market, contracts,
        f"no equilibrium within the bands: an infeasible core of {len(kept)} orders on "
        f"these contracts (orders {ids}; {found.calls} oracle calls); {waiting} orders wait "
        "for the next auction")


def _halt_note(market: Market, contracts: np.ndarray,
               why: str = "no equilibrium keeps the price inside its band; their orders are "
                          "not filled in this auction") -> str:
    named = []
    for k in contracts:
        c = market.book.contracts[int(market.contract_ids[k])]
        strike = "" if c.strike is None else f" {c.strike}"
        lo, hi = (fmt(Fraction(c.tick_size) * int(t))
                  for t in (market.tick_lo[k], market.tick_hi[k]))
        named.append(f"{c.contract_id} ({c.payoff} {c.pair} {c.expiry:%Y%m%d}{strike}, "
                     f"prices [{lo}, {hi}])")
    return f"contract(s) {', '.join(named)} halted: {why}"


def _no_prices(comp: Component) -> Prices:
    """The prices of a part whose every contract was halted: nothing to choose."""
    return Prices(np.zeros(len(comp.contracts), dtype=np.int64), np.zeros(len(comp.atomics)), ())


def _stages(market: Market, comp: Component, params: SolverParams, t_end: float,
            prog: _Progress, searching: bool, spare_core: Callable[[], bool] = lambda: True,
            drop_first: bool = False, choice: dict | None = None,
            parts: list[Component] | None = None, barren: set[tuple] | None = None
            ) -> tuple[np.ndarray, Prices] | _Failed:
    """Welfare LP → allocation MIP → price selection, or the failed stage. When the allocation
    cannot balance while indivisible orders are at the money, those are returned to be dropped
    (cheap, and what usually blocks it). Otherwise, if searching: the local search around the
    LP's prices (its first neighbourhood started at once on a second core when the component
    is large, ``params.speculate`` and a core is spare) and the grid route (classify at the
    grid prices nearest the LP's, allocate, price). When the LP's prices are off the grid and
    no grid prices keep its classification (:func:`stages.grid_reachable`), the direct
    route's allocation MIPs only decide whether an allocation balances and its fills are not
    priced: chosen blind to the grid they would have prices only by chance (mixed_10k: never;
    the allocation MIP with the allowance cost 0.03–0.09 s of HiGHS per component for it).
    ``drop_first``: indivisible orders at the money are dropped before the whole-package
    allowance is tried; ``choice``: told when the allowance is used where they could have
    been (:func:`_allocate_and_price`, :func:`_clear`). ``parts``: the independent parts of a
    batch (:func:`_welfare_lp`). ``barren``: the route's local searches (neighbourhood,
    allowance, near orders short) that found nothing in an earlier round since the route last
    lost more than indivisible orders at the money (:func:`_route`); run gated in this round
    (:func:`stages.local_mip`: only when the root of its feasibility model finds a point, then
    without strong branching), and those finding nothing now are added. Campaign s66002
    (docs/performance.md, "Stop 30 — slow30"): its 3,985-order component's searches with the
    allowance at 4 steps, infeasible after 12 nodes and stopped at 500 nodes without a point,
    cost 31 s of CPU in round 0 (strong branching's ~100,000 LP iterations each) and again in
    round 1, one indivisible order fewer. A work rule, deterministic (rule 9)."""
    none = np.zeros(0, dtype=np.int64)
    before = frozenset(barren) if barren is not None else frozenset()
    cls = _welfare_lp(market, comp, params, t_end, parts)
    rep = cls.report if isinstance(cls, Classification) else cls
    prog.add(rep)
    if not isinstance(cls, Classification):
        return _Failed(rep, none, none)
    prog.lp_volume[prog.component] = cls.lp_volume  # the last one of a component counts

    whole = {"infeasible": False}  # the direct route's allocation in whole packages

    def local(near_ticks: int, cancel: highs.Cancel | None = None, allowance_only=False,
              gate: bool = False, near_short: bool = False):
        """The local search, and with the whole-package allowance if it is infeasible: the
        reports of both (they may run on another thread: no shared state) and the answer.
        ``allowance_only``: the search without the allowance is known to be infeasible.
        ``gate``: each search gated by its root (:func:`stages.local_mip`); no point at the
        root of the search without the allowance counts as its infeasibility.
        ``near_short``: only the search with the allowance, near orders short too."""
        found, reports = None, []
        # only the flags set (test spies of local_mip keep their older signatures)
        extra = {k: True for k, on in (("gate", gate), ("near_short", near_short)) if on}
        for short in (True,) if allowance_only or near_short else (False, True):
            # limited by ``local_nodes`` (deterministic: the same result on a busy machine,
            # rule 9); the clock only as the whole solve's deadline
            budget = t_end - time.perf_counter()
            key = (near_ticks, short, near_short)
            found = local_mip(market, comp, cls.reduced, near_ticks, params, budget, cancel,
                              short, **({**extra, "gate": True} if key in before else extra))
            reports.append(found.report if isinstance(found, LocalEquilibrium) else found)
            if barren is not None and isinstance(found, StageReport) \
                    and found.status in ("infeasible", "node_limit") \
                    and found.reason != PRICES_UNREACHABLE:
                barren.add(key)  # nothing found (no point, or none at its node limit)
            if not (isinstance(found, StageReport) and (found.status == "infeasible"
                                                        or found.reason == NO_ROOT_POINT)) \
                    or found.reason == PRICES_UNREACHABLE:  # the same with the allowance
                break
        return reports, found

    def priced(found: LocalEquilibrium) -> tuple[np.ndarray, Prices] | StageReport:
        """A search's answer priced (a search stopped at a limit noted), or price selection's
        report when it fails."""
        if found.report.status in ("time_limit", "node_limit"):  # volume not proven
            prog.timed_out |= found.report.status == "time_limit"
            limit = "time" if found.report.status == "time_limit" else "node"
            prog.notes.append(f"local search stopped at its {limit} limit with gap "
                              f"{found.report.gap:.2%}: volume not proven maximal")
        prices = _prices(market, comp, found.fills, found.atm, found.ticks, params, t_end, prog,
                         found.short)
        if not isinstance(prices, Prices):
            return prices
        return _short_where_needed(market, comp, found.fills, found.short, prices, prog)

    def _near_short(near_ticks: int) -> tuple | None:
        """The search with near orders short too at ``near_ticks``, gated by its root, priced:
        (the answer, its notes — kept aside, not yet in ``prog`` —, (loss, −volume) at its
        prices), or None."""
        reports, found = local(near_ticks, gate=True, near_short=True)
        for r in reports:
            prog.add(r)
        if not isinstance(found, LocalEquilibrium):
            return None
        mark = len(prog.notes)
        answer = priced(found)
        notes = prog.notes[mark:]
        del prog.notes[mark:]
        if isinstance(answer, StageReport):
            return None
        _, loss = loss_at(market, comp, answer[0], answer[1].ticks)
        return answer, notes, (loss, -int(market.vol[comp.orders] @ answer[0]))

    def on_the_grid() -> tuple[np.ndarray, Prices] | StageReport | None:
        """The grid route: classify at the grid prices nearest the LP's, allocate, price."""
        grid = grid_classification(market, comp, cls, params, t_end - time.perf_counter())
        prog.add(grid.report if isinstance(grid, Classification) else grid)
        if not isinstance(grid, Classification):
            return None
        return _allocate_and_price(market, comp, grid, params, t_end, prog)

    # no grid prices keep the LP's classification (stages.grid_reachable): the direct route's
    # fills, blind to the grid, would have prices only by chance — its allocation MIPs are
    # solved for their status only (which decides what follows, as before), not priced, and
    # the local search at neighbourhood 0 finds the best of the same allocations on the grid
    off_grid = None
    kc = comp.contracts
    on_grid = np.rint(cls.ticks)  # the LP's prices on the grid and in the bands: they are such
    if not (np.allclose(cls.ticks, on_grid, rtol=0.0, atol=1e-9)  # prices
            and np.all(on_grid >= market.tick_lo[kc]) and np.all(on_grid <= market.tick_hi[kc])):
        off_grid = grid_reachable(market, comp, cls, params, t_end - time.perf_counter())
        prog.add(off_grid)
        if off_grid.status != "infeasible":
            off_grid = None
    # the local search is started beside the direct route only when the route cannot be
    # priced: otherwise it fails only where its allocation MIPs are infeasible, and then so is
    # the search at neighbourhood 0 (its allocations are some of theirs) — a core's work thrown
    # away (replication_heavy: 0.23 s of CPU, cancelled)
    speculate = searching and params.speculate and len(comp.orders) >= BATCH_ORDERS \
        and off_grid is not None and spare_core()
    with ThreadPoolExecutor(1) if speculate else nullcontext() as pool:
        cancel = highs.Cancel()
        first = pool.submit(local, LOCAL_NEIGHBOURHOODS[0], cancel) if pool else None
        atm_indivisible = comp.orders[cls.atm & market.indivisible[comp.orders]]
        answer = _allocate_and_price(market, comp, cls, params, t_end, prog, whole, off_grid,
                                     drop_first and bool(len(atm_indivisible)),
                                     choice if len(atm_indivisible) else None)
        if not isinstance(answer, StageReport):
            cancel()
            return answer
        failed = answer
        if answer.name == "allocation_mip" and len(atm_indivisible) \
                and answer.status == "infeasible":
            cancel()
            return _Failed(answer, atm_indivisible, cls.breached, cls)
    # Whole packages or the tick grid put the LP's equilibrium out of reach: search an exact
    # integer equilibrium around it, widening the neighbourhood. The grid route is fast but
    # blind to volume beyond its classification: on a large component it comes before the
    # wide (slow) neighbourhoods, on a small one after them.
    # Then, where nothing is left to drop or halt (_route would give the component up), a
    # part alone of at most GIVE_UP_LADDER_ORDERS orders gets _wide's rungs too (16, 64 steps
    # of reduced cost, the allowances allowed as above): an answer beyond 4 steps is an
    # answer, none is not (tests/solver_models/test_fresh_books.py: five orders of campaign
    # s37002 with an answer from 16 steps; campaign s25011's 681-order part from 64 steps, near
    # orders one package short). Beyond WIDE_LADDER_ORDERS orders each rung is gated by its
    # root (as _wide's). Only that path pays; node limits only (rule 9).
    grid_at = 1 if len(comp.orders) >= BATCH_ORDERS else len(LOCAL_NEIGHBOURHOODS)
    last_resort = WIDE_LADDER if parts is None and not len(atm_indivisible) \
        and not len(cls.breached) and len(comp.orders) <= GIVE_UP_LADDER_ORDERS else ()
    gate_last = len(comp.orders) > WIDE_LADDER_ORDERS
    # §4a's whole-package allowance for near orders too (stages.local_mip, ``near_short``):
    # searched where a neighbourhood's searches (exact, then far orders short) find nothing,
    # its answer kept aside — the first found, the narrowest — and returned only where the
    # searches and the grid route after it find nothing either, or something worse by (priority
    # loss, volume) at the prices chosen (pipeline branch near17: accepted at once, it replaced
    # exact answers a wider neighbourhood or the grid route found — campaign s20010, s61007:
    # 7 and 58 lots fewer, both exact). It always runs gated by its root (branch gate31:
    # ungated, campaign s66002's found no point in 500 nodes of strong branching where the
    # root finds an answer inside every band, and a contract was halted instead — README
    # "Decisions": an answer inside the bands beats a halt)
    aside: tuple | None = None  # (the answer, its notes, (loss, −volume))

    def better(answer: tuple[np.ndarray, Prices], since: int) -> tuple[np.ndarray, Prices]:
        """``answer`` (its notes written since note ``since``), or the one kept aside when
        better by (priority loss, volume) at the prices of each."""
        if aside is None:
            return answer
        _, loss = loss_at(market, comp, answer[0], answer[1].ticks)
        if aside[2] < (loss, -int(market.vol[comp.orders] @ answer[0])):
            del prog.notes[since:]  # they describe the other answer
            prog.notes.extend(aside[1])
            return aside[0]
        return answer

    for n, near_ticks in enumerate((*LOCAL_NEIGHBOURHOODS, None, *last_resort)
                                   if searching else ()):
        since = len(prog.notes)
        if n == grid_at:
            answer = on_the_grid()
            if answer is not None and not isinstance(answer, StageReport):
                return better(answer, since)
        if near_ticks is None:  # the grid route's place among small components' searches
            continue
        # at neighbourhood 0 the search's allocations in whole packages are some of the
        # direct route's (its near orders are at the money there, its far ones fixed as
        # there or at a bound of their range): when none of those balances, neither do its
        gated = gate_last and n > len(LOCAL_NEIGHBOURHOODS)  # a last-resort rung
        reports, found = first.result() if n == 0 and first else local(
            near_ticks, allowance_only=near_ticks == 0 and whole["infeasible"], gate=gated)
        for r in reports:  # the speculative search ran beside the direct route: not wall time
            prog.add(replace(r, parallel=True) if n == 0 and first else r)
        if isinstance(found, LocalEquilibrium):
            answer = priced(found)
            if not isinstance(answer, StageReport):
                return better(answer, since)
            failed = answer
        else:
            failed = found
            # nothing found (infeasible, no point at the root, or none at the node limit)
            if aside is None and (found.status in ("infeasible", "node_limit")
                                  or found.reason == NO_ROOT_POINT) \
                    and found.reason != PRICES_UNREACHABLE:
                aside = _near_short(near_ticks)
        if failed.status == "time_limit":
            break
    if aside is not None:
        prog.notes.extend(aside[1])
        return aside[0]
    return _Failed(failed, atm_indivisible, cls.breached)


def _welfare_lp(market: Market, comp: Component, params: SolverParams, t_end: float,
                parts: list[Component] | None) -> Classification | StageReport:
    """The welfare LP of ``comp``; of a batch (``parts``, the independent components ``comp``
    is the union of) the classification **each part gets alone**. The LP's duals are
    degenerate (several optimal prices), and which optimum HiGHS returns for a part depends
    on the whole model: the batch's block-diagonal LP gave a part other optimal duals than
    its LP alone, so its route started from another classification and the part cleared
    otherwise than alone (the xfails of stop 27: test_pipeline_properties.py,
    test_batch_follows_alone.py). :func:`stages.welfare_lp_parts` solves the batch's LP once
    and solves alone only the parts whose duals in it are not proven unique (stop 28)."""
    if parts is None or len(parts) < 2:
        return welfare_lp(market, comp, params, t_end - time.perf_counter())
    return welfare_lp_parts(market, comp, parts, params, t_end - time.perf_counter())


def _allocate_and_price(market: Market, comp: Component, cls: Classification,
                        params: SolverParams, t_end: float, prog: _Progress,
                        whole: dict | None = None, off_grid: StageReport | None = None,
                        drop_first: bool = False, choice: dict | None = None
                        ) -> tuple[np.ndarray, Prices] | StageReport:
    """Allocation MIP (in whole packages, else with the whole-package allowance) for the
    classification, then price selection: fills and prices, or the report of the stage that
    failed. ``whole["infeasible"]`` is set when no allocation in whole packages balances.
    ``off_grid``: :func:`stages.grid_reachable`'s report that no grid prices keep the
    classification — the allocation MIPs then only decide whether an allocation balances
    (the same statuses, no optimum), and ``off_grid`` is returned when one does.
    ``drop_first`` (indivisible orders are at the money): when no allocation in whole packages
    balances, its report, the allowance not tried (they drop, :func:`_clear`). ``choice``
    (they are at the money, not ``drop_first``): ``choice["arose"]`` is set when the allowance
    balances where whole packages do not (dropping them was the other way)."""
    feasibility = off_grid is not None
    alloc = allocation_mip(market, comp, cls, params, t_end - time.perf_counter(),
                           feasibility=feasibility)
    rep = alloc.report if isinstance(alloc, Allocation) else alloc
    prog.add(rep)
    if rep.status == "infeasible":  # no balance in whole packages: one package short
        if whole is not None:
            whole["infeasible"] = True
        if drop_first:
            return rep
        alloc = allocation_mip(market, comp, cls, params, t_end - time.perf_counter(), True,
                               feasibility=feasibility)
        rep = alloc.report if isinstance(alloc, Allocation) else alloc
        prog.add(rep)
        if choice is not None and rep.status != "infeasible":
            choice["arose"] = True
    if not isinstance(alloc, Allocation):
        return rep
    if off_grid is not None:
        return off_grid
    prices = _prices(market, comp, alloc.fills, cls.atm, cls.ticks, params, t_end, prog,
                     alloc.short)
    if not isinstance(prices, Prices):
        return prices
    return _short_where_needed(market, comp, alloc.fills, alloc.short, prices, prog)


def _short_where_needed(market: Market, comp: Component, fills: np.ndarray,
                        short: np.ndarray | None, prices: Prices, prog: _Progress
                        ) -> tuple[np.ndarray, Prices]:
    """Fills with the whole-package allowance given back where a marginal order can give way
    at the chosen prices (stages.give_way), and a note of the orders still one package short."""
    if short is None or not short.any():
        return fills, prices
    fills = give_way(market, comp, fills, prices.ticks)
    _note_short(prog, int((short & (fills < market.q[comp.orders])).sum()))
    return fills, prices


_SHORT_NOTE = "order(s) in the money left one package short"


def _note_short(prog: _Progress, left: int) -> None:
    """The note of ``left`` orders one package short (none when 0)."""
    if left:
        prog.notes.append(f"{left} {_SHORT_NOTE}: no allocation in whole packages balances")


def _drop_short_notes(prog: _Progress, since: int) -> None:
    """Drop the notes on orders one package short written since note ``since`` (the answer
    they described was replaced)."""
    prog.notes[since:] = [n for n in prog.notes[since:] if _SHORT_NOTE not in n]


def _prices(market: Market, comp: Component, fills: np.ndarray, atm: np.ndarray,
            near: np.ndarray, params: SolverParams, t_end: float, prog: _Progress,
            short: np.ndarray | None = None) -> Prices | StageReport:
    """Price selection for given fills, its stage reports recorded."""
    prices = price_selection(market, comp, fills, atm, near, params, t_end - time.perf_counter(),
                             short)
    for r in prices.reports if isinstance(prices, Prices) else (prices,):
        prog.add(r)
    return prices


def _give_up(prog: _Progress, comp: Component, market: Market, rep: StageReport) -> None:
    """Record a component left uncleared."""
    if rep.status == "time_limit":
        prog.timed_out = True
    else:
        prog.not_cleared = True
    ids = ", ".join(str(int(market.contract_ids[k])) for k in comp.contracts[:8])
    share = len(comp.orders) / max(market.n_orders, 1)
    prog.notes.append(f"{'TIME LIMIT: ' if rep.status == 'time_limit' else ''}component of "
                      f"{len(comp.orders)} orders ({share:.1%} of the book) on contracts [{ids}"
                      f"{', …' if len(comp.contracts) > 8 else ''}] not cleared: "
                      f"{rep.name} {rep.status}")


def _sweep(market: Market, comp: Component, prog: _Progress):
    t0 = time.perf_counter()
    o = comp.orders
    k = int(comp.contracts[0])
    side = np.sign(market.legs[o].data)
    m = int(market.m[k])
    limit_ticks = side * (market.limit[o] // m)  # exact: limits of one-leg orders are whole ticks
    live = np.ones(len(o), dtype=bool)
    while True:  # indivisible orders left partly filled drop out (they may stay unfilled)
        idx = np.flatnonzero(live)
        res = sweep(side[idx], limit_ticks[idx], market.q[o][idx], o[idx],
                    market.order_ids[o][idx], int(market.tick_lo[k]), int(market.tick_hi[k]),
                    float(market.ref_ticks[k]))
        fills = np.zeros(len(o), dtype=np.int64)
        fills[idx] = res.fills
        bad = live & market.indivisible[o] & (fills > 0) & (
            (market.aon[o] & (fills < market.q[o])) | (fills < market.min_fill[o]))
        if not bad.any():
            break
        live &= ~bad
    prog.add(StageReport("sweep", 0.0, time.perf_counter() - t0, "ok" if res.feasible else
                         "no equilibrium"))
    if not res.feasible:
        return StageReport("sweep", status="no equilibrium")
    return _Cleared(fills, {k: res.tick}, np.zeros(0, dtype=np.int64))


def _exact_ok(market: Market, comp: Component, fills: np.ndarray, ticks: np.ndarray,
              kc: np.ndarray) -> bool:
    """Limits and price priority (up to the rounding allowance) of the component's orders, in
    exact integers, at ``ticks`` on the contracts ``kc``."""
    o = comp.orders
    if np.any(ticks < market.tick_lo[kc]) or np.any(ticks > market.tick_hi[kc]):
        return False
    full_ticks = np.zeros(len(market.contract_ids), dtype=np.int64)
    full_ticks[kc] = ticks
    money = market.legs[o] @ (market.m * full_ticks)  # a·p per package, exact int64
    limit = market.limit[o]
    q = market.q[o]
    indiv = market.indivisible[o]
    filled = fills > 0
    ok_limits = np.all(money[filled] <= limit[filled])
    # beyond the rounding allowance in the money: filled completely, or one package short
    short = ~indiv & filled & (fills == q - 1)
    itm_unfilled = (money < limit - market.allowance[o]) & (fills < q) & ~short & ~(
        indiv & (~filled | market.aon[o]))
    return bool(ok_limits and not itm_unfilled.any())


def all_prices(market: Market, ticks: dict[int, int], uncleared: set[int], replication: bool
               ) -> tuple[dict[int, int], list[int]]:
    """Every contract's price (rule 10, :func:`auction.result.published_prices`) on the
    matcher's contract indices: solved ones as solved, every other one its replication of the
    atomic prices the solved ones imply (inside the market's tick bounds), an uncleared
    contract its reference tick; the contracts whose replication is off their grid or bounds
    are returned in the second list (to be named uncleared)."""
    cid = market.contract_ids.tolist()  # ascending: indices and ids are in the same order
    index = {c: k for k, c in enumerate(cid)}
    bounds = {c: (int(market.tick_lo[k]), int(market.tick_hi[k])) for k, c in enumerate(cid)}
    prices, off = published_prices(market.book.contracts, {cid[k]: t for k, t in ticks.items()},
                                   {cid[k] for k in uncleared}, replication, bounds,
                                   market.atomic_ref)
    return {index[c]: t for c, t in prices.items()}, [index[c] for c in off]
