"""The stream hub's pure parts: the indicative book (levels on the tick lattice, conditional
sizes apart), deltas that rebuild the book exactly, and execution reports."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from auction.orders import Leg, Order, OrderStatus, Side
from auction.products import DEFAULT_CURRENCIES, Contract, CurrencyPair, Payoff
from coordinator.events import Event, EventKind
from coordinator.persistence.records import StoredOrder
from coordinator.persistence.streams import RestingOrder
from endpoint.streams import (
    Levels,
    apply_delta,
    book_delta,
    book_payload,
    exec_report,
    indicative_books,
)

PAIR = CurrencyPair("WETH", "USDC")
FWD = Contract(1, Payoff.FORWARD, PAIR, date(2025, 1, 31), None, Decimal("0.5"), Decimal("0.1"),
               Decimal(3000), Decimal(2700), Decimal(3300))
CALL = Contract(2, Payoff.CALL, PAIR, date(2025, 1, 31), Decimal(3000), Decimal("0.1"),
                Decimal("0.1"), Decimal(199), Decimal(120), Decimal(280))
CONTRACTS = {1: FWD, 2: CALL}
CUR = DEFAULT_CURRENCIES


def resting(oid, price_units, packages, filled, *legs):
    return RestingOrder(oid, "WETH/USDC", price_units, packages, filled, tuple(legs))


def test_levels_on_the_lattice_inside_the_limit_and_conditional_apart():
    orders = [
        # buy 1.0 (10 lots) for at most 3004.7 per unit → the 3004.5 level (floored)
        resting(1, 30_047_000, 10, 0, (1, Side.BUY, 10)),
        # sell 0.5 for at least 3004.7 per unit → the 3005 level (ceiled); 0.2 filled
        resting(2, -15_023_500, 5, 2, (1, Side.SELL, 5)),
        # on the grid already: buy 0.3 at 2990
        resting(3, 8_970_000, 3, 0, (1, Side.BUY, 3)),
        resting(4, 29_900_000, 10, 0, (1, Side.BUY, 10)),  # another 1.0 at 2990
        # a spread: 2 packages of (buy 2 lots of 1, sell 1 lot of 2), one filled
        resting(5, 1_000_000, 2, 1, (1, Side.BUY, 4), (2, Side.SELL, 2)),
        resting(6, 0, 4, 4, (2, Side.BUY, 4)),  # nothing left: not in the book
    ]
    books = indicative_books(orders, CONTRACTS, CUR, [1, 2])
    p1 = book_payload(1, books[1], 0, None)
    assert p1["bids"] == [{"price": "3004.5", "size": "1"}, {"price": "2990", "size": "1.3"}]
    assert p1["asks"] == [{"price": "3005", "size": "0.3"}]
    assert (p1["conditionalBidQty"], p1["conditionalAskQty"]) == ("0.2", "0")
    p2 = book_payload(2, books[2], 0, None)
    assert p2["bids"] == p2["asks"] == []
    assert (p2["conditionalBidQty"], p2["conditionalAskQty"]) == ("0", "0.1")


prices = st.integers(2700, 3300).map(lambda n: Decimal(n))
sizes = st.integers(1, 50).map(lambda n: Decimal(n) / 10)
sides = st.dictionaries(prices, sizes, max_size=8)
levels = st.builds(Levels, sides, sides, sizes | st.just(Decimal(0)),
                   sizes | st.just(Decimal(0)))


@settings(max_examples=200, deadline=None)
@given(st.lists(levels, min_size=1, max_size=6))
def test_deltas_rebuild_every_book(states):
    """From the first snapshot, the deltas (deltaNum +1 each, none when nothing changed)
    rebuild every later book exactly."""
    snap = book_payload(7, states[0], 0, None)
    book, n = snap, 0
    for prev, new in itertools.pairwise(states):
        d = book_delta(7, prev, new, n + 1, 42)
        expected = book_payload(7, new, n + 1, 42)
        if d is None:
            assert {k: v for k, v in expected.items() if k not in ("deltaNum", "batchId")} \
                == {k: v for k, v in book.items() if k not in ("deltaNum", "batchId")}
            continue
        n += 1
        book = apply_delta(book, d)
        assert book == expected
        assert all(Decimal(x["size"]) >= 0 for x in d["bids"] + d["asks"])


def test_a_gap_is_detected():
    snap = book_payload(1, Levels(), 3, None)
    d = book_delta(1, Levels(), Levels(bids={Decimal(1): Decimal(1)}), 5, None)
    try:
        apply_delta(snap, d)
    except ValueError as e:
        assert "gap" in str(e)
    else:
        raise AssertionError("a delta with a gap was applied")


def test_exec_report_of_a_partial_fill_then_cancel():
    o = Order(9, 101, Decimal("-1200"), (Leg(1, Side.SELL, 2), Leg(2, Side.BUY, 4)))
    so = StoredOrder(o, "WETH/USDC", OrderStatus.PARTIALLY_FILLED, 0, filled_packages=1,
                     client_order_id=77)
    # two batches: 1 package at (3000, 190), then nothing; the fills are read up to the event
    fills = [(10, 1, -1, 30_000_000), (10, 2, 2, 1_900_000), (20, 1, -1, 31_000_000)]
    e = Event(EventKind.EXEC_REPORT, {"orderId": 9, "clientId": 101,
                                      "status": "PARTIALLY_FILLED", "filledPackages": 1,
                                      "lastFillPackages": 1}, 10, 5)
    rep = exec_report(e, so, CONTRACTS, CUR, fills)
    assert rep["clientOrderId"] == 77 and rep["orderId"] == 9 and rep["netPrice"] == "-1200"
    assert rep["orderStatus"] == "PARTIALLY_FILLED" and "ordRejReason" not in rep
    assert rep["details"] == [
        {"contractId": 1, "side": "SELL", "originalQty": "0.2", "remainingQty": "0.1",
         "thisFillQty": "0.1", "cancelledQty": "0", "avgPrice": "3000", "totalCost": "300"},
        {"contractId": 2, "side": "BUY", "originalQty": "0.4", "remainingQty": "0.2",
         "thisFillQty": "0.2", "cancelledQty": "0", "avgPrice": "190", "totalCost": "38"}]
    cancel = Event(EventKind.EXEC_REPORT, {"orderId": 9, "clientId": 101,
                                           "status": "PARTIALLY_FILLED_REM_CANCELLED",
                                           "filledPackages": 1}, 30, 6)
    rep = exec_report(cancel, so, CONTRACTS, CUR, fills)
    d1, d2 = rep["details"]
    assert (d1["remainingQty"], d1["cancelledQty"], d1["thisFillQty"]) == ("0", "0.1", "0")
    assert d2["cancelledQty"] == "0.2"
    # both fills of contract 1 count now: (3000 + 3100) / 2
    assert (d1["avgPrice"], d1["totalCost"]) == ("3050", "610")
