"""Expiry on a store (SQLite and PostgreSQL): fixing, payoffs, lockups released, idempotence,
manual price, alerts, readiness, spot rounds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from auction.cash import MovementOrigin
from background.jobs import BackgroundJobs
from background.operations import Operations, OperationsError
from background.sources import SimulatedSource
from coordinator.events import EventKind
from coordinator.persistence import background as bg
from coordinator.persistence import tables as t
from coordinator.persistence.records import Lockup
from coordinator.settings import Settings
from tests.background.conftest import CALL, EXPIRY, FIX, FWD, PAIR, PUT

SETTINGS = Settings(database_url="sqlite://")
AFTER = FIX + 11 * 60_000


def replay(*prices: str) -> list[SimulatedSource]:
    """One replay source per price, each with the 12:00 candle at that price."""
    return [SimulatedSource({}, replay={PAIR: [(FIX, Decimal(p))]}) for p in prices]


def snapshot(store) -> dict:
    with store.read() as tx:
        return {name: tx.conn.execute(table.select()).all()
                for name, table in t.metadata.tables.items()
                if name not in ("coordinator_lease",)}


def test_expiry_pays_from_the_lockups_and_a_second_run_changes_nothing(traded):
    store, clock = traded
    clock.now = AFTER
    ops = Operations(store, SETTINGS, clock, sources=replay("3500", "3501", "3499.5"))
    (before,) = ops.expiry_status(EXPIRY, PAIR)
    assert before["state"] == "DUE" and before["clients"] == 3
    out = ops.run_expiry(EXPIRY, PAIR, "ops@test")
    (r,) = out["results"]
    assert r["status"] == "SETTLED" and r["price"] == "3500.0000"
    # S = 3500: client 1 long call 2800 (+700) and 2 puts 3400 (0); client 2 short call (-700)
    # and long forward at 3000 (+500); client 3 short puts (0) and short forward (-500).
    assert r["payoffs"] == {"1": "700", "2": "-200", "3": "-500"}
    with store.read() as tx:
        moves = {m.client_id: m for _, _, m in tx.movements(MovementOrigin.EXPIRY)}
        # lockups released: client 2 had 3,000 USDC, client 3 1 WETH + 3,800 USDC
        assert (moves[1].underlying_amount, moves[1].strike_amount) == (0, -700 * 10**4)
        assert (moves[2].underlying_amount, moves[2].strike_amount) == (0, -2800 * 10**4)
        assert (moves[3].underlying_amount, moves[3].strike_amount) == (-10**7, -3300 * 10**4)
        assert sum(m.strike_amount for m in moves.values()) == 0
        assert sum(m.underlying_amount for m in moves.values()) == 0
        assert {c.contract_id for c in moves[1].positions} == {CALL, PUT}
        assert not any(tx.positions().values())
        assert all(lk.underlying_amount == 0 == lk.numeraire_amount
                   for lk in tx.lockups().values())
        assert bg.expired_contracts(tx) == {CALL, PUT, FWD}
        kinds = [e.kind for e in tx.events_after(0)]
        assert kinds.count(EventKind.EXPIRY_SETTLED) == 1
        sp = bg.settlement_price(tx, PAIR, 20250131)
        assert (sp["method"], sp["actor"], sp["price"]) == ("FIXING", "fixing", 3500 * 10**4)
        assert [s["status"] for s in sp["sources"]] == ["USED"] * 3
    assert_reconciles_expiry(store)
    first = snapshot(store)
    again = ops.run_expiry(EXPIRY, None, "ops@test")
    assert again["results"][0]["status"] == "ALREADY_SETTLED"
    assert BackgroundJobs(store, SETTINGS, clock, sources=replay("1")).run_expiries() == []
    assert snapshot(store) == first
    (after,) = ops.expiry_status(EXPIRY)
    assert after["state"] == "SETTLED" and after["settlementPrice"] == "3500.0000"


def assert_reconciles_expiry(store) -> None:
    """Each currency sums to zero over every movement (clients + clearing house), per origin;
    fund lock settle values equal the movements."""
    assert_reconciles_settle_values(store)


def assert_reconciles_settle_values(store) -> None:
    with store.read() as tx:
        per: dict = {}
        for _, _, m in tx.movements():
            key = (m.origin, m.origin_id)
            u, n = per.get(key, (0, 0))
            per[key] = (u + m.underlying_amount, n + m.strike_amount)
        assert all(v == (0, 0) for v in per.values()), per
    assert_reconciles_positions_only(store)


def assert_reconciles_positions_only(store) -> None:
    # fills say what positions were built; expiry closed them: the settle values must equal
    # the sum of movements (tests/coordinator's invariant minus the positions part).
    with store.read() as tx:
        settle: dict = {}
        for _, _, m in tx.movements():
            und, num = m.pair.split("/")
            settle[(m.client_id, und)] = settle.get((m.client_id, und), 0) - m.underlying_amount
            settle[(m.client_id, num)] = settle.get((m.client_id, num), 0) - m.strike_amount
        for (client, cur), f in tx.fund_locks().items():
            assert f.settle_value == settle.get((client, cur), 0), (client, cur)


def test_bad_input_changes_nothing(traded):
    store, clock = traded
    clock.now = FIX - 1
    ops = Operations(store, SETTINGS, clock, sources=replay("3500"))
    first = snapshot(store)
    with pytest.raises(OperationsError, match="not expired yet"):
        ops.run_expiry(EXPIRY, PAIR, "ops")
    clock.now = AFTER
    with pytest.raises(OperationsError, match="unknown pair"):
        ops.run_expiry(EXPIRY, "WBTC/DOGE", "ops")
    with pytest.raises(OperationsError, match="no contract"):
        ops.run_expiry(EXPIRY.replace(day=30), PAIR, "ops")
    with pytest.raises(OperationsError, match="actor"):
        ops.run_expiry(EXPIRY, PAIR, " ")
    for price, msg in (("-1", "positive"), ("abc", "not a number"), ("3000.00001", "decimals")):
        with pytest.raises(OperationsError, match=msg):
            ops.set_settlement_price(EXPIRY, PAIR, price, "ops", "sources down")
    with pytest.raises(OperationsError, match="reason"):
        ops.set_settlement_price(EXPIRY, PAIR, Decimal(3000), "ops", "")
    with pytest.raises(OperationsError, match="URL"):
        ops.add_keeper("ftp://x", "s" * 20, None)
    with pytest.raises(OperationsError, match="event kind"):
        ops.add_keeper("http://127.0.0.1:1/hook", "s" * 20, ["NOPE"])
    assert snapshot(store) == first


def test_no_quorum_alerts_once_then_the_manual_price_settles(traded):
    store, clock = traded
    clock.now = AFTER
    # two of three sources have no 12:00 candle: no fixing
    sources = replay("3500") + [SimulatedSource({}, replay={PAIR: []})] * 2
    jobs = BackgroundJobs(store, SETTINGS, clock, sources=sources)
    (r,) = jobs.run_expiries()
    assert r["status"] == "NO_FIXING"
    assert [s["status"] for s in r["sources"]] == ["USED", "FAILED", "FAILED"]
    clock.now += 60_000
    (r,) = jobs.run_expiries()  # retried next round: no second alert
    ops = Operations(store, SETTINGS, clock, sources=sources)
    (alert,) = ops.alerts(10)
    assert alert["reason"] == "FIXING_FAILED" and alert["active"]
    assert alert["recommendedAction"] == "SET_SETTLEMENT_PRICE"
    assert alert["expiry"] == str(FIX // 1000) and alert["pair"] == PAIR
    assert {"portfolioId", "reason", "obligation", "cash", "expiry",
            "recommendedAction"} <= set(alert)
    with store.read() as tx:
        assert [e.kind for e in tx.events_after(0)].count(EventKind.ALERT) == 1
        assert tx.movements(MovementOrigin.EXPIRY) == []
    out = ops.set_settlement_price(EXPIRY, PAIR, Decimal("3450.5"), "alice", "2 sources down")
    assert out["settlement"]["status"] == "SETTLED"
    assert out["settlement"]["payoffs"] == {"1": "650.5", "2": "-200", "3": "-450.5"}
    (st,) = ops.expiry_status(EXPIRY, PAIR)
    assert (st["method"], st["setBy"], st["reason"]) == ("MANUAL", "alice", "2 sources down")
    assert not ops.alerts(10)[0]["active"]
    with pytest.raises(OperationsError, match="settlement price already"):
        ops.set_settlement_price(EXPIRY, PAIR, Decimal("3000"), "bob", "again")
    assert jobs.run_expiries() == []


def test_readiness_alerts_a_lockup_mismatch_once_and_clears_it(traded):
    store, clock = traded
    clock.now = FIX - 3_600_000
    jobs = BackgroundJobs(store, SETTINGS, clock, sources=replay("3500"))
    assert jobs.check_readiness() == []
    with store.write() as tx:  # the books disagree: client 3's numeraire lockup is short
        tx.put_lockups([Lockup(3, PAIR, 20250131, 10**7, 3000 * 10**4)], None, clock.now)
    (found,) = jobs.check_readiness()
    assert (found["reason"], found["clientId"], found["currency"]) == (
        "INSUFFICIENT_CASH", 3, "USDC")
    assert jobs.check_readiness() == [found]
    alerts = Operations(store, SETTINGS, clock).alerts(10)
    alert = next(a for a in alerts if a["reason"] == "INSUFFICIENT_CASH")
    assert {k: alert[k] for k in ("portfolioId", "obligation", "cash", "expiry",
                                  "recommendedAction")} == {
        "portfolioId": "3", "obligation": str(3800 * 10**6), "cash": str(3000 * 10**6),
        "expiry": str(FIX // 1000), "recommendedAction": "RECONCILE_LOCKUP"}
    assert any(a["reason"] == "EXPIRY_APPROACHING" for a in alerts)
    with store.read() as tx:
        assert [e.payload["reason"] for e in tx.events_after(0)
                if e.kind == EventKind.ALERT].count("INSUFFICIENT_CASH") == 1
    with store.write() as tx:
        tx.put_lockups([Lockup(3, PAIR, 20250131, 10**7, 3800 * 10**4)], None, clock.now)
    assert jobs.check_readiness() == []
    assert not next(a for a in Operations(store, SETTINGS, clock).alerts(10)
                    if a["reason"] == "INSUFFICIENT_CASH")["active"]


def test_spot_rounds_store_publish_and_flag_stale(traded):
    store, clock = traded
    clock.now = FIX + 30_000
    srcs = [SimulatedSource({}, replay={PAIR: [(FIX, Decimal(p))]}) for p in ("3000", "3010")]
    s = Settings(database_url="sqlite://", price_staleness_seconds=600)
    jobs = BackgroundJobs(store, s, clock, sources=srcs)
    res = jobs.poll_prices()
    assert res[PAIR].price == Decimal("3005.0000")
    with store.read() as tx:
        assert tx.latest_spot(PAIR) == (3005 * 10**4, clock.now)
        (ev,) = [e for e in tx.events_after(0) if e.kind == EventKind.SPOT_PRICES]
        assert ev.payload == {PAIR: "3005.0000"}
    ops = Operations(store, s, clock)
    assert ops.spot_prices() == [{"pair": PAIR, "price": "3005.0000", "observedAt":
                                  "2025-01-31T12:00:30Z", "stale": False}]
    clock.now += 60_000
    jobs.sources = [srcs[0], SimulatedSource({}, replay={})]  # one answer of two needed
    assert jobs.poll_prices()[PAIR].price is None
    (p,) = ops.spot_prices()
    assert p["price"] == "3005.0000" and p["stale"] is True
    health = {h["source"]: h for h in Operations(store, s, clock).spot_sources()}
    assert health["simulated"]["recentRounds"] == 4  # 2 rounds x 2 simulated sources
