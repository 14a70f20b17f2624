"""Order-entry locks (collateral.md §2): the table, the API examples, packages vs legs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.validator.collateral.helpers import BTC, CUR, contract, order
from validator.collateral.errors import CollateralError
from validator.collateral.fees import FeeSchedule
from validator.collateral.locks import OrderLock, order_lock, order_lock_units

C = {1: contract(1, "Call", 6000), 2: contract(2, "Put", 6000), 3: contract(3, "Forward"),
     4: contract(4, "BinaryCall", 6000), 5: contract(5, "BinaryPut", 6000),
     6: contract(6, "Call", 7000)}


def test_api_example_buy_call():
    lock = order_lock(order(1, 1, 330, (1, "BUY", 30)), C)
    assert lock == OrderLock(str(BTC), Decimal(0), Decimal(330))
    assert lock.units(CUR) == {"WBTC": 0, "USDC": 3_300_000}


def test_api_example_synthetic_long_forward():
    lock = order_lock(order(1, 1, 110, (2, "SELL", 100), (1, "BUY", 100)), C)
    assert (lock.underlying, lock.numeraire) == (Decimal(0), Decimal(600110))


@pytest.mark.parametrize(("cid", "side", "tnp", "expected"), [
    (1, "BUY", 20, (0, 20)), (2, "BUY", 20, (0, 20)), (4, "BUY", "0.4", (0, "0.4")),
    (5, "BUY", "0.4", (0, "0.4")),
    (1, "SELL", -20, (2, 0)), (2, "SELL", -20, (0, 12000)), (4, "SELL", "-0.4", (0, 2)),
    (5, "SELL", "-0.4", (0, 2)), (3, "BUY", 12400, (0, 12400)), (3, "SELL", -12400, (2, 0)),
])
def test_single_leg_table(cid, side, tnp, expected):
    lock = order_lock(order(1, 1, tnp, (cid, side, 2)), C)
    assert (lock.underlying, lock.numeraire) == tuple(Decimal(x) for x in expected)


def test_partial_packages_scale_linearly():
    o = order(1, 1, 330, (1, "BUY", 30))  # 30 packages of 1 lot, 11 each
    lock = order_lock(o, C, packages=10)
    assert lock.numeraire == Decimal(110)
    o2 = order(2, 1, -60, (2, "SELL", 3))  # 3 packages at -20: locks 6000 per package
    assert order_lock(o2, C, packages=2).numeraire == Decimal(12000)
    with pytest.raises(CollateralError):
        order_lock(o2, C, packages=4)


def test_call_spread_never_locks_more_than_its_legs():
    # SELL call 6000 / BUY call 7000 (receives a premium): §3 alone would swap 1 underlying
    # for 1000 numeraire; the package keeps the legs' underlying instead.
    lock = order_lock(order(1, 1, -100, (1, "SELL", 1), (6, "BUY", 1)), C)
    assert (lock.underlying, lock.numeraire) == (Decimal(1), Decimal(0))


def test_fees_add_to_the_lock():
    fees = FeeSchedule(spot={str(BTC): Decimal(6000)})
    lock = order_lock(order(1, 1, 330, (1, "BUY", 30)), C, fees=fees)
    assert lock.numeraire == Decimal(330) + Decimal("0.0004") * 30 * 6000
    # two option legs: 80 % of the sum
    lock2 = order_lock(order(1, 1, 110, (2, "SELL", 100), (1, "BUY", 100)), C, fees=fees)
    assert lock2.numeraire == Decimal(600110) + Decimal("0.8") * 2 * Decimal("0.0004") * 100 * 6000


def test_mixed_pairs_rejected():
    cs = dict(C)
    cs[9] = contract(9, "Call", 2000, pair=BTC.__class__("WETH", "USDC"))
    with pytest.raises(CollateralError):
        order_lock(order(1, 1, 1, (1, "BUY", 1), (9, "BUY", 1)), cs)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(C)), st.sampled_from(["BUY", "SELL"]),
                          st.integers(1, 9), st.integers(0, 300)),
                min_size=1, max_size=5, unique_by=lambda t: t[0]))
def test_package_lock_never_more_than_its_legs(legs):
    """Each leg as its own order at its share of the price; the package locks no more of
    either currency than those orders together."""
    def signed(side, lots, price):
        return (1 if side == "BUY" else -1) * lots * price
    tnp = sum(signed(s, q, p) for _, s, q, p in legs)
    pkg = order_lock(order(1, 1, tnp, *[(c, s, q) for c, s, q, _ in legs]), C)
    singles = [order_lock(order(2, 1, signed(s, q, p), (c, s, q)), C) for c, s, q, p in legs]
    assert pkg.underlying <= sum(x.underlying for x in singles)
    assert pkg.numeraire <= sum(x.numeraire for x in singles)


def _units_by_decimals(o, contracts, packages=None):
    """``order_lock(…).units(CUR)`` as (pair, underlying units, numeraire units), or the
    error's type and text."""
    try:
        lk = order_lock(o, contracts, packages=packages)
        units = lk.units(CUR)
    except CollateralError as e:
        return type(e), str(e)
    und, num = lk.pair.split("/")
    return lk.pair, units.get(und, 0), units.get(num, 0)


C_FINE = {**C, 7: contract(7, "Call", "6500.5", tick="0.1", lot="0.01"),
          8: contract(8, "Put", 6000, tick="0.5", lot="0.3"),
          10: contract(10, "BinaryCall", 6100, lot="3")}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(C_FINE)), st.sampled_from(["BUY", "SELL"]),
                          st.integers(1, 12)),
                min_size=1, max_size=4, unique_by=lambda t: t[0]),
       st.integers(-10**6, 10**6), st.integers(0, 4), st.data())
def test_lock_units_in_integers_equal_the_decimal_lock(legs, price, places, data):
    """``order_lock_units`` (the intake's) gives exactly ``order_lock(…).units`` — the same
    integers, or the same error — for any legs, limit (limits per package without a finite
    decimal form included) and number of packages."""
    o = order(1, 1, str(Decimal(price).scaleb(-places)), *legs)
    x = data.draw(st.one_of(st.none(), st.integers(0, o.packages + 1)))
    try:
        got = order_lock_units(o, C_FINE, CUR, packages=x)
    except CollateralError as e:
        got = type(e), str(e)
    assert got == _units_by_decimals(o, C_FINE, x)
