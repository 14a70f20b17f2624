"""Integration against anvil (npm @foundry-rs/anvil): a batch lands, a node restart mid-batch,
a re-org that drops a batch confirmed too early, a batch that reverts on chain."""

from __future__ import annotations

import time

import pytest

from settlement.chain import Chain
from settlement.deploy import deploy
from settlement.monitor import ChainMonitor
from settlement.port import InMemorySettlementStore
from settlement.reconcile import reconcile
from settlement.service import ServiceConfig, SettlementService
from settlement.status import SettleStatus
from tests.settlement.anvil import Anvil
from tests.settlement.helpers import CALL, PAIR, fund, movement, setup_movements

pytestmark = pytest.mark.chain
S = SettleStatus


@pytest.fixture(scope="module")
def node():
    with Anvil() as a:
        chain = Chain.connect(a.url)
        yield chain, deploy(chain, (PAIR,))


@pytest.fixture
def env(node):
    chain, dep = node
    snap = chain.rpc("evm_snapshot", [])
    clients = {1: chain.accounts[3], 2: chain.accounts[4], 3: chain.accounts[5]}
    store = InMemorySettlementStore.for_deployment(
        dep, {cid: a.address for cid, a in clients.items()})
    yield chain, dep, store, clients
    chain.rpc("evm_setAutomine", [True])
    chain.rpc("evm_revert", [snap])


def _fund_all(chain, dep, clients):
    for c in clients.values():
        fund(chain, dep, c, "WETH", 100)
        fund(chain, dep, c, "USDC", 10_000)


def _svc(chain, dep, store, **cfg):
    return SettlementService(chain, dep, store, chain.accounts[1], ServiceConfig(**cfg))


def _statuses(store, backend_id):
    key = next(t.movement_key for t in store.transitions if t.backend_id == backend_id)
    return [t.status for t in store.transitions if t.movement_key == key
            and t.backend_id == backend_id]


def test_a_batch_lands_and_reconciles(env):
    chain, dep, store, clients = env
    _fund_all(chain, dep, clients)
    svc = _svc(chain, dep, store, confirmations=3, finality_depth=4)
    (rep,) = svc.submit(setup_movements(dep=dep))
    reps = svc.run_until_settled(timeout=20, on_round=lambda: chain.mine(1))
    assert [r.status for r in reps] == [S.CONFIRMED]
    assert _statuses(store, rep.backend_id) == [S.PENDING, S.CONFIRMED]
    ChainMonitor(chain, dep, store, depth=2, on_batch_applied=svc.on_batch_applied).poll()
    assert rep.backend_id in store.final_batches
    assert reconcile(chain, dep, store) == []
    ledger = chain.contract("Ledger", dep.ledgers[PAIR])
    assert chain.call(ledger.functions.positions(CALL, clients[2].address)) == -20 * 10**7


def _poll_until_reported(svc, timeout: float = 15.0):
    """poll() until it reports a change: a loaded machine's anvil may mine a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        reps = svc.poll()
        if reps or time.monotonic() > deadline:
            return reps
        time.sleep(0.05)


def test_reorg_drops_a_batch_confirmed_too_early_and_it_is_resubmitted_once(env):
    chain, dep, store, clients = env
    _fund_all(chain, dep, clients)
    svc = _svc(chain, dep, store, confirmations=1, finality_depth=6)
    snap = chain.rpc("evm_snapshot", [])
    (rep,) = svc.submit(setup_movements(dep=dep))
    (rep,) = _poll_until_reported(svc)
    assert rep.status is S.CONFIRMED  # one confirmation: too early
    first_tx = rep.tx_hash
    chain.rpc("evm_revert", [snap])  # the re-org: the batch's block is gone
    chain.mine(2)
    (rep,) = _poll_until_reported(svc)
    assert rep.status is S.PENDING and rep.resubmissions == 1
    assert "re-org" in next(t.reason for t in store.transitions if t.status is S.FAILED)
    for _ in range(10):  # on to finality: no further resubmission
        svc.poll()
        chain.mine(1)
    (rep,) = svc.reports()
    assert rep.status is S.CONFIRMED and rep.resubmissions == 1
    assert chain.receipt(first_tx) is None  # the first transaction is gone for good
    assert _statuses(store, rep.backend_id) == [S.PENDING, S.CONFIRMED, S.FAILED, S.PENDING,
                                                S.CONFIRMED]
    ledger = chain.contract("Ledger", dep.ledgers[PAIR])
    assert chain.call(ledger.functions.positions(CALL, clients[1].address)) == 20 * 10**7
    store2 = InMemorySettlementStore.for_deployment(dep)
    ChainMonitor(chain, dep, store2, depth=0).poll()
    applied = [e for e in store2.events if type(e).__name__ == "BatchApplied"]
    assert [e.backend_id for e in applied] == [rep.backend_id]  # exactly once on chain


def test_a_batch_reverted_on_chain_is_reported_with_its_reason(env):
    chain, dep, store, clients = env
    _fund_all(chain, dep, clients)
    svc = _svc(chain, dep, store, confirmations=1)
    chain.rpc("evm_setAutomine", [False])
    # each batch alone is fine; together the second one overdraws client 3
    (a,) = svc.submit([movement(3, 1, 0, 8_000, {CALL: 1}, dep=dep)])
    (b,) = svc.submit([movement(3, 2, 0, 8_000, {CALL: 1}, dep=dep)])
    chain.mine(1)
    chain.rpc("evm_setAutomine", [True])
    reps = {r.backend_id: r for r in svc.poll()}
    assert reps[a.backend_id].status is S.CONFIRMED
    failed = reps[b.backend_id]
    assert failed.status is S.FAILED and failed.block_number is not None
    assert failed.reason.startswith(
        f"reverted: InsufficientBalance(client={clients[3].address}")
    assert svc.in_flight() == []  # reported, not resubmitted blindly
    # a batch refused before sending is reported the same way
    (c,) = svc.submit([movement(3, 3, 0, 50_000, {CALL: 1}, dep=dep)])
    assert c.status is S.FAILED and c.tx_hash is None
    assert c.reason.startswith("reverted: InsufficientBalance(")


def test_node_restart_mid_batch(tmp_path):
    state = tmp_path / "anvil-state.json"
    node = Anvil(state=state).start()
    try:
        chain = Chain.connect(node.url)
        dep = deploy(chain, (PAIR,))
        clients = {1: chain.accounts[3], 2: chain.accounts[4]}
        store = InMemorySettlementStore.for_deployment(
            dep, {cid: a.address for cid, a in clients.items()})
        _fund_all(chain, dep, clients)
        svc = _svc(chain, dep, store, confirmations=2)
        chain.rpc("evm_setAutomine", [False])
        (rep,) = svc.submit(setup_movements(dep=dep))
        assert rep.status is S.PENDING
        node.stop()  # the pool dies with the node; the chain state survives (--state)
        assert svc.poll() == [] and "unavailable" in svc.last_error
        node.start()
        reps = svc.run_until_settled(timeout=20, on_round=lambda: chain.mine(1))
        (rep,) = reps
        assert rep.status is S.CONFIRMED and rep.resubmissions == 1
        assert _statuses(store, rep.backend_id) == [S.PENDING, S.FAILED, S.PENDING,
                                                    S.CONFIRMED]
        assert any(t.reason.startswith("dropped") for t in store.transitions)
        ledger = chain.contract("Ledger", dep.ledgers[PAIR])
        assert chain.call(ledger.functions.positions(CALL, clients[1].address)) == 20 * 10**7
        assert chain.call(ledger.functions.applied(rep.backend_id))
    finally:
        node.stop()
