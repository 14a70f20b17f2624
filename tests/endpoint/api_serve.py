"""Serve the whole API over a store, in a process of its own (the intake benchmark):

    .venv/bin/python -m tests.endpoint.api_serve DATABASE_URL PORT

Prints ``ready`` once uvicorn listens on 127.0.0.1:PORT. Settings from the environment
(``CCP_API_…``) over the defaults; ``CCP_GC_LOG=<file>`` appends every garbage collection of
the process (time, pid, generation, pause) to the file.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

import uvicorn

from coordinator.clock import SystemClock
from coordinator.persistence import Store
from coordinator.settings import load_settings
from endpoint.app import create_app
from endpoint.services import Services
from endpoint.ws import uvicorn_config
from venue.parts import settle_heap


def main(url: str, port: int) -> None:
    settings = load_settings(overrides={"database_url": url})
    app = create_app(Services(settings, Store.open(url, pool_size=40) if url.startswith(
        "postgresql") else Store.open(url), SystemClock()))
    settle_heap()  # as ``ccp serve api`` does (venue.parts.api_part)
    log = os.environ.get("CCP_GC_LOG")
    if log:  # each collection of this process: epoch s, pid, generation, pause ms
        out = open(log, "a", buffering=1)  # noqa: SIM115 (open for the process's life)
        began: list[float] = []

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                began[:] = [time.perf_counter()]
            elif began:
                out.write(f"{time.time():.3f} {os.getpid()} {info['generation']} "
                          f"{(time.perf_counter() - began[0]) * 1e3:.1f}\n")

        gc.callbacks.append(on_gc)
    server = uvicorn.Server(uvicorn_config(app, port=port, settings=settings, access_log=False))

    def announce() -> None:
        while not server.started:
            time.sleep(0.02)
        print("ready", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
