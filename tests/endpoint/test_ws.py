"""The WebSocket of api.md §5 through a real uvicorn server on 127.0.0.1 and real clients: binary
frames, token validation, books (snapshot then gap-free deltas, through an auction), trade
reports, execution reports to their client only, broadcasts, heartbeats, errors and limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from websockets.exceptions import ConnectionClosed

from auction.units import fmt
from coordinator.clock import ManualClock
from coordinator.events import Event, EventKind
from coordinator.loop import Coordinator
from coordinator.persistence.store import from_units
from coordinator.settings import Settings
from endpoint.streams import apply_delta, indicative_book
from tests.endpoint.wsutil import (
    ROOT,
    T0,
    Client,
    client_frame,
    free_port,
    open_store,
    raw_upgrade,
    read_frame,
    read_http_head,
    seed,
    session_for,
    ws_server,
)
from tests.pg import ENGINES


@pytest.fixture(params=ENGINES)
def store(request, tmp_path):
    s = open_store(request, tmp_path)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path):
    class R:
        param = "sqlite"

    s = open_store(R, tmp_path)
    yield s
    s.dispose()


@pytest.fixture
def clock():
    return ManualClock(T0)


def order(oid, client, price, *legs, **kw):
    return {"orderId": oid, "clientId": client, "totalNetPrice": price,
            "legs": [{"contractId": c, "side": s, "quantity": q} for c, s, q in legs], **kw}


def add_orders(store, clock, *orders):
    from tests.endpoint.wsutil import demo

    data = demo()
    data["orders"] = list(orders)
    return seed(store, clock, data)


def levels(side):
    return [(x["price"], x["size"]) for x in side]


def settings(**kw) -> Settings:
    return Settings(database_url="sqlite://", **kw)


# ---- the upgrade and the frames -----------------------------------------------------------

def test_upgrade_with_two_origin_headers_and_binary_frames(sqlite_store, clock):
    """The Python SDK's upgrade carries two Origin headers; every answer is a binary frame."""
    seed(sqlite_store, clock)
    with ws_server(sqlite_store, clock) as (srv, _):
        for path in ("/wss", "/ws"):
            s = raw_upgrade(srv.port, path, ("http://127.0.0.1", "https://app.example"))
            head, rest = read_http_head(s)
            assert head.startswith(b"HTTP/1.1 101"), head
            s.sendall(client_frame(b'{"action": "HEARTBEAT_REQUEST"}'))
            opcode, payload, rest = read_frame(s, rest)
            assert opcode == 0x2  # binary
            msg = json.loads(payload.decode())
            assert msg["responseType"] == "HEARTBEAT_RESPONSE" and msg["error"] is False
            s.sendall(client_frame(b'{"action": "HEARTBEAT_REQUEST"}', opcode=0x2))
            opcode, payload, _ = read_frame(s, rest)
            assert opcode == 0x2 and json.loads(payload)["responseType"] == "HEARTBEAT_RESPONSE"
            s.close()


def test_token_validation_dict_or_bare_and_linked_accounts(sqlite_store, clock):
    seed(sqlite_store, clock)
    st = settings()
    token = session_for(sqlite_store, st, clock, 101)
    with ws_server(sqlite_store, clock, st) as (srv, _), Client(srv.url) as c:
        c.send("VALIDATE_AUTH_TOKEN", {"authToken": token})
        m = c.expect("VALIDATE_AUTH_TOKEN_RESPONSE")
        assert m["error"] is False and m["payload"] == {"clientId": 101}
        c.send("VALIDATE_AUTH_TOKEN", token)  # the Python SDK sends the bare token
        assert c.expect("VALIDATE_AUTH_TOKEN_RESPONSE")["payload"] == {"clientId": 101}
        c.send("SUBSCRIBE_ALL_LINKED_ACCOUNTS")
        m = c.expect("SUBSCRIBE_ALL_LINKED_ACCOUNTS_RESPONSE")
        assert m["error"] is False
        for bad in ("x" * 43, {"authToken": ""}, {"token": token}, None, 7):
            c.send("VALIDATE_AUTH_TOKEN", bad)
            m = c.expect("VALIDATE_AUTH_TOKEN_RESPONSE")
            assert m["error"] is True and m["cause"] == "INVALID_AUTH_TOKEN", bad


