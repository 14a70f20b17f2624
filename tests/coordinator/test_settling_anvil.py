"""Settlement through the store on anvil: a re-org and a dropped transaction (resubmitted
exactly once, funds released once), ``ccp chain reconcile``, and the kill test — a settlement
process SIGKILLed at random moments and restarted settles everything exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from coordinator.persistence import tables as t
from coordinator.settling import SettlementRunner, reconcile_store
from settlement.chain import Chain
from settlement.deploy import deploy
from settlement.status import SettleStatus
from tests.coordinator.conftest import coordinator, demo_data, seed
from tests.coordinator.settle_helpers import (
    PAIR,
    fee_movements,
    fund_on_chain,
    register,
    runner_settings,
    write_movements,
)
from tests.coordinator.test_settling import _applied_backend_ids
from tests.settlement.anvil import Anvil
from venue.cli import main

pytestmark = pytest.mark.chain
S = SettleStatus
ROOT = Path(__file__).resolve().parents[2]
FUNDS = {"WETH": 10_000, "USDC": 10_000_000}


@pytest.fixture(scope="module")
def node():
    with Anvil() as a:
        chain = Chain.connect(a.url)
        yield a, chain, deploy(chain, (PAIR,))


@pytest.fixture
def anvil(node):
    a, chain, dep = node
    snap = chain.rpc("evm_snapshot", [])
    yield a, chain, dep
    chain.rpc("evm_setAutomine", [True])
    chain.rpc("evm_revert", [snap])


def _steps(runner, n=1, mine=0):
    for _ in range(n):
        if mine:
            runner.chain.mine(mine)
        runner.step()


def _trackings(store, key):
    with store.read() as tx:
        mid = next(i for i, _, m in tx.movements() if m.key == key)
        return [(a, b) for a, b, _ in tx.trackings(mid)]


def test_reorg_and_dropped_transaction_resubmit_once_and_funds_follow_once(
        store, clock, anvil):
    _, chain, dep = anvil
    ids = [101, 102, 103]
    accts = register(store, clock, ids)
    seed(store, clock, credit=None)
    fund_on_chain(chain, dep, accts.values(), {"USDC": 1_000})
    runner = SettlementRunner(store, runner_settings(
        chain_confirmations=1, chain_monitor_depth=4, chain_finality_depth=8,
        chain_mine_seconds=0), chain, dep, clock)
    _steps(runner, 2, mine=4)  # deposits seen

    # a re-org removes a batch confirmed too early (1 confirmation < the monitor's depth 4)
    snap = chain.rpc("evm_snapshot", [])
    write_movements(store, clock, fee_movements(1, ids, 11))
    runner.step()
    key = f"BATCH:1:{ids[0]}:{PAIR}"
    assert _trackings(store, key)[-1] == (S.PENDING, S.CONFIRMED)
    chain.rpc("evm_revert", [snap])
    chain.mine(2)
    runner.step()  # re-org seen: FAILED, resubmitted with the same backendId
    # a dropped transaction: the node forgets it before it is mined
    chain.rpc("evm_setAutomine", [False])
    write_movements(store, clock, fee_movements(2, ids, 13))
    runner.step()
    with store.read() as tx:
        (pending,) = tx.conn.execute(t.settlement_txs.select().where(
            t.settlement_txs.c.backend_id == 2)).all()
    chain.rpc("anvil_dropTransaction", [pending.tx_hash])
    runner.step()  # dropped: FAILED, resubmitted
    chain.rpc("evm_setAutomine", [True])
    chain.mine(1)
    _steps(runner, 12, mine=1)

    assert _trackings(store, key) == [
        (None, S.PENDING), (None, S.PENDING), (S.PENDING, S.CONFIRMED),
        (S.CONFIRMED, S.FAILED), (S.FAILED, S.PENDING), (S.PENDING, S.CONFIRMED)]
    assert _trackings(store, f"BATCH:2:{ids[0]}:{PAIR}") == [
        (None, S.PENDING), (None, S.PENDING), (S.PENDING, S.FAILED), (S.FAILED, S.PENDING),
        (S.PENDING, S.CONFIRMED)]
    with store.read() as tx:
        batches = {b.backend_id: b for b in tx.conn.execute(t.settlement_batches.select())}
        funds = tx.fund_locks()
        details = [r.detail for r in tx.conn.execute(t.cash_movement_trackings.select().where(
            t.cash_movement_trackings.c.to_state == str(S.FAILED)))]
    assert sorted(batches) == [1, 2]
    assert all(b.resubmissions == 1 and b.applied_block for b in batches.values())
    assert any("re-org" in d for d in details) and any("dropped" in d for d in details)
    assert _applied_backend_ids(chain, dep) == [1, 2]  # each exactly once on chain
    for cid in ids:
        assert funds[(cid, "USDC")].fund_lock_value == 1_000 * 10**4 - 24
        assert funds[(cid, "USDC")].settle_value == 0
    assert funds[(0, "USDC")].fund_lock_value == 3 * 24
    assert reconcile_store(store, chain, dep).clean


def test_ccp_chain_reconcile_clean_then_a_deliberate_difference(store, clock, anvil,
                                                                 tmp_path, capsys):
    a, chain, dep = anvil
    ids = [101, 102]
    accts = register(store, clock, ids)
    seed(store, clock, credit=None)
    fund_on_chain(chain, dep, accts.values(), {"USDC": 100})
    runner = SettlementRunner(store, runner_settings(chain_mine_seconds=0.001), chain, dep,
                              clock)
    write_movements(store, clock, fee_movements(1, ids, 5))
    runner.run_until_caught_up(timeout=30)
    dep_file = tmp_path / "deployment.json"
    dep_file.write_text(dep.to_json())
    url = str(store.engine.url.render_as_string(hide_password=False))
    args = ["chain", "reconcile", "--db", url, "--rpc", a.url, "--deployment", str(dep_file)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "clean" in out and "caught up" in out
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["clean"] is True
    # the store disagrees with the chain by one base unit
    with store.write() as tx:
        tx.conn.execute(update(t.fund_locks).where(
            (t.fund_locks.c.client_id == ids[1]) & (t.fund_locks.c.currency == "USDC"))
            .values(fund_lock_value=t.fund_locks.c.fund_lock_value + 1))
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"DIFFERENCE balance ('{accts[ids[1]].address}', 'USDC'): chain 999995, " \
           "store 999996" in out
    # bad input: exit 2, one line, nothing changed
    assert main([*args[:-1], str(tmp_path / "missing.json")]) == 2
    assert main(["chain", "reconcile", "--db", url, "--deployment", str(dep_file)]) == 2
    assert "ccp chain" in capsys.readouterr().err


# ---- the kill test ------------------------------------------------------------------------

def _worker(db_url: str, rpc: str, dep_file: Path, log: Path) -> subprocess.Popen:
    settings = ["chain_confirmations=2", "chain_monitor_depth=2", "chain_finality_depth=6",
                "chain_poll_seconds=0.05", "chain_mine_seconds=0.1", "chain_gas_budget=400000"]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.coordinator.settle_worker", db_url, rpc, str(dep_file),
         *settings], cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)


def _wait_started(log: Path, n: int, p: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the n-th worker logged its start (imports take seconds on a busy machine)."""
    deadline = time.monotonic() + timeout
    while log.read_text().count("resumed from the store") < n:
        assert p.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the settlement worker did not start"
        time.sleep(0.05)


