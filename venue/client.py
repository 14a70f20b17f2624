"""A small client of the venue's HTTP API (api.md), as a trader's program would write it.

Logs in by signing the nonce (EIP-712, the Ithaca dialect — no chain id needed), signs every
order, keeps the session cookie. Money goes out as decimal strings, never floats. Used by the
demo traders and by the end-to-end tests.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from eth_account import Account

from endpoint import eip712


class ApiError(Exception):
    """A non-OK answer: ``code`` is the result code (``UNAUTHORIZED``, ``INSUFFICIENT_FUNDS``…)."""

    def __init__(self, code: str, details: str = "", status: int = 0) -> None:
        super().__init__(f"{code}: {details}" if details else code)
        self.code = code
        self.details = details
        self.status = status


@dataclass(frozen=True)
class LegSpec:
    contract_id: int
    side: str  # "BUY" / "SELL"
    quantity: str  # decimal string at the quantity currency's precision


_ids = itertools.count()
_ids_lock = threading.Lock()


def new_client_order_id() -> int:
    """``ms << 10 | counter`` (the Python SDK's scheme): unique per process and across restarts."""
    with _ids_lock:
        n = next(_ids)
    return (time.time_ns() // 1_000_000) << 10 | (n & 0x3FF)


class VenueClient:
    def __init__(self, base_url: str, private_key: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = private_key
        self.address = Account.from_key(private_key).address
        self.http = httpx.Client(base_url=self.base_url + "/api/v1", timeout=timeout)
        self.domain = eip712.ithaca()
        self.client_id: int | None = None
        self.auth_token: str | None = None

    def close(self) -> None:
        self.http.close()

    # ---- transport -----------------------------------------------------------------------

    def call(self, path: str, body: Any = None, params: Mapping[str, str] | None = None) -> Any:
        """POST ``path`` and return the payload; raise :class:`ApiError` on a non-OK answer."""
        r = self.http.post(path, json=body, params=params)
        try:
            doc = r.json()
        except ValueError:
            raise ApiError("BAD_RESPONSE", f"HTTP {r.status_code}: {r.text[:200]}",
                           r.status_code) from None
        if r.status_code != 200 or not isinstance(doc, dict) or doc.get("result") != "OK":
            code = doc.get("result", "ERROR") if isinstance(doc, dict) else "ERROR"
            details = doc.get("details", "") if isinstance(doc, dict) else str(doc)
            raise ApiError(str(code), str(details), r.status_code)
        return doc.get("payload")

    # ---- authentication ------------------------------------------------------------------

    def login(self) -> int:
        r = self.http.post("/auth/requestAuth", json={"ethAddress": self.address})
        doc = r.json()
        if doc.get("result") != "OK":
            raise ApiError(doc.get("result", "ERROR"), doc.get("details", ""), r.status_code)
        nonce = doc.get("nonce") or doc["payload"]["nonce"]
        sig = eip712.sign(eip712.login(nonce, self.domain), self.key)
        payload = self.call("/auth/validateAuth", {"nonce": nonce, "signature": sig})
        self.client_id = int(payload["clientId"])
        self.auth_token = payload.get("authToken")
        return self.client_id

    # ---- orders --------------------------------------------------------------------------

    def order_body(self, legs: Sequence[LegSpec], total_net_price: str, *,
                   time_in_force: str = "GOOD_TILL_CANCEL", order_type: str = "LIMIT",
                   client_order_id: int | None = None) -> dict[str, Any]:
        coid = client_order_id or new_client_order_id()
        typed = eip712.order(self.domain, order_type=order_type, order_id=coid,
                             price=total_net_price, time_in_force=time_in_force,
                             address=self.address,
                             legs=[(leg.contract_id, leg.side, leg.quantity) for leg in legs],
                             single_price=False)
        return {"clientOrderId": coid, "orderType": order_type, "timeInForce": time_in_force,
                "clientEthAddress": self.address, "totalNetPrice": total_net_price,
                "legs": [{"contractId": leg.contract_id, "side": leg.side,
                          "quantity": leg.quantity} for leg in legs],
                "requestSinglePrice": False, "signature": eip712.sign(typed, self.key)}

    def new_order(self, legs: Sequence[LegSpec], total_net_price: str, **kw: Any) -> dict:
        body = self.order_body(legs, total_net_price, **kw)
        self.call("/clientapi/newOrder", body)
        return body

    def new_orders(self, bodies: Iterable[dict[str, Any]]) -> dict[str, str]:
        """Several orders in one call: clientOrderId → "OK" or a code."""
        res = self.call("/clientapi/newOrders", list(bodies))
        return {str(k): v for k, v in (res or {}).items()} if isinstance(res, dict) else {}

    def cancel_all(self) -> Any:
        return self.call("/clientapi/allOrdersCancel")

    def order_status(self, client_order_id: int) -> Any:
        return self.call("/clientapi/orderStatus", {"clientOrderId": client_order_id})

    def open_orders(self) -> list[dict]:
        return self.call("/clientapi/clientOpenOrders") or []

    def positions(self) -> list[dict]:
        return self.call("/clientapi/clientCurrentPositions") or []

    def fund_lock_state(self) -> list[dict]:
        return self.call("/clientapi/clientFundLockState") or []

    def trade_history(self) -> Any:
        return self.call("/clientapi/tradeHistory", {})

    # ---- market data ---------------------------------------------------------------------

    def system_info(self) -> dict:
        return self.call("/clientapi/systemInfo")

    def contracts(self) -> list[dict]:
        return self.call("/clientapi/contractList") or []

    def reference_prices(self, pair: str) -> list[dict]:
        return self.call("/clientapi/referencePrices", {"currencyPair": pair, "expiry": 0}) or []

    def spot_prices(self) -> dict[str, Decimal]:
        raw = self.call("/clientapi/spotPrices") or {}
        return {k: Decimal(str(v)) for k, v in raw.items() if v is not None}

    def next_auction(self) -> int:
        return int(self.call("/clientapi/nextAuction"))
