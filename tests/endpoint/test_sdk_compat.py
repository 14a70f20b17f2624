"""The published Python SDK (``ithaca-py`` 0.4.0), unchanged, against the venue.

The app (``endpoint.app.create_app``, REST and WebSocket) runs under uvicorn on 127.0.0.1 with a
real store; the SDK runs in a subprocess of ``.venv-sdk/bin/python`` (``scripts/install``
builds it; the SDK pins web3 < 8) driven by ``tests/endpoint/sdk_driver.py``. Two SDK clients
log in, read the system info, contracts and reference prices, open their sockets (token
validation, a book and trade-report subscription), place, query and cancel orders, read their
positions and fund locks; an auction between them fills both orders, and the fills reach both
SDK sockets as EXEC_REPORTs.

Funding: the SDK's own ``fundlock.deposit`` cannot work with the eth-account it requires
(it sends ``signed_txn.rawTransaction``; eth-account 0.13 calls it ``raw_transaction`` —
asserted below), so the clients are funded as the chain monitor would after their deposits:
address registered and ``fundLockValue`` set in the store.

A missing SDK venv is a failure, never a skip.
"""

from __future__ import annotations

import json
import subprocess
import time
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from coordinator.clock import ManualClock
from coordinator.loop import Coordinator
from coordinator.persistence import auth as auth_repo
from coordinator.persistence import tables as t
from coordinator.persistence.records import FundLock
from coordinator.settings import Settings
from endpoint import eip712
from endpoint.services import Services
from tests.endpoint.wsutil import (
    KEYS,
    ROOT,
    T0,
    Server,
    demo,
    open_store,
    seed,
)
from tests.pg import ENGINES

SDK_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"
DRIVER = ROOT / "tests" / "endpoint" / "sdk_driver.py"


