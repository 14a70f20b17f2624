"""Price selection ends a lazy round early: when the solution of a stage before the last
(the least rounding, the least surplus) already misses a row the round does not model (a limit
broken, an unfilled group not strictly out of the money and not watched), the next round starts
at once, over more rows — the round's later stages would only be solved again there. Only the
last round's models decide the answer, and its stages still run in full, so the answer is the
one of the full problem (bench books: identical results before and after, scripts/objectives.py).

The standard no_cross book needs two rounds on its large component (no exact grid prices: the
least rounding first); its first round's rounding solution already misses rows, so the round
ends there: rounding, rounding again over more rows, surplus, reference — not rounding, surplus,
reference twice."""

from __future__ import annotations

from pathlib import Path

from coordinator.scenarios import load_scenario
from solver_models import SolverParams, SolveStatus, solve
from tests.solver_models.spies import price_selection_runs
from validator.equilibrium import check


def test_a_round_ends_at_the_first_stage_that_misses_a_row(monkeypatch):
    book = load_scenario(Path(__file__).resolve().parents[2]
                         / "scenarios/bench/standard/no_cross.yaml").book
    runs = price_selection_runs(monkeypatch)
    params = SolverParams()
    out = solve(book, params)
    assert out.status is SolveStatus.OPTIMAL
    report = check(book, out.result, replication=params.replication,
                   bands=params.price_band == "clip")
    assert report.ok, [str(v) for v in report.violations[:10]]
    # the large component: the exact attempt (infeasible), the least rounding — its round
    # ends there (its prices leave unfilled orders at the money the model did not watch) —
    # and the next round, which only watches more rows: the first round's least rounding
    # still holds at its prices, so it is kept, not solved again; only the reference stage
    # runs. Before, every round ran rounding, surplus and reference; then a round ended early
    # and the next solved the rounding again (rounding, rounding, reference)
    assert ["reference_mip", "rounding_mip", "reference_mip"] in runs, runs
    # the last round runs every stage: each price selection ends with the reference stage
    assert all(names[-1] == "reference_mip" for names in runs if names), runs
