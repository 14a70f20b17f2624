"""A route's local search that found nothing runs gated in the route's later rounds while the
route only drops indivisible orders at the money (``pipeline._route``'s ``barren``; branch
slow30, docs/performance.md "Stop 30 — slow30": campaign s66002's 3,985-order component spent
30 s of CPU twice on the same two searches with the allowance at 4 steps, one order apart).
The gate finds no point where the search found none: on this book the answer is the one of
the searches ungated in every round."""

from __future__ import annotations

import solver_models.pipeline as pipeline
from solver_models import SolverParams, solve
from solver_models.generator import Recipe, generate_book
from solver_models.stages import LocalEquilibrium


def _s20014():
    """Campaign seed 20 book 14 (505 orders): a 195-order component's rounds drop
    indivisible orders after every search found nothing."""
    return generate_book(Recipe(
        seed=20014, pair="WETH/USDC", spot="3000", start="20250103", expiries=2,
        strikes_per_expiry=9, strike_step=0.05, orders=505, combo_share=0.2,
        combo_types=("vertical", "calendar", "straddle", "butterfly", "risk_reversal", "ratio",
                     "condor", "conversion", "box", "binary_spread"),
        aon_share=0.42, price_noise=0.093, bias=0.5, volatility=0.6, band=0.5,
        include_puts=True, include_binaries=True, include_forwards=True, cross=True,
        clients=0, pairs=("WBTC/USDC",), limit_places=4))


def _spy(monkeypatch, calls: list, ungate: bool):
    real = pipeline.local_mip

    def spy(market, comp, reduced, near, *args, **kwargs):
        short = args[3] if len(args) > 3 else kwargs.get("short", False)
        key = (near, short, kwargs.get("near_short", False))
        neighbourhood = near in pipeline.LOCAL_NEIGHBOURHOODS
        # the near-short search runs gated always (branch gate31, its own test in
        # test_fresh_books.py): only the other searches' gate is this rule's
        gated = bool(kwargs.get("gate")) and neighbourhood and not kwargs.get("near_short")
        if ungate and gated:
            kwargs.pop("gate")
        found = real(market, comp, reduced, near, *args, **kwargs)
        if neighbourhood:
            calls.append((key, len(comp.orders), gated, isinstance(found, LocalEquilibrium)))
        return found

    monkeypatch.setattr(pipeline, "local_mip", spy)


def test_a_search_that_found_nothing_runs_gated_in_the_next_rounds(monkeypatch):
    book = _s20014()
    calls: list = []
    _spy(monkeypatch, calls, ungate=False)
    gated = solve(book, SolverParams())
    repeats = [(i, c) for i, c in enumerate(calls) if c[2]]
    assert repeats  # the rule is exercised
    for i, (key, size, _, found) in repeats:
        # the same search found nothing before, on the same component with more orders
        assert any(k == key and s > size and not f for k, s, _, f in calls[:i])
        assert not found

    calls.clear()
    _spy(monkeypatch, calls, ungate=True)
    ungated = solve(book, SolverParams())
    assert not any(c[3] for c in calls if c[0] in {k for _, (k, *_) in repeats})
    assert ungated.status == gated.status
    assert ungated.result.prices == gated.result.prices
    assert ungated.result.filled() == gated.result.filled()
