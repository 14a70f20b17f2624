"""Spies on the pipeline's stages, for tests that count what a solve ran."""

import solver_models.pipeline as pipeline
from solver_models import stages


def price_selection_runs(monkeypatch) -> list[list[str]]:
    """The names of the stages each price selection of the following solves ran, in order
    (appended to the returned list as they run)."""
    real = stages.price_selection
    runs: list[list[str]] = []

    def select(*args, **kwargs):
        prices = real(*args, **kwargs)
        runs.append([r.name for r in getattr(prices, "reports", ())])
        return prices

    monkeypatch.setattr(pipeline, "price_selection", select)
    return runs