def test_error_causes(sqlite_store, clock):
    seed(sqlite_store, clock)
    with ws_server(sqlite_store, clock) as (srv, _), Client(srv.url) as c:
        c.ws.send("{not json")
        assert c.recv()["cause"] == "INVALID_REQUEST"
        c.ws.send('["SUBSCRIBE_ORDER_BOOK"]')
        assert c.recv()["cause"] == "INVALID_REQUEST"
        c.send("PLACE_ORDER", {})
        m = c.recv()
        assert (m["error"], m["cause"]) == (True, "INVALID_REQUEST_ACTION")
        for bad in ({"contractId": "one"}, {"contractId": -1}, {"contractId": True}, {}):
            c.send("SUBSCRIBE_ORDER_BOOK", bad)
            assert c.recv()["cause"] == "INVALID_REQUEST", bad
        c.send("SUBSCRIBE_ORDER_BOOK", {"contractId": 999})
        assert c.recv()["cause"] == "INVALID_CONTRACT_ID"
        c.send("SUBSCRIBE_TRADE_REPORTS", {"contractId": 999})
        assert c.recv()["cause"] == "INVALID_CONTRACT_ID"
        c.send("SUBSCRIBE_ORDER_BOOK", {"contractId": 1})
        assert c.recv()["responseType"] == "ORDERBOOK"
        c.send("SUBSCRIBE_ORDER_BOOK", {"contractId": 1})
        assert c.recv()["cause"] == "ALREADY_SUBSCRIBED"
        c.send("UNSUBSCRIBE_ORDER_BOOK", {"contractId": 1})
        m = c.recv()
        assert m["error"] is False and m["responseType"] == "UNSUBSCRIBE_ORDER_BOOK_RESPONSE"
        c.send("UNSUBSCRIBE_ORDER_BOOK", {"contractId": 1})
        assert c.recv()["cause"] == "NOT_SUBSCRIBED"
        c.send("UNSUBSCRIBE_TRADE_REPORTS", {"contractId": 2})
        assert c.recv()["cause"] == "NOT_SUBSCRIBED"


# ---- books, trades and execution reports through an auction -------------------------------

