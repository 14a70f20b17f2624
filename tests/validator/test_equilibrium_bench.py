"""Opt-in benchmark: the check on a generated 100,000-order book (``pytest --benchmark-only -m bench``).

Measured 2026-11: ~0.2-0.3 s for a valid-looking result (reference prices, no fills), ~1 s when
every order is filled (tens of thousands of violations, one message each).
"""

from __future__ import annotations

import pytest

from auction.result import ClearingResult, Fill, reference_tick
from validator.equilibrium import check


@pytest.mark.bench
@pytest.mark.parametrize("filled", [False, True])
def test_check_100k_orders(benchmark, filled):
    from solver_models.generator import Recipe, generate_book  # a test may use the generator

    book = generate_book(Recipe(orders=100_000, seed=1, cross=False))
    prices = {cid: reference_tick(c) for cid, c in book.contracts.items()}
    fills = tuple(Fill(o.order_id, o.packages) for o in book.orders) if filled else ()
    report = benchmark(check, book, ClearingResult(prices, fills))
    assert report.volume == (sum(o.lots_per_package * o.packages for o in book.orders)
                             if filled else 0)
