"""The domain: package form, order lifecycle, book validation and the interchange format."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.book import BookError
from auction.interchange import book_from_dict, book_to_dict, result_from_dict, result_to_dict
from auction.orders import IllegalTransition, Leg, Order, OrderStatus, Side, transition
from auction.products import Contract, CurrencyPair, Payoff, parse_expiry
from auction.replication import AtomicKind, replicate
from auction.result import ClearingResult, Fill

CALL = {"contractId": 1, "payoff": "Call", "currencyPair": "WBTC/USDC", "expiry": "20220304",
        "strike": "6000", "tickSize": "0.5", "lotSize": "0.1", "referencePrice": "110",
        "lowRange": "50", "highRange": "200"}
PUT = {**CALL, "contractId": 2, "payoff": "Put"}


def leg(cid, side, qty):
    return {"contractId": cid, "side": side, "quantity": qty}


def test_package_form_of_a_conditional_order():
    o = Order(1, 7, Decimal("110"), (Leg(4925, Side.SELL, 100), Leg(4926, Side.BUY, 100)))
    assert o.packages == 100 and o.ratios == (-1, 1)
    assert o.limit_per_package == Fraction(11, 10)
    assert o.lots_per_package == 2
    o2 = Order(2, 7, Decimal("-30"), (Leg(1, Side.BUY, 6), Leg(2, Side.SELL, 9)))
    assert (o2.packages, o2.ratios, o2.limit_per_package) == (3, (2, -3), Fraction(-10))


def test_wire_example_buy_30_calls_at_total_330():
    b, _ = book_from_dict({"contracts": [CALL], "orders": [
        {"orderId": 1, "clientId": 1, "totalNetPrice": "330.0000", "legs": [leg(1, "BUY", "3")]}]})
    o = b.orders[0]
    assert o.packages == 30  # 3 WBTC in lots of 0.1
    assert o.limit_per_package == 11  # 110 per WBTC = 11 per lot


@pytest.mark.parametrize("orders, message", [
    ([{"orderId": 1, "clientId": 1, "totalNetPrice": "1", "legs": [leg(9, "BUY", "1")]}],
     "orders[0].legs[0]: unknown contract 9"),
    ([{"orderId": 1, "clientId": 1, "totalNetPrice": "11", "legs": [leg(1, "BUY", "0.1")]},
      {"orderId": 1, "clientId": 1, "totalNetPrice": "11", "legs": [leg(1, "BUY", "0.1")]}],
     "order 1: duplicate orderId"),
    ([{"orderId": 1, "clientId": 1, "totalNetPrice": "1",
       "legs": [leg(1, "BUY", "0.1"), leg(1, "SELL", "0.1")]}], "legs on one contract twice"),
    ([{"orderId": 1, "clientId": 1, "totalNetPrice": "1", "legs": [leg(1, "BUY", "0.15")]}],
     "is not a multiple of 0.1"),
    ([{"orderId": 1, "clientId": 1, "totalNetPrice": "1", "legs": [leg(1, "BUY", "-1")]}],
     "quantity -1 is not positive"),
    ([{"orderId": 1, "clientId": 1, "totalNetPrice": "11", "legs": [leg(1, "BUY", "0.1")],
       "colour": "red"}], "orders[0]: unknown key 'colour'"),
    ([{"orderId": 1, "clientId": 1, "totalNetPrice": 11.0, "legs": [leg(1, "BUY", "0.1")]}],
     "expected a decimal string"),
    ([{"orderId": 1, "clientId": 1, "totalNetPrice": "11", "timeInForce": "FOREVER",
       "legs": [leg(1, "BUY", "0.1")]}], "timeInForce 'FOREVER'"),
])
def test_malformed_books_are_rejected_naming_the_order_and_rule(orders, message):
    with pytest.raises(BookError) as e:
        book_from_dict({"contracts": [CALL, PUT], "orders": orders})
    assert message in str(e.value)


def test_a_limit_off_the_tick_lattice_is_read_floored_onto_it():
    """Rule 11: 10 for 3 packages is 3.333… per package; the lattice of one lot of contract 1
    is the lot's money per tick, so the limit reads as the nearest lattice price below it; a
    seller's signed limit floors the same way (it receives at least the nearest above)."""
    b, _ = book_from_dict({"contracts": [CALL, PUT], "orders": [
        {"orderId": 1, "clientId": 1, "totalNetPrice": "10", "legs": [leg(1, "BUY", "0.3")]},
        {"orderId": 2, "clientId": 1, "totalNetPrice": "-10", "legs": [leg(1, "SELL", "0.3")]}]})
    buy, sell = b.orders
    step = Fraction(b.price_lattice(buy))
    assert b.limit(buy) == step * (Fraction(10, 3) // step) <= Fraction(10, 3)
    assert b.limit(buy) > Fraction(10, 3) - step
    assert b.limit(sell) == step * (Fraction(-10, 3) // step) <= Fraction(-10, 3)
    assert buy.total_net_price == 10  # the client's limit is kept as sent


def test_crossed_band_and_missing_strike_are_rejected():
    with pytest.raises(BookError, match="crossed price band"):
        book_from_dict({"contracts": [{**CALL, "lowRange": "300"}], "orders": []})
    with pytest.raises(BookError, match="needs a strike"):
        book_from_dict({"contracts": [{k: v for k, v in CALL.items() if k != "strike"}],
                        "orders": []})


def test_book_and_result_round_trip():
    data = {"contracts": [CALL, PUT], "orders": [
        {"orderId": 5, "clientId": 2, "totalNetPrice": "-22", "timeInForce": "GOOD_TILL_CANCEL",
         "legs": [leg(1, "SELL", "0.2")]},
        {"orderId": 6, "clientId": 3, "totalNetPrice": "44", "timeInForce": "DAY",
         "legs": [leg(1, "BUY", "0.4")], "allOrNone": True}]}
    b, _ = book_from_dict(data)
    assert book_from_dict(book_to_dict(b))[0] == b
    r = ClearingResult({1: 220, 2: 200}, (Fill(5, 2),))
    wire = result_to_dict(b, r, status="OPTIMAL")
    assert wire["prices"] == {"1": "110", "2": "100"}
    assert wire["fills"] == [{"orderId": 5, "legs": [
        {"contractId": 1, "side": "SELL", "quantity": "0.2"}]}]
    assert result_from_dict(b, wire) == r


def test_order_lifecycle_is_a_table():
    s = transition(OrderStatus.PENDING_NEW, OrderStatus.NEW)
    s = transition(s, OrderStatus.PARTIALLY_FILLED)
    s = transition(s, OrderStatus.FILLED)
    assert s.is_final
    with pytest.raises(IllegalTransition):
        transition(OrderStatus.FILLED, OrderStatus.CANCELED)
    with pytest.raises(IllegalTransition):
        transition(OrderStatus.NEW, OrderStatus.PENDING_NEW)


def test_replication_of_puts_and_binary_puts():
    put = Contract(2, Payoff.PUT, CurrencyPair("WETH", "USDC"), parse_expiry("20260101"),
                   Decimal(2000), Decimal("0.1"), Decimal("0.1"), Decimal(5), Decimal(0),
                   Decimal(50))
    rep = replicate(put)
    assert [(a.kind, c) for a, c in rep.terms] == [(AtomicKind.CALL, 1), (AtomicKind.FORWARD, -1)]
    assert rep.cash == 2000
    bp = replicate(Contract(3, Payoff.BINARY_PUT, put.pair, put.expiry, Decimal(2000),
                            Decimal("0.01"), Decimal(1), Decimal("0.5"), Decimal(0), Decimal(1)))
    assert [(a.kind, c) for a, c in bp.terms] == [(AtomicKind.BINARY_CALL, -1)] and bp.cash == 1
    assert replicate(put, enabled=False).terms[0][0].kind is AtomicKind.CONTRACT


@given(st.integers(0, 10_000), st.integers(1, 9_999))
def test_binary_call_and_put_pay_exactly_one(s, k):
    pair, exp = CurrencyPair("WETH", "USDC"), parse_expiry("20260101")
    bc = Contract(1, Payoff.BINARY_CALL, pair, exp, Decimal(k), Decimal("0.01"), Decimal(1),
                  Decimal("0.5"), Decimal(0), Decimal(1))
    bp = Contract(2, Payoff.BINARY_PUT, pair, exp, Decimal(k), Decimal("0.01"), Decimal(1),
                  Decimal("0.5"), Decimal(0), Decimal(1))
    assert bc.payoff_per_unit(Decimal(s)) + bp.payoff_per_unit(Decimal(s)) == 1


@given(st.integers(0, 10_000), st.integers(1, 9_999))
def test_put_call_parity_of_payoffs(s, k):
    pair, exp = CurrencyPair("WETH", "USDC"), parse_expiry("20260101")
    mk = lambda p, K: Contract(1, p, pair, exp, K, Decimal(1), Decimal(1), Decimal(1),  # noqa: E731
                               Decimal(0), Decimal(10**6))
    call, put, fwd = mk(Payoff.CALL, Decimal(k)), mk(Payoff.PUT, Decimal(k)), mk(Payoff.FORWARD, None)
    # +1 put ≡ +1 call − 1 forward (traded at F) + cash K − F ... at expiry: P = C − (S − F) + K − F
    assert put.payoff_per_unit(Decimal(s)) == (call.payoff_per_unit(Decimal(s))
                                               - fwd.payoff_per_unit(Decimal(s), Decimal(0)) + k)
