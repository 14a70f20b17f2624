"""The chain monitor and the coordinator write the same fund rows at the same time: neither
loses the other's update (row locks on PostgreSQL, BEGIN IMMEDIATE on SQLite)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from auction.products import DEFAULT_CURRENCIES
from coordinator.persistence import Conflict
from coordinator.persistence import settlement as sq
from coordinator.persistence.records import FundLock
from settlement.events import EventRef, FundsChanged, FundsKind
from tests.coordinator.settle_helpers import register

ROUNDS = 40


def test_monitor_and_coordinator_never_lose_each_others_fund_updates(store, clock):
    (acct,) = register(store, clock, [101]).values()
    with store.write() as tx:
        tx.put_currency(DEFAULT_CURRENCIES["USDC"])
        tx.put_fund_locks([FundLock(101, "USDC")], clock.now_ms())
    errors: list[BaseException] = []

    def monitor() -> None:  # deposits: fundLockValue from the chain's balance
        try:
            for i in range(1, ROUNDS + 1):
                ev = FundsChanged(EventRef(i, 0, f"0x{i:064x}", f"0x{i:064x}"),
                                  FundsKind.DEPOSIT, acct.address, "USDC", 100, i * 100)
                while True:
                    try:
                        time.sleep(0.002)
                        with store.write() as tx:
                            sq.apply_chain_events(tx, [ev], "test-edge", i, {"USDC": 100},
                                                  clock.now_ms())
                        break
                    except Conflict:  # a deadlock victim: the whole step again
                        continue
        except BaseException as e:
            errors.append(e)

    def coordinator() -> None:  # batches: settleValue read-modify-write, as the loop does
        try:
            for _ in range(ROUNDS):
                while True:
                    try:
                        with store.write() as tx:
                            f = tx.fund_locks([101], for_update=True)[(101, "USDC")]
                            time.sleep(0.01)  # a batch takes a while between read and write
                            tx.put_fund_locks([replace(f, settle_value=f.settle_value - 1)],
                                              clock.now_ms())
                        break
                    except Conflict:
                        continue
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=monitor), threading.Thread(target=coordinator)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors
    with store.read() as tx:
        f = tx.fund_locks([101])[(101, "USDC")]
        assert tx.edge("test-edge") == ROUNDS
        assert tx.count("chain_events") == ROUNDS
    assert f.fund_lock_value == ROUNDS  # the last balance (ROUNDS × 100 native / 100)
    assert f.settle_value == -ROUNDS  # every coordinator change kept
