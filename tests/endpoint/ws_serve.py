"""Serve the WebSocket alone over a store, in a process of its own (the fan-out benchmark):

    .venv/bin/python -m tests.endpoint.ws_serve DATABASE_URL PORT

Prints ``ready`` once uvicorn listens on 127.0.0.1:PORT. Settings from the environment
(``CCP_WS_POLL_SECONDS`` …).
"""

from __future__ import annotations

import sys
import threading
import time

import uvicorn
from fastapi import FastAPI

from coordinator.clock import SystemClock
from coordinator.persistence import Store
from coordinator.settings import load_settings
from endpoint.services import Services
from endpoint.ws import register_ws, uvicorn_config


def main(url: str, port: int) -> None:
    settings = load_settings(overrides={"database_url": url})  # + CCP_WS_… from the env
    app = FastAPI()
    register_ws(app, Services(settings, Store.open(url), SystemClock()))
    server = uvicorn.Server(uvicorn_config(app, port=port, settings=settings, ws_ping_interval=None))

    def announce() -> None:
        while not server.started:
            time.sleep(0.02)
        print("ready", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
