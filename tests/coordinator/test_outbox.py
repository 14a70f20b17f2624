"""The outbox publisher: in order, resumes after a restart, across processes via NOTIFY."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from coordinator.events import Event, EventKind
from coordinator.outbox import Deduplicate, Publisher
from tests.coordinator.conftest import T0, coordinator, seed

ROOT = Path(__file__).resolve().parents[2]


def _append(store, clock, n, start=0):
    with store.write() as tx:
        tx.append_events([Event(EventKind.FILL, {"i": start + i}, 1) for i in range(n)],
                         clock.now_ms())


def test_in_order_and_resumes_without_loss_or_repeat(store, clock):
    _append(store, clock, 5)
    got: list[int] = []
    pub = Publisher(store, "ws", clock, chunk=2)
    pub.subscribe(lambda e: got.append(e.payload["i"]))
    assert pub.publish_pending() == 5
    assert pub.publish_pending() == 0
    _append(store, clock, 3, start=5)
    # a new publisher of the same name (a restart) continues after the cursor
    again: list[int] = []
    pub2 = Publisher(store, "ws", clock)
    pub2.subscribe(lambda e: again.append(e.payload["i"]))
    assert pub2.publish_pending() == 3
    assert got + again == list(range(8))
    # another subscriber name sees everything from the start
    other: list[int] = []
    p3 = Publisher(store, "audit", clock)
    p3.subscribe(lambda e: other.append(e.payload["i"]))
    p3.publish_pending()
    assert other == list(range(8))


def test_a_subscriber_crash_redelivers_that_event_only(store, clock):
    _append(store, clock, 4)
    seen: list[int] = []
    crashed = []

    def flaky(e):
        if e.payload["i"] == 2 and not crashed:
            crashed.append(e.seq)  # "crash" while handling event 2
            raise RuntimeError("crash")
        seen.append(e.payload["i"])

    pub = Publisher(store, "ws", clock)
    pub.subscribe(flaky)
    with pytest.raises(RuntimeError):
        pub.publish_pending()
    assert pub.position() > 0
    pub2 = Publisher(store, "ws", clock)
    pub2.subscribe(flaky)
    pub2.publish_pending()
    assert seen == [0, 1, 2, 3]


def test_deduplicate_drops_replays():
    out = []
    d = Deduplicate(lambda e: out.append(e.seq), last_seq=2)
    for s in (1, 2, 3, 3, 4):
        d(Event(EventKind.FILL, {}, seq=s))
    assert out == [3, 4]


def test_batch_events_are_published_after_commit_only(store, clock):
    clock.now = T0
    seed(store, clock)
    pub = Publisher(store, "ws", clock)
    got: list[Event] = []
    pub.subscribe(got.append)
    pub.publish_pending()
    admitted = len(got)
    assert {e.kind for e in got} == {EventKind.EXEC_REPORT, EventKind.FUNDS_UPDATED}
    co = coordinator(store, clock)
    stop = threading.Event()
    t = threading.Thread(target=pub.run, args=(stop,), daemon=True)
    pub.poll_s = 0.05
    t.start()
    try:
        r = co.run_once(clock.advance(1000))
        pub.wake()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
                not got or got[-1].kind is not EventKind.AUCTION_FINISHED):
            time.sleep(0.02)
    finally:
        stop.set()
        t.join(10)
    batch = got[admitted:]
    assert batch[0].kind is EventKind.AUCTION_STARTED and batch[-1].kind is \
        EventKind.AUCTION_FINISHED
    assert all(e.batch_id == r.batch_id for e in batch)
    assert [e.seq for e in got] == sorted({e.seq for e in got})


LISTENER = """
import sys, threading
from coordinator.clock import SystemClock
from coordinator.outbox import Publisher
from coordinator.persistence import Store
store = Store.open(sys.argv[1])
pub = Publisher(store, "remote", SystemClock(), poll_s=30)
stop = threading.Event()
def show(e):
    print(e.seq, e.kind, flush=True)
    if e.kind == "AUCTION_FINISHED":
        stop.set()
pub.subscribe(show)
print("listening", flush=True)
pub.run(stop)
"""


@pytest.mark.postgres
def test_across_processes_by_listen_notify(pg_server, clock):
    from coordinator.persistence import Store
    from coordinator.persistence.migrate import upgrade

    url = pg_server.create_database()
    store = Store.open(url)
    upgrade(store.engine)
    try:
        clock.now = T0
        seed(store, clock)
        with store.read() as tx:
            already = tx.last_event_seq()
        with store.write() as tx:  # the remote subscriber starts from here
            tx.set_edge("outbox:remote", already, clock.now_ms())
        proc = subprocess.Popen([sys.executable, "-c", LISTENER, url], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "listening"
        time.sleep(0.5)  # LISTEN is registered before the first wait
        t0 = time.monotonic()
        coordinator(store, clock).run_once(clock.advance(1000))
        out, err = proc.communicate(timeout=20)
        # woken by NOTIFY: far sooner than its 30 s poll
        assert time.monotonic() - t0 < 15, err
        lines = [ln.split() for ln in out.strip().splitlines()]
        seqs = [int(s) for s, _ in lines]
        assert seqs == sorted(set(seqs)) and seqs[0] > already
        assert lines[0][1] == "AUCTION_STARTED" and lines[-1][1] == "AUCTION_FINISHED"
        with store.read() as tx:
            assert seqs == [e.seq for e in tx.events_after(already, 10**6)]
    finally:
        store.dispose()
