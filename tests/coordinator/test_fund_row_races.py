"""Fund rows written by two processes at once on PostgreSQL: the chain monitor (deposits,
batches applied) and the coordinator's loop / the expiry job (settleValue, orderValue).

* Lock order: the monitor locks the fund rows of every known client its events touch first,
  in the order the other writers lock them (client, currency ascending), not one by one in
  chain order — two writers taking the same rows in opposite orders deadlock, and PostgreSQL
  then aborts one of them after ``deadlock_timeout``.
* No lost update: a read-modify-write (``fund_locks(for_update=True)`` then
  ``put_fund_locks(existing=…)``) that found no row for a (client, currency) inserts it and
  never overwrites a row another writer inserted meanwhile: it fails with ``Conflict`` (the
  callers retry) and the other writer's values stay."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from auction.cash import CashMovement, MovementOrigin
from auction.products import DEFAULT_CURRENCIES
from background.expiry import _move_settle_values
from coordinator.persistence import Conflict, Store
from coordinator.persistence import settlement as sq
from coordinator.persistence.migrate import upgrade
from coordinator.persistence.records import FundLock
from settlement.events import EventRef, FundsChanged, FundsKind
from tests.coordinator.settle_helpers import register

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store(pg_server, clock):
    store = Store.open(pg_server.create_database())
    upgrade(store.engine)
    with store.write() as tx:
        for sym in ("USDC", "WETH"):
            tx.put_currency(DEFAULT_CURRENCIES[sym])
    yield store
    store.dispose()


def _deposit(n: int, address: str, balance: int, currency: str = "USDC") -> FundsChanged:
    ref = EventRef(n, 0, f"0x{n:064x}", f"0x{n:064x}")
    return FundsChanged(ref, FundsKind.DEPOSIT, address, currency, balance, balance)


def _waiting_for_a_lock(store: Store, pid: int) -> bool:
    with store.read() as tx:
        return tx.conn.execute(text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
                                    "WHERE pid = :p"), {"p": pid}).scalar() is True


def test_the_monitor_locks_fund_rows_in_the_writers_order_not_in_chain_order(pg_store, clock):
    accts = register(pg_store, clock, [101, 102])
    with pg_store.write() as tx:
        tx.put_fund_locks([FundLock(101, "USDC", 1), FundLock(102, "USDC", 1)], clock.now_ms())
    # chain order: 102's deposit, then 101's (the other writers lock 101 before 102)
    events = [_deposit(1, accts[102].address, 700), _deposit(2, accts[101].address, 500)]
    errors: list[BaseException] = []
    pid: list[int] = []

    def monitor() -> None:
        try:
            with pg_store.write() as tx:
                pid.append(tx.conn.execute(text("SELECT pg_backend_pid()")).scalar())
                sq.apply_chain_events(tx, events, "test-edge", 2, {"USDC": 1}, clock.now_ms())
        except BaseException as e:
            errors.append(e)

    with pg_store.write() as tx:  # the loop: 101's row first ...
        tx.fund_locks([101], for_update=True)
        th = threading.Thread(target=monitor)
        th.start()
        deadline = time.monotonic() + 10
        while not (pid and _waiting_for_a_lock(pg_store, pid[0])):
            assert time.monotonic() < deadline, "the monitor never waited for the loop's lock"
            time.sleep(0.01)
        time.sleep(1.5)  # past deadlock_timeout (1 s): a cycle would have been broken by now
        # ... then 102's: granted at once when the monitor holds no row it waits behind
        tx.conn.execute(text("SET LOCAL lock_timeout = '5s'"))
        current = tx.fund_locks([101, 102], for_update=True)
        tx.put_fund_locks([FundLock(102, "USDC", current[(102, "USDC")].fund_lock_value,
                                    0, -3)], clock.now_ms(), existing=current)
    th.join(30)
    assert not th.is_alive()
    assert not errors, errors
    with pg_store.read() as tx:
        f = tx.fund_locks([101, 102])
    assert (f[(101, "USDC")].fund_lock_value, f[(102, "USDC")].fund_lock_value) == (500, 700)
    assert f[(102, "USDC")].settle_value == -3  # the loop's change kept too


def test_a_row_inserted_after_a_locked_read_is_never_overwritten(pg_store, clock):
    register(pg_store, clock, [101])
    with pg_store.write() as tx:
        tx.put_fund_locks([FundLock(101, "USDC", 1)], clock.now_ms())
    # the expiry job pays 101 in WETH (a currency 101 has no row in yet); meanwhile another
    # writer inserts that row (a first deposit) and commits before the job writes
    move = CashMovement(101, "WETH/USDC", MovementOrigin.EXPIRY, 1, -4, 0)
    with pytest.raises(Conflict), pg_store.write() as tx:
        locked_read = tx.fund_locks

        def read_then_other_writer(*args, **kw):
            got = locked_read(*args, **kw)
            if kw.get("for_update"):  # the job's locked read: no WETH row
                assert (101, "WETH") not in got
                with pg_store.write() as other:
                    other.put_fund_locks([FundLock(101, "WETH", 900)], clock.now_ms())
            return got

        tx.fund_locks = read_then_other_writer
        _move_settle_values(tx, [move], clock.now_ms())
    with pg_store.read() as tx:
        row = tx.fund_locks([101])[(101, "WETH")]
    assert (row.fund_lock_value, row.settle_value) == (900, 0)  # the deposit is kept