def test_book_snapshot_deltas_and_an_auction(store, clock):
    """Snapshot, then one delta per change with deltaNum +1; the deltas of an auction arrive
    before its AUCTION_FINISHED; applying them to the snapshot gives the book a new subscriber
    (a reconnect) sees and the store's indicative book."""
    seed(store, clock)
    st = settings()
    tokens = {c: session_for(store, st, clock, c) for c in (101, 102, 103)}
    with ws_server(store, clock, st) as (srv, fan), \
            Client(srv.url) as a, Client(srv.url) as b, Client(srv.url) as c, \
            Client(srv.url) as watcher:
        for cl, cid in ((a, 101), (b, 102), (c, 103)):
            cl.send("VALIDATE_AUTH_TOKEN", {"authToken": tokens[cid]})
            assert cl.expect("VALIDATE_AUTH_TOKEN_RESPONSE")["payload"]["clientId"] == cid
        watcher.send("SUBSCRIBE_ORDER_BOOK", {"contractId": 1})
        snap = watcher.expect("ORDERBOOK")["payload"]
        # contract 1 (tick 0.5): the demo's resting orders, per-unit limits
        assert snap["contractId"] == 1 and snap["deltaNum"] == 0
        assert levels(snap["bids"]) == [("3005", "1"), ("2995", "1"), ("2990", "0.5")]
        assert levels(snap["asks"]) == [("2998", "0.5"), ("3010", "1")]
        assert (snap["conditionalBidQty"], snap["conditionalAskQty"]) == ("0", "0")
        watcher.send("SUBSCRIBE_ORDER_BOOK", {"contractId": 3})
        snap3 = watcher.expect("ORDERBOOK")["payload"]
        assert levels(snap3["bids"]) == [("205", "2"), ("200", "0.5"), ("195", "1")]
        assert levels(snap3["asks"]) == [("196", "1.5"), ("199", "0.5"), ("210", "1")]
        assert (snap3["conditionalBidQty"], snap3["conditionalAskQty"]) == ("1", "0")
        watcher.send("SUBSCRIBE_TRADE_REPORTS", {"contractId": 1})
        assert watcher.expect("SUBSCRIBE_TRADE_REPORTS_RESPONSE")["payload"] == {"contractId": 1}

        # a new buy, a spread on 1 and 3
        add_orders(store, clock, order(1001, 103, "3004.5", (1, "BUY", "1")),
                   order(1002, 103, "-2800", (1, "SELL", "1"), (3, "BUY", "1")))
        fan.hub.wake()
        d = watcher.expect("ORDERBOOK_DELTA")["payload"]
        assert d["contractId"] == 1 and d["deltaNum"] == 1
        assert levels(d["bids"]) == [("3004.5", "1")] and d["asks"] == []
        assert (d["conditionalBidQty"], d["conditionalAskQty"]) == ("0", "1")
        d3 = watcher.expect("ORDERBOOK_DELTA")["payload"]
        assert d3["contractId"] == 3 and d3["deltaNum"] == 1
        assert d3["conditionalBidQty"] == "2" and d3["bids"] == d3["asks"] == []
        rep = c.expect("EXEC_REPORT")["payload"]
        assert rep["orderStatus"] == "NEW" and rep["orderId"] == 1001
        assert rep["netPrice"] == "3004.5"
        assert rep["details"] == [{"contractId": 1, "side": "BUY", "originalQty": "1",
                                   "remainingQty": "1", "thisFillQty": "0",
                                   "cancelledQty": "0", "avgPrice": "0", "totalCost": "0"}]
        assert c.expect("EXEC_REPORT")["payload"]["orderId"] == 1002
        funds = c.expect("FUNDLOCK_UPDATED")["payload"]
        assert set(funds) == {"currency", "orderValue", "fundLockValue", "settleValue"}
        books = {1: apply_delta(snap, d), 3: apply_delta(snap3, d3)}

        # the auction
        clock.advance(60_000)
        report = Coordinator(store, st, clock).run_once()
        assert report.fills > 0
        fan.hub.wake()
        got = watcher.recv_until(lambda m: m["responseType"] == "AUCTION_FINISHED")
        kinds = [m["responseType"] for m in got]
        assert kinds[0] == "AUCTION_STARTED" and kinds[-1] == "AUCTION_FINISHED"
        assert got[0]["payload"]["batchId"] == got[-1]["payload"]["batchId"] == report.batch_id
        assert "TRADE_REPORT" in kinds
        for m in got:
            if m["responseType"] == "ORDERBOOK_DELTA":
                p = m["payload"]
                books[p["contractId"]] = apply_delta(books[p["contractId"]], p)
                assert p["batchId"] == report.batch_id
        trade = next(m["payload"] for m in got if m["responseType"] == "TRADE_REPORT")
        with store.read() as tx:
            fills = tx.fills(report.batch_id)
        bought = sum(lots for f in fills for cid, lots, _ in f.legs if cid == 1 and lots > 0)
        price = {from_units(p, 4) for f in fills for cid, _, p in f.legs if cid == 1}
        assert trade == {"contractId": 1, "batchId": report.batch_id,
                         "tradeDetails": {fmt(price.pop()): fmt(Decimal(bought) / 10)}}
        # the store's book, a fresh subscriber's snapshot and snapshot + deltas agree
        fresh = indicative_book(store, [1, 3])
        with Client(srv.url) as again:
            for cid in (1, 3):
                again.send("SUBSCRIBE_ORDER_BOOK", {"contractId": cid})
                snap_again = again.expect("ORDERBOOK")["payload"]
                assert snap_again == books[cid]
                assert {**fresh[cid], "deltaNum": snap_again["deltaNum"]} == snap_again
        assert books[1]["deltaNum"] >= 2


