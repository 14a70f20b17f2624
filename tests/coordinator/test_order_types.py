"""Order types: reduce-only, self-match prevention, GOOD_TILL_DATE (admission, store, loop).

Every rejection leaves the store as it was (no funds, no other order changed); every state
change goes through the order state table (the history ends in the stored status).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.interchange import book_from_dict, book_to_dict, order_to_dict
from auction.orders import Leg, Order, OrderStatus, Side, TimeInForce
from auction.products import DEFAULT_CURRENCIES
from auction.result import ClearingResult, Fill
from coordinator.admission import admit, crosses, reduce_only_problem
from coordinator.loop import Steps, reduce_only_caps
from coordinator.persistence.records import FundLock, StoredOrder
from coordinator.settings import Settings, SettingsError
from tests.coordinator.conftest import T0, assert_reconciles, coordinator, demo_data, seed
from validator.collateral.positions import Position, Positions

EOT = timedelta(hours=12)


def _contracts():
    book, _ = book_from_dict({"contracts": demo_data()["contracts"], "orders": []})
    return dict(book.contracts)


def _order(oid, client, side, qty_lots, price, cid=2, **kw) -> Order:
    sign = 1 if side == "BUY" else -1
    return Order(oid, client, Decimal(price) * sign, (Leg(cid, Side(side), qty_lots),), **kw)


def _admit(orders, live=(), positions=None, self_match="reject", now=T0):
    contracts = _contracts()
    balances = {(c, cur): FundLock(c, cur, 10**12) for c in range(100, 110)
                for cur in ("USDC", "WETH")}
    return admit(orders, contracts=contracts, currencies=DEFAULT_CURRENCIES, balances=balances,
                 live=live, existing_ids=set(), now_ms=now, end_of_trading=EOT,
                 positions=positions, self_match=self_match)


# ---- pure rules -------------------------------------------------------------------------------

def test_crossing_is_buy_limit_at_least_sell_limit_same_contract_same_client_only():
    buy = _order(1, 100, "BUY", 10, "310")  # 31 per lot of 0.1? limit per package = 31
    sell_low = _order(2, 100, "SELL", 10, "300")
    sell_high = _order(3, 100, "SELL", 10, "320")
    sell_eq = _order(4, 100, "SELL", 5, "155")  # same price per lot as the buy
    assert crosses(buy, sell_low) and crosses(sell_low, buy)
    assert not crosses(buy, sell_high)
    assert crosses(buy, sell_eq)
    assert not crosses(buy, _order(5, 100, "BUY", 10, "310"))  # same side
    assert not crosses(buy, _order(6, 100, "SELL", 10, "300", cid=3))  # other contract
    spread = Order(7, 100, Decimal("-50"), (Leg(2, Side.SELL, 10), Leg(3, Side.BUY, 10)))
    assert not crosses(buy, spread)  # single-leg orders only


def test_reduce_only_rule():
    o = _order(1, 100, "SELL", 5, "100")
    assert reduce_only_problem(o, {(100, 2): 5}) is None
    assert reduce_only_problem(o, {(100, 2): 10}) is None
    assert "exceed" in reduce_only_problem(o, {(100, 2): 4})
    assert "increase" in reduce_only_problem(o, {(100, 2): -3})
    assert "no position" in reduce_only_problem(o, {})
    assert "no position" in reduce_only_problem(o, {(101, 2): 5})  # another client's


@settings(max_examples=200, deadline=None)
@given(pos=st.integers(-50, 50), lots=st.integers(1, 60), buy=st.booleans())
def test_reduce_only_admitted_iff_it_never_increases_the_absolute_position(pos, lots, buy):
    o = _order(1, 100, "BUY" if buy else "SELL", lots, "1", reduce_only=True)
    adm = _admit([o], positions={(100, 2): pos})
    after = pos + (lots if buy else -lots)
    ok = abs(after) < abs(pos) or (after == 0 and pos != 0)
    ok = ok and (after == 0 or (after > 0) == (pos > 0))  # never through zero
    assert bool(adm.admitted) == ok
    if not ok:
        assert [r.code for r in adm.rejections] == ["REDUCE_ONLY_VIOLATION"]
        assert adm.funds == ()  # nothing locked
        assert adm.orders[0].status is OrderStatus.REJECTED


# ---- admission: rejected orders change nothing ----------------------------------------------

def _live(o: Order, status=OrderStatus.NEW, filled=0) -> StoredOrder:
    return StoredOrder(o, "WETH/USDC", status, T0 - 1000, filled_packages=filled,
                       lock_numeraire=1000)


def test_self_match_reject_changes_nothing():
    resting = _live(_order(1, 100, "SELL", 10, "300"))
    adm = _admit([_order(2, 100, "BUY", 10, "310")], live=[resting])
    assert [r.code for r in adm.rejections] == ["SELF_MATCH"]
    assert adm.cancelled == () and adm.funds == ()
    assert [so.status for so in adm.orders] == [OrderStatus.REJECTED]
    assert adm.orders[0].reject_reason == "SELF_MATCH"


def test_no_self_match_without_a_cross_or_with_another_client():
    resting = _live(_order(1, 100, "SELL", 10, "300"))
    adm = _admit([_order(2, 100, "BUY", 10, "290"), _order(3, 101, "BUY", 10, "310")],
                 live=[resting])
    assert not adm.rejections and len(adm.admitted) == 2


def test_self_match_within_one_request():
    adm = _admit([_order(1, 100, "SELL", 10, "300"), _order(2, 100, "BUY", 10, "310")])
    assert [r.code for r in adm.rejections] == ["SELF_MATCH"]
    assert [so.order_id for so in adm.admitted] == [1]


def test_self_match_cancel_oldest_cancels_the_resting_orders_and_admits():
    r1 = _live(_order(1, 100, "SELL", 10, "300"))
    r2 = _live(_order(2, 100, "SELL", 10, "305"), OrderStatus.PARTIALLY_FILLED, filled=4)
    r3 = _live(_order(3, 100, "SELL", 10, "330"))  # does not cross
    adm = _admit([_order(9, 100, "BUY", 10, "310")], live=[r1, r2, r3],
                 self_match="cancel_oldest")
    assert not adm.rejections and [so.order_id for so in adm.admitted] == [9]
    assert {so.order_id: so.status for so in adm.cancelled} == {
        1: OrderStatus.CANCELED, 2: OrderStatus.PARTIALLY_FILLED_REM_CANCELLED}
    assert all(so.lock_numeraire == 0 for so in adm.cancelled)
    assert {(h.order_id, h.to_status, h.reason) for h in adm.history if h.reason} == {
        (1, OrderStatus.CANCELED, "SELF_MATCH"),
        (2, OrderStatus.PARTIALLY_FILLED_REM_CANCELLED, "SELF_MATCH")}


def test_self_match_cancel_oldest_within_one_request():
    adm = _admit([_order(1, 100, "SELL", 10, "300"), _order(2, 100, "BUY", 10, "310")],
                 self_match="cancel_oldest")
    assert {so.order_id: so.status for so in adm.orders} == {1: OrderStatus.CANCELED,
                                                             2: OrderStatus.NEW}
    assert [(h.order_id, h.to_status) for h in adm.history] == [
        (1, OrderStatus.NEW), (1, OrderStatus.CANCELED), (2, OrderStatus.NEW)]


def test_bad_self_match_setting():
    with pytest.raises(ValueError):
        _admit([], self_match="both")
    with pytest.raises(SettingsError):
        Settings(self_match="both")
    assert Settings().self_match == "reject"


def test_good_till_date_needs_a_future_time():
    gtd = TimeInForce.GOOD_TILL_DATE
    adm = _admit([_order(1, 100, "BUY", 1, "300", time_in_force=gtd),
                  _order(2, 100, "BUY", 1, "300", time_in_force=gtd, good_till_ms=T0),
                  _order(3, 100, "BUY", 1, "300", time_in_force=gtd, good_till_ms=T0 + 5)])
    assert [(r.order_id, r.code, r.stored) for r in adm.rejections] == [
        (1, "INVALID_ORDER_TIF", False), (2, "INVALID_ORDER_TIF", False)]
    assert [(so.order_id, so.expire_ms) for so in adm.orders] == [(3, T0 + 5)]


# ---- interchange ---------------------------------------------------------------------------

def test_interchange_carries_reduce_only_and_ioc_auction_time():
    data = demo_data()
    data["orders"][0].update(reduceOnly=True, timeInForce="GOOD_TILL_DATE",
                             iocAuctionTime=T0 + 60_000)
    book, _ = book_from_dict(data)
    o = book.orders[0]
    assert o.reduce_only and o.good_till_ms == T0 + 60_000
    assert not book.orders[1].reduce_only and book.orders[1].good_till_ms is None
    d = order_to_dict(o, book.contracts)
    assert d["reduceOnly"] is True and d["iocAuctionTime"] == T0 + 60_000
    assert "reduceOnly" not in order_to_dict(book.orders[1], book.contracts)
    assert book_from_dict(book_to_dict(book))[0] == book
    for bad in ({"reduceOnly": "yes"}, {"iocAuctionTime": "soon"}, {"iocAuctionTime": True}):
        d2 = demo_data()
        d2["orders"][0].update(bad)
        with pytest.raises(ValueError, match=r"orders\[0\]"):
            book_from_dict(d2)


# ---- through the store and the loop (both engines) -----------------------------------------

def _snapshot(store):
    with store.read() as tx:
        return (sorted((so.order_id, so.status, so.version) for so in tx.live_orders()),
                sorted(tx.fund_locks().items()), tx.count("historical_orders"),
                tx.count("order_flags"))


def _one(oid, client, side, qty, price, **extra):
    sign = "" if side == "BUY" else "-"
    return {"orderId": oid, "clientId": client, "totalNetPrice": f"{sign}{price}",
            "legs": [{"contractId": 2, "side": side, "quantity": qty}], **extra}


def _file(orders):
    return {"contracts": demo_data()["contracts"], "orders": orders}


def test_store_keeps_reduce_only_and_gtd(store, clock):
    clock.now = T0
    seed(store, clock)
    with store.write() as tx:
        tx.ensure_clients([901], T0)
        tx.put_positions({(901, 2): Position(10)}, None, T0)
    rep = seed(store, clock, _file([
        _one(9001, 901, "SELL", "0.5", "15", reduceOnly=True),
        _one(9002, 902, "BUY", "0.1", "30", timeInForce="GOOD_TILL_DATE",
             iocAuctionTime=T0 + 120_000)]))
    assert rep.admitted == 2, rep.rejections
    with store.read() as tx:
        ro, gtd = tx.order(9001), tx.order(9002)
    assert ro.order.reduce_only and not gtd.order.reduce_only
    assert gtd.order.good_till_ms == T0 + 120_000 and gtd.expire_ms == T0 + 120_000


def test_rejected_reduce_only_and_self_match_change_nothing(store, clock):
    clock.now = T0
    seed(store, clock)
    before = _snapshot(store)
    rep = seed(store, clock, _file([
        _one(9001, 101, "SELL", "0.5", "15", reduceOnly=True),  # client 101 holds nothing
        _one(9002, 101, "SELL", "1", "1", timeInForce="GOOD_TILL_DATE")]))
    assert [r.code for r in rep.rejections] == ["REDUCE_ONLY_VIOLATION", "INVALID_ORDER_TIF"]
    after = _snapshot(store)
    assert after[0] == before[0] and after[1] == before[1]  # live book and funds as they were
    # the reduce-only order is kept as REJECTED (with its flag), nothing else
    assert (after[2], after[3]) == (before[2] + 1, before[3] + 1)
    with store.read() as tx:
        assert tx.order(9001).status is OrderStatus.REJECTED
        assert tx.history(9001)[-1].reason == "REDUCE_ONLY_VIOLATION"
    assert_reconciles(store)


def test_self_match_through_the_store(store, clock):
    clock.now = T0
    seed(store, clock, _file([_one(9001, 101, "SELL", "1", "30")]))
    before = _snapshot(store)
    rep = seed(store, clock, _file([_one(9002, 101, "BUY", "1", "31")]))
    assert [r.code for r in rep.rejections] == ["SELF_MATCH"]
    assert _snapshot(store)[:2] == before[:2]
    from coordinator.intake import import_book
    from tests.coordinator.conftest import RICH

    rep = import_book(store, _file([_one(9003, 101, "BUY", "1", "31")]), clock,
                      end_of_trading=EOT, credit=RICH, self_match="cancel_oldest")
    assert rep.admitted == 1 and not rep.rejections
    with store.read() as tx:
        old = tx.order(9001)
        assert old.status is OrderStatus.CANCELED and old.lock_numeraire == 0
        assert tx.history(9001)[-1].reason == "SELF_MATCH"
        assert [so.order_id for so in tx.live_orders()] == [9003]
    assert_reconciles(store)


def test_gtd_expires_at_its_time(store, clock):
    clock.now = T0
    seed(store, clock, _file([_one(9001, 101, "BUY", "1", "1", timeInForce="GOOD_TILL_DATE",
                                   iocAuctionTime=T0 + 5_000)]))
    co = coordinator(store, clock)
    co.run_once(T0 + 4_999)
    with store.read() as tx:
        assert tx.order(9001).status is OrderStatus.NEW
    co.run_once(T0 + 5_000)
    with store.read() as tx:
        assert tx.order(9001).status is OrderStatus.CANCELED
        assert tx.history(9001)[-1].reason == "EXPIRED"
    assert_reconciles(store)


def _fill_all(book, params):
    """A 'solver' that fills every order of the cut book completely (to see the caps)."""
    return "X", ClearingResult({cid: 1 for cid in book.contracts},
                               tuple(Fill(o.order_id, o.packages) for o in book.orders)), {}


def test_loop_caps_reduce_only_by_the_position_at_the_cut(store, clock):
    clock.now = T0
    seed(store, clock, _file([]))
    with store.write() as tx:
        tx.ensure_clients([901], T0)
        tx.put_positions({(901, 2): Position(10)}, None, T0)
    rep = seed(store, clock, _file([_one(9001, 901, "SELL", "0.6", "0.6", reduceOnly=True),
                                    _one(9002, 901, "SELL", "0.6", "0.6", reduceOnly=True)]))
    assert rep.admitted == 2
    # the position shrinks to 7 lots before the cut (e.g. another auction)
    with store.write() as tx:
        tx.put_positions({(901, 2): Position(7)}, None, T0)
    seen = {}

    def solve(book, params):
        seen.update({o.order_id: o.packages for o in book.orders})
        return "X", ClearingResult({cid: 1 for cid in book.contracts}, ()), {}

    co = coordinator(store, clock, steps=Steps(solve=solve, check=lambda b, r, s: []))
    co.run_once(T0 + 1000)
    assert seen == {9001: 6, 9002: 1}  # 6 + 1 = the 7 lots left, in entry order
    with store.write() as tx:
        tx.put_positions({(901, 2): Position(0)}, None, T0)
    seen.clear()
    co.run_once(T0 + 2000)
    assert seen == {}
    with store.read() as tx:
        for oid in (9001, 9002):
            assert tx.order(oid).status is OrderStatus.CANCELED
            assert tx.history(oid)[-1].reason == "REDUCE_ONLY_VIOLATION"


def test_reduce_only_caps_pure():
    def so(oid, side, lots, client=1, aon=False, ratio_legs=None):
        legs = ratio_legs or (Leg(2, Side(side), lots),)
        return StoredOrder(Order(oid, client, Decimal(1), legs, reduce_only=True,
                                 all_or_none=aon), "WETH/USDC", OrderStatus.NEW, T0)

    pos = Positions.of({(1, 2): -5, (1, 3): 4})
    caps = reduce_only_caps([so(1, "BUY", 3), so(2, "BUY", 3), so(3, "SELL", 1),
                             so(4, "BUY", 1, ratio_legs=(Leg(2, Side.BUY, 2),
                                                         Leg(3, Side.SELL, 2)))], pos)
    assert caps == {1: 3, 2: 2, 3: 0, 4: 0}
    caps = reduce_only_caps([so(5, "x", 0, ratio_legs=(Leg(2, Side.BUY, 4),
                                                       Leg(3, Side.SELL, 2)))], pos)
    assert caps == {5: 2}  # ratio (2, -1): 5 // 2 = 2 on contract 2, 4 // 1 = 4 on 3


def test_reduce_only_order_in_a_real_auction_never_flips_the_position(store, clock):
    clock.now = T0
    seed(store, clock)
    # client 777 is long 3 lots of the forward and sells them reduce-only at the band's bottom
    with store.write() as tx:
        tx.ensure_clients([777], T0)
        tx.put_positions({(777, 1): Position(3)}, None, T0)
    rep = seed(store, clock, _file([
        {"orderId": 9100, "clientId": 777, "totalNetPrice": "-810", "reduceOnly": True,
         "legs": [{"contractId": 1, "side": "SELL", "quantity": "0.3"}]}]))
    assert rep.admitted == 1, rep.rejections
    co = coordinator(store, clock)
    co.run_once(T0 + 1000)
    with store.read() as tx:
        pos = tx.positions([777]).get((777, 1), 0)
        filled = tx.order(9100).filled_packages
    assert filled > 0 and pos == 3 - filled >= 0  # it traded and never went short


@settings(max_examples=200, deadline=None)
@given(pos=st.dictionaries(st.sampled_from([2, 3, 4]), st.integers(-30, 30), max_size=3),
       orders=st.lists(st.lists(st.tuples(st.sampled_from([2, 3, 4]), st.booleans(),
                                          st.integers(1, 12)), min_size=1, max_size=3,
                                unique_by=lambda t: t[0]), min_size=1, max_size=6))
def test_reduce_only_caps_never_increase_or_flip_a_position(pos, orders):
    stored = []
    for i, legs in enumerate(orders):
        legs = tuple(sorted((Leg(cid, Side.BUY if buy else Side.SELL, lots)
                             for cid, buy, lots in legs), key=lambda leg: leg.contract_id))
        stored.append(StoredOrder(Order(i + 1, 1, Decimal(1), legs, reduce_only=True),
                                  "WETH/USDC", OrderStatus.NEW, T0))
    caps = reduce_only_caps(stored, Positions.of({(1, c): v for c, v in pos.items()}))
    after = dict(pos)
    for so in stored:  # every order filled up to its cap: the worst case
        x = caps[so.order_id]
        assert 0 <= x <= so.remaining
        for a, leg in zip(so.order.ratios, so.order.legs, strict=True):
            before = after.get(leg.contract_id, 0)
            now = before + a * x
            assert abs(now) <= abs(before) and now * before >= 0, (so.order, x)
            after[leg.contract_id] = now
