"""Settlement in the venue: the auction loop's batches settle on a real EVM (py-evm in-process)
through the SQL store, on SQLite and PostgreSQL; deposits register clients; the monitor
resumes at its edge; a crash between sending and recording loses and repeats nothing."""

from __future__ import annotations

import pytest
from eth_utils import event_abi_to_log_topic

from auction.cash import MovementOrigin
from coordinator.persistence import settlement as sq
from coordinator.persistence import tables as t
from coordinator.settling import SettlementRunner, reconcile_store
from settlement import artifacts
from settlement.chain import Chain
from settlement.deploy import deploy
from settlement.status import SettleStatus
from tests.coordinator.conftest import coordinator, demo_data, seed
from tests.coordinator.settle_helpers import (
    PAIR,
    client_account,
    fee_movements,
    fund_on_chain,
    register,
    runner_settings,
    write_movements,
)

pytestmark = pytest.mark.chain
S = SettleStatus
DEMO_IDS = sorted({o["clientId"] for o in demo_data()["orders"]})
FUNDS = {"WETH": 10_000, "USDC": 10_000_000}


@pytest.fixture(scope="module")
def _funded():
    chain = Chain.in_process()
    dep = deploy(chain, (PAIR,))
    fund_on_chain(chain, dep, [client_account(c) for c in DEMO_IDS], FUNDS)
    return chain, dep


@pytest.fixture
def evm(_funded):
    chain, dep = _funded
    tester = chain.w3.provider.ethereum_tester
    snap = tester.take_snapshot()
    yield chain, dep
    tester.enable_auto_mine_transactions()
    tester.revert_to_snapshot(snap)


def _runner(store, clock, chain, dep, **kw):
    return SettlementRunner(store, runner_settings(**kw), chain, dep, clock)


def _chain_balance(chain, dep, address, sym):
    fl = chain.contract("FundLock", dep.fund_lock)
    scale = 10 ** (dep.currencies[sym].decimals - dep.currencies[sym].precision)
    return chain.call(fl.functions.balances(address, dep.tokens[sym])) // scale


def _applied_backend_ids(chain, dep) -> list[int]:
    """Every PositionsUpdated(backendId) the Ledger emitted, in chain order."""
    topic = "0x" + event_abi_to_log_topic(next(
        e for e in artifacts.load("Ledger").abi if e.get("name") == "PositionsUpdated")).hex()
    logs = chain.get_logs([dep.ledgers[PAIR]], dep.start_block, chain.block_number(),
                          topics=[topic])
    return [int.from_bytes(bytes(lg["topics"][1]), "big") for lg in logs]


def test_auction_batches_settle_confirm_and_reconcile(store, clock, evm):
    chain, dep = evm
    accts = register(store, clock, DEMO_IDS)
    runner = _runner(store, clock, chain, dep)
    runner.run_until_caught_up(timeout=60)
    with store.read() as tx:  # the deposits reached the funds state
        funds = tx.fund_locks()
    for cid in DEMO_IDS:
        assert funds[(cid, "USDC")].fund_lock_value == FUNDS["USDC"] * 10**4
        assert funds[(cid, "WETH")].fund_lock_value == FUNDS["WETH"] * 10**7
    seed(store, clock, credit=None)  # the demo book, against the funds from chain
    rep = coordinator(store, clock).run_once()
    assert rep.fills > 0
    with store.read() as tx:
        moves = tx.movements()
    assert moves and all(state == S.PENDING for _, state, _ in moves)

    backlog = runner.run_until_caught_up(timeout=120)
    assert backlog.caught_up
    with store.read() as tx:
        moves = tx.movements()
        assert {state for _, state, _ in moves} == {S.CONFIRMED}
        for mid, _, m in moves:
            steps = [(a, b) for a, b, _ in tx.trackings(mid)]
            if m.client_id == 0:
                assert steps == [(None, S.PENDING), (S.PENDING, S.CONFIRMED)]
            else:
                assert steps == [(None, S.PENDING), (None, S.PENDING),
                                 (S.PENDING, S.CONFIRMED)], (m.key, steps)
        hashes = tx.conn.execute(t.cash_movement_trackings.select().where(
            t.cash_movement_trackings.c.tx_hash.is_not(None))).all()
        assert len(hashes) == 2 * sum(1 for _, _, m in moves if m.client_id)
        funds = tx.fund_locks()
        positions = {k: v for k, v in tx.positions().items() if v}
    # funds follow: nothing left unsettled, fundLockValue is the chain's balance
    assert all(f.settle_value == 0 for f in funds.values()), funds
    for cid, a in accts.items():
        for sym in ("USDC", "WETH"):
            assert funds[(cid, sym)].fund_lock_value == _chain_balance(chain, dep, a.address, sym)
    # positions on the Ledger equal the store's (lots × lot size, precision units)
    ledger = chain.contract("Ledger", dep.ledgers[PAIR])
    with store.read() as tx:
        contracts = tx.contracts()
    assert any(c.payoff.is_binary for c in contracts.values())
    for (cid, k), lots in positions.items():
        c = contracts[k]  # binaries count in the numeraire (USDC, 4 digits), others in WETH (7)
        unit = 10 ** (4 if c.payoff.is_binary else 7)
        units = chain.call(ledger.functions.positions(k, accts[cid].address))
        assert units == lots * int(c.lot_size * unit), (cid, k)
    rec = reconcile_store(store, chain, dep)
    assert rec.clean and rec.backlog.caught_up and rec.differences == ()


