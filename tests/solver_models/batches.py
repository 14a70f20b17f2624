"""Helpers for tests of batches: independent parts joined into one book, the batches the
pipeline clears, and each part's answer compared with the part's answer alone."""

from __future__ import annotations

from dataclasses import replace

from auction.book import Book
from solver_models import SolverParams, pipeline, solve
from tests.solver_models.test_pipeline_properties import _objectives


def joined(parts: list[Book]) -> Book:
    """One book of independent parts (their contracts and orders disjoint)."""
    return Book({k: v for p in parts for k, v in p.contracts.items()},
                tuple(o for p in parts for o in p.orders))


def clears(monkeypatch) -> list[int]:
    """Per call of ``pipeline._clear`` in the following solves, how many parts it was given
    (a batch's, or 0 for a component alone); appended as they run."""
    real = pipeline._clear
    counts: list[int] = []

    def spy(*args, **kwargs):
        counts.append(len(kwargs.get("parts") or ()))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_clear", spy)
    return counts


def assert_each_as_alone(parts: list[Book], out) -> None:
    """Each part's share of ``out`` (a solve of the joined book) has the objectives of the
    part's answer alone."""
    for part in parts:
        alone = solve(part, SolverParams())
        ids = {o.order_id for o in part.orders}
        mine = replace(out.result, prices={k: out.result.prices[k] for k in part.contracts},
                       fills=tuple(f for f in out.result.fills if f.order_id in ids))
        assert _objectives(part, mine) == _objectives(part, alone.result), (mine, alone.result)
