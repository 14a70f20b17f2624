"""The WebSocket of api.md §5 at ``/wss`` (alias ``/ws``): :func:`register_ws`.

Every message the server sends is a **binary frame** of UTF-8 JSON in the envelope
``{"responseType", "error", "cause", "details", "payload"}``. A client sends
``{"action", "payload"}`` (text or binary):

* ``VALIDATE_AUTH_TOKEN`` (payload ``{"authToken": t}`` or the bare token) →
  ``VALIDATE_AUTH_TOKEN_RESPONSE {"clientId"}``; from then on the socket gets its client's
  ``EXEC_REPORT`` and ``FUNDLOCK_UPDATED``;
* ``SUBSCRIBE_ALL_LINKED_ACCOUNTS`` → an acknowledgement (no linked accounts here);
* ``SUBSCRIBE_ORDER_BOOK {"contractId"}`` → ``ORDERBOOK`` (snapshot), then ``ORDERBOOK_DELTA``s
  with ``deltaNum`` one higher each; ``UNSUBSCRIBE_ORDER_BOOK``;
* ``SUBSCRIBE_TRADE_REPORTS {"contractId"}`` → ``TRADE_REPORT`` after each auction that traded
  it; ``UNSUBSCRIBE_TRADE_REPORTS``;
* ``HEARTBEAT_REQUEST`` → ``HEARTBEAT_RESPONSE``.

Everyone gets ``AUCTION_STARTED``, ``AUCTION_FINISHED`` and ``SPOT_PRICES``; a socket that was
sent nothing for ``ws_heartbeat_seconds`` gets a ``HEARTBEAT``. Errors carry a ``cause`` of
§5 (``INVALID_REQUEST``, ``INVALID_REQUEST_ACTION``, ``INVALID_CONTRACT_ID``,
``ALREADY_SUBSCRIBED``, ``NOT_SUBSCRIBED``, ``SERVICE_NOT_AVAILABLE_YET``,
``INVALID_AUTH_TOKEN``, ``RECONNECT_REQUIRED``, ``GENERAL``).

**Limits** (settings ``ws_…``): each socket has a bounded queue; fan-out only ever appends to
it (never waits), and a socket whose queue is full is sent ``RECONNECT_REQUIRED`` and closed
(cut after ``ws_close_seconds`` if it does not even take that). A socket sending faster than
``ws_messages_per_second`` (burst ``ws_message_burst``) or messages larger than
``ws_max_message_bytes`` gets a ``GENERAL`` error and is closed; more than
``ws_max_subscriptions`` subscriptions are refused (``INVALID_REQUEST``).

**Serving:** the Python SDK sends two ``Origin`` headers on the upgrade, which the
``websockets`` library refuses by design; serve the app with uvicorn's ``wsproto``
implementation (:data:`UVICORN_WS`, or :func:`uvicorn_config`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect

from endpoint.streams import (
    BookChanged,
    BookUnknown,
    Broadcast,
    Hub,
    Out,
    ToClient,
    ToTrades,
    encode,
    message,
)

log = logging.getLogger(__name__)

UVICORN_WS = "wsproto"  # tolerates two Origin headers (websockets' implementations refuse)

Authenticate = Callable[[Any, str, int], "tuple[int, str] | None"]

_CLOSE = object()  # queue sentinel: close the socket after what is before it


def uvicorn_config(app: Any, host: str = "127.0.0.1", port: int = 8078,
                   settings: Any | None = None, **kw: Any):
    """A ``uvicorn.Config`` serving ``app`` with the WebSocket implementation clients need
    (``ws="wsproto"``); with ``settings``, frames beyond 4 × ``ws_max_message_bytes`` (at
    least 1 MiB) are refused by uvicorn before they are buffered whole."""
    import uvicorn

    kw.setdefault("ws", UVICORN_WS)
    if settings is not None:
        kw.setdefault("ws_max_size", max(4 * settings.ws_max_message_bytes, 1 << 20))
    kw.setdefault("log_level", "warning")
    return uvicorn.Config(app, host=host, port=port, **kw)


def error(cause: str, details: str, response_type: str = "ERROR") -> bytes:
    return encode(message(response_type, None, error=True, cause=cause, details=details))


class Conn:
    """One socket: its outgoing queue, its client, its subscriptions, its inbound budget."""

    def __init__(self, ws: WebSocket, fanout: Fanout):
        s = fanout.settings
        self.ws = ws
        self.fanout = fanout
        self.limit = s.ws_queue_size
        self.queue: asyncio.Queue[Any] = asyncio.Queue()  # bounded by push (``limit``)
        self.client_id: int | None = None
        self.books: set[int] = set()
        self.trades: set[int] = set()
        self.dead = False  # told to go (or gone): nothing more is queued
        self.last_queued = time.monotonic()
        self.done = asyncio.Event()
        self._tokens = float(s.ws_message_burst)
        self._refill = time.monotonic()

    @property
    def subscriptions(self) -> int:
        return len(self.books) + len(self.trades)

    def push(self, data: bytes) -> None:
        """Queue a message (never waits); a full queue sends RECONNECT_REQUIRED and closes."""
        if self.dead:
            return
        if self.queue.qsize() >= self.limit:
            self.fanout.overflows += 1
            self.drop(error("RECONNECT_REQUIRED",
                            f"this socket fell {self.limit} messages behind; "
                            "reconnect and subscribe again"), clear=True)
            return
        self.queue.put_nowait(data)
        self.last_queued = time.monotonic()

    def drop(self, last: bytes | None, code: int = 1008, clear: bool = False) -> None:
        """Stop serving: send what is queued (``clear``: drop it), then ``last``, then close;
        cut after ``ws_close_seconds`` whatever the socket took by then."""
        if self.dead:
            return
        self.dead = True
        self.fanout.forget(self)
        while clear and not self.queue.empty():
            self.queue.get_nowait()
        if last is not None:
            self.queue.put_nowait(last)
        self.queue.put_nowait((_CLOSE, code))
        asyncio.get_running_loop().call_later(self.fanout.settings.ws_close_seconds,
                                              self.done.set)

    def allow(self) -> bool:
        """Inbound token bucket: may this message be handled?"""
        s = self.fanout.settings
        now = time.monotonic()
        self._tokens = min(float(s.ws_message_burst),
                           self._tokens + (now - self._refill) * s.ws_messages_per_second)
        self._refill = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Fanout:
    """Runs on the event loop: sockets, their subscriptions, and the hub's output to them."""

    def __init__(self, hub: Hub, services: Any, authenticate: Authenticate | None = None):
        self.hub = hub
        self.services = services
        self.settings = services.settings
        self._authenticate = authenticate
        self.conns: set[Conn] = set()
        self.books: dict[int, set[Conn]] = {}
        self.trades: dict[int, set[Conn]] = {}
        self.clients: dict[int, set[Conn]] = {}
        self.snapshots: dict[int, dict[str, Any]] = {}  # contract → its last ORDERBOOK payload
        # contract → subscriptions waiting for the hub's first snapshot (or BookUnknown)
        self.pending: dict[int, list[tuple[Conn, str, asyncio.Future]]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task | None = None
        self.overflows = 0  # sockets told RECONNECT_REQUIRED
        self.delivered_at = 0.0  # monotonic time the last hub output was fanned out

    # -- lifecycle --------------------------------------------------------------------------
    def ensure_started(self) -> None:
        if self.loop is not None:
            return
        self.loop = asyncio.get_running_loop()
        loop = self.loop

        def sink(outs: list[Out]) -> None:  # from the hub thread
            with contextlib.suppress(RuntimeError):  # the loop closed (shutdown)
                loop.call_soon_threadsafe(self.deliver, outs)

        self.hub.start(sink)
        self._ticker = loop.create_task(self._heartbeats())

    async def shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for conn in list(self.conns):
            conn.drop(None, 1001)
        await asyncio.to_thread(self.hub.stop)

    def authenticate(self, token: str) -> tuple[int, str] | None:
        auth = self._authenticate
        if auth is None:
            from endpoint.auth import client_for_token as auth
        return auth(self.services.store, token, self.services.clock.now_ms())

    # -- fan-out (called on the loop thread) --------------------------------------------------
    def deliver(self, outs: list[Out]) -> None:
        for out in outs:
            match out:
                case Broadcast(data):
                    for conn in list(self.conns):
                        conn.push(data)
                case ToClient(client_id, data):
                    for conn in list(self.clients.get(client_id, ())):
                        conn.push(data)
                case ToTrades(cid, data):
                    for conn in list(self.trades.get(cid, ())):
                        conn.push(data)
                case BookChanged(cid, snapshot, delta):
                    self.snapshots[cid] = snapshot
                    if delta is not None:
                        for conn in list(self.books.get(cid, ())):
                            conn.push(delta)
                    for conn, kind, fut in self.pending.pop(cid, []):
                        if not conn.dead:
                            self._subscribed(conn, cid, kind)
                        _resolve(fut)
                case BookUnknown(cid):
                    for conn, kind, fut in self.pending.pop(cid, []):
                        conn.push(error("INVALID_CONTRACT_ID", f"no contract {cid}",
                                        _action(kind, True) + "_RESPONSE"))
                        _resolve(fut)
        self.delivered_at = time.monotonic()

    def _subscribed(self, conn: Conn, cid: int, kind: str) -> None:
        if kind == "book":
            conn.books.add(cid)
            self.books.setdefault(cid, set()).add(conn)
            conn.push(encode(message("ORDERBOOK", self.snapshots[cid])))
        else:
            conn.trades.add(cid)
            self.trades.setdefault(cid, set()).add(conn)
            conn.push(encode(message("SUBSCRIBE_TRADE_REPORTS_RESPONSE", {"contractId": cid})))

    def forget(self, conn: Conn) -> None:
        self.conns.discard(conn)
        for cid in conn.books:
            self.books.get(cid, set()).discard(conn)
        for cid in conn.trades:
            self.trades.get(cid, set()).discard(conn)
        if conn.client_id is not None:
            self.clients.get(conn.client_id, set()).discard(conn)

    async def _heartbeats(self) -> None:
        every = self.settings.ws_heartbeat_seconds
        tick = min(1.0, every / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            stale = [c for c in self.conns if now - c.last_queued >= every]
            if stale:
                data = encode(message("HEARTBEAT", {"time": self.services.clock.now_ms()}))
                for conn in stale:
                    conn.push(data)

    # -- one socket -------------------------------------------------------------------------
    async def serve(self, ws: WebSocket) -> None:
        await ws.accept()
        self.ensure_started()
        conn = Conn(ws, self)
        self.conns.add(conn)
        reader = asyncio.create_task(self._read(conn))
        writer = asyncio.create_task(self._write(conn))
        try:
            await conn.done.wait()
        finally:
            conn.dead = True
            self.forget(conn)
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)

    async def _write(self, conn: Conn) -> None:
        try:
            while True:
                item = await conn.queue.get()
                if isinstance(item, tuple) and item[0] is _CLOSE:
                    with contextlib.suppress(Exception):
                        await conn.ws.close(item[1])
                    return
                await conn.ws.send_bytes(item)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
        finally:
            conn.done.set()

    async def _read(self, conn: Conn) -> None:
        limit = self.settings.ws_max_message_bytes
        try:
            while not conn.dead:
                msg = await conn.ws.receive()
                if msg["type"] == "websocket.disconnect":
                    return
                raw = msg.get("bytes")
                if raw is None:
                    raw = (msg.get("text") or "").encode()
                if not conn.allow():
                    conn.drop(error("GENERAL", "message rate limit exceeded "
                                    f"({self.settings.ws_messages_per_second}/s)"))
                    return
                if len(raw) > limit:
                    conn.drop(error("GENERAL", f"message larger than {limit} bytes"))
                    return
                await self.handle(conn, raw)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
        finally:
            if not conn.dead:
                conn.done.set()

    # -- actions ----------------------------------------------------------------------------
    async def handle(self, conn: Conn, raw: bytes) -> None:
        try:
            req = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            conn.push(error("INVALID_REQUEST", "not a JSON message"))
            return
        if not isinstance(req, dict) or not isinstance(req.get("action"), str):
            conn.push(error("INVALID_REQUEST", 'expected {"action": …, "payload": …}'))
            return
        action, payload = req["action"], req.get("payload")
        match action:
            case "VALIDATE_AUTH_TOKEN":
                await self._validate(conn, payload)
            case "SUBSCRIBE_ALL_LINKED_ACCOUNTS":
                conn.push(encode(message("SUBSCRIBE_ALL_LINKED_ACCOUNTS_RESPONSE",
                                         {"linkedAccounts": []})))
            case "SUBSCRIBE_ORDER_BOOK":
                await self._subscribe(conn, payload, "book")
            case "SUBSCRIBE_TRADE_REPORTS":
                await self._subscribe(conn, payload, "trades")
            case "UNSUBSCRIBE_ORDER_BOOK":
                self._unsubscribe(conn, payload, "book")
            case "UNSUBSCRIBE_TRADE_REPORTS":
                self._unsubscribe(conn, payload, "trades")
            case "HEARTBEAT_REQUEST":
                conn.push(encode(message("HEARTBEAT_RESPONSE",
                                         {"time": self.services.clock.now_ms()})))
            case _:
                conn.push(error("INVALID_REQUEST_ACTION", f"unknown action {action[:60]!r}"))

    async def _validate(self, conn: Conn, payload: Any) -> None:
        rt = "VALIDATE_AUTH_TOKEN_RESPONSE"
        token = payload.get("authToken") if isinstance(payload, dict) else payload
        if not isinstance(token, str) or not token or len(token) > 512:
            conn.push(error("INVALID_AUTH_TOKEN", "authToken missing", rt))
            return
        try:
            found = await asyncio.to_thread(self.authenticate, token)
        except Exception:
            log.exception("websocket: token check failed")
            conn.push(error("SERVICE_NOT_AVAILABLE_YET", "the token could not be checked", rt))
            return
        if found is None:
            conn.push(error("INVALID_AUTH_TOKEN", "unknown or expired authToken", rt))
            return
        if conn.dead:
            return
        client_id = int(found[0])
        if conn.client_id is not None:
            self.clients.get(conn.client_id, set()).discard(conn)
        conn.client_id = client_id
        self.clients.setdefault(client_id, set()).add(conn)
        conn.push(encode(message(rt, {"clientId": client_id})))

    async def _subscribe(self, conn: Conn, payload: Any, kind: str) -> None:
        rt = _action(kind, True) + "_RESPONSE"
        cid = _contract_id(payload)
        if cid is None:
            conn.push(error("INVALID_REQUEST", 'expected {"contractId": <integer>}', rt))
            return
        held = conn.books if kind == "book" else conn.trades
        if cid in held:
            conn.push(error("ALREADY_SUBSCRIBED", f"already subscribed to contract {cid}", rt))
            return
        if conn.subscriptions >= self.settings.ws_max_subscriptions:
            conn.push(error("INVALID_REQUEST", f"at most {self.settings.ws_max_subscriptions} "
                            "subscriptions per socket", rt))
            return
        if cid in self.snapshots:
            self._subscribed(conn, cid, kind)
            return
        # The hub answers with the book's snapshot (the subscription starts there, in order
        # with its deltas) or BookUnknown; this socket's next message waits for the answer.
        fut = asyncio.get_running_loop().create_future()
        first = cid not in self.pending
        self.pending.setdefault(cid, []).append((conn, kind, fut))
        if first:
            self.hub.want_book(cid)
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.settings.ws_close_seconds + 10)
        except TimeoutError:
            self.pending[cid] = [x for x in self.pending.get(cid, []) if x[0] is not conn]
            conn.push(error("SERVICE_NOT_AVAILABLE_YET", "the book is not available yet; "
                            "retry", rt))

    def _unsubscribe(self, conn: Conn, payload: Any, kind: str) -> None:
        rt = _action(kind, False) + "_RESPONSE"
        cid = _contract_id(payload)
        if cid is None:
            conn.push(error("INVALID_REQUEST", 'expected {"contractId": <integer>}', rt))
            return
        held, index = (conn.books, self.books) if kind == "book" else (conn.trades, self.trades)
        if cid not in held:
            conn.push(error("NOT_SUBSCRIBED", f"not subscribed to contract {cid}", rt))
            return
        held.discard(cid)
        index.get(cid, set()).discard(conn)
        conn.push(encode(message(rt, {"contractId": cid})))


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def _action(kind: str, subscribe: bool) -> str:
    what = "ORDER_BOOK" if kind == "book" else "TRADE_REPORTS"
    return f"{'SUBSCRIBE' if subscribe else 'UNSUBSCRIBE'}_{what}"


def _contract_id(payload: Any) -> int | None:
    value = payload.get("contractId") if isinstance(payload, dict) else payload
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 <= value < 2**32:
        return value
    return None


def register_ws(app: FastAPI, services: Any, *,
                authenticate: Authenticate | None = None) -> Fanout:
    """Add the WebSocket at ``/wss`` and ``/ws`` to ``app`` (one hub for the app's process).

    ``authenticate(store, token, now_ms) -> (client id, address) | None`` checks a session
    token (default :func:`endpoint.auth.client_for_token`). The hub starts with the first
    socket and stops at the app's shutdown; ``app.state.ws`` is the :class:`Fanout` (its
    ``hub`` can be woken by code that commits events in this process).
    """
    hub = Hub(services.store, services.clock, services.settings)
    fanout = Fanout(hub, services, authenticate)
    app.state.ws = fanout

    async def websocket_endpoint(websocket: WebSocket) -> None:
        await fanout.serve(websocket)

    app.add_api_websocket_route("/wss", websocket_endpoint)
    app.add_api_websocket_route("/ws", websocket_endpoint)
    app.router.on_shutdown.append(fanout.shutdown)
    return fanout
