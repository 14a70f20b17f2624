"""Portfolio lockups: the four tables of collateral.md §3, and coverage as a property."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.products import Payoff
from tests.validator.collateral.helpers import BTC, CUR, ETH, T, contract
from validator.collateral.lockup import (
    Exposure,
    Lockup,
    bucket_lockup,
    collateral,
    lockup_of,
    payoff,
    unit_payoff,
    worst,
)
from validator.collateral.positions import BucketKey, Position, Positions


def _lockup(pair, legs):
    contracts = {i: contract(i, p, k, pair=pair) for i, (p, k, _) in enumerate(legs, 1)}
    pos = Positions({(7, i): Position(q) for i, (_, _, q) in enumerate(legs, 1)})
    return bucket_lockup(pos, BucketKey(7, str(pair), T), contracts, CUR).decimals(str(pair), CUR)


@pytest.mark.parametrize(("pair", "legs", "expected"), [
    (BTC, [("Call", 8000, -1), ("Call", 10000, 2), ("Call", 11000, -4)], ("3", "0")),
    (BTC, [("Put", 6000, -1)], ("0", "6000")),
    (ETH, [("Call", 2200, -1), ("Call", 2300, 2), ("Call", 2400, -4)], ("3", "0")),
    (ETH, [("Put", 2000, -1)], ("0", "2000")),
], ids=["BTC/USDC A", "BTC/USDC B", "ETH/USDC A", "ETH/USDC B"])
def test_spec_tables(pair, legs, expected):
    assert _lockup(pair, legs) == (Decimal(expected[0]), Decimal(expected[1]))


def test_spec_table_intermediate_values():
    # "U·S+P at 0/8,000/10,000/11,000 = 0/24,000/28,000/32,000"
    lines = [Exposure(contract(1, "Call", 8000), Fraction(-1)),
             Exposure(contract(2, "Call", 10000), Fraction(2)),
             Exposure(contract(3, "Call", 11000), Fraction(-4))]
    assert [3 * s + payoff(lines, s) for s in (0, 8000, 10000, 11000)] == [0, 24000, 28000, 32000]
    eth = [Exposure(contract(1, "Call", 2200, pair=ETH), Fraction(-1)),
           Exposure(contract(2, "Call", 2300, pair=ETH), Fraction(2)),
           Exposure(contract(3, "Call", 2400, pair=ETH), Fraction(-4))]
    assert [3 * s + payoff(eth, s) for s in (2200, 2300, 2400)] == [6600, 6800, 7200]


def test_rounding_up_to_precision():
    # 1/3 of a unit short a call on a lot of 0.000000001 WBTC (finer than 8 digits) rounds up
    c = contract(1, "Put", "100.00005", lot="1")
    pos = Positions({(1, 1): Position(-1)})
    lk = bucket_lockup(pos, BucketKey(1, str(BTC), T), {1: c}, CUR)
    assert lk == Lockup(0, 1000001)  # 100.00005 USDC -> 100.0001 (4 digits), up


def test_short_binary_call_counts_just_above_the_strike():
    # long call K=100 (tiny) and short binary call K=100: worst is the right limit at 100
    lines = [Exposure(contract(1, "Call", 100), Fraction(1, 10)),
             Exposure(contract(2, "BinaryCall", 100), Fraction(-5))]
    assert collateral(lines) == (0, 5)


def test_binary_payoffs_match_domain():
    for p in (Payoff.BINARY_CALL, Payoff.BINARY_PUT, Payoff.CALL, Payoff.PUT):
        c = contract(1, p, 100)
        for s in ("0", "99.99", "100", "100.01", "250"):
            assert unit_payoff(c, Fraction(Decimal(s))) == Fraction(c.payoff_per_unit(Decimal(s)))


def test_forward_entry_and_realised_in_the_payoff():
    f = contract(1, "Forward")
    # long 2 at 100, realised -30: at S = 0 the payoff is -230
    lines = [Exposure(f, Fraction(2), Fraction(100), Fraction(-30))]
    assert payoff(lines, 0) == -230
    assert collateral(lines) == (0, 230)
    assert collateral([Exposure(f, Fraction(-2), Fraction(100))]) == (2, 0)


PAYOFFS = ["Call", "Put", "BinaryCall", "BinaryPut", "Forward"]


@st.composite
def buckets(draw):
    n = draw(st.integers(1, 6))
    lines = []
    for i in range(n):
        p = draw(st.sampled_from(PAYOFFS))
        k = None if p == "Forward" else draw(st.integers(1, 40)) * 50
        q = Fraction(draw(st.integers(-20, 20)), draw(st.sampled_from([1, 2, 4, 10])))
        entry = Fraction(draw(st.integers(0, 3000))) if p == "Forward" else Fraction(0)
        realised = Fraction(draw(st.integers(-500, 500))) if p == "Forward" else Fraction(0)
        lines.append(Exposure(contract(i + 1, p, k), q, entry, realised))
    return lines


@settings(max_examples=150, deadline=None)
@given(buckets())
def test_lockup_covers_every_settlement_price(lines):
    """U·S + C + P(S) >= 0 on a fine grid reaching far beyond the strikes, with the rounded
    lockup (so rounding never takes away cover)."""
    lk = lockup_of(lines, str(BTC), CUR)
    u = Fraction(lk.underlying, 10**8)
    c = Fraction(lk.numeraire, 10**4)
    strikes = {Fraction(e.contract.strike) for e in lines if e.contract.strike is not None}
    grid = {Fraction(s, 4) for s in range(0, 4 * 6000, 61)}
    grid |= {k + d for k in strikes for d in (Fraction(-1, 10**6), 0, Fraction(1, 10**6))}
    grid |= {Fraction(10**6), Fraction(10**9)}
    for s in grid:
        if s >= 0:
            assert u * s + c + payoff(lines, s) >= 0, s


@settings(max_examples=100, deadline=None)
@given(buckets())
def test_lockup_is_minimal_at_some_price(lines):
    """Not over-collateralised: with U fixed, some settlement price (or the limit just above
    a strike) uses up the whole numeraire lock."""
    u, c = collateral(lines)
    if c > 0:
        low, _ = worst(lines, u)
        assert low == -c
