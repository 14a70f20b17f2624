"""Order intake under concurrency (``endpoint.orders.submit``): several writers at once — as
several API processes over one store — give the outcomes of one admission after the other.
On PostgreSQL the intake lock is taken in the round trip of admission's reads and the rows go
with the COMMIT in one round trip; these tests pin what that must keep: no order id twice, no
clientOrderId admitted twice, never more locked than the funds, ``orderValue`` the sum of the
live orders' locks, and nothing of a rolled-back request stored."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from coordinator.persistence import Store
from coordinator.persistence import tables as t
from coordinator.persistence.errors import StoreError
from coordinator.persistence.intake import INTAKE_LOCK, intake_reads
from coordinator.persistence.migrate import upgrade
from coordinator.persistence.records import FundLock
from coordinator.settings import Settings
from endpoint import orders as ords
from endpoint.errors import ApiError
from endpoint.models import OrderIn
from tests.endpoint.conftest import KEYS, NOW, Trader, seed

LEGS = [(1, "BUY", "0.10")]
PRICE = "100.0"
FITS = 25  # orders the client's USDC covers


def wire(store: Store, cache: ords.ReferenceCache, coid: int, legs=LEGS,
         price: str = PRICE) -> ords.WireOrder:
    trader = Trader("http://unused", KEYS[1])
    with store.read() as tx:
        contracts, currencies = cache.get(tx)
    return ords.parse_order(OrderIn.model_validate(trader.order_body(coid, legs, price)),
                            client_id=1, address=trader.address.lower(),
                            contracts=contracts, currencies=currencies)


def test_concurrent_writers_never_over_lock_nor_duplicate(seeded_store):
    """Four writers (threads with connections of their own: what two API processes are to
    the store) submit, at once, requests of the same client whose clientOrderIds overlap
    pairwise and whose locks together exceed its funds: exactly the orders that fit are
    admitted, each clientOrderId once, each with an order id of its own, and the stored fund
    values are the sum of the live orders' locks."""
    store, settings = seeded_store
    cache = ords.ReferenceCache()
    lock = wire(store, cache, 1).lock
    assert lock is not None and lock[0] == 0 and lock[1] > 0
    with store.write() as tx:
        tx.put_fund_locks([FundLock(1, "USDC", lock[1] * FITS), FundLock(1, "WBTC", 0)], NOW)
    writers, requests, per = 4, 6, 4
    # writers 0 and 2 send the same clientOrderIds, as do 1 and 3: 48 distinct ids, 25 fit
    work = [[[wire(store, cache, 1000 + 100 * (w % 2) + per * r + k) for k in range(per)]
             for r in range(requests)] for w in range(writers)]
    start = threading.Barrier(writers)
    outcomes: list[ords.Outcome] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def run(mine: list[list[ords.WireOrder]]) -> None:
        try:
            start.wait()
            for batch in mine:
                out = ords.submit(store, settings, batch, NOW, all_or_nothing=False,
                                  cache=cache)
                with guard:
                    outcomes.extend(out)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(work[w],)) for w in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    assert len(outcomes) == writers * requests * per
    ok = [o for o in outcomes if o.code == "OK"]
    assert len(ok) == FITS
    assert {o.code for o in outcomes} <= {"OK", "DUPLICATE_ORDER_ID", "INSUFFICIENT_FUNDS"}
    assert len({o.order_id for o in ok}) == FITS
    assert len({o.client_order_id for o in ok}) == FITS
    with store.read() as tx:
        live = tx.live_orders(client_ids=[1])
        funds = tx.fund_locks([1])
    assert sorted(so.order_id for so in live) == sorted(o.order_id for o in ok)
    assert sorted(so.client_order_id for so in live) == sorted(o.client_order_id for o in ok)
    assert funds[(1, "USDC")].order_value == sum(so.lock_numeraire for so in live) \
        == FITS * lock[1] == funds[(1, "USDC")].fund_lock_value


