"""Serve the whole API over a store, in a process of its own (the intake benchmark):

    .venv/bin/python -m tests.endpoint.api_serve DATABASE_URL PORT

Prints ``ready`` once uvicorn listens on 127.0.0.1:PORT. Settings from the environment
(``CCP_API_…``) over the defaults.
"""

from __future__ import annotations

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
    server = uvicorn.Server(uvicorn_config(app, port=port, settings=settings, access_log=False))

    def announce() -> None:
        while not server.started:
            time.sleep(0.02)
        print("ready", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
