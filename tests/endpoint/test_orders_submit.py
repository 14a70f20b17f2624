"""Admission of wire orders (``endpoint.orders.submit``): the lock an order gets when it is
computed at parsing (outside the intake's transaction) is the lock admission computes, and a
lock computed against contracts that are no longer current is not used."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coordinator.persistence import Store
from endpoint import orders as ords
from endpoint.models import OrderIn
from tests.endpoint.conftest import KEYS, NOW, Trader

ORDERS = [  # (legs, totalNetPrice): single legs both sides, a forward, a binary, a package
    ([(1, "BUY", "0.20")], "400.0"),
    ([(2, "SELL", "0.10")], "-100.0"),
    ([(3, "BUY", "0.10")], "6100.0"),
    ([(4, "SELL", "3")], "-1.20"),
    ([(1, "BUY", "0.10"), (2, "SELL", "0.10")], "50.0"),
]


def parsed(store: Store, cache: ords.ReferenceCache, coid: int, legs, price) -> ords.WireOrder:
    trader = Trader("http://unused", KEYS[1])
    body = trader.order_body(coid, legs, price)
    with store.read() as tx:
        contracts, currencies = cache.get(tx)
    return ords.parse_order(OrderIn.model_validate(body), client_id=1,
                            address=trader.address.lower(), contracts=contracts,
                            currencies=currencies)


def stored_lock(store: Store, order_id: int) -> tuple[int, int]:
    with store.read() as tx:
        so = tx.order(order_id)
    return so.lock_underlying, so.lock_numeraire


def test_lock_computed_at_parsing_is_the_admissions_lock(seeded_store):
    store, settings = seeded_store
    cache = ords.ReferenceCache()
    for i, (legs, price) in enumerate(ORDERS):
        w = parsed(store, cache, 100 + i, legs, price)
        assert w.lock is not None and w.lock != (0, 0)
        bare = replace(parsed(store, cache, 200 + i, legs, price), lock=None)
        a, b = ords.submit(store, settings, [w, bare], NOW, all_or_nothing=False, cache=cache)
        assert (a.code, b.code) == ("OK", "OK")
        assert stored_lock(store, a.order_id) == stored_lock(store, b.order_id) == w.lock


def test_lock_of_stale_contracts_is_not_used(seeded_store):
    store, settings = seeded_store
    cache = ords.ReferenceCache()
    legs, price = ORDERS[0]
    true = parsed(store, cache, 300, legs, price).lock
    assert true is not None
    wrong = (true[0] + 1, true[1] + 7)
    current = parsed(store, cache, 301, legs, price)
    stale = replace(parsed(store, cache, 302, legs, price), lock=wrong,
                    reference=dict(current.reference or {}))  # equal, but not the cache's
    used = replace(current, lock=wrong)  # parsed against the current contracts: trusted
    a, b = ords.submit(store, settings, [stale, used], NOW, all_or_nothing=False, cache=cache)
    assert stored_lock(store, a.order_id) == true
    assert stored_lock(store, b.order_id) == wrong


def test_stored_orders_carry_their_client_order_id_and_expiry(seeded_store):
    """What admission stores for wire orders: the clientOrderId, and as expiry the
    iocAuctionTime when one was sent (GOOD_TILL_DATE's, or given with another time in force),
    else the time in force's own (end of the UTC day for DAY, none for GOOD_TILL_CANCEL); a
    rejected order (TRADING_CLOSED is stored; here a GTD time in the past, not stored) changes
    nothing of the others."""
    store, settings = seeded_store
    cache = ords.ReferenceCache()
    trader = Trader("http://unused", KEYS[1])
    with store.read() as tx:
        contracts, currencies = cache.get(tx)
    hour = 3_600_000
    cases = [(500, "GOOD_TILL_DATE", NOW + hour), (501, "GOOD_TILL_CANCEL", NOW + 2 * hour),
             (502, "DAY", None), (503, "GOOD_TILL_CANCEL", None),
             (504, "GOOD_TILL_DATE", NOW - hour)]
    wires = []
    for coid, tif, ioc in cases:
        body = trader.order_body(coid, [(1, "BUY", "0.10")], "100.0", tif=tif,
                                 **({"iocAuctionTime": ioc} if ioc is not None else {}))
        wires.append(ords.parse_order(OrderIn.model_validate(body), client_id=1,
                                      address=trader.address.lower(), contracts=contracts,
                                      currencies=currencies))
    out = ords.submit(store, settings, wires, NOW, all_or_nothing=False, cache=cache)
    assert [o.code for o in out] == ["OK"] * 4 + ["INVALID_ORDER_TIF"]
    end_of_day = (NOW // (24 * hour) + 1) * 24 * hour
    with store.read() as tx:
        got = [(so.client_order_id, so.expire_ms) for so in
               (tx.order(o.order_id) for o in out[:4])]
    assert got == [(500, NOW + hour), (501, NOW + 2 * hour), (502, end_of_day), (503, None)]


@pytest.mark.parametrize("policy", ["reject", "cancel_oldest"])
def test_duplicates_and_self_match_read_under_the_lock(seeded_store, policy):
    """What admission reads once it holds the intake lock (on PostgreSQL in one round trip):
    clientOrderIds stored already or repeated in the request are DUPLICATE_ORDER_ID; a sell
    crossing the client's resting buy is SELF_MATCH (or cancels the buy: ``cancel_oldest``),
    one that does not cross goes in; the funds are the sum of the live orders' locks."""
    store, settings = seeded_store
    settings = replace(settings, self_match=policy)
    cache = ords.ReferenceCache()
    buy = parsed(store, cache, 600, [(1, "BUY", "0.20")], "400.0")
    (first,) = ords.submit(store, settings, [buy], NOW, all_or_nothing=False, cache=cache)
    assert first.code == "OK"
    batch = [parsed(store, cache, 600, [(1, "SELL", "0.20")], "-500.0"),  # stored id
             parsed(store, cache, 601, [(1, "SELL", "0.20")], "-500.0"),  # no cross
             parsed(store, cache, 601, [(2, "BUY", "0.10")], "10.0"),  # repeated id
             parsed(store, cache, 602, [(1, "SELL", "0.20")], "-300.0")]  # crosses the buy
    out = ords.submit(store, settings, batch, NOW, all_or_nothing=False, cache=cache)
    assert [o.code for o in out] == ["DUPLICATE_ORDER_ID", "OK", "DUPLICATE_ORDER_ID",
                                     "SELF_MATCH" if policy == "reject" else "OK"]
    with store.read() as tx:
        live = {so.client_order_id: so for so in tx.live_orders(client_ids=[1])}
        funds = tx.fund_locks([1])
    assert set(live) == ({600, 601} if policy == "reject" else {601, 602})
    for cur, attr in (("WBTC", "lock_underlying"), ("USDC", "lock_numeraire")):
        assert funds[(1, cur)].order_value == sum(getattr(so, attr) for so in live.values())
