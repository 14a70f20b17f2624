"""Fixtures: the API served by uvicorn on 127.0.0.1 (a free port) over a store on each engine,
seeded with currencies, contracts and funded clients; real keys and signatures."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import MetaData, select

from auction.products import DEFAULT_CURRENCIES, Contract, CurrencyPair, Payoff
from coordinator.clock import ManualClock
from coordinator.persistence import Store
from coordinator.persistence import auth as auth_repo
from coordinator.persistence.migrate import upgrade
from coordinator.persistence.records import FundLock
from coordinator.settings import Settings
from endpoint import eip712
from endpoint.app import create_app
from endpoint.services import Services

NOW = 1_767_571_200_000  # 2026-01-05 00:00 UTC
EXPIRY = date(2026, 3, 27)
ADMIN_TOKEN = "admin-secret-token-for-tests"
KEYS = {1: 0x12001, 2: 0x12002, 3: 0x12003}
UNKNOWN_KEY = 0x12009


def contracts() -> list[Contract]:
    pair = CurrencyPair("WBTC", "USDC")

    def c(cid, payoff, strike, ref, lo, hi):
        return Contract(cid, payoff, pair, EXPIRY, None if strike is None else Decimal(strike),
                        Decimal("0.1"), Decimal("0.01"), Decimal(ref), Decimal(lo),
                        Decimal(hi))

    return [c(1, Payoff.CALL, "60000", "2000", "1000", "3000"),
            c(2, Payoff.PUT, "60000", "1500", "500", "2500"),
            c(3, Payoff.FORWARD, None, "61000", "55000", "67000"),
            Contract(4, Payoff.BINARY_CALL, pair, EXPIRY, Decimal("60000"), Decimal("0.01"),
                     Decimal("1"), Decimal("0.5"), Decimal("0.01"), Decimal("0.99"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """uvicorn in a thread on a free port; ``stop()`` shuts it down."""

    def __init__(self, app: Any):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Trader:
    """A client with a key, logging in and signing like the SDKs do."""

    base: str
    key: int
    client_id: int | None = None
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base, timeout=30)

    @property
    def address(self) -> str:
        return eip712.address_of(self.key)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        if body is None:
            return self.http.post(f"/api/v1/{path}", **kw)
        return self.http.post(f"/api/v1/{path}", json=body, **kw)

    def login(self, dialect: str = "ithaca", chain_id: int = 1) -> httpx.Response:
        r = self.post("auth/requestAuth", {"ethAddress": self.address})
        assert r.status_code == 200, r.text
        nonce = r.json()["nonce"]
        domain = eip712.ithaca() if dialect == "ithaca" else eip712.elektro(chain_id)
        sig = eip712.sign(eip712.login(nonce, domain), self.key)
        r = self.post("auth/validateAuth", {"nonce": nonce, "signature": sig})
        if r.status_code == 200:
            self.client_id = r.json()["payload"]["clientId"]
        return r

    def order_body(self, coid: int, legs: list[tuple[int, str, str]], price: str, *,
                   tif: str = "GOOD_TILL_CANCEL", single_price: bool | None = False,
                   dialect: str = "ithaca", chain_id: int = 1, key: int | None = None,
                   **extra: Any) -> dict[str, Any]:
        domain = eip712.ithaca() if dialect == "ithaca" else eip712.elektro(chain_id)
        legs = sorted(legs)
        typed = eip712.order(domain, order_type="LIMIT", order_id=coid, price=price,
                             time_in_force=tif, address=self.address.lower(), legs=legs,
                             single_price=single_price,
                             ioc_auction_time=extra.get("iocAuctionTime"),
                             all_or_none=extra.get("allOrNone"),
                             min_quantity=extra.get("minQuantity"),
                             reduce_only=extra.get("reduceOnly"))
        body = {"clientOrderId": coid, "orderType": "LIMIT", "timeInForce": tif,
                "clientEthAddress": self.address, "totalNetPrice": price,
                "legs": [{"contractId": c, "side": s, "quantity": q} for c, s, q in legs],
                "orderGenesis": "CLIENT_PREDEFINED", "orderDescr": "",
                "signature": eip712.sign(typed, key or self.key), **extra}
        if single_price is not None:
            body["requestSinglePrice"] = single_price
        return body


def seed(store: Store, now: int, funds: dict[str, str] | None = None) -> None:
    funds = funds or {"USDC": "1000000", "WBTC": "100"}
    with store.write() as tx:
        for sym in ("USDC", "WBTC", "WETH"):
            tx.put_currency(DEFAULT_CURRENCIES[sym])
        for c in contracts():
            tx.put_contract(c, now)
        for cid, key in KEYS.items():
            auth_repo.ensure_client_address(tx, cid, eip712.address_of(key), now)
            tx.put_fund_locks([FundLock(cid, sym, int(Decimal(v).scaleb(
                DEFAULT_CURRENCIES[sym].precision))) for sym, v in funds.items()], now)


@dataclass
class Venue:
    store: Store
    clock: ManualClock
    settings: Settings
    served: Served

    @property
    def url(self) -> str:
        return self.served.url

    def trader(self, n: int) -> Trader:
        return Trader(self.url, KEYS.get(n, n))

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def make_venue(db_url: str, **overrides: Any) -> Venue:
    store = Store.open(db_url)
    upgrade(store.engine)
    clock = ManualClock(NOW)
    seed(store, NOW)
    settings = Settings(database_url=db_url, api_admin_token=ADMIN_TOKEN, **overrides)
    app = create_app(Services(settings, store, clock))
    return Venue(store, clock, settings, Served(app))


@pytest.fixture
def venue(db_url):
    v = make_venue(db_url)
    yield v
    v.served.stop()
    v.store.dispose()


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: two equal dumps mean an unchanged store."""
    meta = MetaData()
    meta.reflect(store.engine)
    out = {}
    with store.engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            rows = conn.execute(select(table)).all()
            out[name] = sorted(tuple(repr(v) for v in r) for r in rows)
    return out


@pytest.fixture
def seeded_store(db_url):
    """A migrated store on ``db_url`` (each engine) with :func:`seed`'s contracts, clients and
    funds, and its settings."""
    store = Store.open(db_url)
    upgrade(store.engine)
    seed(store, NOW)
    yield store, Settings(database_url=db_url)
    store.dispose()
