"""Work the engine no longer does twice (issue 17, small books; branch speed17):

* the whole-package allowance's allocation MIP is one weighted solve ``volume − W·loss`` with
  exact gaps, the same (loss, volume) as the least loss first, then the volume with it kept;
* price selection's least surplus and nearest reference prices are one weighted solve
  ``W·surplus + distance``, the same (surplus, distance) as the two solves;
* the local search at neighbourhood 0 goes straight to the allowance when the direct route's
  allocation in whole packages was infeasible: its allocations in whole packages are some of
  the direct route's, so it is infeasible too.

``stages.ONE_SOLVE_BELOW = 0`` gives the solves level by level (the fallback for objectives
too large for float64's integers), to compare with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import solver_models.pipeline as pipeline
import solver_models.stages as stages
from solver_models import SolverParams, SolveStatus, solve
from solver_models.stages import Allocation
from tests.solver_models.spies import price_selection_runs
from tests.solver_models.test_pipeline_properties import _objectives
from validator.equilibrium import check
from venue.cli.solve import load

ROOT = Path(__file__).resolve().parents[2]


def _book(path: str):
    return load(ROOT / path).book


def _loss_and_volume(market, comp, cls, alloc: Allocation) -> tuple[int, int]:
    """The allowance's loss (each package short: its reduced cost in whole money units,
    rounded up, as the model prices it) and the volume of an allocation."""
    o = comp.orders
    short = np.flatnonzero(alloc.short) if alloc.short is not None else np.zeros(0, int)
    cost = np.ceil(np.maximum(cls.reduced[short], 0.0) * 10.0 ** market.money_places
                   - 1e-6).clip(1.0)
    return int(cost.sum()), int(market.vol[o] @ alloc.fills)


def test_the_allowance_is_one_solve_with_the_lexicographic_optimum(monkeypatch):
    calls = []
    real_alloc = pipeline.allocation_mip
    real_solve = stages.highs.solve
    solves = []

    def alloc(market, comp, cls, params, time_limit, short=False, *args, **kwargs):
        before = len(solves)
        out = real_alloc(market, comp, cls, params, time_limit, short, *args, **kwargs)
        if short and not kwargs.get("feasibility"):  # the status only: no optimum to compare
            calls.append((market, comp, cls, params, out, len(solves) - before))
        return out

    def counting(*args, **kwargs):
        solves.append(1)
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(pipeline, "allocation_mip", alloc)
    monkeypatch.setattr(stages.highs, "solve", counting)
    monkeypatch.setattr(pipeline, "WORKERS", 1)  # the solves counted are the call's own
    solve(_book("scenarios/mixed/mixed_2k.json"), SolverParams(speculate=False))
    used = [c for c in calls if isinstance(c[4], Allocation)]
    assert used, "the book no longer uses the allowance"
    monkeypatch.setattr(stages, "ONE_SOLVE_BELOW", 0.0)  # level by level
    for market, comp, cls, params, out, n_solves in used:
        # one solve per independent block (a batch's components are solved alone), none for
        # a block whose balance no whole packages reach
        assert 1 <= n_solves <= len(stages._blocks(market.exposure_in(comp.orders, comp.atomics)))
        levels = stages.allocation_mip(market, comp, cls, params, 60.0, True)
        assert isinstance(levels, Allocation)
        assert _loss_and_volume(market, comp, cls, out) \
            == _loss_and_volume(market, comp, cls, levels)


def test_surplus_and_reference_are_one_solve_with_the_same_objectives(monkeypatch):
    book = _book("scenarios/bench/standard/no_cross.yaml")
    runs = price_selection_runs(monkeypatch)
    params = SolverParams()
    one = solve(book, params)
    assert one.status is SolveStatus.OPTIMAL
    assert runs and all("surplus_mip" not in names for names in runs), runs
    assert all(names[-1] == "reference_mip" for names in runs if names), runs
    runs.clear()
    monkeypatch.setattr(stages, "ONE_SOLVE_BELOW", 0.0)  # level by level
    levels = solve(book, params)
    assert any("surplus_mip" in names for names in runs), runs
    for out in (one, levels):
        report = check(book, out.result, replication=params.replication,
                       bands=params.price_band == "clip")
        assert report.ok, [str(v) for v in report.violations[:10]]
    assert _objectives(book, one.result) == _objectives(book, levels.result)


def test_no_local_search_in_whole_packages_where_the_direct_route_has_none(monkeypatch):
    whole: dict[int, str] = {}  # component (first order) -> status of its whole-package MIP
    local: list[tuple[int, int, bool]] = []
    real_route, real_local = pipeline._allocate_and_price, pipeline.local_mip
    args_of: dict[int, tuple] = {}

    def route(market, comp, cls, params, *args, **kwargs):
        first = []

        def alloc(*a, **k):
            out = real_alloc(*a, **k)
            if not first:
                first.append(out.report.status if isinstance(out, Allocation) else out.status)
            return out

        real_alloc = pipeline.allocation_mip
        monkeypatch.setattr(pipeline, "allocation_mip", alloc)
        try:
            return real_route(market, comp, cls, params, *args, **kwargs)
        finally:
            monkeypatch.setattr(pipeline, "allocation_mip", real_alloc)
            if cls.report.name == "welfare_lp":  # the direct route, not the grid route
                whole[int(comp.orders[0])] = first[0]
                args_of[int(comp.orders[0])] = (market, comp, cls, params)

    def search(market, comp, reduced, near_ticks, params, time_limit, cancel=None,
               short=False):
        local.append((int(comp.orders[0]), near_ticks, short))
        return real_local(market, comp, reduced, near_ticks, params, time_limit, cancel, short)

    monkeypatch.setattr(pipeline, "_allocate_and_price", route)
    monkeypatch.setattr(pipeline, "local_mip", search)
    out = solve(_book("scenarios/mixed/mixed_10k.json"), SolverParams(speculate=False))
    assert out.result is not None
    skipped = {c for c, near, short in local if near == 0 and short and whole.get(c) == "infeasible"}
    assert skipped, "no local search followed an infeasible whole-package allocation"
    for c in skipped:
        assert (c, 0, False) not in local
        market, comp, cls, params = args_of[c]
        # and the search in whole packages is indeed infeasible there
        found = stages.local_mip(market, comp, cls.reduced, 0, params, 60.0)
        assert not isinstance(found, stages.LocalEquilibrium)
        assert found.status == "infeasible"
