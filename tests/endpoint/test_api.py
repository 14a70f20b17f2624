"""The client API over real HTTP (uvicorn on 127.0.0.1), real signatures, both engines."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from auction.interchange import contract_to_dict
from auction.orders import OrderStatus
from coordinator.events import EventKind
from coordinator.intake import import_book
from coordinator.loop import Coordinator
from endpoint import eip712
from endpoint.app import create_app
from endpoint.services import Services
from tests.endpoint.conftest import NOW, UNKNOWN_KEY, Served, contracts, dump


def _ok(r: httpx.Response) -> dict:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["result"] == "OK", body
    return body


def _err(r: httpx.Response, code: str, status: int = 412) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["result"] == code, body
    assert "payload" not in body
    return body


@pytest.mark.parametrize(("dialect", "chain"), [("ithaca", 1), ("elektro", 1)])
def test_login_both_dialects_and_session(venue, dialect, chain):
    t = venue.trader(1)
    r = t.post("auth/requestAuth", {"ethAddress": t.address})
    body = _ok(r)
    assert body["nonce"] == body["payload"]["nonce"]
    assert body["nonce"].startswith(f"auth-request-for-{t.address.lower()}-")
    body = _ok(t.login(dialect, chain))
    assert body["payload"]["clientId"] == 1
    cookie = t.http.cookies.get("ccpsession")
    assert cookie == body["payload"]["authToken"]
    info = _ok(t.http.get("/api/v1/auth/getSessionInfo"))
    assert info["clientId"] == "1"
    assert info["payload"] == {"clientId": "1", "ethAddress": t.address}
    # a cookie sent back with its attributes still works; a bearer token too
    raw = httpx.get(f"{venue.url}/api/v1/auth/getSessionInfo",
                    headers={"Cookie": f"ccpsession={cookie}; Path=/; HttpOnly"})
    assert _ok(raw)["clientId"] == "1"
    raw = httpx.get(f"{venue.url}/api/v1/auth/getSessionInfo",
                    headers={"Authorization": f"Bearer {cookie}"})
    assert _ok(raw)["clientId"] == "1"
    _ok(t.post("auth/logout"))
    _err(httpx.get(f"{venue.url}/api/v1/auth/getSessionInfo",
                   headers={"Authorization": f"Bearer {cookie}"}), "UNAUTHORIZED", 401)


def test_set_cookie_attributes(venue):
    t = venue.trader(1)
    nonce = _ok(t.post("auth/requestAuth", {"ethAddress": t.address.upper().replace("0X", "0x")
                                            }))["nonce"]
    sig = eip712.sign(eip712.login(nonce, eip712.ithaca()), t.key)
    r = t.post("auth/validateAuth", {"nonce": nonce, "signature": sig})
    sc = r.headers["set-cookie"]
    assert "Path=/" in sc and "HttpOnly" in sc and "SameSite=Lax" in sc
    assert "Secure" not in sc


def test_unknown_address_and_sessions_survive_a_new_app(venue):
    u = venue.trader(UNKNOWN_KEY)
    _err(u.login(), "UNKNOWN_ETH_ADDRESS")
    t = venue.trader(1)
    token = _ok(t.login())["payload"]["authToken"]
    # a second endpoint process over the same store honours the session
    other = Served(create_app(Services(venue.settings, venue.store, venue.clock)))
    try:
        r = httpx.get(f"{other.url}/api/v1/auth/getSessionInfo",
                      headers={"Authorization": f"Bearer {token}"})
        assert _ok(r)["clientId"] == "1"
    finally:
        other.stop()


@pytest.mark.parametrize("dialect", ["ithaca", "elektro"])
def test_order_round_trip(venue, dialect):
    t = venue.trader(1)
    _ok(t.login(dialect))
    body = t.order_body(1676258037557249, [(1, "BUY", "30.0000")], "330.0000",
                        dialect=dialect)
    r = _ok(t.post("clientapi/newOrder", body))
    assert r["payload"]["orderStatus"] == "NEW"
    oid = r["payload"]["orderId"]
    st = _ok(t.post("clientapi/orderStatus", {"clientOrderId": 1676258037557249}))["payload"]
    assert st["orderId"] == oid and st["orderStatus"] == "NEW"
    assert st["legs"] == [{"contractId": 1, "side": "BUY", "originalQty": 30.0,
                           "remainingQty": 30.0, "filledQty": 0.0}]
    assert st["totalNetPrice"] == 330.0
    opened = _ok(t.post("clientapi/clientOpenOrders"))["payload"]
    assert [o["clientOrderId"] for o in opened] == [1676258037557249]
    locked = _ok(t.post("clientapi/clientOpenOrdersWithLockInfo?currencyPair=WBTC/USDC")
                 )["payload"]
    assert locked[0]["numeraireLock"] == 330.0 and locked[0]["underlierLock"] == 0.0
    funds = {f["currency"]: f for f in _ok(t.post("clientapi/clientFundLockState"))["payload"]}
    assert funds["USDC"]["orderValue"] == 330.0
    assert funds["USDC"]["fundLockValue"] == 1_000_000.0
    # the same clientOrderId again: DUPLICATE_ORDER_ID
    _err(t.post("clientapi/newOrder", body), "DUPLICATE_ORDER_ID")
    # cancel: NEW -> CANCELED, the lock released
    c = _ok(t.post("clientapi/orderCancel", {"clientOrderId": 1676258037557249}))["payload"]
    assert c["orderStatus"] == "CANCELED"
    funds = {f["currency"]: f for f in _ok(t.post("clientapi/clientFundLockState"))["payload"]}
    assert funds["USDC"]["orderValue"] == 0.0
    _err(t.post("clientapi/orderCancel", {"clientOrderId": 1676258037557249}),
         "CANCEL_REJECTED")
    st = _ok(t.post("clientapi/orderStatus", {"clientOrderId": 1676258037557249}))["payload"]
    assert st["orderStatus"] == "CANCELED"
    assert _ok(t.post("clientapi/clientOpenOrders"))["payload"] == []
    with venue.store.read() as tx:
        kinds = [e.kind for e in tx.events_after(0)]
        assert [h.to_status for h in tx.history(oid)] == [OrderStatus.NEW, OrderStatus.CANCELED]
    assert kinds.count(EventKind.EXEC_REPORT) == 2


def test_new_orders_batch_and_cancel_all(venue):
    t = venue.trader(2)
    _ok(t.login())
    good = [t.order_body(10 + i, [(1, "BUY", "1.00")], "2000") for i in range(3)]
    bad_sig = t.order_body(20, [(1, "BUY", "1.00")], "2000", key=0x777)
    bad_qty = t.order_body(21, [(1, "BUY", "1.000000001")], "2000")
    spread = t.order_body(22, [(1, "SELL", "2.00"), (2, "BUY", "2.00")], "-100")
    r = _ok(t.post("clientapi/newOrders", [*good, bad_sig, bad_qty, spread, good[0]]))
    assert r["payload"] == {"10": "OK", "11": "OK", "12": "OK", "20": "INVALID_SIGNATURE",
                            "21": "INVALID_ORDER_QTY_PRECISION", "22": "OK"}
    assert len(_ok(t.post("clientapi/clientOpenOrders"))["payload"]) == 4
    done = _ok(t.post("clientapi/allOrdersCancel?contains=Put"))["payload"]
    assert [o["clientOrderId"] for o in done] == [22]
    done = _ok(t.post("clientapi/allOrdersCancel"))["payload"]
    assert sorted(o["clientOrderId"] for o in done) == [10, 11, 12]
    assert _ok(t.post("clientapi/newOrders", None))["payload"] == {}


def test_rejections_by_admission_change_nothing(venue):
    t = venue.trader(3)
    _ok(t.login())
    before = dump(venue.store)
    # needs more USDC than the client has
    _err(t.post("clientapi/newOrder", t.order_body(5, [(1, "BUY", "1000.00")], "2000000")),
         "INSUFFICIENT_FUNDS")
    _err(t.post("clientapi/newOrder", t.order_body(6, [(9, "BUY", "1.00")], "1")),
         "INVALID_CONTRACT_ID")
    _err(t.post("clientapi/newOrder", t.order_body(7, [(1, "BUY", "1.00")], "1.00001")),
         "INVALID_ORDER_PRICE_PRECISION")
    _err(t.post("clientapi/newOrder", t.order_body(8, [(1, "HOLD", "1.00")], "1")),
         "INVALID_ORDER_SIDE")
    _err(t.post("clientapi/newOrder", t.order_body(9, [(1, "BUY", "1")], "1", tif="FOREVER")),
         "INVALID_ORDER_TIF")
    _err(t.post("clientapi/newOrder", t.order_body(10, [], "1")), "INVALID_ORDER_LEGS")
    _err(t.post("clientapi/newOrder", t.order_body(11, [(1, "BUY", "1"), (1, "SELL", "1")],
                                                    "1")), "INVALID_ORDER_LEGS")
    _err(t.post("clientapi/newOrder", {**t.order_body(12, [(1, "BUY", "1")], "1"),
                                       "clientEthAddress": venue.trader(1).address}),
         "INVALID_ACCOUNT")
    _err(t.post("clientapi/newOrder", {**t.order_body(14, [(1, "BUY", "1")], "1"),
                                       "clientOrderId": -1}), "INVALID_ORDER_ID")
    _err(t.post("clientapi/newOrder", t.order_body(13, [(1, "BUY", "1")], "1",
                                                    reduceOnly=True)), "REDUCE_ONLY_VIOLATION")
    assert dump(venue.store) == before


def test_tolerance_rules(venue):
    t = venue.trader(1)
    # address in any case; numbers for prices; extra fields; empty and null bodies
    _ok(t.post("auth/requestAuth", {"ethAddress": t.address.lower(), "extra": 1}))
    _ok(t.login())
    body = t.order_body(77, [(1, "BUY", "1.0000")], "2000.00000000", iocAuctionTime=None)
    _ok(t.post("clientapi/newOrder", body))
    est = {"clientOrderId": 1, "totalNetPrice": 330, "orderType": "LIMIT",
           "timeInForce": "GOOD_TILL_CANCEL", "clientEthAddress": "0x" + "0" * 40,
           "legs": [{"contractId": 1, "side": "BUY", "quantity": 30}], "numeraireY": 5}
    lock = _ok(t.post("clientapi/estimateOrderLock", est))["payload"]
    assert lock == {"currencyPair": "WBTC/USDC", "underlierAmount": 0.0,
                    "numeraireAmount": 330.0}
    for content in (b"", b"null"):
        r = t.http.post("/api/v1/clientapi/clientOpenOrders", content=content,
                        headers={"Content-Type": "application/json"})
        assert len(_ok(r)["payload"]) == 1
        r = t.http.post("/api/v1/clientapi/contractList", content=content,
                        headers={"Content-Type": "application/json"})
        assert len(_ok(r)["payload"]) == 4
    _err(t.http.post("/api/v1/clientapi/orderStatus", content=b"{not json",
                     headers={"Content-Type": "application/json"}), "INVALID_REQUEST_DATA")


def test_what_ifs(venue):
    t = venue.trader(1)
    _ok(t.login())
    spread = {"clientOrderId": 1, "totalNetPrice": "110", "legs": [
        {"contractId": 2, "side": "SELL", "quantity": "10"},
        {"contractId": 1, "side": "BUY", "quantity": "10"}]}
    lock = _ok(t.post("clientapi/estimateOrderLock", spread))["payload"]
    assert lock["numeraireAmount"] == 600_110.0  # collateral.md §2 with K=60,000
    pos = _ok(t.post("clientapi/estimatePositionedOrdersLock", [spread]))["payload"]
    assert pos["numeraireAmount"] == 600_110.0
    one = _ok(t.post("clientapi/estimatePositionedOrderLock", spread))["payload"]
    assert one == pos
    payoff = _ok(t.post("clientapi/estimateOrderPayoff", {
        "clientOrderId": 1, "totalNetPrice": "2000", "legs": [
            {"contractId": 1, "side": "BUY", "quantity": "1"}]}))["payload"]
    assert payoff["0"] == -2000.0 and payoff["66000"] == 4000.0
    fees = _ok(t.post("clientapi/estimateOrderFees", spread))["payload"]
    assert fees["numeraireAmount"] == 0.0
    v = _ok(t.post("clientapi/validateTrade", spread))["payload"]
    assert v["isValid"] is True and v["failures"] == [], v
    big = {**spread, "legs": [{**leg, "quantity": "100"} for leg in spread["legs"]]}
    v = _ok(t.post("clientapi/validateTrade", big))["payload"]
    assert v["isValid"] is False and "INSUFFICIENT_FUNDS" in [f["code"] for f in v["failures"]]
    assert _ok(t.post("clientapi/calcPortfolioCollateral?currencyPair=WBTC/USDC")
               )["payload"] == []


def test_market_data(venue):
    t = venue.trader(1)
    info = _ok(t.post("clientapi/systemInfo"))["payload"]
    assert info["chainId"] == 1
    assert info["currencyPrecision"] == {"USDC": 4, "WBTC": 8, "WETH": 7}
    assert info["tokenDecimals"]["WBTC"] == 8
    cl = _ok(t.post("clientapi/contractList"))["payload"]
    call = next(c for c in cl if c["contractId"] == 1)
    assert call["payoff"] == "Call" and call["tradeable"] is True
    assert call["economics"] == {"currencyPair": "WBTC/USDC", "expiry": 20260327,
                                 "strike": 60000.0, "priceCurrency": "USDC",
                                 "qtyCurrency": "WBTC"}
    binary = next(c for c in cl if c["contractId"] == 4)
    assert binary["economics"]["qtyCurrency"] == "USDC"
    byid = _ok(t.post("clientapi/contractListByIds", {"ids": [2, 3, 99]}))["payload"]
    assert sorted(c["contractId"] for c in byid) == [2, 3]
    assert _ok(t.post("clientapi/historicalContracts", {"expiry": 20260327}))["payload"] == []
    refs = _ok(t.post("clientapi/referencePrices", {"currencyPair": "WBTC/USDC",
                                                     "expiry": 0}))["payload"]
    assert {r["contractId"]: r["referencePrice"] for r in refs} == {
        1: 2000.0, 2: 1500.0, 3: 61000.0, 4: 0.5}
    assert refs[0]["lastPrice"] is None and refs[0]["updateAt"] == NOW
    refs = _ok(t.post("clientapi/referencePrices", {"currencyPair": "WBTC/USDC",
                                                     "expiry": 260327120}))["payload"]
    assert len(refs) == 4
    assert _ok(t.post("clientapi/spotPrices"))["payload"] == {}
    nxt = _ok(t.post("clientapi/nextAuction"))["payload"]
    assert nxt == NOW + 60_000
    # the indicative book: one bid, one ask, a conditional order summed apart
    _ok(t.login())
    _ok(t.post("clientapi/newOrders", [
        t.order_body(1, [(1, "BUY", "2.00")], "3800"),
        t.order_body(2, [(1, "SELL", "1.00")], "-2100"),
        t.order_body(3, [(1, "BUY", "1.00"), (2, "SELL", "1.00")], "300")]))
    book = _ok(t.post("clientapi/orderbook", {"contractId": 1}))["payload"]
    assert book == [{"contractId": 1, "bids": [{"price": 1900.0, "size": 2.0}],
                     "asks": [{"price": 2100.0, "size": 1.0}], "conditionalBidQty": 1.0,
                     "conditionalAskQty": 0.0}]
    bba = _ok(t.post("clientapi/bestBidAsk", {"contractId": 1}))["payload"]
    assert bba == [{"contractId": 1, "bestBid": 1900.0, "bidSize": 2.0, "bestAsk": 2100.0,
                    "askSize": 1.0}]
    assert len(_ok(t.post("clientapi/bestBidAskPrecise"))["payload"]) == 4


def test_positions_and_history_after_an_auction(venue):
    """Two clients cross through the coordinator; positions, trade history and lockups."""
    a, b = venue.trader(1), venue.trader(2)
    _ok(a.login())
    _ok(b.login())
    _ok(a.post("clientapi/newOrder", a.order_body(1, [(1, "BUY", "1.00")], "2100")))
    _ok(b.post("clientapi/newOrder", b.order_body(1, [(1, "SELL", "1.00")], "-1900")))
    coord = Coordinator(venue.store, venue.settings, venue.clock, holder="test")
    venue.clock.advance(60_000)
    report = coord.run_once()
    assert report.fills == 2, report
    pa = _ok(a.post("clientapi/clientCurrentPositions", {"filter": None}))["payload"]
    assert len(pa) == 1 and pa[0]["contractId"] == 1 and pa[0]["positionsQty"] == 1.0
    price = pa[0]["positionsAvgPrice"]
    assert 1900 <= price <= 2100
    pb = _ok(b.post("clientapi/clientCurrentPositionsForContract", {"contractId": 1})
             )["payload"]
    assert pb[0]["positionsQty"] == -1.0 and pb[0]["positionsAvgPrice"] == price
    th = _ok(a.post("clientapi/tradeHistory"))["payload"]
    assert th == [{"batchId": report.batch_id, "orderId": th[0]["orderId"], "clientOrderId": 1,
                   "contractId": 1, "side": "BUY", "quantity": 1.0, "price": price,
                   "time": report.batch_id}]
    assert _ok(a.post("clientapi/tradeHistory", {"expiry": 20260328}))["payload"] == []
    st = _ok(a.post("clientapi/orderStatus", {"clientOrderId": 1}))["payload"]
    assert st["orderStatus"] == "FILLED" and st["legs"][0]["filledQty"] == 1.0
    lk = _ok(b.post("clientapi/getLockedCollateral"))["payload"]
    assert lk == [{"currencyPair": "WBTC/USDC", "expiry": 20260327, "underlierAmount": 1.0,
                   "numeraireAmount": 0.0}]
    cpc = _ok(b.post("clientapi/calcPortfolioCollateral"))["payload"]
    assert cpc == lk
    hp = _ok(a.post("clientapi/clientHistoricalPositions", {"expiry": 20260327}))["payload"]
    assert hp["positions"] == pa
    hp = _ok(a.post("clientapi/clientHistoricalPositionsByDatePeriod",
                    {"from": NOW, "to": NOW + 90 * 86_400_000}))["payload"]
    assert hp["positions"] == pa
    nav = _ok(a.post("clientapi/netAssetValue"))["payload"]
    assert nav["positionsValue"] == {"USDC": float(price)}
    # b cannot see a's order 1 other than its own (both used clientOrderId 1)
    sb = _ok(b.post("clientapi/orderStatus", {"clientOrderId": 1}))["payload"]
    assert sb["legs"][0]["side"] == "SELL"


def test_another_clients_order_does_not_exist(venue):
    a, b = venue.trader(1), venue.trader(2)
    _ok(a.login())
    _ok(b.login())
    _ok(a.post("clientapi/newOrder", a.order_body(42, [(1, "BUY", "1.00")], "2000")))
    for path in ("clientapi/orderStatus", "clientapi/orderCancel"):
        mine = b.post(path, {"clientOrderId": 43})
        theirs = b.post(path, {"clientOrderId": 42})
        assert mine.status_code == theirs.status_code == 412
        assert mine.json() == {"result": "INVALID_ORDER_ID", "details": "no order 43"}
        assert theirs.json() == {"result": "INVALID_ORDER_ID", "details": "no order 42"}
    assert _ok(b.post("clientapi/clientOpenOrders"))["payload"] == []
    assert _ok(a.post("clientapi/orderStatus", {"clientOrderId": 42}))["payload"][
        "orderStatus"] == "NEW"


def test_import_and_api_share_the_admission_path(venue):
    """An order imported from a book file and one entered over the API take the same locks."""
    t = venue.trader(1)
    _ok(t.login())
    _ok(t.post("clientapi/newOrder", t.order_body(1, [(2, "SELL", "1.00")], "-1000")))
    with venue.store.read() as tx:
        api = tx.live_orders(client_ids=[1])[0]
    data = {"contracts": [], "orders": [{"orderId": 900, "clientId": 2, "totalNetPrice": "-1000",
                                         "legs": [{"contractId": 2, "side": "SELL",
                                                   "quantity": "1.00"}]}]}
    data["contracts"] = [contract_to_dict(c) for c in contracts()]
    import_book(venue.store, data, venue.clock, end_of_trading=timedelta(hours=12))
    with venue.store.read() as tx:
        imported = tx.order(900)
    assert (imported.lock_underlying, imported.lock_numeraire) == (api.lock_underlying,
                                                                   api.lock_numeraire)
    assert api.lock_numeraire == 60_000 * 10**4 - 0  # SELL put K=60,000 locks K


def test_concurrent_orders_are_admitted_as_one_after_the_other(venue):
    """Requests in flight together share commits (group commit) but are admitted exactly as
    sequential requests would be: every order once, funds locked to the unit, duplicates
    refused, and a client's funds never over-committed."""
    from concurrent.futures import ThreadPoolExecutor

    from coordinator.persistence.records import FundLock

    with venue.store.write() as tx:  # client 3 can afford exactly 10 orders of 2,000 USDC
        tx.put_fund_locks([FundLock(3, "USDC", 20_000 * 10**4)], NOW)
    traders = [venue.trader(n) for n in (1, 2, 3)]
    for t in traders:
        _ok(t.login())
    bodies = [(t, t.order_body(1000 + i, [(1, "BUY", "1.00")], "2000")) for t in traders
              for i in range(16)]
    bodies += [(traders[0], bodies[0][1])] * 4  # the same order again, concurrently

    def send(tb):
        t, body = tb
        return t.client_id, body["clientOrderId"], t.post("clientapi/newOrder", body).json()

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(send, bodies))
    codes = {}
    for cid, coid, r in results:
        codes.setdefault((cid, coid), []).append(r["result"])
    assert sorted(codes[(1, 1000)]) == ["DUPLICATE_ORDER_ID"] * 4 + ["OK"]
    assert all(v == ["OK"] for k, v in codes.items() if k[0] == 2)
    assert sum(v == ["OK"] for k, v in codes.items() if k[0] == 3) == 10
    assert sum(v == ["INSUFFICIENT_FUNDS"] for k, v in codes.items() if k[0] == 3) == 6
    with venue.store.read() as tx:
        live = tx.live_orders()
        funds = tx.fund_locks()
    assert len(live) == 16 + 16 + 10
    assert len({so.order_id for so in live}) == len(live)
    for client in (1, 2, 3):
        mine = [so for so in live if so.client_id == client]
        assert funds[(client, "USDC")].order_value == sum(so.lock_numeraire for so in mine)


@pytest.fixture
def ithaca_venue(tmp_path):
    from tests.endpoint.conftest import make_venue

    v = make_venue(f"sqlite:///{tmp_path / 'ithaca.sqlite3'}", api_wire_dialect="ithaca",
                   api_https=True, api_chain_id=1337)
    yield v
    v.served.stop()
    v.store.dispose()


def test_ithaca_wire_dialect_secure_cookie_and_chain(ithaca_venue):
    v = ithaca_venue
    t = v.trader(1)
    cl = _ok(t.post("clientapi/contractList"))["payload"]
    assert {c["economics"]["expiry"] for c in cl} == {260327120}
    assert _ok(t.post("clientapi/systemInfo"))["payload"]["chainId"] == 1337
    # Elektro signatures verify for the configured chain only
    r = t.login("elektro", 1)
    assert r.json()["result"] == "INVALID_SIGNATURE"
    r = t.login("elektro", 1337)
    assert _ok(r)["payload"]["clientId"] == 1
    assert "Secure" in r.headers["set-cookie"]
