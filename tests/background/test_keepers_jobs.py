"""Keeper deliveries (retries, back-off, give up, log), the jobs loop and the settings."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import pytest

from background.jobs import BackgroundJobs
from background.keepers import Deliverer, sign, verify
from background.operations import Operations
from background.sources import CoinbaseSource, SimulatedSource, sources_from_settings
from coordinator.clock import ManualClock, SystemClock
from coordinator.events import Event, EventKind
from coordinator.persistence import background as bg
from coordinator.settings import Settings, SettingsError, load_settings
from tests.background.conftest import FIX, PAIR, trade
from tests.background.servers import Receiver

SETTINGS = Settings(database_url="sqlite://")


def _alert(store, now: int, n: int) -> None:
    with store.write() as tx:
        tx.append_events([Event(EventKind.ALERT, {"reason": "TEST", "n": n})], now)


def test_retries_back_off_then_give_up_and_every_attempt_is_logged(store):
    clock = ManualClock(1_000_000)
    receiver = Receiver()
    receiver.statuses.extend([500, 503, 500])
    with receiver.serve() as server:
        ops = Operations(store, SETTINGS, clock)
        k = ops.add_keeper(f"{server.url}/hook", "s" * 20, ["ALERT"])
        d = Deliverer(store, clock.now_ms, retries=2, backoff_s=10.0)
        _alert(store, clock.now_ms(), 1)
        assert d.step() == {"queued": 1, "delivered": 0, "retry": 1, "failed": 0}
        assert d.step() == {"queued": 0, "delivered": 0, "retry": 0, "failed": 0}  # backing off
        clock.advance(10_000)
        assert d.step()["retry"] == 1
        clock.advance(19_999)
        assert d.step()["retry"] == 0  # second back-off is 20 s
        clock.advance(1)
        assert d.step()["failed"] == 1
        clock.advance(10**6)
        assert d.step() == {"queued": 0, "delivered": 0, "retry": 0, "failed": 0}
    with store.read() as tx:
        (dl,) = bg.deliveries(tx, k["id"])
    assert dl["status"] == "FAILED" and dl["attempts"] == 3
    assert [(a["attempt"], a["status_code"]) for a in dl["log"]] == [(1, 500), (2, 503),
                                                                      (3, 500)]
    assert all(a["error"].startswith("HTTP 5") for a in dl["log"])
    assert len(receiver.received) == 3
    for headers, body, _ in receiver.received:
        assert verify("s" * 20, body, headers["x-ccp-signature"])
        assert headers["x-ccp-delivery"] == str(dl["id"])
        assert json.loads(body)["payload"] == {"reason": "TEST", "n": 1}
    assert ops.list_keepers()[0]["failed"] == 1


def test_a_keeper_gets_only_its_kinds_and_nothing_from_before_it_registered(store):
    clock = ManualClock(1_000_000)
    _alert(store, clock.now_ms(), 1)  # before any keeper
    clock.advance(1000)
    receiver = Receiver()
    with receiver.serve() as server:
        ops = Operations(store, SETTINGS, clock)
        ops.add_keeper(f"{server.url}/hook", "a" * 16, ["ALERT"])
        ops.add_keeper(f"{server.url}/hook", "b" * 16, ["EXPIRY_SETTLED"])
        gone = ops.add_keeper(f"{server.url}/hook", "c" * 16, ["ALERT"])
        assert ops.remove_keeper(gone["id"]) and not ops.remove_keeper(gone["id"])
        clock.advance(1000)
        _alert(store, clock.now_ms(), 2)
        d = Deliverer(store, clock.now_ms)
        assert d.step() == {"queued": 1, "delivered": 1, "retry": 0, "failed": 0}
        assert d.step()["queued"] == 0
    ((headers, body),) = receiver.accepted()
    assert json.loads(body)["payload"]["n"] == 2
    assert headers["x-ccp-signature"] == sign("a" * 16, body)


def test_unreachable_keeper_is_a_logged_retry_never_a_crash(store):
    clock = ManualClock(1_000_000)
    Operations(store, SETTINGS, clock).add_keeper("http://127.0.0.1:9/hook", "z" * 16, None)
    _alert(store, clock.now_ms() + 1, 1)
    assert Deliverer(store, clock.now_ms, timeout_s=1).step()["retry"] == 1


def test_the_loop_runs_every_job_and_stops(store):
    trade(store, ManualClock(0))
    s = Settings(database_url="sqlite://", price_poll_seconds=0.05, expiry_poll_seconds=0.05,
                 keeper_poll_seconds=0.05, price_staleness_seconds=3600)
    jobs = BackgroundJobs(store, s, SystemClock(),
                          sources=[SimulatedSource({PAIR: "3000"}, seed=3)])
    stop = threading.Event()
    th = threading.Thread(target=jobs.run, args=(stop,))
    th.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with store.read() as tx:
            if len(bg.aggregations(tx, PAIR, bg.SPOT)) >= 2 and bg.expiry_run(
                    tx, PAIR, 20250131):
                break
        time.sleep(0.05)
    stop.set()
    th.join(10)
    assert not th.is_alive()
    with store.read() as tx:
        assert tx.latest_spot(PAIR) is not None
        assert bg.expiry_run(tx, PAIR, 20250131)["actor"] == "expiry-job"
        assert bg.settlement_price(tx, PAIR, 20250131)["method"] == "FIXING"


def test_a_failing_job_does_not_stop_the_others(store, caplog):
    class Broken:
        name = "broken"

        def ticker(self, pair, now_ms):
            raise RuntimeError("bug")

        candle = ticker

    trade(store, ManualClock(0))
    s = Settings(database_url="sqlite://", price_poll_seconds=0.05, expiry_poll_seconds=0.05,
                 keeper_poll_seconds=0.05)
    jobs = BackgroundJobs(store, s, ManualClock(FIX - 3_600_000), sources=[Broken()])
    stop = threading.Event()
    th = threading.Thread(target=jobs.run, args=(stop,))
    th.start()
    time.sleep(0.5)
    stop.set()
    th.join(10)
    assert "background job prices failed" in caplog.text
    assert Operations(store, s, jobs.clock).alerts(5)[0]["reason"] == "EXPIRY_APPROACHING"


def test_background_settings_are_strict():
    s = load_settings(env={"CCP_PRICE_SOURCES": "coinbase, binance,gemini",
                           "CCP_PRICE_BINANCE_SYMBOLS": '{"WETH/USDC": "ETHUSDC"}',
                           "CCP_PRICE_COINBASE_URL": "http://127.0.0.1:1"})
    assert s.price_source_names == ["coinbase", "binance", "gemini"]
    assert s.price_binance_symbols == {"WETH/USDC": "ETHUSDC"}
    srcs = sources_from_settings(s)
    assert [x.name for x in srcs] == ["coinbase", "binance", "gemini"]
    assert isinstance(srcs[0], CoinbaseSource) and srcs[0].base_url == "http://127.0.0.1:1"
    assert sources_from_settings(Settings())[0].name == "simulated"  # the embedded default
    for bad in ({"price_sources": "coinbase,kraken"}, {"price_sources": ""},
                {"price_quorum": 0}, {"price_gemini_url": "ftp://x"},
                {"price_coinbase_symbols": {"WETH/USDC": 3}}, {"keeper_retries": -1},
                {"price_simulated_start": {"WETH/USDC": "-5"}}, {"price_poll_seconds": 0}):
        with pytest.raises(SettingsError):
            Settings.from_mapping(bad)
    assert Settings().to_dict()["price_gemini_symbols"]["WBTC/USDC"] == "btcusd"
    assert Decimal(Settings().price_simulated_start["WETH/USDC"]) > 0