def test_expiry_movements_settle_like_batch_movements(store, clock, evm):
    chain, dep = evm
    register(store, clock, DEMO_IDS[:4])
    seed(store, clock, credit=None)  # contracts and currencies
    runner = _runner(store, clock, chain, dep)
    write_movements(store, clock, fee_movements(20250131, DEMO_IDS[:4], 7,
                                                origin=MovementOrigin.EXPIRY))
    runner.run_until_caught_up(timeout=60)
    with store.read() as tx:
        moves = tx.movements(origin=MovementOrigin.EXPIRY)
        funds = tx.fund_locks()
    assert {s for _, s, _ in moves} == {S.CONFIRMED} and len(moves) == 5
    assert funds[(0, "USDC")].fund_lock_value == 4 * 7  # the clearing house: FundLock collateral
    assert funds[(DEMO_IDS[0], "USDC")].fund_lock_value == FUNDS["USDC"] * 10**4 - 7
    assert reconcile_store(store, chain, dep).clean


def test_deposits_register_withdrawals_debit_and_the_monitor_resumes_at_its_edge(
        store, clock, evm):
    chain, dep = evm
    newcomer = client_account(999)
    runner = _runner(store, clock, chain, dep, chain_monitor_depth=0, chain_mine_seconds=0)
    runner.step()
    with store.read() as tx:
        first_edge = tx.edge(runner.port.edge_name)
        n_events = tx.count("chain_events")
        ids = sq.addresses(tx)
    assert len(ids) == len(DEMO_IDS) and n_events == 3 * len(DEMO_IDS)  # registered, 2 deposits
    fund_on_chain(chain, dep, [newcomer], {"USDC": 500})
    fl = chain.contract("FundLock", dep.fund_lock)
    who = client_account(DEMO_IDS[0])
    chain.execute(fl.functions.withdraw(dep.tokens["USDC"], 1_000 * 10**6), who)
    # a restart: a new runner on the same store and chain resumes at the edge
    again = _runner(store, clock, chain, dep, chain_monitor_depth=0, chain_mine_seconds=0)
    assert again.step().events == 3  # the newcomer registered + deposited, one withdrawal
    assert again.step().events == 0
    with store.read() as tx:
        assert tx.edge(runner.port.edge_name) > first_edge
        assert tx.count("chain_events") == n_events + 3
        cid = sq.client_of_address(tx, newcomer.address)
        funds = tx.fund_locks()
        kinds = [r.kind for r in tx.conn.execute(t.chain_events.select().order_by(
            t.chain_events.c.block_number, t.chain_events.c.log_index))][-3:]
    assert cid == max(ids) + 1  # the first deposit created the client
    assert funds[(cid, "USDC")].fund_lock_value == 500 * 10**4
    who_id = next(k for k, v in ids.items() if v == who.address)
    assert funds[(who_id, "USDC")].fund_lock_value == (FUNDS["USDC"] - 1_000) * 10**4
    assert kinds == ["REGISTERED", "DEPOSIT", "WITHDRAW"]
    assert reconcile_store(store, chain, dep).clean