def test_exec_reports_reach_their_client_only(sqlite_store, clock):
    store = sqlite_store
    seed(store, clock)
    st = settings()
    with ws_server(store, clock, st) as (srv, fan), Client(srv.url) as a, \
            Client(srv.url) as b, Client(srv.url) as c, Client(srv.url) as anon:
        for cl, cid in ((a, 101), (b, 102), (c, 103)):
            cl.send("VALIDATE_AUTH_TOKEN", session_for(store, st, clock, cid))
            cl.expect("VALIDATE_AUTH_TOKEN_RESPONSE")
        # a rejected order (its lock exceeds the client's funds) → REJECTED with its reason
        add_orders(store, clock, order(2001, 103, "30000000", (2, "BUY", "100000")))
        fan.hub.wake()
        rep = c.expect("EXEC_REPORT")["payload"]
        assert rep["orderStatus"] == "REJECTED" and rep["ordRejReason"] == "INSUFFICIENT_FUNDS"
        assert rep["details"][0]["cancelledQty"] == "100000"
        clock.advance(60_000)
        report = Coordinator(store, st, clock).run_once()
        fan.hub.wake()
        with store.read() as tx:
            fills = {f.order_id: f for f in tx.fills(report.batch_id)}
        assert {fills[1].client_id, fills[2].client_id} == {101, 102}
        ra = a.recv_until(lambda m: m["responseType"] == "AUCTION_FINISHED")
        rb = b.recv_until(lambda m: m["responseType"] == "AUCTION_FINISHED")
        rc = c.recv_until(lambda m: m["responseType"] == "AUCTION_FINISHED")
        ranon = anon.recv_until(lambda m: m["responseType"] == "AUCTION_FINISHED")
        ea = [m["payload"] for m in ra if m["responseType"] == "EXEC_REPORT"]
        eb = [m["payload"] for m in rb if m["responseType"] == "EXEC_REPORT"]
        assert [e["orderId"] for e in ea] == [1] and [e["orderId"] for e in eb] == [2]
        assert not [m for m in rc + ranon if m["responseType"] in
                    ("EXEC_REPORT", "FUNDLOCK_UPDATED")]
        assert [m["responseType"] for m in ranon] == ["AUCTION_STARTED", "AUCTION_FINISHED"]
        lots, price = fills[1].legs[0][1], from_units(fills[1].legs[0][2], 4)
        (d,) = ea[0]["details"]
        assert ea[0]["orderStatus"] == "PARTIALLY_FILLED" and ea[0]["clientOrderId"] == 1
        assert d["thisFillQty"] == fmt(Decimal(lots) / 10) == "0.5"
        assert d["remainingQty"] == "0.5" and d["originalQty"] == "1"
        assert d["avgPrice"] == fmt(price)
        assert Decimal(d["totalCost"]) == Decimal(lots) / 10 * price
        assert eb[0]["orderStatus"] == "FILLED" and eb[0]["details"][0]["remainingQty"] == "0"
        assert any(m["responseType"] == "FUNDLOCK_UPDATED" for m in ra)


