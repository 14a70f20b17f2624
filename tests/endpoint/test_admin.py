"""The admin API (§7) over HTTP: reference data, schedule, batches, operations delegation."""

from __future__ import annotations

import datetime
from decimal import Decimal

import httpx
import pytest

from auction.cash import MovementOrigin
from coordinator.loop import Coordinator
from coordinator.persistence import clientapi as repo
from endpoint.app import create_app
from endpoint.services import Services
from tests.endpoint.conftest import Served, make_venue


def _ok(r):
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "OK"
    return r.json()["payload"]


def _err(r, code="INVALID_REQUEST_DATA"):
    assert r.status_code == 412, r.text
    assert r.json()["result"] == code, r.json()
    assert "payload" not in r.json()


def test_reference_data(venue):
    adm = venue.admin()
    base = "/api/v1/admin"
    cur = _ok(adm.get(f"{base}/currencies"))
    assert [c["symbol"] for c in cur] == ["USDC", "WBTC", "WETH"]
    _ok(adm.post(f"{base}/currencies", json={"symbol": "WSOL", "decimals": 9, "precision": 6}))
    _err(adm.post(f"{base}/currencies", json={"symbol": "BAD", "decimals": 2, "precision": 6}))
    _ok(adm.post(f"{base}/currencyPairs", json={"underlying": "WSOL", "numeraire": "USDC"}))
    assert "WSOL/USDC" in [p["pair"] for p in _ok(adm.get(f"{base}/currencyPairs"))]
    new = {"contractId": 50, "payoff": "Call", "currencyPair": "WSOL/USDC", "expiry": 20260327,
           "strike": "150", "tickSize": "0.01", "lotSize": "0.1", "referencePrice": "10",
           "lowRange": "1", "highRange": "20"}
    got = _ok(adm.post(f"{base}/contracts", json=new))
    assert got["contractId"] == 50 and got["listed"] is True
    _err(adm.post(f"{base}/contracts", json=new), "INVALID_CONTRACT_ID")
    _err(adm.post(f"{base}/contracts", json={**new, "contractId": 51, "lowRange": "30"}))
    got = _ok(adm.post(f"{base}/contracts/50/band", json={"lowRange": "5", "highRange": 15}))
    assert (got["lowRange"], got["highRange"]) == ("5", "15")
    got = _ok(adm.post(f"{base}/contracts/50/referencePrice", json={"referencePrice": "12.5"}))
    assert got["referencePrice"] == "12.5"
    _err(adm.post(f"{base}/contracts/50/referencePrice", json={"referencePrice": "99"}))
    got = _ok(adm.post(f"{base}/contracts/50/tickLot", json={"tickSize": "0.05",
                                                             "lotSize": "1"}))
    assert (got["tickSize"], got["lotSize"]) == ("0.05", "1")
    _err(adm.post(f"{base}/contracts/77/band", json={"lowRange": "5", "highRange": 15}),
         "INVALID_CONTRACT_ID")
    # the client API sees the new contract; delisting stops trading it and cancels its orders
    t = venue.trader(1)
    assert t.login().status_code == 200
    r = t.post("clientapi/newOrder", t.order_body(1, [(50, "BUY", "1")], "12.5"))
    assert r.status_code == 200, r.text
    _err(adm.post(f"{base}/contracts/50/tickLot", json={"tickSize": "0.01", "lotSize": "1"}))
    got = _ok(adm.post(f"{base}/contracts/50/delist"))
    assert got["listed"] is False
    st = t.post("clientapi/orderStatus", {"clientOrderId": 1}).json()["payload"]
    assert st["orderStatus"] == "CANCELED"
    r = t.post("clientapi/newOrder", t.order_body(2, [(50, "BUY", "1")], "12.5"))
    _err(r, "INVALID_CONTRACT_ID")
    listed = {c["contractId"]: c["tradeable"] for c in _ok(t.post("clientapi/contractList"))}
    assert listed[50] is False and listed[1] is True


