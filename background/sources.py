"""Spot price sources: Coinbase, Binance and Gemini public market data, and a simulated source.

Every source answers two questions for a pair:

* ``ticker(pair, now_ms)`` — the live spot price;
* ``candle(pair, minute_ms)`` — the one-minute candle that **opens** at ``minute_ms``; its open
  price is the price at that minute (the 12:00 UTC fixing is the open of the 12:00 candle).

The answer is a value, never an exception: a :class:`Quote`, or a :class:`Failure` whose
``kind`` says what went wrong (rate limited, server error, unknown symbol, malformed body, empty
candle, timeout, unreachable). HTTP sources retry the transient failures (429, 5xx, timeout,
connection) with exponential back-off. Prices are parsed as :class:`~decimal.Decimal` (JSON
numbers too: never a float).

The exchanges' public endpoints (their real paths, parameters and formats):

* Coinbase Exchange — ``GET /products/{id}/ticker`` → ``{"price": "…", "time": "ISO", …}``;
  ``GET /products/{id}/candles?granularity=60&start=ISO&end=ISO`` →
  ``[[time_s, low, high, open, close, volume], …]``; unknown product: 404 ``{"message": …}``.
* Binance — ``GET /api/v3/ticker/price?symbol=S`` → ``{"symbol": S, "price": "…"}``;
  ``GET /api/v3/klines?symbol=S&interval=1m&startTime=ms&endTime=ms&limit=1`` →
  ``[[open_ms, "open", "high", "low", "close", "volume", close_ms, …]]``; unknown symbol: 400
  ``{"code": -1121, "msg": "Invalid symbol."}``.
* Gemini — ``GET /v1/pubticker/{symbol}`` → ``{"bid", "ask", "last", "volume": {…,
  "timestamp": ms}}``; ``GET /v2/candles/{symbol}/1m`` → ``[[time_ms, open, high, low, close,
  volume], …]`` newest first (recent candles only); unknown symbol: 400 ``{"result": "error",
  "reason": "InvalidSymbol", …}``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx

MINUTE_MS = 60_000
DAY_MS = 86_400_000


class FailureKind(StrEnum):
    RATE_LIMITED = "RATE_LIMITED"  # HTTP 429
    SERVER_ERROR = "SERVER_ERROR"  # HTTP 5xx
    HTTP_ERROR = "HTTP_ERROR"  # another HTTP status
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"  # the exchange does not know the symbol
    NOT_CONFIGURED = "NOT_CONFIGURED"  # no symbol for the pair in the settings
    MALFORMED = "MALFORMED"  # not the documented format, or not a positive price
    EMPTY_CANDLE = "EMPTY_CANDLE"  # no candle for that minute
    TIMEOUT = "TIMEOUT"  # no answer within the timeout
    UNREACHABLE = "UNREACHABLE"  # connection refused, DNS, reset

    @property
    def transient(self) -> bool:
        return self in (FailureKind.RATE_LIMITED, FailureKind.SERVER_ERROR,
                        FailureKind.TIMEOUT, FailureKind.UNREACHABLE)


@dataclass(frozen=True, slots=True)
class Quote:
    source: str
    pair: str
    price: Decimal
    observed_ms: int


@dataclass(frozen=True, slots=True)
class Failure:
    source: str
    pair: str
    kind: FailureKind
    detail: str = ""
    status_code: int | None = None
    attempts: int = 1


Outcome = Quote | Failure


class Source(Protocol):
    name: str

    def ticker(self, pair: str, now_ms: int) -> Outcome: ...

    def candle(self, pair: str, minute_ms: int) -> Outcome: ...


class _Bad(Exception):
    """Inside an adapter: the body is not what the API documents."""

    def __init__(self, kind: FailureKind, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _price(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _Bad(FailureKind.MALFORMED, f"{what}: not a number: {value!r}")
    try:
        p = Decimal(value)
    except InvalidOperation:
        raise _Bad(FailureKind.MALFORMED, f"{what}: not a number: {value!r}") from None
    if not p.is_finite() or p <= 0:
        raise _Bad(FailureKind.MALFORMED, f"{what}: not a positive price: {value!r}")
    return p


def _iso_ms(text: Any) -> int:
    if not isinstance(text, str):
        raise _Bad(FailureKind.MALFORMED, f"time: not a string: {text!r}")
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(FailureKind.MALFORMED, f"time: not ISO 8601: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HttpSource:
    """Common HTTP behaviour: one GET with timeout, retries with back-off, typed failures."""

    name = "http"

    def __init__(self, base_url: str, symbols: Mapping[str, str], *, timeout_s: float = 5.0,
                 retries: int = 2, backoff_s: float = 0.5,
                 now_ms: Callable[[], int] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.symbols = dict(symbols)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self.sleep = sleep
        self.client = httpx.Client(timeout=timeout_s, transport=transport,
                                   headers={"User-Agent": "ccp-venue/1"})
        self.requests = 0  # sent, retries included (tests and health)

    def close(self) -> None:
        self.client.close()

    # -- subclass hooks -------------------------------------------------------------------
    def _unknown_symbol(self, status: int, body: Any) -> bool:
        raise NotImplementedError

    # -- the request loop -----------------------------------------------------------------
    def _get(self, pair: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON body; raises _Bad with the failure after the retries."""
        last: _Bad | None = None
        status: int | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            self.requests += 1
            try:
                resp = self.client.get(self.base_url + path, params=params)
            except httpx.TimeoutException as e:
                last, status = _Bad(FailureKind.TIMEOUT, f"no answer within "
                                    f"{self.timeout_s}s ({type(e).__name__})"), None
                continue
            except httpx.HTTPError as e:
                last, status = _Bad(FailureKind.UNREACHABLE, f"{type(e).__name__}: {e}"), None
                continue
            status = resp.status_code
            body = self._decode(resp)
            if status == 200:
                if body is _UNDECODABLE:
                    raise _Failed(_Bad(FailureKind.MALFORMED, "body is not JSON"), status,
                                  attempt + 1)
                return body
            snippet = resp.text[:200]
            if status == 429:
                last = _Bad(FailureKind.RATE_LIMITED, f"429: {snippet}")
                continue
            if status >= 500:
                last = _Bad(FailureKind.SERVER_ERROR, f"{status}: {snippet}")
                continue
            kind = (FailureKind.UNKNOWN_SYMBOL if self._unknown_symbol(status, body)
                    else FailureKind.HTTP_ERROR)
            raise _Failed(_Bad(kind, f"{status}: {snippet}"), status, attempt + 1)
        assert last is not None
        raise _Failed(last, status, self.retries + 1)

    @staticmethod
    def _decode(resp: httpx.Response) -> Any:
        try:
            return json.loads(resp.content, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            return _UNDECODABLE

    def _ask(self, pair: str, fn: Callable[[str], Quote]) -> Outcome:
        symbol = self.symbols.get(pair)
        if not symbol:
            return Failure(self.name, pair, FailureKind.NOT_CONFIGURED,
                           f"no {self.name} symbol for {pair}", attempts=0)
        try:
            return fn(symbol)
        except _Failed as f:
            return Failure(self.name, pair, f.bad.kind, f.bad.detail, f.status, f.attempts)
        except _Bad as b:
            return Failure(self.name, pair, b.kind, b.detail, 200)
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            return Failure(self.name, pair, FailureKind.MALFORMED,
                           f"unexpected body: {type(e).__name__}: {e}", 200)


_UNDECODABLE = object()


class _Failed(Exception):
    def __init__(self, bad: _Bad, status: int | None, attempts: int):
        super().__init__(bad.detail)
        self.bad, self.status, self.attempts = bad, status, attempts


def _rows(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise _Bad(FailureKind.MALFORMED, f"expected a list of candles, got {type(body).__name__}")
    return body


class CoinbaseSource(HttpSource):
    name = "coinbase"

    def _unknown_symbol(self, status: int, body: Any) -> bool:
        return status == 404 or (isinstance(body, dict) and "not found" in str(
            body.get("message", "")).lower())

    def ticker(self, pair: str, now_ms: int) -> Outcome:
        def ask(symbol: str) -> Quote:
            body = self._get(pair, f"/products/{symbol}/ticker")
            if not isinstance(body, dict):
                raise _Bad(FailureKind.MALFORMED, "ticker: not an object")
            return Quote(self.name, pair, _price(body["price"], "price"), _iso_ms(body["time"]))
        return self._ask(pair, ask)

    def candle(self, pair: str, minute_ms: int) -> Outcome:
        def ask(symbol: str) -> Quote:
            body = self._get(pair, f"/products/{symbol}/candles", {
                "granularity": 60, "start": _iso(minute_ms), "end": _iso(minute_ms + MINUTE_MS)})
            for row in _rows(body):
                if isinstance(row, list) and len(row) >= 5 and row[0] == minute_ms // 1000:
                    return Quote(self.name, pair, _price(row[3], "open"), minute_ms)
            raise _Bad(FailureKind.EMPTY_CANDLE, f"no candle opening at {_iso(minute_ms)}")
        return self._ask(pair, ask)


class BinanceSource(HttpSource):
    name = "binance"

    def _unknown_symbol(self, status: int, body: Any) -> bool:
        return isinstance(body, dict) and body.get("code") == -1121

    def ticker(self, pair: str, now_ms: int) -> Outcome:
        def ask(symbol: str) -> Quote:
            body = self._get(pair, "/api/v3/ticker/price", {"symbol": symbol})
            if not isinstance(body, dict) or body.get("symbol") != symbol:
                raise _Bad(FailureKind.MALFORMED, f"ticker: not the price of {symbol}")
            return Quote(self.name, pair, _price(body["price"], "price"), self.now_ms())
        return self._ask(pair, ask)

    def candle(self, pair: str, minute_ms: int) -> Outcome:
        def ask(symbol: str) -> Quote:
            body = self._get(pair, "/api/v3/klines", {
                "symbol": symbol, "interval": "1m", "startTime": minute_ms,
                "endTime": minute_ms + MINUTE_MS - 1, "limit": 1})
            for row in _rows(body):
                if isinstance(row, list) and len(row) >= 5 and row[0] == minute_ms:
                    return Quote(self.name, pair, _price(row[1], "open"), minute_ms)
            raise _Bad(FailureKind.EMPTY_CANDLE, f"no kline opening at {_iso(minute_ms)}")
        return self._ask(pair, ask)


class GeminiSource(HttpSource):
    name = "gemini"

    def _unknown_symbol(self, status: int, body: Any) -> bool:
        return isinstance(body, dict) and body.get("reason") == "InvalidSymbol"

    def ticker(self, pair: str, now_ms: int) -> Outcome:
        def ask(symbol: str) -> Quote:
            body = self._get(pair, f"/v1/pubticker/{symbol}")
            if not isinstance(body, dict):
                raise _Bad(FailureKind.MALFORMED, "ticker: not an object")
            ts = body["volume"]["timestamp"]
            if isinstance(ts, bool) or not isinstance(ts, int):
                raise _Bad(FailureKind.MALFORMED, f"volume.timestamp: {ts!r}")
            return Quote(self.name, pair, _price(body["last"], "last"), ts)
        return self._ask(pair, ask)

    def candle(self, pair: str, minute_ms: int) -> Outcome:
        def ask(symbol: str) -> Quote:
            body = self._get(pair, f"/v2/candles/{symbol}/1m")
            for row in _rows(body):
                if isinstance(row, list) and len(row) >= 5 and row[0] == minute_ms:
                    return Quote(self.name, pair, _price(row[1], "open"), minute_ms)
            raise _Bad(FailureKind.EMPTY_CANDLE, f"no candle opening at {_iso(minute_ms)}")
        return self._ask(pair, ask)


# ---- the simulated source ---------------------------------------------------------------------

class SimulatedSource:
    """A seeded random walk (the embedded default), or a replay file.

    The walk is a pure function of (seed, pair, minute): each UTC day starts from the previous
    day's level (one step per day from 2020-01-01), then moves one step per minute; a step
    multiplies by ``1 ± step`` (``step_percent``/100). The same minute always has the same
    price, so a fixing can be asked again and gives the same answer. Prices keep 2 decimals.

    Replay: ``{pair: [[epoch_ms, "price"], …]}``; the ticker is the last point at or before now,
    the candle of a minute is the first point inside it (else an empty candle).
    """

    name = "simulated"
    ANCHOR_MS = 1_577_836_800_000  # 2020-01-01T00:00Z

    def __init__(self, start: Mapping[str, str | Decimal], *, seed: int = 1,
                 step_percent: float | Decimal = Decimal("0.05"),
                 replay: Mapping[str, list[tuple[int, Decimal]]] | None = None):
        self.start = {p: Decimal(str(v)) for p, v in start.items()}
        self.seed = seed
        self.step = Decimal(str(step_percent)) / 100
        self.replay = None if replay is None else {
            p: sorted((int(ms), Decimal(str(v))) for ms, v in pts) for p, pts in replay.items()}
        self._days: dict[tuple[str, int], Decimal] = {}

    @classmethod
    def from_replay_file(cls, path: str | Path) -> SimulatedSource:
        try:
            data = json.loads(Path(path).read_text())
            replay = {p: [(int(ms), Decimal(str(v))) for ms, v in pts] for p, pts in data.items()}
        except (OSError, ValueError, TypeError, AttributeError, InvalidOperation) as e:
            raise ValueError(f"{path}: not a replay file ({{pair: [[epoch_ms, price], ...]}}): "
                             f"{e}") from None
        return cls({}, replay=replay)

    def _sign(self, pair: str, salt: str, n: int) -> list[int]:
        rng = random.Random(f"{self.seed}:{pair}:{salt}")
        return [1 if rng.random() < 0.5 else -1 for _ in range(n)]

    def _day_open(self, pair: str, day: int) -> Decimal:
        if day <= 0:
            return self.start[pair]
        known = max((d for (p, d) in self._days if p == pair and d <= day), default=0)
        level = self._days.get((pair, known), self.start[pair])
        for d in range(known + 1, day + 1):
            s = self._sign(pair, f"day{d}", 1)[0]
            level = level * (1 + s * self.step * 10)
            self._days[(pair, d)] = level
        return level

    def price_at(self, pair: str, ms: int) -> Decimal | None:
        if self.replay is not None:
            pts = [v for t, v in self.replay.get(pair, []) if t <= ms]
            return pts[-1] if pts else None
        if pair not in self.start:
            return None
        day, in_day = divmod(ms - self.ANCHOR_MS, DAY_MS)
        level = self._day_open(pair, day)
        for s in self._sign(pair, f"min{day}", in_day // MINUTE_MS):
            level = level * (1 + s * self.step)
        return level.quantize(Decimal("0.01"))

    def ticker(self, pair: str, now_ms: int) -> Outcome:
        p = self.price_at(pair, now_ms)
        if p is None:
            return Failure(self.name, pair, FailureKind.UNKNOWN_SYMBOL, f"no simulated {pair}")
        return Quote(self.name, pair, p, now_ms)

    def candle(self, pair: str, minute_ms: int) -> Outcome:
        if self.replay is not None:
            inside = [v for t, v in self.replay.get(pair, [])
                      if minute_ms <= t < minute_ms + MINUTE_MS]
            if not inside:
                return Failure(self.name, pair, FailureKind.EMPTY_CANDLE,
                               f"no replayed price in the minute {_iso(minute_ms)}")
            return Quote(self.name, pair, inside[0], minute_ms)
        p = self.price_at(pair, minute_ms)
        if p is None:
            return Failure(self.name, pair, FailureKind.UNKNOWN_SYMBOL, f"no simulated {pair}")
        return Quote(self.name, pair, p, minute_ms)


def sources_from_settings(settings: Any, now_ms: Callable[[], int] | None = None,
                          sleep: Callable[[float], None] = time.sleep) -> list[Source]:
    """The configured sources (``price_sources``), built from the settings."""
    out: list[Source] = []
    kw = dict(timeout_s=settings.price_timeout_seconds, retries=settings.price_retries,
              backoff_s=settings.price_backoff_seconds, now_ms=now_ms, sleep=sleep)
    for name in settings.price_source_names:
        if name == "simulated":
            if settings.price_replay_file:
                out.append(SimulatedSource.from_replay_file(settings.price_replay_file))
            else:
                out.append(SimulatedSource(settings.price_simulated_start,
                                           seed=settings.price_simulated_seed,
                                           step_percent=settings.price_simulated_step_percent))
        elif name == "coinbase":
            out.append(CoinbaseSource(settings.price_coinbase_url,
                                      settings.price_coinbase_symbols, **kw))
        elif name == "binance":
            out.append(BinanceSource(settings.price_binance_url,
                                     settings.price_binance_symbols, **kw))
        elif name == "gemini":
            out.append(GeminiSource(settings.price_gemini_url,
                                    settings.price_gemini_symbols, **kw))
    return out
