"""End to end on the in-process EVM: positions made by an auction, settled on chain; the 12:00
UTC fixing from the exchanges' candles (local HTTP server); expiry payoffs on chain — every
client's FundLock balance equals the payoff arithmetic to the base unit; the re-run changes
nothing. With two of three sources failing: no fixing, an alert delivered to a keeper's
webhook (once, despite a failed delivery, validly signed), the manual price settles it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from auction.cash import MovementOrigin
from background.jobs import BackgroundJobs
from background.keepers import SIGNATURE_HEADER, verify
from background.operations import Operations
from background.sources import BinanceSource, CoinbaseSource, GeminiSource
from coordinator.clock import ManualClock
from coordinator.persistence import Store
from coordinator.persistence.migrate import upgrade
from coordinator.settings import Settings
from settlement.chain import Chain
from settlement.deploy import deploy
from settlement.port import InMemorySettlementStore
from settlement.service import ServiceConfig, SettlementService
from settlement.status import SettleStatus
from tests.background.conftest import CALL, DEPOSIT, EXPIRY, FIX, FWD, PAIR, PUT, trade
from tests.background.servers import Exchanges, Receiver, Scripted
from tests.settlement.helpers import fund

pytestmark = pytest.mark.chain
AFTER = FIX + 11 * 60_000


@pytest.fixture(scope="module")
def exchange():
    ex = Exchanges.recorded()
    with ex.serve() as server:
        yield ex, server.url


@pytest.fixture
def venue(tmp_path):
    chain = Chain.in_process()
    dep = deploy(chain, (PAIR,))
    accounts = {0: chain.accounts[5], 1: chain.accounts[2], 2: chain.accounts[3],
                3: chain.accounts[4]}
    for cid in (1, 2, 3):
        for sym, whole in DEPOSIT.items():
            fund(chain, dep, accounts[cid], sym, int(whole))
    port = InMemorySettlementStore.for_deployment(
        dep, {cid: a.address for cid, a in accounts.items()})
    svc = SettlementService(chain, dep, port, chain.accounts[1],
                            ServiceConfig(confirmations=1, finality_depth=2))
    store = Store.open(f"sqlite:///{tmp_path / 'ccp.sqlite3'}")
    upgrade(store.engine)
    clock = ManualClock(0)
    trade(store, clock)
    v = {"chain": chain, "dep": dep, "accounts": accounts, "svc": svc, "store": store,
         "clock": clock, "sent": set()}
    settle_pending(v)  # the auction's movements on chain
    yield v
    store.dispose()


def settle_pending(v) -> int:
    """What the settlement service does with the store's pending movements: submit every one
    not sent yet, mine, poll to confirmation."""
    with v["store"].read() as tx:
        pending = [m for _, state, m in tx.movements() if state == "SETTLE_PENDING"
                   and m.key not in v["sent"]]
    if not pending:
        return 0
    reports = v["svc"].submit(pending)
    assert all(r.status is SettleStatus.PENDING for r in reports), reports
    v["sent"] |= {m.key for m in pending}
    v["chain"].mine(1)
    done = v["svc"].poll()
    assert {r.status for r in done} == {SettleStatus.CONFIRMED}, done
    return len(pending)


def balances(v) -> dict[tuple[int, str], int]:
    fl = v["chain"].contract("FundLock", v["dep"].fund_lock)
    return {(cid, sym): v["chain"].call(fl.functions.balances(a.address, v["dep"].tokens[sym]))
            for cid, a in v["accounts"].items() for sym in ("USDC", "WETH")}


def expected(s: Decimal) -> dict[tuple[int, str], int]:
    """The spec's arithmetic, independently: deposit − premiums paid + premiums received +
    payoff at S (auction.md §1), in token base units (USDC 6 decimals, WETH 18)."""
    call, put = max(s - 2800, Decimal(0)), max(3400 - s, Decimal(0))
    usdc = {1: DEPOSIT["USDC"] - 300 - 2 * 150 + call + 2 * put,
            2: DEPOSIT["USDC"] + 300 - call + (s - 3000),
            3: DEPOSIT["USDC"] + 2 * 150 - 2 * put - (s - 3000)}
    out = {(0, "USDC"): 0, (0, "WETH"): 0}
    for cid, amount in usdc.items():
        out[(cid, "USDC")] = int(amount * 10**6)
        out[(cid, "WETH")] = int(DEPOSIT["WETH"] * 10**18)
    return out


def http_sources(url: str, *, coinbase="ETH-USD", binance="ETHUSDT", gemini="ethusd"):
    kw = dict(timeout_s=2.0, retries=1, backoff_s=0.0)
    return [CoinbaseSource(url, {PAIR: coinbase}, **kw), BinanceSource(url, {PAIR: binance}, **kw),
            GeminiSource(url, {PAIR: gemini}, **kw)]


def positions_on_chain(v) -> dict[tuple[int, int], int]:
    ledger = v["chain"].contract("Ledger", v["dep"].ledgers[PAIR])
    return {(cid, k): v["chain"].call(ledger.functions.positions(k, a.address))
            for cid, a in v["accounts"].items() for k in (CALL, PUT, FWD)}


def test_fixing_from_candles_settles_payoffs_on_chain_and_a_rerun_changes_nothing(
        venue, exchange):
    v = venue
    assert positions_on_chain(v)[(1, CALL)] == 10**7  # 1 WETH of the call, precision 7
    v["clock"].now = AFTER
    jobs = BackgroundJobs(v["store"], Settings(database_url="sqlite://"), v["clock"],
                          sources=http_sources(exchange[1]))
    (r,) = jobs.run_expiries()
    # candles that open at 12:00: coinbase 3301.17, binance 3300.52, gemini 3299.86
    assert r["status"] == "SETTLED" and r["price"] == "3300.5200"
    assert settle_pending(v) == 4  # 3 clients + the clearing house
    assert balances(v) == expected(Decimal("3300.52"))
    assert not any(positions_on_chain(v).values())
    before = balances(v)
    again = Operations(v["store"], Settings(database_url="sqlite://"), v["clock"],
                       sources=http_sources(exchange[1])).run_expiry(EXPIRY, PAIR, "ops")
    assert again["results"][0]["status"] == "ALREADY_SETTLED"
    assert jobs.run_expiries() == []
    assert settle_pending(v) == 0 and balances(v) == before
    with v["store"].read() as tx:
        assert len(tx.movements(MovementOrigin.EXPIRY)) == 4


def test_two_sources_failing_alert_to_keeper_then_manual_price_settles(venue, exchange):
    v = venue
    ex, url = exchange
    ex.script.clear()
    # binance: an unknown symbol; gemini: the exchange keeps failing (503) — no quorum
    ex.fail("/v2/candles/ethusd/1m", *[Scripted(503, {"message": "down"})] * 4)
    settings = Settings(database_url="sqlite://", keeper_backoff_seconds=0, keeper_retries=3)
    receiver = Receiver()
    receiver.statuses.append(500)  # the first delivery fails
    with receiver.serve() as server:
        ops = Operations(v["store"], settings, v["clock"])
        keeper = ops.add_keeper(f"{server.url}/hook", "k" * 32, ["ALERT"])
        v["clock"].now = AFTER
        jobs = BackgroundJobs(v["store"], settings, v["clock"],
                              sources=http_sources(url, binance="ETHXXX"))
        (r,) = jobs.run_expiries()
        assert r["status"] == "NO_FIXING"
        assert [(s["source"], s["status"], s.get("failure")) for s in r["sources"]] == [
            ("coinbase", "USED", None), ("binance", "FAILED", "UNKNOWN_SYMBOL"),
            ("gemini", "FAILED", "SERVER_ERROR")]
        assert settle_pending(v) == 0
        for _ in range(3):
            jobs.deliver()
        jobs.run_expiries()  # still no price: the alert is not raised again
        for _ in range(2):
            jobs.deliver()
        ok = receiver.accepted()
        assert len(receiver.received) == 2 and len(ok) == 1
        headers, body = ok[0]
        assert verify(keeper["secret"], body, headers[SIGNATURE_HEADER.lower()])
        assert not verify("another-secret-1234", body, headers[SIGNATURE_HEADER.lower()])
        event = json.loads(body)
        assert event["kind"] == "ALERT" and event["payload"]["reason"] == "FIXING_FAILED"
        assert event["payload"]["expiry"] == str(FIX // 1000)
        (listed,) = ops.list_keepers()
        assert (listed["delivered"], listed["pending"], listed["failed"]) == (1, 0, 0)
        out = ops.set_settlement_price(EXPIRY, PAIR, Decimal("3250.25"), "alice",
                                       "binance symbol retired, gemini down")
        assert out["settlement"]["status"] == "SETTLED"
    assert settle_pending(v) == 4
    assert balances(v) == expected(Decimal("3250.25"))
    assert not any(positions_on_chain(v).values())
