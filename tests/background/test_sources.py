"""The exchange adapters against a local HTTP server answering in the exchanges' formats, with
every failure: 429, 5xx, malformed body, empty candle, wrong symbol, slow answer, no server."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from background.aggregate import DEVIATION, FAILED, STALE, USED, aggregate, median
from background.sources import (
    BinanceSource,
    CoinbaseSource,
    Failure,
    FailureKind,
    GeminiSource,
    Quote,
    SimulatedSource,
)
from tests.background.servers import Exchanges, Scripted, free_port

FIX = 1_738_324_800_000  # 2025-01-31T12:00Z
NOW = FIX + 5 * 60_000
PAIR = "WETH/USDC"
SYMBOLS = {"coinbase": {PAIR: "ETH-USD", "WBTC/USDC": "NOPE-USD"},
           "binance": {PAIR: "ETHUSDT", "WBTC/USDC": "NOPEUSDT"},
           "gemini": {PAIR: "ethusd", "WBTC/USDC": "nopeusd"}}
CLASSES = {"coinbase": CoinbaseSource, "binance": BinanceSource, "gemini": GeminiSource}
PATHS = {"coinbase": ("/products/ETH-USD/ticker", "/products/ETH-USD/candles"),
         "binance": ("/api/v3/ticker/price", "/api/v3/klines"),
         "gemini": ("/v1/pubticker/ethusd", "/v2/candles/ethusd/1m")}


@pytest.fixture(scope="module")
def exchange():
    ex = Exchanges.recorded()
    with ex.serve() as server:
        yield ex, server.url


@pytest.fixture
def make(exchange):
    ex, url = exchange
    ex.script.clear()
    slept: list[float] = []

    def build(name: str, **kw):
        kw.setdefault("timeout_s", 1.0)
        kw.setdefault("retries", 2)
        kw.setdefault("backoff_s", 0.25)
        return CLASSES[name](url, SYMBOLS[name], now_ms=lambda: NOW, sleep=slept.append, **kw)

    build.slept = slept
    build.exchange = ex
    return build


def test_tickers_in_the_real_formats(make):
    got = {n: make(n).ticker(PAIR, NOW) for n in CLASSES}
    assert got["coinbase"] == Quote("coinbase", PAIR, Decimal("3301.25"), 1_738_325_100_123)
    assert got["binance"] == Quote("binance", PAIR, Decimal("3300.91"), NOW)
    assert got["gemini"] == Quote("gemini", PAIR, Decimal("3300.40"), 1_738_325_100_000)


def test_the_candle_that_opens_at_the_minute_its_open_price(make):
    got = {n: make(n).candle(PAIR, FIX) for n in CLASSES}
    assert {n: q.price for n, q in got.items()} == {
        "coinbase": Decimal("3301.17"), "binance": Decimal("3300.52"),
        "gemini": Decimal("3299.86")}
    assert all(q.observed_ms == FIX for q in got.values())
    params = {p: q for p, q in make.exchange.requests}
    assert params["/products/ETH-USD/candles"] == {
        "granularity": "60", "start": "2025-01-31T12:00:00Z", "end": "2025-01-31T12:01:00Z"}
    assert params["/api/v3/klines"] == {"symbol": "ETHUSDT", "interval": "1m",
                                        "startTime": str(FIX), "endTime": str(FIX + 59_999),
                                        "limit": "1"}


@pytest.mark.parametrize("name", list(CLASSES))
def test_a_minute_without_candle_is_an_empty_candle(make, name):
    out = make(name).candle(PAIR, FIX + 3_600_000)
    if name == "binance":  # binance answers the minute asked for: script an empty list
        assert isinstance(out, Quote) or out.kind is FailureKind.EMPTY_CANDLE
        make.exchange.fail(PATHS[name][1], Scripted(200, []))
        out = make(name).candle(PAIR, FIX)
    assert isinstance(out, Failure) and out.kind is FailureKind.EMPTY_CANDLE


@pytest.mark.parametrize("name", list(CLASSES))
def test_wrong_symbol_is_typed_and_not_retried(make, name):
    src = make(name)
    out = src.ticker("WBTC/USDC", NOW)
    assert isinstance(out, Failure) and out.kind is FailureKind.UNKNOWN_SYMBOL, out
    assert out.status_code in (400, 404) and src.requests == 1
    assert make.slept == []


@pytest.mark.parametrize("name", list(CLASSES))
def test_rate_limit_and_server_errors_are_retried_with_back_off(make, name):
    make.exchange.fail(PATHS[name][0], Scripted(429, {"message": "slow down"}),
                       Scripted(503, {"message": "unavailable"}))
    src = make(name)
    out = src.ticker(PAIR, NOW)
    assert isinstance(out, Quote), out
    assert src.requests == 3 and make.slept == [0.25, 0.5]


@pytest.mark.parametrize("name", list(CLASSES))
def test_retries_exhausted_give_the_last_failure(make, name):
    make.exchange.fail(PATHS[name][0], *[Scripted(500, {"message": "x"})] * 2,
                       Scripted(429, {"message": "rate"}))
    out = make(name).ticker(PAIR, NOW)
    assert isinstance(out, Failure) and out.kind is FailureKind.RATE_LIMITED
    assert out.attempts == 3 and out.status_code == 429


@pytest.mark.parametrize("name", list(CLASSES))
@pytest.mark.parametrize("body", [b"<html>gateway</html>", {"unexpected": True}, [1, 2],
                                  {"price": "-3", "symbol": "ETHUSDT", "time": "x", "last": "-3",
                                   "volume": {"timestamp": 1}}])
def test_malformed_bodies_are_typed(make, name, body):
    make.exchange.fail(PATHS[name][0], Scripted(200, body))
    out = make(name).ticker(PAIR, NOW)
    assert isinstance(out, Failure) and out.kind is FailureKind.MALFORMED, out


@pytest.mark.parametrize("name", list(CLASSES))
def test_malformed_candles_are_typed(make, name):
    make.exchange.fail(PATHS[name][1], Scripted(200, {"candles": "no"}))
    out = make(name).candle(PAIR, FIX)
    assert isinstance(out, Failure) and out.kind is FailureKind.MALFORMED


@pytest.mark.parametrize("name", list(CLASSES))
def test_a_slow_answer_is_a_timeout(make, name):
    make.exchange.fail(PATHS[name][0], Scripted(200, {}, delay=1.0))
    src = make(name, timeout_s=0.2, retries=0)
    out = src.ticker(PAIR, NOW)
    assert isinstance(out, Failure) and out.kind is FailureKind.TIMEOUT


def test_no_server_is_unreachable_never_a_crash():
    src = CoinbaseSource(f"http://127.0.0.1:{free_port()}", SYMBOLS["coinbase"], retries=1,
                         sleep=lambda s: None)
    out = src.ticker(PAIR, NOW)
    assert isinstance(out, Failure) and out.kind is FailureKind.UNREACHABLE and out.attempts == 2


def test_a_pair_without_symbol_is_not_configured(make):
    out = make("gemini").ticker("WETH/WBTC", NOW)
    assert isinstance(out, Failure) and out.kind is FailureKind.NOT_CONFIGURED


# ---- the simulated source -------------------------------------------------------------------

def test_simulated_walk_is_seeded_and_repeatable():
    a = SimulatedSource({PAIR: "3000"}, seed=7)
    b = SimulatedSource({PAIR: "3000"}, seed=7)
    c = SimulatedSource({PAIR: "3000"}, seed=8)
    assert a.candle(PAIR, FIX) == b.candle(PAIR, FIX)
    assert a.candle(PAIR, FIX).price != c.candle(PAIR, FIX).price
    p0, p1 = a.ticker(PAIR, FIX).price, a.ticker(PAIR, FIX + 60_000).price
    assert abs(p1 - p0) <= p0 * Decimal("0.0006")
    assert a.ticker("WBTC/USDC", FIX).kind is FailureKind.UNKNOWN_SYMBOL


def test_replay_file(tmp_path):
    f = tmp_path / "replay.json"
    f.write_text(f'{{"WETH/USDC": [[{FIX - 30_000}, "3000.5"], [{FIX + 10_000}, "3010"]]}}')
    src = SimulatedSource.from_replay_file(f)
    assert src.candle(PAIR, FIX).price == Decimal("3010")
    assert src.ticker(PAIR, FIX).price == Decimal("3000.5")
    assert src.candle(PAIR, FIX + 60_000).kind is FailureKind.EMPTY_CANDLE
    f.write_text("[1")
    with pytest.raises(ValueError, match="not a replay file"):
        SimulatedSource.from_replay_file(f)


# ---- aggregation ------------------------------------------------------------------------------

def q(source: str, price: str, at: int = NOW) -> Quote:
    return Quote(source, PAIR, Decimal(price), at)


def agg(outcomes, **kw):
    kw = {"now_ms": NOW, "staleness_ms": 60_000, "deviation_percent": Decimal(2), "quorum": 2,
          "precision": 4, **kw}
    return aggregate(outcomes, **kw)


def test_median_of_the_sources_that_answered():
    a = agg([q("a", "3000"), q("b", "3010"), Failure("c", PAIR, FailureKind.SERVER_ERROR)])
    assert a.price == Decimal("3005.0000") and a.used == ["a", "b"]
    assert [s["status"] for s in a.sources] == [USED, USED, FAILED]
    assert a.rule == "median; staleness 60s, deviation 2%, quorum 2 of 3"


def test_stale_and_deviating_sources_are_ignored_and_quorum_holds():
    a = agg([q("a", "3000"), q("b", "3001"), q("c", "3500")])
    assert a.price == Decimal("3000.5") and [s["status"] for s in a.sources] == [USED, USED,
                                                                                 DEVIATION]
    a = agg([q("a", "3000", NOW - 61_000), q("b", "3001"), q("c", "3002")])
    assert a.price == Decimal("3001.5") and a.sources[0]["status"] == STALE
    a = agg([q("a", "3000"), Failure("b", PAIR, FailureKind.TIMEOUT),
             Failure("c", PAIR, FailureKind.RATE_LIMITED)])
    assert a.price is None and not a.ok


def test_a_single_configured_source_is_its_own_quorum():
    assert agg([q("simulated", "3000.12345")]).price == Decimal("3000.1234")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=7), st.integers(0, 50))
def test_aggregate_is_within_the_used_quotes_and_never_a_float(prices, dev):
    quotes = [q(f"s{i}", str(Decimal(p).scaleb(-2))) for i, p in enumerate(prices)]
    a = agg(quotes, deviation_percent=Decimal(dev), quorum=1)
    used = [Decimal(s["price"]) for s in a.sources if s["status"] == USED]
    if len(prices) % 2:  # the middle quote is the median: it always survives
        assert a.price is not None
    if a.price is None:
        return
    assert isinstance(a.price, Decimal)
    assert min(used) <= a.price <= max(used)
    assert a.price == median(used).quantize(Decimal("0.0001"))
