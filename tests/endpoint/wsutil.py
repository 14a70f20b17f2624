"""Helpers of the WebSocket tests: a real uvicorn server on 127.0.0.1 (a free port, uvicorn's
wsproto implementation), stores on both engines, sessions made by real EIP-712 logins, and a
websockets client that insists on binary frames."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from websockets.sync.client import connect

from coordinator.clock import ManualClock
from coordinator.intake import import_book
from coordinator.persistence import Store
from coordinator.persistence import auth as auth_repo
from coordinator.persistence.migrate import upgrade
from coordinator.settings import Settings
from endpoint import auth, eip712
from endpoint.services import Services
from endpoint.ws import register_ws, uvicorn_config

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scenarios" / "demo.json"
EOT = timedelta(hours=12)
T0 = 1_700_000_000_000  # 2023-11-14; the demo contracts expire 2025-01-31
RICH = {"USDC": Decimal(10_000_000), "WETH": Decimal(10_000)}
KEYS = {101: 0x12001, 102: 0x12002, 103: 0x12003, 104: 0x12004}


def demo() -> dict[str, Any]:
    return json.loads(DEMO.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




def open_store(request, tmp_path) -> Store:
    """A store with the current schema on ``request.param``'s engine (PostgreSQL: a database of
    the session's throwaway server, the ``pg_server`` fixture of ``tests/conftest``)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ccp.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_server").create_database()
    s = Store.open(url)
    upgrade(s.engine)
    return s


def seed(store: Store, clock: ManualClock, data: dict | None = None):
    return import_book(store, data or demo(), clock, end_of_trading=EOT, credit=RICH)


def session_for(store: Store, settings: Settings, clock: ManualClock, client_id: int) -> str:
    """A session token of ``client_id`` by a real login (Ithaca dialect) with its key."""
    key = KEYS[client_id]
    address = eip712.address_of(key)
    now = clock.now_ms()
    with store.write() as tx:
        auth_repo.ensure_client_address(tx, client_id, address, now)
    nonce = auth.request_nonce(store, settings, address, now)
    sig = eip712.sign(eip712.login(nonce, eip712.ithaca()), key)
    return auth.validate(store, settings, nonce, sig, now).token


class Server:
    """The app (WebSocket only, or the caller's) under uvicorn in a thread."""

    def __init__(self, app: FastAPI, port: int | None = None):
        self.app = app
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn_config(app, port=self.port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/wss"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@contextmanager
def ws_server(store: Store, clock: ManualClock, settings: Settings | None = None
              ) -> Iterator[tuple[Server, Any]]:
    settings = settings or Settings(database_url="sqlite://")
    app = FastAPI()
    fanout = register_ws(app, Services(settings, store, clock))
    with Server(app) as srv:
        yield srv, fanout


class Client:
    """A websockets client; every frame it receives must be binary JSON."""

    def __init__(self, url: str, **kw: Any):
        self._cm = connect(url, max_size=None, **kw)
        self.ws = self._cm.__enter__()

    def send(self, action: str, payload: Any = None) -> None:
        msg: dict[str, Any] = {"action": action}
        if payload is not None:
            msg["payload"] = payload
        self.ws.send(json.dumps(msg))

    def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        raw = self.ws.recv(timeout=timeout)
        assert isinstance(raw, bytes), f"a text frame: {raw!r}"
        return json.loads(raw.decode("utf-8"))

    def recv_until(self, pred, timeout: float = 15.0, skip=("HEARTBEAT",)) -> list[dict]:
        """Messages up to and including the first that satisfies ``pred``."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching message; got {[m['responseType'] for m in out]}")
            m = self.recv(left)
            if m["responseType"] in skip:
                continue
            out.append(m)
            if pred(m):
                return out

    def expect(self, response_type: str, timeout: float = 10.0) -> dict[str, Any]:
        return self.recv_until(lambda m: m["responseType"] == response_type, timeout)[-1]

    def close(self) -> None:
        self._cm.__exit__(None, None, None)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def raw_upgrade(port: int, path: str = "/wss", origins: tuple[str, ...] = ()) -> socket.socket:
    """An upgrade request written by hand (so it can carry two Origin headers)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             *(f"Origin: {o}" for o in origins)]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return s


def read_http_head(s: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(s: socket.socket, buf: bytes = b"") -> tuple[int, bytes, bytes]:
    """(opcode, payload, rest of the buffer) of one unmasked server frame."""
    def need(k: int) -> None:
        nonlocal buf
        while len(buf) < k:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk

    need(2)
    opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
    off = 2
    if n == 126:
        need(4)
        n, off = int.from_bytes(buf[2:4], "big"), 4
    elif n == 127:
        need(10)
        n, off = int.from_bytes(buf[2:10], "big"), 10
    need(off + n)
    return opcode, buf[off:off + n], buf[off + n:]
