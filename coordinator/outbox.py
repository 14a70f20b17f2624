"""The outbox publisher: delivers stored events in ``seq`` order, resumes where it stopped.

Events are written by the batch transaction (:mod:`coordinator.loop`); a :class:`Publisher`
reads them after its cursor (the edge ``outbox:<name>``), hands each to every subscriber in
order and advances the cursor in the store after each event (``commit_every``). Several
publishers with different names (one per endpoint process, say) each see every event once.
Across processes a publisher wakes up on PostgreSQL ``NOTIFY`` (sent by the batch transaction
at commit); on SQLite it polls.

Delivery guarantee: no event is lost, and none is delivered twice by a publisher that stops
between events; a process killed *while* a subscriber handles an event gets that one event
again after the restart (the cursor had not moved): subscribers that must not see it twice
compare ``event.seq`` with their own high-water mark (:class:`Deduplicate`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from coordinator.clock import Clock
from coordinator.events import Event
from coordinator.persistence import Store
from coordinator.persistence.store import Waiter

Subscriber = Callable[[Event], None]


class Deduplicate:
    """Wraps a subscriber; drops events at or below the last ``seq`` it passed on."""

    def __init__(self, inner: Subscriber, last_seq: int = 0):
        self.inner = inner
        self.last_seq = last_seq

    def __call__(self, event: Event) -> None:
        assert event.seq is not None
        if event.seq <= self.last_seq:
            return
        self.inner(event)
        self.last_seq = event.seq


class Publisher:
    def __init__(self, store: Store, name: str, clock: Clock, *, poll_s: float = 1.0,
                 chunk: int = 500, commit_every: int = 1):
        self.store = store
        self.name = name
        self.clock = clock
        self.poll_s = poll_s
        self.chunk = chunk
        self.commit_every = max(1, commit_every)
        self.subscribers: list[Subscriber] = []
        self._wake = threading.Event()

    @property
    def edge(self) -> str:
        return f"outbox:{self.name}"

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def position(self) -> int:
        with self.store.read() as tx:
            return tx.edge(self.edge) or 0

    def wake(self) -> None:
        """In-process: new events were committed (e.g. by the loop in this process)."""
        self._wake.set()

    def publish_pending(self) -> int:
        """Deliver everything after the cursor; returns how many events went out."""
        sent = 0
        pos = self.position()
        while True:
            with self.store.read() as tx:
                events = tx.events_after(pos, self.chunk)
            if not events:
                return sent
            for done, e in enumerate(events, start=1):
                for sub in self.subscribers:
                    sub(e)
                pos = e.seq or pos
                sent += 1
                if done % self.commit_every == 0 or done == len(events):
                    with self.store.write() as tx:
                        tx.set_edge(self.edge, pos, self.clock.now_ms())

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set: on NOTIFY, on :meth:`wake`, or every ``poll_s``."""
        waiter = Waiter(self.store)
        try:
            while not stop.is_set():
                self.publish_pending()
                if waiter.listens:
                    waiter.wait(min(self.poll_s, 0.5))
                else:
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
            self.publish_pending()
        finally:
            waiter.close()
