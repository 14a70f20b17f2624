"""Settlement service, chain monitor and reconciliation on the in-process EVM."""

from __future__ import annotations

import pytest

from settlement.chain import Chain
from settlement.deploy import deploy
from settlement.monitor import ChainMonitor
from settlement.port import InMemorySettlementStore
from settlement.reconcile import reconcile
from settlement.service import ServiceConfig, SettlementService
from settlement.status import SettleStatus
from tests.settlement.helpers import CALL, PAIR, fund, movement, setup_movements

pytestmark = pytest.mark.chain
S = SettleStatus


@pytest.fixture(scope="module")
def _evm():
    chain = Chain.in_process()
    return chain, deploy(chain, (PAIR, "WBTC/USDC"))


@pytest.fixture
def evm(_evm):
    chain, dep = _evm
    tester = chain.w3.provider.ethereum_tester
    snap = tester.take_snapshot()
    clients = {1: chain.accounts[2], 2: chain.accounts[3], 3: chain.accounts[4]}
    store = InMemorySettlementStore.for_deployment(
        dep, {cid: a.address for cid, a in clients.items()})
    yield chain, dep, store, clients
    tester.enable_auto_mine_transactions()
    tester.revert_to_snapshot(snap)


def _service(chain, dep, store, **cfg):
    return SettlementService(chain, dep, store, chain.accounts[1],
                             ServiceConfig(**{"confirmations": 3, "finality_depth": 5, **cfg}))


def test_batch_lands_confirms_after_n_blocks_and_reconciles(evm):
    chain, dep, store, clients = evm
    for c in clients.values():
        fund(chain, dep, c, "WETH", 100)
        fund(chain, dep, c, "USDC", 10_000)
    svc = _service(chain, dep, store)
    (rep,) = svc.submit(setup_movements(dep=dep))
    assert rep.status is S.PENDING and rep.tx_hash
    assert svc.poll() == []  # mined (auto-mine) but 1 confirmation < 3
    chain.mine(1)
    assert svc.poll() == []
    chain.mine(1)
    (rep,) = svc.poll()
    assert rep.status is S.CONFIRMED
    for key in rep.movement_keys:
        assert store.movement_status(key) is S.CONFIRMED
    assert [(t.previous, t.status) for t in store.transitions] == [
        (None, S.PENDING), (None, S.PENDING), (S.PENDING, S.CONFIRMED), (S.PENDING, S.CONFIRMED)]
    ledger = chain.contract("Ledger", dep.ledgers[PAIR])
    assert chain.call(ledger.functions.positions(CALL, clients[1].address)) == 20 * 10**7
    assert chain.call(ledger.functions.positions(CALL, clients[2].address)) == -20 * 10**7

    mon = ChainMonitor(chain, dep, store, depth=2, on_batch_applied=svc.on_batch_applied)
    assert mon.poll() > 0
    assert store.final_batches == {rep.backend_id: rep.block_number}
    # deposits registered and fundLockValue in precision units (USDC precision 4)
    assert store.fund_lock_value[(clients[1].address, "USDC")] == (10_000 - 200) * 10**4
    assert store.fund_lock_value[(clients[2].address, "WETH")] == 80 * 10**7
    assert reconcile(chain, dep, store) == []


def test_reconciliation_reports_differences_and_writes_nothing(evm):
    chain, dep, store, clients = evm
    fund(chain, dep, clients[1], "USDC", 50)
    mon = ChainMonitor(chain, dep, store, depth=0)
    mon.poll()
    assert reconcile(chain, dep, store) == []
    store.fund_lock_value[(clients[1].address, "USDC")] = 1  # the store disagrees
    (d,) = reconcile(chain, dep, store)
    assert (d.kind, d.key, d.chain, d.store) == ("balance", (clients[1].address, "USDC"),
                                                 50 * 10**4, 1)
    assert store.fund_lock_value[(clients[1].address, "USDC")] == 1  # never overwritten
    fl = chain.contract("FundLock", dep.fund_lock)
    assert chain.call(fl.functions.balances(clients[1].address, dep.tokens["USDC"])) == 50 * 10**6


def test_reverted_batch_is_reported_with_its_reason_and_retried_only_on_request(evm):
    chain, dep, store, clients = evm
    fund(chain, dep, clients[2], "WETH", 100)  # client 1 has no USDC to pay the premium
    svc = _service(chain, dep, store, confirmations=1)
    (rep,) = svc.submit(setup_movements(dep=dep))
    assert rep.status is S.FAILED
    assert rep.reason.startswith(f"reverted: InsufficientBalance(client={clients[1].address}")
    assert svc.poll() == [] and svc.in_flight() == []  # a revert is not resubmitted blindly
    fund(chain, dep, clients[1], "USDC", 1_000)
    rep = svc.retry(rep.backend_id)
    assert rep.status is S.PENDING
    (rep,) = svc.poll()
    assert rep.status is S.CONFIRMED and rep.resubmissions == 1
    statuses = [(t.previous, t.status) for t in store.transitions if t.movement_key.endswith(
        ":1:WETH/USDC")]
    assert statuses == [(None, S.FAILED), (S.FAILED, S.PENDING), (S.PENDING, S.CONFIRMED)]


