"""Local HTTP servers for the background tests (uvicorn on 127.0.0.1, a free port).

* :class:`Exchanges` — one server that answers like Coinbase Exchange, Binance and Gemini
  public market data (their paths; canned bodies in their documented formats, built from
  ``recorded/*.json``), with scripted failures per path: a status and body, a delay (slow
  answer), a malformed body.
* :class:`Receiver` — a webhook receiver that records every request and answers with scripted
  statuses.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

RECORDED = Path(__file__).parent / "recorded"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, app: Starlette):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@dataclass
class Scripted:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as they are
    delay: float = 0.0


@dataclass
class Exchanges:
    """Answers: ``tickers[(source, symbol)]`` / ``candles[(source, symbol)]`` hold the
    recorded bodies; ``script[path]`` a queue of scripted answers taken before them."""

    tickers: dict[tuple[str, str], Any] = field(default_factory=dict)
    candles: dict[tuple[str, str], Any] = field(default_factory=dict)
    script: dict[str, deque[Scripted]] = field(default_factory=lambda: defaultdict(deque))
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @classmethod
    def recorded(cls) -> Exchanges:
        ex = cls()
        for f in sorted(RECORDED.glob("*.json")):
            source, what, symbol = f.stem.split("__")
            data = json.loads(f.read_text())
            (ex.tickers if what == "ticker" else ex.candles)[(source, symbol)] = data
        return ex

    def fail(self, path: str, *answers: Scripted) -> None:
        self.script[path].extend(answers)

    async def _answer(self, request: Request, source: str, what: str, symbol: str,
                      unknown: tuple[int, Any]) -> Response:
        self.requests.append((request.url.path, dict(request.query_params)))
        queue = self.script.get(request.url.path)
        if queue:
            s = queue.popleft()
            if s.delay:
                await asyncio.sleep(s.delay)
            if isinstance(s.body, bytes):
                return Response(s.body, s.status, media_type="application/json")
            return JSONResponse(s.body, s.status)
        table = self.tickers if what == "ticker" else self.candles
        if (source, symbol) not in table:
            return JSONResponse(unknown[1], unknown[0])
        return JSONResponse(table[(source, symbol)])

    def app(self) -> Starlette:
        async def cb_ticker(r: Request) -> Response:
            return await self._answer(r, "coinbase", "ticker", r.path_params["pid"],
                                      (404, {"message": "NotFound"}))

        async def cb_candles(r: Request) -> Response:
            q = r.query_params
            if q.get("granularity") not in {"60", "300", "900", "3600", "21600", "86400"}:
                return JSONResponse({"message": "Unsupported granularity"}, 400)
            if not q.get("start") or not q.get("end"):
                return JSONResponse({"message": "start and end required"}, 400)
            return await self._answer(r, "coinbase", "candles", r.path_params["pid"],
                                      (404, {"message": "NotFound"}))

        bad_symbol = (400, {"code": -1121, "msg": "Invalid symbol."})

        async def bn_ticker(r: Request) -> Response:
            return await self._answer(r, "binance", "ticker", r.query_params.get("symbol", ""),
                                      bad_symbol)

        async def bn_klines(r: Request) -> Response:
            q = r.query_params
            if q.get("interval") != "1m" or not q.get("startTime", "").isdigit():
                return JSONResponse({"code": -1100, "msg": "Illegal characters found in a "
                                                           "parameter."}, 400)
            return await self._answer(r, "binance", "candles", q.get("symbol", ""), bad_symbol)

        gm_bad = (400, {"result": "error", "reason": "InvalidSymbol",
                        "message": "Supplied value is not a valid symbol"})

        async def gm_ticker(r: Request) -> Response:
            return await self._answer(r, "gemini", "ticker", r.path_params["sym"], gm_bad)

        async def gm_candles(r: Request) -> Response:
            return await self._answer(r, "gemini", "candles", r.path_params["sym"], gm_bad)

        return Starlette(routes=[
            Route("/products/{pid}/ticker", cb_ticker),
            Route("/products/{pid}/candles", cb_candles),
            Route("/api/v3/ticker/price", bn_ticker),
            Route("/api/v3/klines", bn_klines),
            Route("/v1/pubticker/{sym}", gm_ticker),
            Route("/v2/candles/{sym}/1m", gm_candles),
        ])

    def serve(self) -> _Server:
        return _Server(self.app())


@dataclass
class Receiver:
    """Records every POST; answers the scripted statuses first, then 200."""

    statuses: deque[int] = field(default_factory=deque)
    received: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(r: Request) -> Response:
            body = await r.body()
            status = self.statuses.popleft() if self.statuses else 200
            self.received.append(({k.lower(): v for k, v in r.headers.items()}, body, status))
            return Response(b"ok" if status == 200 else b"boom", status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def serve(self) -> _Server:
        return _Server(self.app())

    def accepted(self) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b, s in self.received if 200 <= s < 300]
