"""The local search without the whole-package allowance is skipped, not solved, when the near
orders provably cannot balance the far ones (``stages._unbalanceable``: per instrument the
right-hand side outside what the near orders can reach, or not a multiple of their gcd) — an
exact shortcut: the same books give the same prices and fills with the model solved."""

from __future__ import annotations

import solver_models.pipeline as pipeline
import solver_models.stages as stages
from solver_models import SolverParams, solve
from solver_models.generator import Recipe, generate_book
from solver_models.outcome import StageReport


def test_an_unreachable_balance_skips_the_local_mip_and_changes_nothing(monkeypatch):
    book = generate_book(Recipe(seed=1, orders=1000))  # the bench's orders_1k
    skipped = []
    real = stages.local_mip

    def spy(*args, **kwargs):
        found = real(*args, **kwargs)
        if isinstance(found, StageReport) and "balance unreachable" in found.size:
            skipped.append(found)
        return found

    monkeypatch.setattr(pipeline, "local_mip", spy)
    fast = solve(book, SolverParams())
    assert skipped and all(r.status == "infeasible" and r.solve_seconds == 0 for r in skipped)

    # every local MIP solved by HiGHS: the same answer (the allocation MIP's own shortcut is
    # off too — it is exact as well)
    monkeypatch.setattr(stages, "_unbalanceable", lambda *a: False)
    skipped.clear()
    slow = solve(book, SolverParams())
    assert not skipped
    assert slow.status == fast.status
    assert slow.result.prices == fast.result.prices
    assert slow.result.filled() == fast.result.filled()