class Crash(BaseException):
    """A process dying at this point (nothing after it runs)."""


def test_a_crash_between_sending_and_recording_loses_and_repeats_nothing(store, clock, evm):
    chain, dep = evm
    ids = DEMO_IDS[:6]
    register(store, clock, ids)
    seed(store, clock, credit=None)
    runner = _runner(store, clock, chain, dep)
    runner.step()
    write_movements(store, clock, fee_movements(1, ids[:3], 3))
    write_movements(store, clock, fee_movements(2, ids[3:], 5))

    # crash 1: the transaction went out, its PENDING transition was never recorded
    real = runner.port.record_transitions

    def dies(ts):
        raise Crash()

    runner.port.record_transitions = dies
    with pytest.raises(Crash):
        runner.step()
    runner.port.record_transitions = real
    # crash 2 (after a restart): the next batch is signed and recorded, never sent
    restarted = _runner(store, clock, chain, dep)
    assert restarted.restored == 1
    sent = chain.send_signed

    def lost(signed):
        raise Crash()

    chain.send_signed = lost
    try:
        write_movements(store, clock, fee_movements(3, ids, 2))
        with pytest.raises(Crash):
            restarted._submit_new()
    finally:
        chain.send_signed = sent
    third = _runner(store, clock, chain, dep)
    assert third.restored == 2
    third.run_until_caught_up(timeout=60)
    with store.read() as tx:
        assert {s for _, s, _ in tx.movements()} == {S.CONFIRMED}
        batches = tx.conn.execute(t.settlement_batches.select()).all()
        funds = tx.fund_locks()
    assert len(batches) == 2 and all(b.applied_block is not None for b in batches)
    # each backendId applied once on chain; each client paid each fee once
    assert _applied_backend_ids(chain, dep) == sorted(b.backend_id for b in batches)
    for i, cid in enumerate(ids):
        paid = (3 if i < 3 else 5) + 2
        assert funds[(cid, "USDC")].fund_lock_value == FUNDS["USDC"] * 10**4 - paid
        assert funds[(cid, "USDC")].settle_value == 0
    assert funds[(0, "USDC")].fund_lock_value == 3 * 3 + 3 * 5 + 6 * 2
    assert reconcile_store(store, chain, dep).clean


class ChainWhileSettling:
    """The chain as ``ccp chain reconcile`` sees it while the venue keeps running: at its first
    read of the chain, ``meanwhile`` runs once (the settlement process sending a batch and the
    monitor applying it between the reconciliation's reads of the store)."""

    def __init__(self, chain: Chain, meanwhile) -> None:
        self._chain = chain
        self._meanwhile = meanwhile

    def __getattr__(self, name):
        return getattr(self._chain, name)

    def call(self, fn, block="latest"):
        if self._meanwhile is not None:
            run, self._meanwhile = self._meanwhile, None
            run()
        return self._chain.call(fn, block)


def _again(data: dict, shift: int) -> dict:
    """The demo book's orders once more, under fresh order ids (they cross again)."""
    return {**data, "orders": [{**o, "orderId": o["orderId"] + shift} for o in data["orders"]]}


def test_reconcile_is_exact_while_a_batch_settles_during_it(store, clock, evm):
    """Issue 14's intermittent kill-test failure: the reconciliation read the edge, the store's
    positions and balances in separate transactions, so a batch that the monitor applied while
    it ran made the store look ahead of the chain at the edge (positions-table and
    fundLockValue differences with nothing unsent, in flight or failed)."""
    chain, dep = evm
    register(store, clock, DEMO_IDS)
    runner = _runner(store, clock, chain, dep)
    runner.run_until_caught_up(timeout=60)
    seed(store, clock, credit=None)
    assert coordinator(store, clock).run_once().fills > 0
    runner.run_until_caught_up(timeout=120)
    assert reconcile_store(store, chain, dep).clean
    # the next auction trades; its batch settles while the reconciliation runs
    clock.advance(1_000)
    seed(store, clock, _again(demo_data(), 1_000), credit=None)
    assert coordinator(store, clock).run_once().fills > 0
    during = ChainWhileSettling(chain, lambda: runner.run_until_caught_up(timeout=120))
    rec = reconcile_store(store, during, dep)
    assert during._meanwhile is None, "the settlement round did not run during the reconcile"
    assert rec.differences == (), sorted({d.kind for d in rec.differences})
    assert rec.clean
    # and afterwards, at the new edge, the second batch is in the comparison
    after = reconcile_store(store, chain, dep)
    assert after.clean and after.backlog.caught_up and after.block > rec.block


