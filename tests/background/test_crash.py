"""Crash safety of the expiry job: a worker process killed (SIGKILL) at a named point inside
the settlement or from outside after a random delay, restarted until it reports done. At the
end every (pair, expiry) is settled exactly once: one movement per client and the clearing
house, one run, one EXPIRY_SETTLED event, positions closed, lockups released, settle values
equal to the movements."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auction.cash import MovementOrigin
from coordinator.clock import ManualClock
from coordinator.events import EventKind
from coordinator.persistence import Store
from coordinator.persistence import background as bg
from coordinator.persistence.migrate import upgrade
from tests.background.conftest import FIX, trade
from tests.background.test_expiry import assert_reconciles_settle_values

ROOT = Path(__file__).resolve().parents[2]
POINTS = ["settle-begin", "settle-movements", "settle-end", "settle-committed"]


def worker(url: str, die_at: str | None) -> None:
    """The expiry job under test (run through ``python -c``)."""
    from decimal import Decimal

    from background import expiry as ex
    from background.jobs import BackgroundJobs
    from background.sources import SimulatedSource
    from coordinator.settings import Settings

    store = Store.open(url)
    clock = ManualClock(FIX + 11 * 60_000)
    src = SimulatedSource({}, replay={"WETH/USDC": [(FIX, Decimal("3333.33"))]})
    jobs = BackgroundJobs(store, Settings(database_url=url), clock, sources=[src])

    def failpoint(name: str) -> None:
        if name == die_at:
            os.kill(os.getpid(), signal.SIGKILL)

    for pair, d in ex.due(store, clock.now_ms(), ex.timedelta(minutes=10)):
        ex.fix(store, jobs.sources, pair, d, now_ms=clock.now_ms(),
               deviation_percent=Decimal(2), quorum=2)
        time.sleep(random.random() * 0.05)
        ex.settle(store, pair, d, actor="crash-worker", now_ms=clock.now_ms(),
                  failpoint=failpoint)
    print("DONE", flush=True)


def _run(url: str, die_at: str | None, kill_after: float | None) -> bool:
    code = (f"from tests.background.test_crash import worker; "
            f"worker({url!r}, {die_at!r})")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        time.sleep(kill_after)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
    out, err = p.communicate(timeout=120)
    if p.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"worker failed ({p.returncode}): {err[-2000:]}")
    return "DONE" in out


@pytest.mark.parametrize("seed", [1])
def test_expiry_killed_anywhere_resumes_and_applies_nothing_twice(db_url, seed):
    store = Store.open(db_url)
    upgrade(store.engine)
    trade(store, ManualClock(0))
    rng = random.Random(seed)
    kills = [(p, None) for p in POINTS] + [(None, rng.uniform(0.3, 2.5)) for _ in range(3)]
    rng.shuffle(kills)
    for die_at, after in kills:
        _run(db_url, die_at, after)
        with store.read() as tx:
            n = len(tx.movements(MovementOrigin.EXPIRY))
            run = bg.expiry_run(tx, "WETH/USDC", 20250131)
        assert n in (0, 4) and (n == 4) == (run is not None)  # all or nothing
    assert _run(db_url, None, None)
    with store.read() as tx:
        assert len(tx.movements(MovementOrigin.EXPIRY)) == 4
        assert [e.kind for e in tx.events_after(0)].count(EventKind.EXPIRY_SETTLED) == 1
        assert not any(tx.positions().values())
        assert bg.settlement_price(tx, "WETH/USDC", 20250131)["price"] == 33333300
    assert_reconciles_settle_values(store)
    store.dispose()
