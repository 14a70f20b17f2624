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