def test_spot_prices_and_failed_auction_are_broadcast(sqlite_store, clock):
    store = sqlite_store
    seed(store, clock)
    with ws_server(store, clock) as (srv, fan), Client(srv.url) as a:
        a.send("HEARTBEAT_REQUEST")
        a.expect("HEARTBEAT_RESPONSE")  # the hub is running: it starts with the first socket
        time.sleep(0.3)
        with store.write() as tx:
            tx.append_events([Event(EventKind.SPOT_PRICES, {"WETH/USDC": "3001.25"}),
                              Event(EventKind.ALERT, {"text": "not for clients"}),
                              Event(EventKind.AUCTION_STARTED, {"batchId": 5}, 5),
                              Event(EventKind.AUCTION_FAILED, {"batchId": 5}, 5)],
                             clock.now_ms())
        fan.hub.wake()
        got = a.recv_until(lambda m: m["responseType"] == "AUCTION_FINISHED")
        assert [(m["responseType"], m["payload"]) for m in got] == [
            ("SPOT_PRICES", {"WETH/USDC": "3001.25"}), ("AUCTION_STARTED", {"batchId": 5}),
            ("AUCTION_FINISHED", {"batchId": 5, "status": "FAILED"})]


# ---- limits -------------------------------------------------------------------------------

def test_silent_socket_gets_heartbeats(sqlite_store, clock):
    with ws_server(sqlite_store, clock, settings(ws_heartbeat_seconds=0.5)) as (srv, _), \
            Client(srv.url) as a:
        t0 = time.monotonic()
        beats = [a.recv(5) for _ in range(3)]
        assert [m["responseType"] for m in beats] == ["HEARTBEAT"] * 3
        assert all(m["error"] is False for m in beats)
        assert time.monotonic() - t0 < 4


def test_message_rate_and_size_limits_close_the_socket(sqlite_store, clock):
    st = settings(ws_messages_per_second=5, ws_message_burst=10, ws_max_message_bytes=2000)
    with ws_server(sqlite_store, clock, st) as (srv, _):
        with Client(srv.url) as a:
            for _ in range(40):
                try:
                    a.send("HEARTBEAT_REQUEST")
                except ConnectionClosed:  # the server may close before the client sent all
                    break
            got = []
            with pytest.raises(Exception):  # noqa: B017 — the server closes the socket
                while True:
                    got.append(a.recv(5))
            kinds = [m["responseType"] for m in got]
            assert 10 <= kinds.count("HEARTBEAT_RESPONSE") <= 12
            assert got[-1]["error"] is True and got[-1]["cause"] == "GENERAL"
            assert "rate" in got[-1]["details"]
        with Client(srv.url) as b:
            b.send("HEARTBEAT_REQUEST", "x" * 3000)
            m = b.recv()
            assert (m["error"], m["cause"]) == (True, "GENERAL") and "larger" in m["details"]
            with pytest.raises(Exception):  # noqa: B017
                b.recv(5)
        with Client(srv.url) as c:  # others are served as before
            c.send("HEARTBEAT_REQUEST")
            assert c.recv()["responseType"] == "HEARTBEAT_RESPONSE"


def test_subscription_limit(sqlite_store, clock):
    seed(sqlite_store, clock)
    with ws_server(sqlite_store, clock, settings(ws_max_subscriptions=2)) as (srv, _), \
            Client(srv.url) as a:
        a.send("SUBSCRIBE_ORDER_BOOK", {"contractId": 1})
        a.send("SUBSCRIBE_TRADE_REPORTS", {"contractId": 1})
        a.send("SUBSCRIBE_ORDER_BOOK", {"contractId": 2})
        got = [a.recv() for _ in range(3)]
        assert [m["responseType"] for m in got[:2]] == ["ORDERBOOK",
                                                        "SUBSCRIBE_TRADE_REPORTS_RESPONSE"]
        assert got[2]["cause"] == "INVALID_REQUEST" and "at most 2" in got[2]["details"]
        a.send("UNSUBSCRIBE_TRADE_REPORTS", {"contractId": 1})
        a.expect("UNSUBSCRIBE_TRADE_REPORTS_RESPONSE")
        a.send("SUBSCRIBE_ORDER_BOOK", {"contractId": 2})
        assert a.expect("ORDERBOOK")["payload"]["contractId"] == 2


