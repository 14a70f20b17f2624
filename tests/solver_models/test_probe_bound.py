"""The §4a probe's LP bound (issue 17, 1M orders): exact — the same answer as solving every
move's allocation MIP, and never below the volume of the MIP it stands for."""

from __future__ import annotations

import numpy as np
import pytest

from solver_models import SolverParams, solve
from solver_models import pipeline as pl
from solver_models.generator import Recipe, generate_book
from solver_models.stages import Allocation, allocation_bound

MIXED = {"pairs": ["WBTC/USDC"], "expiries": 4, "combo_share": 0.3,
         "combo_types": ["vertical", "calendar", "straddle", "butterfly", "risk_reversal",
                         "ratio", "condor", "conversion", "box", "binary_spread"],
         "aon_share": 0.05, "limit_places": 4}


def mixed(seed: int, orders: int):
    return generate_book(Recipe.from_dict({"seed": seed, "orders": orders, **MIXED}))


@pytest.mark.parametrize("seed", [17, 3])
def test_pruned_probe_gives_the_answer_of_every_mip_in_turn(seed, monkeypatch):
    b = mixed(seed, 2000)
    pruned = solve(b, SolverParams())
    calls = []
    original = pl.allocation_bound

    def no_bound(*args, **kwargs):  # nothing known: every move's MIP is solved, in turn
        calls.append(1)
        _, report = original(*args, **kwargs)
        return np.inf, report

    monkeypatch.setattr(pl, "allocation_bound", no_bound)
    every = solve(b, SolverParams())
    assert calls, "the probe ran"
    assert pruned.result == every.result
    assert pruned.status == every.status
    probes = lambda out: sum(r.name == "probe" for r in out.stages)  # noqa: E731
    assert 1 <= probes(pruned) <= probes(every)


def test_bound_is_never_below_the_mips_volume(monkeypatch):
    # every allocation MIP the pipeline runs without the whole-package allowance (the LP's
    # classification, the grid's, the probe's moves) against the bound for its classification
    pairs = []
    mip_of = pl.allocation_mip

    def mip(market, comp, cls, params, time_limit, short=False, exposure=None, **options):
        # (with ``feasibility`` a feasible allocation's volume is below the bound too)
        alloc = mip_of(market, comp, cls, params, time_limit, short, exposure, **options)
        if not short:
            value, _ = allocation_bound(market, comp, cls, params, 60.0)
            vol = int(market.vol[comp.orders] @ alloc.fills) if isinstance(alloc, Allocation) \
                else None
            pairs.append((value, vol))
        return alloc

    monkeypatch.setattr(pl, "allocation_mip", mip)
    for seed in (17, 3):
        solve(mixed(seed, 2000), SolverParams())
    feasible = [(value, vol) for value, vol in pairs if vol is not None]
    assert feasible, "some allocation balanced"
    assert all(vol <= value for value, vol in feasible)
    # an infeasible relaxation never hides a feasible MIP
    assert all(value > -np.inf for value, _ in feasible)


def test_unreachable_moves_are_bounded_without_an_lp(monkeypatch):
    # a move whose balance no whole packages reach (bounds, gcd) gets -inf with no LP solved,
    # and its allocation MIP is indeed infeasible
    from solver_models import stages

    seen = []
    bound_of = pl.allocation_bound
    solve_of = stages.highs.solve
    solves = []

    def counting_solve(*args, **kwargs):
        solves.append(1)
        return solve_of(*args, **kwargs)

    def bound(market, comp, cls, params, time_limit, exposure=None, exposure_t=None):
        before = len(solves)
        value, report = bound_of(market, comp, cls, params, time_limit, exposure, exposure_t)
        seen.append((value, len(solves) - before, market, comp, cls))
        if exposure_t is not None:  # the test over every order (those not free held at 0)
            # proves what the test over the free orders' rows alone proves
            alone, _ = bound_of(market, comp, cls, params, time_limit, exposure)
            assert (alone == -np.inf) == (value == -np.inf)
        return value, report

    monkeypatch.setattr(stages.highs, "solve", counting_solve)
    monkeypatch.setattr(pl, "allocation_bound", bound)
    solve(mixed(17, 2000), SolverParams())
    unreachable = [s for s in seen if s[0] == -np.inf and s[1] == 0]
    assert unreachable, "some move's balance is unreachable"
    for _, _, market, comp, cls in unreachable[:6]:
        assert not isinstance(stages.allocation_mip(market, comp, cls, SolverParams(), 60.0),
                              Allocation)
