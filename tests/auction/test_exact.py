"""No silent rounding in the domain: money, prices, quantities and wire strings stay exact
however many significant digits they carry, and whatever Decimal context the caller has set.

The values below have more than 28 significant digits once multiplied (lot × tick × ticks), so
the default Decimal context (28 digits) would round them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction
from math import gcd

import pytest

from auction.book import Book
from auction.interchange import book_from_dict, book_to_dict
from auction.orders import Leg, Order, Side
from auction.products import Contract, CurrencyPair, Payoff
from auction.units import PrecisionError, check_precision, decimal_places, fmt, to_steps

LOT, TICK = "1.23456789012345", "0.0123456789012347"  # 15 + 15 significant digits
PAIR = CurrencyPair("WETH", "USDC")
T = date(2025, 3, 28)


def contract(cid: int, *, lot: str = LOT, tick: str = TICK, low: str = "0",
             high: str = "123456.789", payoff: Payoff = Payoff.CALL) -> Contract:
    strike = None if payoff is Payoff.FORWARD else Decimal("3000")
    return Contract(cid, payoff, PAIR, T, strike, Decimal(tick), Decimal(lot), Decimal(low),
                    Decimal(low), Decimal(high))


def lot_value(c: Contract) -> Fraction:
    return Fraction(c.lot_size) * Fraction(c.tick_size)


def decimal(value: Fraction) -> Decimal:
    """An exact Decimal for a finite-decimal Fraction (integer work only)."""
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    return Decimal(f"{int(value * 10**places)}E-{places}")


@pytest.fixture(params=[28, 6], ids=["default-context", "prec-6-context"])
def context(request):
    with localcontext() as ctx:
        ctx.prec = request.param
        yield


def test_band_cap_is_exact(context):
    c1, c2 = contract(1), contract(2, lot="0.000987654321987654321", tick="0.33333333333337")
    book = Book({1: c1, 2: c2}, ())
    o = Order(1, 1, Decimal(0), (Leg(1, Side.BUY, 6), Leg(2, Side.SELL, 9)))  # a = (2, −3)
    hi1, lo2 = c1.band_ticks[1], c2.band_ticks[0]
    expected = 2 * lot_value(c1) * hi1 - 3 * lot_value(c2) * lo2
    assert book.band_cap(o) == expected
    assert book.effective_limit(o) == min(Fraction(0), expected)


def test_order_money_and_leg_value_are_exact(context):
    from auction.book import leg_value

    c = contract(1)
    book = Book({1: c}, ())
    o = Order(1, 1, Decimal(0), (Leg(1, Side.SELL, 4),))
    t = 9_876_543
    assert book.order_money(o, {1: t}) == -lot_value(c) * t
    assert Fraction(leg_value(c, t)) == lot_value(c) * t


def test_price_lattice_and_the_grid_rule_are_exact(context):
    c1, c2 = contract(1), contract(2, lot="7.00000000000003", tick="0.0123456789012349")
    scale = 10**40  # covers every place of lot × tick
    g = Fraction(gcd(int(2 * lot_value(c1) * scale), int(3 * lot_value(c2) * scale)), scale)
    legs = (Leg(1, Side.BUY, 2), Leg(2, Side.SELL, 3))
    book = Book({1: c1, 2: c2}, ())
    assert Fraction(book.price_lattice(Order(1, 1, Decimal(0), legs))) == g
    # a limit exactly on the grid reads as sent; one 1e-40 above reads floored onto it, one
    # 1e-40 below the next lattice point down (rule 11)
    on = Book({1: c1, 2: c2}, (Order(1, 1, decimal(5 * g), legs),))
    assert on.limit(on.orders[0]) == 5 * g
    up = Book({1: c1, 2: c2}, (Order(1, 1, decimal(5 * g + Fraction(1, 10**40)), legs),))
    assert up.limit(up.orders[0]) == 5 * g
    down = Book({1: c1, 2: c2}, (Order(1, 1, decimal(5 * g - Fraction(1, 10**40)), legs),))
    assert down.limit(down.orders[0]) == 4 * g


def test_single_leg_limit_on_the_grid_is_admitted(context):
    c = contract(1)
    limit = 7 * lot_value(c) * 12_345_678  # 7 lots at a price with many digits
    Book({1: c}, (Order(1, 1, decimal(limit), (Leg(1, Side.BUY, 7),)),))


def test_contract_price_quantity_and_reference_ticks_are_exact(context):
    c = contract(1, low="0.0123456789012347", high="12345.6789")
    t = 123_456_789_012_345
    assert Fraction(c.price(t)) == Fraction(c.tick_size) * t
    assert c.price(3) == Decimal("0.0370370367037041")  # the tick's exponent is kept
    assert str(contract(1, tick="0.50").price(3)) == "1.50"
    assert Fraction(c.quantity(t)) == Fraction(c.lot_size) * t
    c3 = Contract(3, Payoff.CALL, PAIR, T, Decimal(1), Decimal(3), Decimal(1), Decimal(100),
                  Decimal(0), Decimal(300))
    assert c3.reference_ticks == Fraction(100, 3)


def test_payoff_is_exact(context):
    c = contract(1)
    s = Decimal("12345678901234567890.123456789012")
    assert c.payoff_per_unit(s) == Decimal("12345678901234564890.123456789012")
    put = contract(2, payoff=Payoff.PUT)
    assert put.payoff_per_unit(Decimal("0.000000000000000000000000000001")) == Decimal(
        "2999.999999999999999999999999999999")
    fwd = contract(3, payoff=Payoff.FORWARD)
    assert fwd.payoff_per_unit(s, Decimal("0.5")) == Decimal("12345678901234567889.623456789012")


def test_fmt_is_exact(context):
    assert fmt(Decimal("1234567890123456789012345678901234")) == "1234567890123456789012345678901234"
    assert fmt(Decimal("1.00000000000000000000000000000010")) == "1.0000000000000000000000000000001"
    assert fmt(Decimal("-0.000")) == "0" and fmt(Decimal("1E+3")) == "1000"
    assert fmt(Decimal("-12.3400")) == "-12.34" and fmt(0) == "0" and fmt(-7) == "-7"
    assert fmt(Fraction(10**40 + 1, 10**10)) == "1000000000000000000000000000000.0000000001"
    assert fmt(Fraction(1, 2**40)) == "0." + str(5**40).rjust(40, "0")  # 40 places
    assert fmt(Fraction(-3, 8)) == "-0.375"
    with pytest.raises(PrecisionError, match="no finite decimal form"):
        fmt(Fraction(1, 3))


def test_decimal_places_and_precision_are_exact(context):
    d = Decimal("1.0000000000000000000000000000001")
    assert decimal_places(d) == 31
    assert decimal_places(Decimal("1.500")) == 1 and decimal_places(Decimal("1E+3")) == 0
    assert decimal_places(Decimal("0.000")) == 0
    with pytest.raises(PrecisionError):
        check_precision(d, 4)
    check_precision(Decimal("1.2300000000000000000000000000000000"), 2)


def test_to_steps_is_exact(context):
    step = Decimal("0.0123456789012347")
    n = 10**17 + 7  # exact beyond a float's 2**53, inside the range of amounts
    assert to_steps(decimal(n * Fraction(step)), step) == n
    with pytest.raises(PrecisionError):
        to_steps(decimal(n * Fraction(step) + Fraction(1, 10**40)), step)
    with pytest.raises(ValueError, match="step must be positive"):
        to_steps(Decimal(1), Decimal(0))


def test_min_quantity_round_trips_exactly(context):
    # minQuantity 1 + 1e-30 on lot 1: the exact ceiling is 2 packages (28 digits would say 1)
    c = {"contractId": 1, "payoff": "Call", "currencyPair": "WETH/USDC", "expiry": "20250328",
         "strike": "3000", "tickSize": "0.5", "lotSize": "1", "referencePrice": "10",
         "lowRange": "0", "highRange": "20"}
    o = {"orderId": 7, "clientId": 1, "totalNetPrice": "30", "timeInForce": "GOOD_TILL_CANCEL",
         "legs": [{"contractId": 1, "side": "BUY", "quantity": "3"}],
         "minQuantity": "1.000000000000000000000000000001"}
    b, _ = book_from_dict({"contracts": [c], "orders": [o]})
    assert b.order(7).min_packages == 2
    assert book_to_dict(b)["orders"][0]["minQuantity"] == "2"