def test_schedule_is_stored_for_the_coordinator(venue):
    adm = venue.admin()
    base = "/api/v1/admin"
    s = _ok(adm.get(f"{base}/schedule"))
    assert s == {"paused": False, "cadenceSeconds": 60.0, "nextAuction": venue.clock.now + 60_000}
    s = _ok(adm.post(f"{base}/schedule/pause"))
    assert s["paused"] is True
    s = _ok(adm.post(f"{base}/schedule", json={"cadenceSeconds": 600}))
    assert s["cadenceSeconds"] == 600.0 and s["paused"] is True
    _err(adm.post(f"{base}/schedule", json={"cadenceSeconds": -1}))
    with venue.store.read() as tx:
        assert repo.schedule(tx) == (True, 600_000)
    assert _ok(adm.post(f"{base}/schedule/resume"))["paused"] is False
    t = venue.trader(1)
    assert t.post("clientapi/nextAuction").json()["payload"] == \
        (venue.clock.now // 600_000 + 1) * 600_000


def test_batches_and_settlement_status(venue):
    a, b = venue.trader(1), venue.trader(2)
    assert a.login().status_code == b.login().status_code == 200
    a.post("clientapi/newOrder", a.order_body(1, [(1, "BUY", "1.00")], "2100"))
    b.post("clientapi/newOrder", b.order_body(1, [(1, "SELL", "1.00")], "-1900"))
    venue.clock.advance(60_000)
    report = Coordinator(venue.store, venue.settings, venue.clock, holder="t").run_once()
    adm = venue.admin()
    got = _ok(adm.get("/api/v1/admin/batches", params={"limit": 5}))
    assert got[0]["batchId"] == report.batch_id and got[0]["fillCount"] == 2
    with venue.store.read() as tx:
        moves = tx.movements(MovementOrigin.BATCH, report.batch_id)
    assert len(moves) >= 2
    assert got[0]["settlement"] == {"SETTLE_PENDING": len(moves)}
    one = _ok(adm.get(f"/api/v1/admin/batches/{report.batch_id}"))
    assert one == got[0]
    _err(adm.get("/api/v1/admin/batches/12345"))


class FakeOperations:
    """Records calls; raises ValueError for bad input like the venue's implementation."""

    def __init__(self):
        self.calls = []

    def expiry_status(self, expiry, pair):
        self.calls.append(("status", expiry, pair))
        return [{"expiry": str(expiry), "pair": pair, "state": "OPEN"}]

    def run_expiry(self, expiry, pair, actor):
        if pair == "BAD/PAIR":
            raise ValueError("unknown pair BAD/PAIR")
        self.calls.append(("run", expiry, pair, actor))
        return {"expiry": expiry.isoformat(), "settled": True}

    def set_settlement_price(self, expiry, pair, price, actor, reason):
        self.calls.append(("price", expiry, pair, price, actor, reason))
        return {"price": str(price)}

    def add_keeper(self, url, secret, events):
        self.calls.append(("keeper", url, events))
        return {"id": 1, "url": url}

    def list_keepers(self):
        return [{"id": 1, "url": "http://127.0.0.1:9/hook"}]

    def remove_keeper(self, keeper_id):
        return keeper_id == 1

    def alerts(self, limit):
        return [{"kind": "ALERT", "n": i} for i in range(min(limit, 2))]

    def spot_sources(self):
        return [{"name": "simulated", "healthy": True}]


@pytest.fixture(params=["sqlite"])
def ops_venue(request, tmp_path):
    v = make_venue(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    ops = FakeOperations()
    served = Served(create_app(Services(v.settings, v.store, v.clock, operations=ops)))
    yield v, served, ops
    served.stop()
    v.served.stop()
    v.store.dispose()


def test_operations_are_delegated(ops_venue):
    v, served, ops = ops_venue
    adm = httpx.Client(base_url=served.url, headers=v.admin().headers)
    base = "/api/v1/admin"
    assert _ok(adm.get(f"{base}/expiries", params={"expiry": "20260327", "pair": "WBTC/USDC"})
               )[0]["state"] == "OPEN"
    assert ops.calls[-1] == ("status", datetime.date(2026, 3, 27), "WBTC/USDC")
    assert _ok(adm.post(f"{base}/expiries/run", json={"expiry": 260327120}))["settled"] is True
    assert ops.calls[-1] == ("run", datetime.date(2026, 3, 27), None, "admin")
    _err(adm.post(f"{base}/expiries/run", json={"expiry": 20260327, "pair": "BAD/PAIR"}))
    _ok(adm.post(f"{base}/expiries/settlementPrice", json={
        "expiry": 20260327, "pair": "WBTC/USDC", "price": "61234.5", "reason": "manual"}))
    assert ops.calls[-1][3] == Decimal("61234.5")
    assert _ok(adm.post(f"{base}/keepers", json={"url": "http://127.0.0.1:9/hook",
                                                  "secret": "s", "events": ["ALERT"]}))["id"] == 1
    assert len(_ok(adm.get(f"{base}/keepers"))) == 1
    assert _ok(adm.delete(f"{base}/keepers/1")) is True
    _err(adm.delete(f"{base}/keepers/2"))
    assert len(_ok(adm.get(f"{base}/alerts", params={"limit": 1}))) == 1
    assert _ok(adm.get(f"{base}/spotSources"))[0]["name"] == "simulated"
    # without operations: a clear 412, never a 500 or 503
    _err(v.admin().get(f"{base}/alerts"))
