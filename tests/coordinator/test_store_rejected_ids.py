"""A REJECTED order does not take its id (issue 16, item 4): on each engine."""

from __future__ import annotations

from coordinator.persistence.records import HistoryEntry, StoredOrder
from tests.coordinator.test_store import NOW, OrderStatus, _listed, _order


def test_a_rejected_order_frees_its_id_and_is_replaced_by_the_next_one(store):
    _listed(store)
    rejected = StoredOrder(_order(lots=20), "WETH/USDC", OrderStatus.REJECTED, NOW,
                           reject_reason="TRADING_CLOSED")
    with store.write() as tx:
        tx.ensure_clients([1], NOW)
        tx.insert_orders([rejected], [HistoryEntry(10, OrderStatus.PENDING_NEW,
                                                   OrderStatus.REJECTED, 0, NOW,
                                                   reason="TRADING_CLOSED")])
    with store.read() as tx:
        assert tx.order(10).status is OrderStatus.REJECTED
        assert tx.order_exists([10]) == set()  # the id is free again
    again = StoredOrder(_order(lots=30), "WETH/USDC", OrderStatus.NEW, NOW + 5,
                        lock_numeraire=462000)
    with store.write() as tx:
        tx.insert_orders([again], [HistoryEntry(10, OrderStatus.PENDING_NEW, OrderStatus.NEW, 0,
                                                NOW + 5)])
    with store.read() as tx:
        assert tx.order_exists([10]) == {10}
        [live] = tx.live_orders()
        assert live == again and live.order.legs[0].lots == 30
        assert tx.historical_orders() == []  # the rejected record was replaced
        assert [h.to_status for h in tx.history(10)] == [OrderStatus.REJECTED, OrderStatus.NEW]


def test_a_live_or_final_order_keeps_its_id(store):
    _listed(store)
    with store.write() as tx:
        tx.ensure_clients([1], NOW)
        tx.insert_orders([StoredOrder(_order(oid=11), "WETH/USDC", OrderStatus.NEW, NOW)], [])
    with store.read() as tx:
        assert tx.order_exists([10, 11]) == {11}
