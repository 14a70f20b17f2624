"""Fixtures: stores on both engines (from tests/coordinator), positions made by auctions."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from coordinator.clock import ManualClock
from coordinator.intake import import_book
from coordinator.loop import Coordinator
from coordinator.settings import Settings
from tests.coordinator.conftest import clock, store  # noqa: F401

EXPIRY = date(2025, 1, 31)
FIX = 1_738_324_800_000  # 2025-01-31T12:00Z
T0 = FIX - 36 * 3_600_000  # 2025-01-30T00:00Z: trading open (end of trading 2025-01-31T00:00)
PAIR = "WETH/USDC"
CALL, PUT, FWD = 11, 12, 13
DEPOSIT = {"USDC": Decimal(20_000), "WETH": Decimal(10)}


def book() -> dict:
    """Clients 1-3 trade a call, a put and a forward expiring 2025-01-31 (one auction)."""
    c = {"currencyPair": PAIR, "expiry": "20250131", "tickSize": "0.1", "lotSize": "0.1",
         "lowRange": "1", "highRange": "5000"}
    return {
        "contracts": [
            {**c, "contractId": CALL, "payoff": "Call", "strike": "2800",
             "referencePrice": "300"},
            {**c, "contractId": PUT, "payoff": "Put", "strike": "3400", "referencePrice": "150"},
            {**c, "contractId": FWD, "payoff": "Forward", "tickSize": "0.5",
             "referencePrice": "3000", "lowRange": "2000", "highRange": "4000"},
        ],
        "orders": [
            {"orderId": 1, "clientId": 1, "totalNetPrice": "300",
             "legs": [{"contractId": CALL, "side": "BUY", "quantity": "1"}]},
            {"orderId": 2, "clientId": 2, "totalNetPrice": "-300",
             "legs": [{"contractId": CALL, "side": "SELL", "quantity": "1"}]},
            {"orderId": 3, "clientId": 3, "totalNetPrice": "-300",
             "legs": [{"contractId": PUT, "side": "SELL", "quantity": "2"}]},
            {"orderId": 4, "clientId": 1, "totalNetPrice": "300",
             "legs": [{"contractId": PUT, "side": "BUY", "quantity": "2"}]},
            {"orderId": 5, "clientId": 2, "totalNetPrice": "3000",
             "legs": [{"contractId": FWD, "side": "BUY", "quantity": "1"}]},
            {"orderId": 6, "clientId": 3, "totalNetPrice": "-3000",
             "legs": [{"contractId": FWD, "side": "SELL", "quantity": "1"}]},
        ],
    }


def trade(st, clk: ManualClock, credit=DEPOSIT) -> None:
    """Import the book and run one auction at T0 (all orders cross at their limits)."""
    clk.now = T0
    import_book(st, book(), clk, end_of_trading=timedelta(hours=12), credit=credit)
    clk.now = T0 + 1000
    rep = Coordinator(st, Settings(database_url="sqlite://"), clk).run_once()
    assert rep.status == "APPLIED" and rep.fills == 6, rep


@pytest.fixture
def traded(store):  # noqa: F811
    clk = ManualClock(T0)
    trade(store, clk)
    return store, clk
