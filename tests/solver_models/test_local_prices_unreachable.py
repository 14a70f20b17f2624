"""The local search's price part alone (``stages._prices_unreachable``): when no integer ticks
in the bands keep the far orders' classes, neither the search without the whole-package
allowance nor the one with it has an answer — one small feasibility MIP instead of two large
ones (mixed 1M: 5–16 s each on its largest components) — an exact shortcut: the same book
gives the same status, prices and fills with both searches solved."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import solver_models.pipeline as pipeline
import solver_models.stages as stages
from coordinator.scenarios import load_scenario
from solver_models import SolverParams, solve
from solver_models.generator import generate_book
from solver_models.outcome import StageReport

ROOT = Path(__file__).resolve().parents[2]


def test_unreachable_prices_skip_both_local_searches_and_change_nothing(monkeypatch):
    # the mixed suite's recipe at 3,000 orders: its largest component's far orders keep
    # their classes at the welfare LP's prices but at no ticks on the grid
    recipe = load_scenario(ROOT / "scenarios/bench/mixed/mixed_100k.yaml").recipe
    book = generate_book(replace(recipe, orders=3000, seed=1))
    calls = []
    real = stages.local_mip

    def spy(*args, **kwargs):
        found = real(*args, **kwargs)
        calls.append((args[3], args[7] if len(args) > 7 else kwargs.get("short", False), found))
        return found

    monkeypatch.setattr(pipeline, "local_mip", spy)
    fast = solve(book, SolverParams())
    unreachable = [i for i, (_, short, found) in enumerate(calls)
                   if isinstance(found, StageReport) and found.reason == stages.PRICES_UNREACHABLE]
    assert unreachable
    for i in unreachable:
        near, short, found = calls[i]
        assert not short and found.status == "infeasible"
        # the search with the allowance at the same neighbourhood is not run
        assert i + 1 == len(calls) or calls[i + 1][0] != near or not calls[i + 1][1]

    # without the shortcut: both searches solved by HiGHS, both infeasible, the same answer
    monkeypatch.setattr(stages, "_prices_unreachable", lambda *a: None)
    calls.clear()
    slow = solve(book, SolverParams())
    assert not any(isinstance(f, StageReport) and f.reason == stages.PRICES_UNREACHABLE
                   for _, _, f in calls)
    assert any(short and isinstance(f, StageReport) and f.status == "infeasible"
               for _, short, f in calls)
    assert slow.status == fast.status
    assert slow.result.prices == fast.result.prices
    assert slow.result.filled() == fast.result.filled()