def test_a_rejected_new_order_stores_nothing(seeded_store):
    """``newOrder`` (all or nothing): a rejection raises before anything is sent, and the
    transaction rolls back — the store is as before. The next intake's order id: on SQLite
    the same as without the rejected request (max + 1); on PostgreSQL the sequence's values
    the rejected request took are not handed out again (a gap: sequences do not roll back),
    the next id is still above every stored one."""
    store, settings = seeded_store
    cache = ords.ReferenceCache()
    (first,) = ords.submit(store, settings, [wire(store, cache, 10)], NOW,
                           all_or_nothing=True, cache=cache)
    with store.read() as tx:
        before = (tx.count("orders"), tx.count("outbox"), tx.fund_locks([1]))
    with pytest.raises(ApiError) as e:
        ords.submit(store, settings, [wire(store, cache, 10)], NOW, all_or_nothing=True,
                    cache=cache)
    assert e.value.code == "DUPLICATE_ORDER_ID"
    with store.read() as tx:
        assert (tx.count("orders"), tx.count("outbox"), tx.fund_locks([1])) == before
    (nxt,) = ords.submit(store, settings, [wire(store, cache, 11)], NOW,
                         all_or_nothing=True, cache=cache)
    assert nxt.order_id > first.order_id
    if store.dialect == "sqlite":
        assert nxt.order_id == first.order_id + 1


@pytest.mark.postgres
def test_intake_reads_take_the_intake_lock(pg_server):
    """PostgreSQL: :func:`intake_reads` takes the intake lock (shared) and the client's lock
    itself, in the round trip of its reads (the locks first, the reads once they are
    granted): another intake of the same client waits for this transaction's commit and then
    reads what it committed, and takes the next order id."""
    url = pg_server.create_database()
    store = Store.open(url)
    upgrade(store.engine)
    seed(store, NOW)
    settings = Settings(database_url=url)
    cache = ords.ReferenceCache()
    try:
        first, second = wire(store, cache, 20), wire(store, cache, 21)
        got: dict[str, object] = {}
        with store.write() as tx:
            reads = intake_reads(tx, [first.order], [(1, first.client_order_id)])
            assert reads is not None and reads.order_ids == [1]
            pid = tx.conn.execute(text("SELECT pg_backend_pid()")).scalar()
            with store.read() as other:
                held = other.conn.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = :p AND objid::bigint = :k"), {"p": pid, "k": INTAKE_LOCK}).scalar()
            assert held == 1

            def later() -> None:
                got["out"] = ords.submit(store, settings, [second], NOW,
                                         all_or_nothing=True, cache=cache)

            waiter = threading.Thread(target=later)
            waiter.start()
            waiter.join(1.0)
            assert waiter.is_alive()  # waiting for the intake lock
            (mine,) = ords._admit(tx, settings, [first], cache.get_all(tx), NOW, True,
                                  reads).values()
            assert mine.order_id == 1
        waiter.join(30)
        assert not waiter.is_alive()
        (out,) = got["out"]  # type: ignore[misc]
        with store.read() as tx:
            ids = sorted(r[0] for r in tx.conn.execute(select(t.orders.c.order_id)))
        assert ids == [1, 2] and out.order_id == 2
    finally:
        store.dispose()


@pytest.mark.postgres
def test_rows_and_commit_in_one_pipeline(pg_server):
    """``Tx.deferred_inserts(commit=True)``: when the block ends the rows are committed (seen
    from another connection before ``Store.write()`` ends); left by an exception, nothing is
    stored; a statement after the COMMIT is an error and is not stored either."""
    store = Store.open(pg_server.create_database())
    upgrade(store.engine)
    seed(store, NOW)
    clients = t.clients

    def count() -> int:
        with store.read() as tx:
            return tx.conn.execute(select(func.count()).select_from(clients)).scalar()

    try:
        n = count()
        with store.write() as tx:
            with tx.deferred_inserts(commit=True):
                tx.insert_rows(clients, [{"client_id": 900, "registered_ms": NOW}])
                assert count() == n  # not sent yet
            assert count() == n + 1  # committed
        with pytest.raises(RuntimeError), store.write() as tx, \
                tx.deferred_inserts(commit=True):
            tx.insert_rows(clients, [{"client_id": 901, "registered_ms": NOW}])
            raise RuntimeError("before the commit")
        assert count() == n + 1
        with pytest.raises(StoreError), store.write() as tx:
            with tx.deferred_inserts(commit=True):
                tx.insert_rows(clients, [{"client_id": 902, "registered_ms": NOW}])
            tx.insert_rows(clients, [{"client_id": 903, "registered_ms": NOW}])
        with store.read() as tx:
            got = sorted(tx.conn.execute(select(clients.c.client_id)
                                         .where(clients.c.client_id >= 900)).scalars())
        assert got == [900, 902]
    finally:
        store.dispose()