class Driver:
    """The SDK subprocess: one JSON command per line, one answer per line."""

    def __init__(self) -> None:
        if not SDK_PYTHON.exists():
            pytest.fail(f"{SDK_PYTHON} is missing: run scripts/install (it builds .venv-sdk "
                        "with ithaca-py==0.4.0)", pytrace=False)
        self.proc = subprocess.Popen([str(SDK_PYTHON), str(DRIVER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.n = 0

    def __call__(self, who: str, call: str, **args: Any) -> Any:
        self.n += 1
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"id": self.n, "who": who, "call": call,
                                          "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the SDK driver died during {call}"
        out = json.loads(line)
        assert out["id"] == self.n
        assert out["ok"], f"{who}.{call} raised in the SDK: {out['error']}\n{out.get('trace')}"
        return out["result"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(10)

    def wait_for(self, who: str, pred, timeout: float = 20.0) -> list[dict]:
        """The socket's messages once one satisfies ``pred``."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self(who, "messages")
            if any(pred(m) for m in msgs):
                return msgs
            if time.monotonic() > deadline:
                kinds = [m.get("responseType") for m in msgs]
                raise AssertionError(f"{who}: no matching socket message; got {kinds}")
            time.sleep(0.1)


def ok(res: dict) -> Any:
    assert isinstance(res, dict) and res.get("result") == "OK", res
    return res.get("payload")


@pytest.fixture(params=ENGINES)
def venue(request, tmp_path):
    store = open_store(request, tmp_path)
    clock = ManualClock(T0)
    data = demo()
    data["orders"] = []
    seed(store, clock, data)
    # Funded "another way": as the chain monitor does after a FundLock deposit.
    with store.write() as tx:
        for cid in (101, 102):
            auth_repo.ensure_client_address(tx, cid, eip712.address_of(KEYS[cid]), T0)
        tx.put_fund_locks([FundLock(cid, cur, amount) for cid in (101, 102)
                           for cur, amount in (("USDC", 1_000_000 * 10**4),
                                               ("WETH", 1_000 * 10**7))], T0)
    settings = Settings(database_url="sqlite://", api_wire_dialect="ithaca")
    from endpoint.app import create_app

    app: FastAPI = create_app(Services(settings, store, clock))
    with Server(app) as srv:
        yield store, clock, settings, srv
    store.dispose()


def test_published_sdk_drives_the_venue(venue):
    store, clock, settings, srv = venue
    api = f"http://127.0.0.1:{srv.port}/api/v1"
    ws = f"ws://127.0.0.1:{srv.port}/wss"
    sdk = Driver()
    try:
        _drive(sdk, store, clock, settings, api, ws)
    finally:
        sdk.close()


def _drive(sdk: Driver, store, clock, settings, api: str, ws: str) -> None:
    key = {w: "0x" + KEYS[c].to_bytes(32, "big").hex() for w, c in (("a", 101), ("b", 102))}
    addr = {w: sdk(w, "new", key=key[w], api=api, ws=ws) for w in ("a", "b")}
    assert addr["a"].lower() == eip712.address_of(KEYS[101]).lower()

    # the SDK's broken deposit: noted, and the reason the clients are funded in the store
    broken = sdk("a", "deposit_broken")
    assert broken["has_rawTransaction"] is False and "raw_transaction" in broken["fields"]

    # login (the SDK reads the nonce at the top level, the session from the payload)
    for w, cid in (("a", 101), ("b", 102)):
        res = sdk(w, "login")
        assert res["ok"] is True, res
        assert res["user"]["clientId"] == cid and res["user"]["authToken"]

    info = ok(sdk("a", "system_info"))
    assert {"chainId", "fundlockAddress", "tokenAddress"} <= set(info)
    contracts = ok(sdk("a", "contract_list"))
    assert sorted(c["contractId"] for c in contracts) == list(range(1, 8))
    fwd = next(c for c in contracts if c["contractId"] == 1)
    assert fwd["payoff"] == "Forward" and fwd["economics"]["currencyPair"] == "WETH/USDC"
    refs = ok(sdk("a", "reference_prices", pair="WETH/USDC"))
    assert Decimal(str(next(r for r in refs if r["contractId"] == 1)["referencePrice"])) \
        == Decimal(3000)
    refs_expiry = ok(sdk("a", "reference_prices", pair="WETH/USDC",
                         expiry=fwd["economics"]["expiry"]))
    assert {r["contractId"] for r in refs_expiry} == set(range(1, 8))

    # sockets: token validation (bare token), a book and trade-report subscription
    for w in ("a", "b"):
        assert sdk(w, "connect", subscribe=[1]) is True
    for w, cid in (("a", 101), ("b", 102)):
        msgs = sdk.wait_for(w, lambda m: m.get("responseType") == "ORDERBOOK")
        v = [m for m in msgs if m.get("responseType") == "VALIDATE_AUTH_TOKEN_RESPONSE"]
        assert v and v[0]["payload"] == {"clientId": cid}
        sdk.wait_for(w, lambda m: m.get("responseType") == "SUBSCRIBE_TRADE_REPORTS_RESPONSE")
        book = next(m for m in msgs if m.get("responseType") == "ORDERBOOK")["payload"]
        assert book["contractId"] == 1 and book["bids"] == book["asks"] == []

    # orders: place, query, list, cancel
    a1, a2, b1 = 1_700_000_000_001, 1_700_000_000_002, 1_700_000_000_101
    res = sdk("a", "new_order", legs=[[1, "BUY", 1.0]], price=3005.0, client_order_id=a1)
    assert res["result"] == "OK" and res["clientOrderId"] == a1, res
    st = ok(sdk("a", "order_status", id=a1))
    assert st["clientOrderId"] == a1 and st["orderStatus"] == "NEW", st
    res = sdk("a", "new_order", legs=[[1, "BUY", 0.5]], price=1400.0, client_order_id=a2)
    assert res["result"] == "OK", res
    open_ids = {o["clientOrderId"] for o in ok(sdk("a", "open_orders"))}
    assert open_ids == {a1, a2}
    ok(sdk("a", "order_cancel", id=a2))
    assert ok(sdk("a", "order_status", id=a2))["orderStatus"] == "CANCELED"
    assert {o["clientOrderId"] for o in ok(sdk("a", "open_orders"))} == {a1}
    funds = {f["currency"]: f for f in ok(sdk("a", "fundlock_state"))}
    assert Decimal(str(funds["USDC"]["orderValue"])) > 0
    assert Decimal(str(funds["USDC"]["fundLockValue"])) == Decimal(1_000_000)
    res = sdk("b", "new_order", legs=[[1, "SELL", 1.0]], price=-2995.0, client_order_id=b1)
    assert res["result"] == "OK", res
    # the socket saw a's order enter, its cancel, and the book move
    msgs = sdk.wait_for("a", lambda m: m.get("responseType") == "EXEC_REPORT"
                        and m["payload"]["orderStatus"] == "CANCELED")
    reports = [m["payload"] for m in msgs if m.get("responseType") == "EXEC_REPORT"]
    assert [(r["clientOrderId"], r["orderStatus"]) for r in reports] == [
        (a1, "NEW"), (a2, "NEW"), (a2, "CANCELED")]
    sdk.wait_for("b", lambda m: m.get("responseType") == "ORDERBOOK_DELTA"
                 and any(x["price"] == "2995" for x in m["payload"]["asks"]))

    # the auction between the two SDK clients fills both
    clock.advance(60_000)
    report = Coordinator(store, settings, clock).run_once()
    assert report.fills == 2, report.line()
    fills = {}
    for w, coid in (("a", a1), ("b", b1)):
        msgs = sdk.wait_for(w, lambda m, c=coid: m.get("responseType") == "EXEC_REPORT"
                            and m["payload"]["clientOrderId"] == c
                            and m["payload"]["orderStatus"] == "FILLED")
        rep = next(m["payload"] for m in msgs if m.get("responseType") == "EXEC_REPORT"
                   and m["payload"]["orderStatus"] == "FILLED")
        (leg,) = rep["details"]
        assert leg["thisFillQty"] == "1" and leg["remainingQty"] == "0"
        fills[w] = Decimal(leg["avgPrice"])
        kinds = [m.get("responseType") for m in msgs]
        assert "AUCTION_STARTED" in kinds and "TRADE_REPORT" in kinds
        assert ok(sdk(w, "order_status", id=coid))["orderStatus"] == "FILLED"
    assert fills["a"] == fills["b"] and Decimal(2995) <= fills["a"] <= Decimal(3005)
    pos = {w: {p["contractId"]: Decimal(str(p["positionsQty"]))
               for p in ok(sdk(w, "current_positions"))} for w in ("a", "b")}
    assert pos == {"a": {1: Decimal(1)}, "b": {1: Decimal(-1)}}

    # no socket error ever (an error makes the SDK log in again): one session per client
    assert sdk("a", "socket_errors") == []
    with store.read() as tx:
        sessions = dict(tx.conn.execute(select(t.auth_sessions.c.client_id, func.count())
                                        .group_by(t.auth_sessions.c.client_id)).all())
    # the explicit login + the socket thread's own login
    assert sessions == {101: 2, 102: 2}