def test_slow_consumer_is_told_to_reconnect_and_never_slows_the_others(sqlite_store, clock):
    """A socket that stops reading fills its queue: it gets RECONNECT_REQUIRED and is closed;
    a reading socket receives every message meanwhile."""
    store = sqlite_store
    st = settings(ws_queue_size=300, ws_close_seconds=20)
    blob = "x" * 16_000
    with ws_server(store, clock, st) as (srv, fan), Client(srv.url) as fast:
        slow = raw_upgrade(srv.port, "/wss")
        head, rest = read_http_head(slow)
        assert head.startswith(b"HTTP/1.1 101")
        fast.send("HEARTBEAT_REQUEST")
        fast.expect("HEARTBEAT_RESPONSE")
        deadline = time.monotonic() + 20
        while len(fan.conns) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sent = 0
        for _ in range(80):  # rounds of 200 messages, each read in full by the fast socket
            with store.write() as tx:
                tx.append_events([Event(EventKind.SPOT_PRICES, {"n": str(sent + i), "pad": blob})
                                  for i in range(200)], clock.now_ms())
            fan.hub.wake()
            for i in range(200):
                m = fast.expect("SPOT_PRICES")
                assert m["payload"]["n"] == str(sent + i)
            sent += 200
            if fan.overflows:
                break
        assert fan.overflows == 1, "the silent socket never overflowed its queue"
        assert len(fan.conns) == 1  # the slow socket is forgotten
        # the slow socket, reading at last: what was in flight, RECONNECT_REQUIRED, close
        msgs = []
        while True:
            opcode, payload, rest = read_frame(slow, rest)
            if opcode == 0x8:
                break
            assert opcode == 0x2
            msgs.append(json.loads(payload))
        assert msgs[-1]["error"] is True and msgs[-1]["cause"] == "RECONNECT_REQUIRED"
        assert all(m["responseType"] == "SPOT_PRICES" for m in msgs[:-1])
        ns = [int(m["payload"]["n"]) for m in msgs[:-1]]
        assert ns == list(range(len(ns)))  # in order, nothing skipped before the cut
        slow.close()
        # the fast socket is still served
        fast.send("HEARTBEAT_REQUEST")
        fast.expect("HEARTBEAT_RESPONSE")


@pytest.mark.postgres
def test_another_process_wakes_the_hub_by_notify(pg_server, tmp_path, clock):
    """The server runs in its own process and would poll only every 30 s: an event committed
    by this process reaches its socket at once, by PostgreSQL NOTIFY."""
    class R:
        param = "postgresql"

        @staticmethod
        def getfixturevalue(name):
            return pg_server

    store = open_store(R, tmp_path)
    seed(store, clock)
    port = free_port()
    url = store.engine.url.render_as_string(hide_password=False)
    proc = subprocess.Popen([sys.executable, "-m", "tests.endpoint.ws_serve", url, str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT),
                                 "CCP_WS_POLL_SECONDS": "30"})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with Client(f"ws://127.0.0.1:{port}/wss") as a:
            a.send("SUBSCRIBE_ORDER_BOOK", {"contractId": 1})
            assert a.expect("ORDERBOOK")["payload"]["deltaNum"] == 0
            time.sleep(1.0)  # the hub is idle, waiting
            t0 = time.monotonic()
            add_orders(store, clock, order(3001, 103, "3004.5", (1, "BUY", "1")))
            d = a.expect("ORDERBOOK_DELTA", timeout=10)["payload"]
            assert d["deltaNum"] == 1 and d["bids"] == [{"price": "3004.5", "size": "1"}]
            assert time.monotonic() - t0 < 5
    finally:
        proc.terminate()
        proc.wait(10)
        store.dispose()
