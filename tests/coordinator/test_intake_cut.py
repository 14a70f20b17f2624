"""The auction's cut against concurrent intake on PostgreSQL.

The loop reads the live orders admitted before its cut-off (``live_orders(admitted_before_ms=
batch_id + 1)``) in a plain read, without intake locks; an admission stamps ``admitted_ms``
before it takes its locks and commits later. So an order admitted (stamped) before the cut can
commit after the loop's read — with one global intake lock as with per-client locks: the loop
never took it. What must hold, and does: that order is not in this auction (the loop never saw
it), stays live, is in the next auction's cut, and the fund values the loop writes
afterwards (``orderValue`` recomputed from the live orders, under the fund rows' locks, which
the admission holds until its commit) count its lock."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from auction.orders import OrderStatus
from coordinator.clock import ManualClock
from coordinator.intake import admit_orders, orders_of
from coordinator.persistence import Store
from coordinator.persistence.intake import intake_reads
from coordinator.persistence.migrate import upgrade
from tests.coordinator.conftest import EOT, T0, assert_reconciles, coordinator, demo_data, seed

pytestmark = pytest.mark.postgres


def _one(oid, client, side, qty, price):
    sign = "" if side == "BUY" else "-"
    return {"orderId": oid, "clientId": client, "totalNetPrice": f"{sign}{price}",
            "legs": [{"contractId": 2, "side": side, "quantity": qty}]}


def _file(orders):
    return {"contracts": demo_data()["contracts"], "orders": orders}


def test_an_order_stamped_before_the_cut_and_committed_after_the_read_goes_to_the_next(
        pg_server):
    store = Store.open(pg_server.create_database())
    upgrade(store.engine)
    clock = ManualClock(T0)
    try:
        # 101 sells at 30; 102 rests a BUY at 1 (no cross): both funded by the import
        seed(store, clock, _file([_one(9001, 101, "SELL", "1", "30"),
                                  _one(9002, 102, "BUY", "1", "1")]))
        (late,) = orders_of(_file([_one(1, 102, "BUY", "1", "31")]))
        co = coordinator(store, clock)
        co.acquire()
        cut = T0 + 200
        got: dict = {}
        with store.write() as tx:  # the client API's admission of 102, stamped T0 + 100
            reads = intake_reads(tx, [late], [(102, 77)])
            assert reads is not None
            late = replace(late, order_id=reads.order_ids[0])
            adm = admit_orders(tx, [late], now_ms=T0 + 100, end_of_trading=EOT,
                               client_order_ids=[77], reads=reads, keep_rejected=False)
            assert [so.order_id for so in adm.admitted] == [late.order_id]

            def auction() -> None:
                try:
                    got["first"] = co.run_once(cut)
                except BaseException as e:  # reported below
                    got["error"] = e

            th = threading.Thread(target=auction, daemon=True)
            th.start()
            # the loop reads its orders (a read waits for nothing) before this commit; it
            # ends, or waits for a fund row this admission holds until its commit
            th.join(2.0)
            assert "error" not in got, got
        th.join(60)
        assert not th.is_alive() and "error" not in got, got
        first = got["first"]
        assert first.orders == 2 and first.fills == 0  # 9001 and 9002; not the late order
        with store.read() as tx:
            so = tx.order(late.order_id)
            assert so.status is OrderStatus.NEW and so.admitted_ms == T0 + 100 < cut
            # the loop's fund values count the late order's lock (written after its commit)
            assert tx.fund_locks([102])[(102, "USDC")].order_value == sum(
                o.lock_numeraire for o in tx.live_orders(client_ids=[102]))
        assert_reconciles(store)
        second = co.run_once(cut + 100)
        assert second.orders == 3  # 9001, 9002 and the late order: read once, not lost
        with store.read() as tx:
            assert late.order_id in {so.order_id for so in tx.live_orders(
                admitted_before_ms=cut + 101)}
            assert tx.order(late.order_id).status is OrderStatus.NEW
        assert_reconciles(store)
    finally:
        store.dispose()
