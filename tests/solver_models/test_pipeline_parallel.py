"""Rule 9 with batches of components cleared side by side: the same book gives the same
result, notes and stage counts on one thread or two, whichever thread finishes first."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.scenarios import load_scenario
from solver_models import SolverParams, pipeline, solve
from solver_models.market import build_market, components

MIXED = Path(__file__).resolve().parents[2] / "scenarios" / "mixed"


def _outcome(book, monkeypatch, workers):
    monkeypatch.setattr(pipeline, "WORKERS", workers)
    out = solve(book, SolverParams())
    counts = {(s.name, s.parallel): s.size.split(" component(s)")[0] for s in out.stages}
    return out.status, out.result, out.notes, out.relaxations, out.lp_volume, counts


@pytest.mark.parametrize("name", ["mixed_2k"])
def test_two_threads_give_what_one_gives(name, monkeypatch):
    book = load_scenario(MIXED / f"{name}.json").book
    market = build_market(book)
    batches = pipeline._batches(market, components(market))
    assert len(batches) > 1  # something runs side by side
    assert any(len(b) > 1 for b in batches)  # and a batch of several components
    one = _outcome(book, monkeypatch, 1)
    for _ in range(2):
        assert _outcome(book, monkeypatch, 2) == one


class _Part:
    def __init__(self, name: str, size: int):
        self.name, self.orders = name, list(range(size))


@pytest.mark.parametrize("workers", [1, 2])
def test_components_of_a_batch_are_cleared_alone_only_for_a_failed_batch(workers, monkeypatch):
    # Batch 0 (two components) fails (without doubt first), batch 1 (two components) is in
    # doubt and clears, batch 2 is one component. The answers of the failed batch's components
    # are those of each alone; the alone answers of the batch that cleared are never asked
    # for, whether or not a spare thread started them early.
    from solver_models.outcome import StageReport

    monkeypatch.setattr(pipeline, "WORKERS", workers)
    batches = [[_Part("a", 5), _Part("b", 3)], [_Part("c", 4), _Part("d", 2)], [_Part("e", 9)]]

    def work(batch, in_doubt=lambda: None):
        names = "".join(p.name for p in batch)
        if names == "cd":
            in_doubt()  # its parts may start alone; it clears after all
        return (StageReport("allocation_mip", status="infeasible") if names == "ab"
                else f"cleared {names}"), names

    together, alone = pipeline._batches_then_alone(work, batches)
    assert [own for _, own in together] == ["ab", "cd", "e"]
    assert isinstance(together[0][0], StageReport)
    assert [a for a, _ in together[1:]] == ["cleared cd", "cleared e"]
    assert alone[0, 0]() == ("cleared a", "a") and alone[0, 1]() == ("cleared b", "b")
    assert {(0, 0), (0, 1)} <= set(alone) <= {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_a_solve_after_its_thread_was_stopped_returns_at_once():
    import numpy as np
    import scipy.sparse as sp

    from solver_models import highs

    model = highs.ArrayModel(np.array([1.0]), sp.csc_matrix(np.array([[1.0]])), np.array([1.0]),
                             np.array([2.0]), np.array([0.0]), np.array([5.0]),
                             np.array([True]), maximize=True)
    stop = highs.Cancel()
    with highs.cancelled_by(stop):
        assert highs.solve(model, SolverParams(), 10).status == "optimal"
        stop()
        assert highs.solve(model, SolverParams(), 10).status == "cancelled"
        assert highs.solve(model, SolverParams(), 10, highs.Cancel()).status == "optimal"
    assert highs.solve(model, SolverParams(), 10).status == "optimal"  # other solves: as ever
