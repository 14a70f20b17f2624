"""WebSocket fan-out benchmark (opt-in: ``.venv/bin/python -m pytest -m bench --benchmark-only
tests/endpoint/test_ws_bench.py -s``): 500 sockets subscribed to every book of the demo receive
an auction's deltas; the figure is the time from the batch's commit to the last socket's last
message of that auction (its AUCTION_FINISHED, which follows the deltas).

The server runs in a process of its own (uvicorn, wsproto); the 500 clients (websockets,
asyncio) and the coordinator run in the test process.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import time

import pytest
from websockets.asyncio.client import connect

from coordinator.clock import ManualClock
from coordinator.loop import Coordinator
from coordinator.settings import Settings
from tests.endpoint.wsutil import (
    ROOT,
    T0,
    free_port,
    open_store,
    seed,
)
from tests.pg import ENGINES

SOCKETS = 500
CONTRACTS = range(1, 8)


@pytest.fixture(params=ENGINES)
def store(request, tmp_path):
    s = open_store(request, tmp_path)
    yield s
    s.dispose()


async def _fanout(url: str, run_auction) -> dict:
    ready = asyncio.Event()
    subscribed = 0
    done: list[float] = []
    counts: list[int] = []

    async def one(i: int) -> None:
        nonlocal subscribed
        async with connect(url, max_size=None, open_timeout=60) as ws:
            for cid in CONTRACTS:
                await ws.send(json.dumps({"action": "SUBSCRIBE_ORDER_BOOK",
                                          "payload": {"contractId": cid}}))
            for _ in CONTRACTS:
                while json.loads(await ws.recv())["responseType"] != "ORDERBOOK":
                    pass
            subscribed += 1
            if subscribed == SOCKETS:
                ready.set()
            deltas = 0
            while True:
                m = json.loads(await ws.recv())
                if m["responseType"] == "ORDERBOOK_DELTA":
                    deltas += 1
                elif m["responseType"] == "AUCTION_FINISHED":
                    done.append(time.perf_counter())
                    counts.append(deltas)
                    return

    tasks = [asyncio.create_task(one(i)) for i in range(SOCKETS)]
    t_connect = time.perf_counter()
    await asyncio.wait_for(ready.wait(), 300)
    connected_s = time.perf_counter() - t_connect
    committed = await asyncio.to_thread(run_auction)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return {"sockets": len(done), "connect_and_snapshot_s": round(connected_s, 3),
            "deltas_per_socket": sorted(set(counts)),
            "first_s": round(min(done) - committed, 4), "last_s": round(max(done) - committed, 4),
            "median_s": round(sorted(done)[len(done) // 2] - committed, 4)}


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


@pytest.mark.bench
def test_fanout_500_sockets(store, benchmark):
    clock = ManualClock(T0)
    seed(store, clock)
    port = free_port()
    url = store.engine.url.render_as_string(hide_password=False)
    proc = subprocess.Popen([sys.executable, "-m", "tests.endpoint.ws_serve", url, str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        marks: dict[str, float] = {}

        def failpoint(name: str) -> None:
            if name == "committed":
                marks["committed"] = time.perf_counter()

        coord = Coordinator(store, Settings(database_url="sqlite://"), clock,
                            failpoint=failpoint)

        def run_auction() -> float:
            clock.advance(60_000)
            report = coord.run_once()
            assert report.fills > 0
            return marks["committed"]

        result = benchmark.pedantic(
            lambda: asyncio.run(_fanout(f"ws://127.0.0.1:{port}/wss", run_auction)),
            rounds=1, iterations=1)
    finally:
        proc.terminate()
        proc.wait(10)
    assert result["sockets"] == SOCKETS
    assert len(result["deltas_per_socket"]) == 1 and result["deltas_per_socket"][0] > 0
    result.update(engine=store.dialect, machine=f"{_cpu()}, {os.cpu_count()} cores",
                  date=time.strftime("%Y-%m-%d"))
    benchmark.extra_info.update(result)
    print("\nws fan-out:", json.dumps(result))
