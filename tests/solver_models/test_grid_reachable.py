"""The direct route is not priced when no grid prices keep the welfare LP's classification
(issue 17, branch search17; ``stages.grid_reachable``).

On mixed_10k both large components failed that way: the allocation MIP with the whole-package
allowance (0.03–0.09 s of HiGHS each) chose fills no grid prices support, price selection
failed, and the local search at neighbourhood 0 answered. With the test the allocation MIPs
run for their status only (what follows depends on it) and the local search answers at once:
the same answer."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import solver_models.pipeline as pipeline
import solver_models.stages as stages
from solver_models import SolverParams, solve
from solver_models.market import build_market, components
from solver_models.outcome import StageReport
from validator.equilibrium import check
from venue.cli.solve import load

ROOT = Path(__file__).resolve().parents[2]


def _book(path: str):
    return load(ROOT / path).book


def test_an_off_grid_classification_skips_pricing_with_the_same_answer(monkeypatch):
    book = _book("scenarios/mixed/mixed_2k.json")
    params = SolverParams()
    feasibility = []
    real_alloc = pipeline.allocation_mip

    def alloc(*args, **kwargs):
        # the direct route's allocations (pipeline._unbalanced asks a batch's parts only
        # whether they balance, pipeline._balances, off the grid or not: a feasibility solve
        # always)
        if sys._getframe(1).f_code.co_name != "_balances":
            feasibility.append(bool(kwargs.get("feasibility")))
        return real_alloc(*args, **kwargs)

    monkeypatch.setattr(pipeline, "allocation_mip", alloc)
    tested = solve(book, params)
    assert any(feasibility), "no direct route was found off the grid on this book"
    assert any(r.name == "grid_test" for r in tested.stages)
    report = check(book, tested.result, replication=params.replication,
                   bands=params.price_band == "clip")
    assert report.ok, [str(v) for v in report.violations[:10]]

    # the rule off: every direct route allocated and priced in full
    monkeypatch.setattr(pipeline, "grid_reachable",
                        lambda *a, **k: StageReport("grid_test", status="optimal"))
    feasibility.clear()
    full = solve(book, params)
    assert not any(feasibility)
    assert full.status == tested.status
    assert full.result == tested.result
    assert full.relaxations == tested.relaxations


def test_grid_prices_that_keep_the_classification_price_any_allocation():
    # where the test finds such prices, the direct route's fills always get prices: price
    # selection never fails after it (the test only predicts failure, never causes one)
    book = _book("scenarios/bench/standard/replication_heavy.yaml")
    params = SolverParams()
    market = build_market(book, params.replication, params.price_band == "clip")
    seen = 0
    for comp in components(market, params.split_components):
        if len(comp.orders) < 50:
            continue
        cls = stages.welfare_lp(market, comp, params, 60.0)
        test = stages.grid_reachable(market, comp, cls, params, 60.0)
        if test.status != "optimal":
            continue
        alloc = stages.allocation_mip(market, comp, cls, params, 60.0)
        if not isinstance(alloc, stages.Allocation):
            alloc = stages.allocation_mip(market, comp, cls, params, 60.0, True)
        if not isinstance(alloc, stages.Allocation):
            continue
        prices = stages.price_selection(market, comp, alloc.fills, cls.atm, cls.ticks, params,
                                        60.0, alloc.short)
        assert isinstance(prices, stages.Prices), prices
        seen += 1
    assert seen


def test_no_grid_prices_keep_mixed_10k_classification():
    # why the direct route fails on mixed_10k's largest component: the LP's prices are off the
    # grid on some contracts, and no grid prices keep every order there in its class up to its
    # rounding allowance
    book = _book("scenarios/mixed/mixed_10k.json")
    params = SolverParams()
    market = build_market(book, params.replication, params.price_band == "clip")
    comps = sorted(components(market, params.split_components), key=lambda c: -len(c.orders))
    cls = stages.welfare_lp(market, comps[0], params, 60.0)
    assert not np.allclose(cls.ticks, np.rint(cls.ticks))  # the LP's prices are off the grid
    assert stages.grid_reachable(market, comps[0], cls, params, 60.0).status == "infeasible"


def test_no_local_search_beside_a_route_that_can_be_priced(monkeypatch):
    # replication_heavy: one 5,000-order component whose LP prices are off the grid but whose
    # classification grid prices keep — the direct route answers; the local search used to be
    # started beside it on the spare core and cancelled (0.23 s of CPU thrown away)
    book = _book("scenarios/bench/standard/replication_heavy.yaml")
    searched = []
    real_local = pipeline.local_mip

    def local(*args, **kwargs):
        searched.append(1)
        return real_local(*args, **kwargs)

    monkeypatch.setattr(pipeline, "local_mip", local)
    monkeypatch.setattr(pipeline, "_cores", lambda: 2)  # a spare core, whatever the machine
    out = solve(book, SolverParams(speculate=True))
    assert any(r.name == "grid_test" and r.status == "optimal" for r in out.stages)
    assert not searched
