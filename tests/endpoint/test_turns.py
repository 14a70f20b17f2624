"""``endpoint.orders.Turns``: one piece of CPU work at a time per process, requests in the
order they came, the intake writer before every waiting request, and a request parsing a batch
lets a waiting writer in between two orders."""

from __future__ import annotations

import threading
import time

from endpoint.orders import Turns


def _wait_for(cond, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.001)


def _queued(turns: Turns) -> int:
    with turns._cond:
        return len(turns._queue)


def test_requests_in_arrival_order_and_the_writer_first():
    turns = Turns()
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with turns.turn():
            order.append("holder")
            release.wait(5)

    def request(name: str) -> None:
        with turns.turn():
            order.append(name)

    def writer() -> None:
        with turns.turn(writer=True):
            order.append("writer")

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    _wait_for(lambda: order == ["holder"])
    for i, (target, args) in enumerate([(request, ("r1",)), (request, ("r2",)),
                                        (request, ("r3",)), (writer, ())]):
        t = threading.Thread(target=target, args=args)
        t.start()
        threads.append(t)
        _wait_for(lambda n=i + 1: _queued(turns) == n)  # each waits before the next comes
    release.set()
    for t in threads:
        t.join(5)
    assert order == ["holder", "writer", "r1", "r2", "r3"]


def test_one_turn_at_a_time():
    turns = Turns()
    inside = 0
    most = 0
    lock = threading.Lock()

    def work(writer: bool) -> None:
        nonlocal inside, most
        for _ in range(200):
            with turns.turn(writer=writer):
                with lock:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=work, args=(i == 0,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert most == 1 and inside == 0


def test_a_batch_lets_the_waiting_writer_in_between_two_orders():
    turns = Turns()
    order: list[str] = []
    writer_waits = threading.Event()
    other_waits = threading.Event()

    def batch() -> None:
        with turns.turn():
            order.append("order 1")
            turns.let_writer()  # nobody waits yet: goes on at once
            order.append("order 2")
            writer_waits.wait(5)
            other_waits.wait(5)
            _wait_for(lambda: _queued(turns) == 2)
            turns.let_writer()  # the writer goes first; the other request stays behind us
            order.append("order 3")

    def writer() -> None:
        writer_waits.set()
        with turns.turn(writer=True):
            order.append("writer")

    def other() -> None:
        other_waits.set()
        with turns.turn():
            order.append("other request")

    b = threading.Thread(target=batch)
    b.start()
    _wait_for(lambda: order == ["order 1", "order 2"])
    o = threading.Thread(target=other)
    o.start()
    _wait_for(lambda: _queued(turns) == 1)
    w = threading.Thread(target=writer)
    w.start()
    for t in (b, w, o):
        t.join(5)
    assert order == ["order 1", "order 2", "writer", "order 3", "other request"]