def test_stuck_transaction_is_repriced_and_replaced(evm):
    chain, dep, store, clients = evm
    for c in clients.values():
        fund(chain, dep, c, "WETH", 100)
        fund(chain, dep, c, "USDC", 10_000)
    now = [0.0]
    svc = SettlementService(chain, dep, store, chain.accounts[1],
                            ServiceConfig(confirmations=1, finality_depth=2,
                                          stuck_after_seconds=30), clock=lambda: now[0])
    tester = chain.w3.provider.ethereum_tester
    tester.disable_auto_mine_transactions()
    (rep,) = svc.submit(setup_movements(dep=dep))
    first = rep.tx_hash
    assert svc.poll() == []  # pending, not stuck yet
    now[0] = 31.0
    (rep,) = svc.poll()
    assert rep.status is S.REPLACED and rep.tx_hash != first
    tester.enable_auto_mine_transactions()
    tester.mine_blocks(1)
    (rep,) = svc.poll()
    assert rep.status is S.CONFIRMED
    assert chain.call(chain.contract("Ledger", dep.ledgers[PAIR]).functions.applied(
        rep.backend_id))


def test_monitor_resumes_from_the_edge_and_handles_nothing_twice(evm):
    chain, dep, store, clients = evm
    fund(chain, dep, clients[1], "USDC", 10)
    chain.mine(1)  # the deposit's block is now 1 deep
    ChainMonitor(chain, dep, store, depth=1).poll()
    seen = len(store.events)
    edge = store.edge
    assert seen >= 2 and edge == chain.block_number() - 1
    fund(chain, dep, clients[2], "USDC", 20)  # mint, approve, deposit: new blocks
    fl = chain.contract("FundLock", dep.fund_lock)
    chain.execute(fl.functions.withdraw(dep.tokens["USDC"], 5 * 10**6), clients[2])
    chain.mine(1)
    restarted = ChainMonitor(chain, dep, store, depth=1)  # a new process: only the store remains
    n = restarted.poll()
    assert n == len(store.events) - seen > 0
    assert len({e.ref for e in store.events}) == len(store.events)
    assert restarted.poll() == 0
    assert store.fund_lock_value[(clients[2].address, "USDC")] == 15 * 10**4
    assert store.pending_withdrawals[(clients[2].address, "USDC")] == 5 * 10**6
    assert sorted(store.addresses.values()) == sorted(c.address for c in clients.values())


def test_many_movements_split_into_several_batches_all_confirm(evm):
    chain, dep, store, clients = evm
    for c in clients.values():
        fund(chain, dep, c, "USDC", 10_000)
    moves = [movement(1 + i % 3, 2000 + i, 0, 1, {100 + i: 1}, dep=dep) for i in range(12)]
    svc = _service(chain, dep, store, confirmations=1, gas_budget=400_000)
    reps = svc.submit(moves)
    assert len(reps) > 1
    chain.mine(1)
    reps = svc.run_until_settled(timeout=10)
    assert {r.status for r in reps} == {S.CONFIRMED}
    assert {store.movement_status(m.key) for m in moves} == {S.CONFIRMED}
    assert reconcile(chain, dep, store) == []


def test_a_store_error_mid_submission_leaves_no_recorded_batch_unsent(evm):
    """The store fails (a deadlock, a lost connection) while the first batch of a submission
    is being sent: every batch of the submission is recorded already, so every one of them
    must still be sent and confirmed by the same process — none waits for a restart."""
    chain, dep, store, clients = evm
    for c in clients.values():
        fund(chain, dep, c, "USDC", 10_000)
    moves = [movement(1 + i % 3, 3000 + i, 0, 1, {100 + i: 1}, dep=dep) for i in range(12)]
    svc = _service(chain, dep, store, confirmations=1, gas_budget=400_000)
    real = store.record_tx
    calls = []

    def fails_once(backend_id, sent):
        calls.append(backend_id)
        if len(calls) == 1:
            raise RuntimeError("could not serialize access (the store's error)")
        real(backend_id, sent)

    store.record_tx = fails_once
    with pytest.raises(RuntimeError):
        svc.submit(moves)
    recorded = sorted(store.batches)
    assert len(recorded) > 1  # the whole submission was recorded before the error
    chain.mine(1)
    reps = svc.run_until_settled(timeout=10)
    assert sorted(r.backend_id for r in reps) == recorded
    assert {r.status for r in reps} == {S.CONFIRMED}
    assert {store.movement_status(m.key) for m in moves} == {S.CONFIRMED}
    ledger = chain.contract("Ledger", dep.ledgers[PAIR])
    assert all(chain.call(ledger.functions.applied(b)) for b in recorded)
    assert reconcile(chain, dep, store) == []
