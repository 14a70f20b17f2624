"""Price selection builds the order rows of a lazy round once and shares them among the round's
lexicographic stages (rounding, surplus, reference: they differ only in their objective and
the bound rows of the stages before); the models HiGHS gets are the same as before."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np

import solver_models.pipeline as pipeline
from coordinator.scenarios import load_scenario
from solver_models import SolverParams, solve, stages


def test_a_rounds_stages_share_its_order_rows(monkeypatch):
    # mixed_2k: rounds that run the rounding and the reference stage (on no_cross the second
    # round keeps the first one's least rounding and runs only the reference stage)
    book = load_scenario(Path(__file__).resolve().parents[2]
                         / "scenarios/bench/mixed/mixed_2k.yaml").book
    real_isin, real_solve, real_select = np.isin, stages.highs.solve, stages.price_selection
    inside = []
    builds, models = [], []

    def isin(*args, **kwargs):  # once per build of a round's order rows (price selection)
        if inside:
            builds.append(1)
        return real_isin(*args, **kwargs)

    def counting_solve(model, *args, **kwargs):
        if inside:
            models.append(model)
        return real_solve(model, *args, **kwargs)

    def select(*args, **kwargs):
        inside.append(1)
        try:
            return real_select(*args, **kwargs)
        finally:
            inside.pop()

    monkeypatch.setattr(np, "isin", isin)
    monkeypatch.setattr(stages.highs, "solve", counting_solve)
    monkeypatch.setattr(pipeline, "price_selection", select)
    monkeypatch.setattr(pipeline, "WORKERS", 1)  # one batch at a time: the models in turn
    out = solve(book, SolverParams())
    assert out.result.prices
    assert len(models) >= 6
    assert 1 <= len(builds) < len(models)
    # a stage's model is the previous one plus a bound row, over the same columns
    grew = [(a, b) for a, b in pairwise(models)
            if b.a.shape == (a.a.shape[0] + 1, a.a.shape[1])]
    assert grew
    for a, b in grew:
        assert (b.a[:a.a.shape[0]] != a.a).nnz == 0
