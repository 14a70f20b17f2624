"""Small hand-built books for the equilibrium-check tests (wire dicts through book_from_dict)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from auction.book import Book
from auction.interchange import book_from_dict
from auction.result import ClearingResult, Fill

EXPIRY = "20250328"
PAIR = "WETH/USDC"


def contract(cid: int, payoff: str = "Call", strike: str | None = "2000", *, tick: str = "0.5",
             lot: str = "0.1", ref: str = "100", low: str = "50", high: str = "150",
             expiry: str = EXPIRY) -> dict[str, Any]:
    d: dict[str, Any] = {"contractId": cid, "payoff": payoff, "currencyPair": PAIR,
                         "expiry": expiry, "tickSize": tick, "lotSize": lot,
                         "referencePrice": ref, "lowRange": low, "highRange": high}
    if strike is not None:
        d["strike"] = strike
    return d


def forward(cid: int, *, tick: str = "1", lot: str = "0.1", ref: str = "2000",
            low: str = "1500", high: str = "2500") -> dict[str, Any]:
    return contract(cid, "Forward", None, tick=tick, lot=lot, ref=ref, low=low, high=high)


def order(oid: int, *legs: tuple[int, str, str], price: str, aon: bool = False,
          min_qty: str | None = None, client: int = 1) -> dict[str, Any]:
    """``legs`` are (contractId, BUY|SELL, quantity); ``price`` is totalNetPrice."""
    d: dict[str, Any] = {"orderId": oid, "clientId": client, "totalNetPrice": price,
                         "legs": [{"contractId": c, "side": s, "quantity": q}
                                  for c, s, q in legs]}
    if aon:
        d["allOrNone"] = True
    if min_qty is not None:
        d["minQuantity"] = min_qty
    return d


def single(oid: int, side: str, qty: str, unit_price: str, cid: int = 1, **kw: Any) -> dict:
    """A one-leg order of ``qty`` at ``unit_price`` per unit (totalNetPrice = ±qty·price)."""
    total = Decimal(qty) * Decimal(unit_price) * (1 if side == "BUY" else -1)
    return order(oid, (cid, side, qty), price=str(total), **kw)


def book(contracts: list[dict], orders: list[dict]) -> Book:
    b, _ = book_from_dict({"contracts": contracts, "orders": orders})
    return b


def result(prices: dict[int, Any], fills: dict[int, Any] | list[tuple[int, Any]],
           uncleared: frozenset[int] = frozenset()) -> ClearingResult:
    items = fills.items() if isinstance(fills, dict) else fills
    return ClearingResult(prices, tuple(Fill(o, x) for o, x in items), uncleared)
