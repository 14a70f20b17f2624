"""An infeasible core of a component the engine is about to give up (issue 17, branch halt17).

When nothing is left to drop or halt and the searches found no answer (``pipeline._route``'s
give-up path), the engine asks whether a §4a answer inside the bands exists at all, by its own
model: the local search over the whole band box (every order near, :data:`WIDE_NEAR`) with both
allowances (rounding; one package short for far and near orders), solved without objective
(feasibility: the first point ends the search). With only a subset of the orders *kept* under
the rules and the others *freed* (any fill 0..q, no price rule) the model is a relaxation, so a
kept subset proven infeasible proves the whole infeasible. A search (:func:`quickxplain`)
shrinks the kept subset while the oracle proves it infeasible; an undecided answer (node or
time limit) counts as "not proven", so nothing is ever claimed that HiGHS did not prove. The
contracts of the core found are halted by the pipeline (the circuit breaker, README
"Decisions made where the spec is silent"). Work bounds are deterministic: each oracle call is
its root node alone (``gate``), a search by :data:`CORE_CALLS` calls (rule 9).

``scripts/infeasible_core.py`` runs the same search on a campaign book, with other limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from solver_models.market import Component, Market
from solver_models.params import SolverParams
from solver_models.stages import LocalEquilibrium, local_mip

WIDE_NEAR = 10**9  # ticks of reduced cost: every order near (the whole band box)
# oracle calls one core search may make at most (a work bound, deterministic): campaign s56013's
# 264-order part needs 44 (docs/performance.md, "Stop 30 — halt17")
CORE_CALLS = 64


@dataclass(frozen=True)
class Core:
    """A subset of a component's orders (indices into its ``orders``) whose rules alone leave
    no §4a answer inside the bands (proven), found with ``calls`` oracle calls."""

    kept: tuple[int, ...]
    calls: int


class Oracle:
    """Is there a §4a answer in the bands of ``comp`` with only ``kept`` orders (indices into
    ``comp.orders``) under the rules? ``True``: proven infeasible; ``False``: a point;
    ``None``: undecided (a limit). ``gate``: each call is the model's root node alone
    (``stages.local_mip(gate=True)``, one node: a deterministic bound on its work; campaign
    s56013's proofs all come from the root); otherwise up to ``params.local_nodes`` nodes.
    ``call_limit``: seconds one call may take at most (the script's; the engine has only its
    deadline, whose end makes an answer undecided and sets ``timed_out``)."""

    def __init__(self, market: Market, comp: Component, params: SolverParams,
                 deadline: float, call_limit: float = float("inf"), gate: bool = True) -> None:
        self.market, self.comp, self.params, self.deadline = market, comp, params, deadline
        self.call_limit, self.gate = call_limit, gate
        o = comp.orders
        money = market.money(o, comp.contracts)
        pos, neg = money.maximum(0), money.minimum(0)
        lo, hi = market.tick_lo[comp.contracts], market.tick_hi[comp.contracts]
        self.act_hi = pos @ hi + neg @ lo  # a·p per package at its highest in the box
        self.act_lo = pos @ lo + neg @ hi
        self.reduced = np.zeros(len(o))  # every order near (WIDE_NEAR): no LP needed
        self.calls = 0
        self.timed_out = False
        self.reports: list = []

    def __call__(self, kept: Sequence[int]) -> bool | None:
        m, o = self.market, self.comp.orders
        free = np.ones(len(o), dtype=bool)
        free[list(kept)] = False
        fo = o[free]
        lim, ind, aon = m.limit.copy(), m.indivisible.copy(), m.aon.copy()
        mf, rho, grp = m.min_fill.copy(), m.allowance.copy(), m.group.copy()
        # freed: a limit above every reachable price (a fill never breaks it), indivisible so
        # that 0 is allowed in the money, no all-or-none or minimum, an allowance above every
        # gap (never "in the money beyond ρ"), a group of its own
        lim[fo] = np.maximum(lim[fo], self.act_hi[free])
        ind[fo], aon[fo], mf[fo] = True, False, 0
        rho[fo] = lim[fo] - self.act_lo[free] + 1
        grp[fo] = grp.max() + 1 + np.arange(len(fo))
        relaxed = replace(m, limit=lim, indivisible=ind, aon=aon, min_fill=mf, allowance=rho,
                          group=grp, memo={})
        self.calls += 1
        budget = min(self.deadline - time.perf_counter(), self.call_limit)
        found = local_mip(relaxed, self.comp, self.reduced, WIDE_NEAR, self.params, budget,
                          short=True, near_short=True, gate=self.gate, feasibility=True)
        report = found.report if isinstance(found, LocalEquilibrium) else found
        self.reports.append(report)
        if report.status == "time_limit":
            self.timed_out = True
        if isinstance(found, LocalEquilibrium) or report.objective is not None:
            return False
        return True if report.status == "infeasible" else None


class _Spent(Exception):
    """The search's bound on oracle calls is reached."""


def quickxplain(items: list[int], infeasible: Callable[[list[int]], bool], calls: int
                ) -> list[int] | None:
    """A subset of ``items`` (which together are infeasible) whose elements together are
    proven infeasible and none of which can go (Junker's QuickXplain: about 2·k·log2(n/k)
    calls for a core of k of n elements, where a delta debugging over complements needs far
    more — campaign s56013: 96 calls did not reduce its 285-order part below 111 orders),
    or None when it needs
    more than ``calls`` calls of ``infeasible``. Minimal when the oracle is monotone; an
    undecided answer counts as "not proven", which can break that, so the subset found is
    proven once more at the end (one call) and None returned when it is not."""
    used = 0

    def test(kept: list[int]) -> bool:
        nonlocal used
        if used >= calls:
            raise _Spent
        used += 1
        return infeasible(sorted(kept))

    def qx(background: list[int], added: bool, candidates: list[int]) -> list[int]:
        if added and test(background):
            return []
        if len(candidates) == 1:
            return candidates
        half = len(candidates) // 2
        first, second = candidates[:half], candidates[half:]
        needed2 = qx(background + first, True, second)
        needed1 = qx(background + needed2, bool(needed2), first)
        return needed1 + needed2

    try:
        if not items:  # nothing to keep: proven or not
            return [] if test([]) else None
        core = sorted(qx([], False, list(items)))
        return core if test(core) else None
    except _Spent:
        return None


def infeasible_core(market: Market, comp: Component, params: SolverParams, deadline: float,
                    calls: int = CORE_CALLS, oracle: Oracle | None = None) -> Core | None:
    """A core of ``comp`` (:class:`Core`), or None when the oracle does not prove the whole
    component infeasible (a point, or undecided: nothing is claimed) or the search needs more
    than ``calls`` oracle calls. Three searches (:func:`quickxplain`): over the expiries (a
    pair's contracts of one expiry date: parity links them through their forward), over
    their contracts, then over the orders kept there — kept at the first two levels: the
    orders all of whose legs are on the contracts kept (the halt is per contract, and a
    component has far fewer contracts than orders). Each level shrinks what the next one
    keeps: a call that finds a point costs most where many orders are kept (campaign s56013:
    searched over its 45 contracts at once, 16 calls of 0.01-0.44 s, ~3 s; by expiry first,
    4 + 13 calls, 0.6 s; the core the same)."""
    oracle = oracle or Oracle(market, comp, params, deadline)
    o = comp.orders
    if oracle(list(range(len(o)))) is not True:
        return None
    legs = abs(market.legs[o][:, comp.contracts]).tocsr()

    def within(contracts: list[int]) -> list[int]:
        outside = np.ones(len(comp.contracts), dtype=np.int64)
        outside[contracts] = 0
        return np.flatnonzero(legs @ outside == 0).tolist()

    # contracts by expiry (pair and expiry date: parity binds within one), then contracts
    terms = [market.book.contracts[int(c)] for c in market.contract_ids[comp.contracts]]
    keys = sorted({(t.pair.underlying, t.pair.numeraire, t.expiry) for t in terms})
    block = [keys.index((t.pair.underlying, t.pair.numeraire, t.expiry)) for t in terms]

    def of(blocks: list[int]) -> list[int]:
        wanted = set(blocks)
        return [k for k, b in enumerate(block) if b in wanted]

    blocks = quickxplain(list(range(len(keys))), lambda bs: oracle(within(of(bs))) is True,
                         calls - oracle.calls) if len(keys) > 1 else [0]
    if blocks is None:
        return None
    contracts = quickxplain(of(blocks), lambda ks: oracle(within(ks)) is True,
                            calls - oracle.calls)
    if contracts is None:
        return None
    # the orders on those contracts are proven infeasible (the search's last call): the core
    # when the search over them needs more calls than are left
    kept = quickxplain(within(contracts), lambda k: oracle(k) is True, calls - oracle.calls)
    return Core(tuple(within(contracts) if kept is None else kept), oracle.calls)