def _retry_cli(db_url, *args) -> tuple[int, object]:
    import io
    import json
    from contextlib import redirect_stdout

    from venue.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["chain", "retry", "--db", db_url, *map(str, args)])
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else None


def test_a_reverted_batch_is_resubmitted_once_on_an_operators_retry(store, db_url, clock, evm):
    chain, dep = evm
    ids = DEMO_IDS[:2]
    register(store, clock, ids)
    seed(store, clock, credit=None)
    broke = client_account(777)  # registered, no funds on chain: its payment reverts the batch
    with store.write() as tx:
        sq.register_client(tx, broke.address, clock.now_ms(), client_id=777)
    runner = _runner(store, clock, chain, dep)
    runner.step()
    write_movements(store, clock, fee_movements(5, [*ids, 777], 3))
    for _ in range(5):
        runner.step()
    with store.read() as tx:
        (batch,) = tx.conn.execute(t.settlement_batches.select()).all()
        states = {s for _, s, _ in tx.movements()}
    assert batch.status == str(S.FAILED) and batch.reason.startswith("reverted: Insufficient")
    assert states == {S.FAILED}
    rec = reconcile_store(store, chain, dep)
    assert not rec.clean and len(rec.backlog.failed) == 4  # 3 clients + the clearing house
    # bad input changes nothing
    assert _retry_cli(db_url, 999)[0] == 2
    code, listing = _retry_cli(db_url)
    assert code == 0 and [b["backendId"] for b in listing["reverted"]] == [batch.backend_id]
    # the cause fixed (the client deposits), the operator asks twice: one request
    fund_on_chain(chain, dep, [broke], {"USDC": 100})
    code, (first,) = _retry_cli(db_url, batch.backend_id, "--reason", "funded")
    assert code == 0 and first["status"] == "REQUESTED"
    code, (again,) = _retry_cli(db_url, batch.backend_id)
    assert again["status"] == "ALREADY_REQUESTED" and again["id"] == first["id"]
    # the settlement process dies after resubmitting, before recording the request done
    real = sq.SqlSettlement.record_transitions
    died = []

    def dies_after(self, ts):
        real(self, ts)
        if ts and ts[0].previous is S.FAILED and not died:
            died.append(True)
            raise Crash()

    sq.SqlSettlement.record_transitions = dies_after
    try:
        with pytest.raises(Crash):
            runner.step()
    finally:
        sq.SqlSettlement.record_transitions = real
    restarted = _runner(store, clock, chain, dep)
    restarted.run_until_caught_up(timeout=60)
    with store.read() as tx:
        (batch,) = tx.conn.execute(t.settlement_batches.select()).all()
        txs = tx.conn.execute(t.settlement_txs.select()).all()
        funds = tx.fund_locks()
        assert {s for _, s, _ in tx.movements()} == {S.CONFIRMED}
    assert batch.resubmissions == 1 and batch.applied_block is not None
    # the revert showed at the gas estimate (nothing sent then): ONE transaction in all
    assert len(txs) == 1
    assert _applied_backend_ids(chain, dep) == [batch.backend_id]
    assert funds[(777, "USDC")].fund_lock_value == 100 * 10**4 - 3  # paid once
    code, listing = _retry_cli(db_url)
    assert listing["reverted"] == []
    (done,) = listing["retries"]
    # carried out before the crash; after the restart the request is closed, nothing resent
    assert done["doneMs"] is not None and done["outcome"].startswith("not resubmitted")
    assert reconcile_store(store, chain, dep).clean
    # a confirmed batch is not retried
    assert _retry_cli(db_url, batch.backend_id)[0] == 2