def _wait_sending(store, before: int, p: subprocess.Popen, log: Path,
                  timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with store.read() as tx:
            if tx.count("settlement_txs") > before:
                return
        assert p.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the settlement worker sent nothing"
        time.sleep(0.02)


def _kill_campaign(store, clock, anvil, tmp_path, kills: int, seed_: int) -> None:
    a, chain, dep = anvil
    rng = random.Random(seed_)
    ids = sorted({o["clientId"] for o in demo_data()["orders"]})
    accts = register(store, clock, ids)
    fund_on_chain(chain, dep, accts.values(), FUNDS)
    dep_file = tmp_path / "deployment.json"
    dep_file.write_text(dep.to_json())
    log = tmp_path / "worker.log"
    url = str(store.engine.url.render_as_string(hide_password=False))
    # the monitor must see the deposits before the book is admitted against them
    SettlementRunner(store, runner_settings(chain_mine_seconds=0.001), chain, dep,
                     clock).run_until_caught_up(timeout=60)
    seed(store, clock, credit=None)
    assert coordinator(store, clock).run_once().fills > 0
    for k in range(kills):
        write_movements(store, clock, fee_movements(10 + k, ids[k % 4:], 1 + k))
        with store.read() as tx:
            sent_before = tx.count("settlement_txs")
        p = _worker(url, a.url, dep_file, log)
        _wait_started(log, k + 1, p)
        if k % 2:  # at a random moment of its first rounds
            time.sleep(rng.uniform(0.0, 1.5))
        else:  # right in the middle of sending: after its first transaction was recorded
            _wait_sending(store, sent_before, p, log)
            time.sleep(rng.uniform(0.0, 0.3))
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
    p = _worker(url, a.url, dep_file, log)  # the last one runs until settlement caught up
    _wait_started(log, kills + 1, p)
    resumed = [int(line.split("settlement: ")[1].split()[0])
               for line in log.read_text().splitlines() if "resumed from the store" in line]
    assert len(resumed) == kills + 1 and any(resumed[1:]), resumed  # killed mid-settlement
    try:
        target = chain.block_number()
        deadline = time.monotonic() + 300  # generous: CI machines are shared
        while True:
            with store.read() as tx:
                states = {s for _, s, _ in tx.movements()}
                edge = tx.edge(f"chain:{dep.chain_id}:{dep.fund_lock.lower()}") or 0
                open_ = tx.conn.execute(t.settlement_batches.select().where(
                    t.settlement_batches.c.applied_block.is_(None))).all()
            if states == {S.CONFIRMED} and not open_ and edge >= target:
                break
            assert p.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, (states, open_, log.read_text()[-3000:])
            time.sleep(0.2)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(20)
    with store.read() as tx:
        batches = sorted(b.backend_id for b in tx.conn.execute(t.settlement_batches.select()))
        funds = tx.fund_locks()
        moves = tx.movements()
    applied = _applied_backend_ids(chain, dep)
    assert sorted(applied) == batches and len(set(applied)) == len(applied)  # each once
    assert all(f.settle_value == 0 for (c, _), f in funds.items() if c), funds
    assert {s for _, s, _ in moves} == {S.CONFIRMED}
    rec = reconcile_store(store, chain, dep)
    assert rec.clean and rec.backlog.caught_up, rec.to_dict()


def test_kill_the_settlement_process_at_random_moments(store, clock, anvil, tmp_path):
    _kill_campaign(store, clock, anvil, tmp_path, kills=4, seed_=int(time.time()))


@pytest.mark.slow
def test_kill_the_settlement_process_many_times(store, clock, anvil, tmp_path, request):
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("30 kills: run with -m slow (the default run has the bounded version)")
    _kill_campaign(store, clock, anvil, tmp_path, kills=30, seed_=int(time.time()))
