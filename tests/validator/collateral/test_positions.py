"""Forward entry prices and realised results (collateral.md §4 Decision)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.validator.collateral.helpers import contract
from validator.collateral.positions import Position, Positions, trade

FWD = contract(1, "Forward", lot="0.5")


def test_weighted_average_then_reduction_then_flip():
    p = trade(Position(0), FWD, 4, Decimal(100))  # long 2 units at 100
    p = trade(p, FWD, 2, Decimal(130))  # +1 unit at 130 -> 3 units at 110
    assert (p.lots, p.entry_price) == (6, 110)
    p = trade(p, FWD, -2, Decimal(120))  # sell 1 unit at 120: realise +10
    assert (p.lots, p.entry_price, p.realised) == (4, 110, 10)
    p = trade(p, FWD, -6, Decimal(90))  # sell 3 units: close 2 (realise -40), 1 short at 90
    assert (p.lots, p.entry_price, p.realised) == (-2, 90, -30)
    p = trade(p, FWD, 2, Decimal(80))  # flat: realised stays until expiry
    assert (p.lots, p.entry_price, p.realised) == (0, 0, -20)
    assert not p.is_flat and Positions({(1, 1): p}).get(1, 1) == p


def test_options_just_add_lots():
    c = contract(2, "Call", 100)
    assert trade(Position(3), c, -5, Decimal(7)) == Position(-2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-10, 10).filter(bool), st.integers(1, 400)), max_size=12),
       st.integers(0, 600))
def test_forward_result_equals_sum_of_trades(trades, s):
    """units·(S − entry) + realised == Σ signed units × (S − traded price), for any S."""
    p = Position(0)
    for lots, price in trades:
        p = trade(p, FWD, lots, Decimal(price))
    lot = Fraction(FWD.lot_size)
    expected = sum((lots * lot * (s - price) for lots, price in trades), Fraction(0))
    assert p.lots * lot * (s - p.entry_price) + p.realised == expected
