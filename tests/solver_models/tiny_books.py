"""Builders for small hand-made books (tests of the oracle and of the reference model)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from auction.book import Book
from auction.orders import Leg, Order, Side
from auction.products import Contract, CurrencyPair, Payoff

PAIR = CurrencyPair("WETH", "USDC")
EXPIRY = date(2030, 1, 4)


def contract(cid: int, payoff: Payoff = Payoff.CALL, strike: str | None = "100",
             lo: str = "0", hi: str = "20", ref: str | None = None, tick: str = "1",
             lot: str = "1") -> Contract:
    if payoff is Payoff.FORWARD:
        strike = None
    ref = ref if ref is not None else str((Decimal(lo) + Decimal(hi)) / 2)
    return Contract(cid, payoff, PAIR, EXPIRY, None if strike is None else Decimal(strike),
                    Decimal(tick), Decimal(lot), Decimal(ref), Decimal(lo), Decimal(hi))


def order(oid: int, legs: list[tuple[int, str, int]], total: str, *, client: int | None = None,
          aon: bool = False, min_packages: int = 0) -> Order:
    """``legs``: (contractId, "B"|"S", lots); ``total``: totalNetPrice (Σ sign·quantity·price)."""
    return Order(oid, oid if client is None else client, Decimal(total),
                 tuple(Leg(cid, Side.BUY if s == "B" else Side.SELL, lots)
                       for cid, s, lots in legs),
                 all_or_none=aon, min_packages=min_packages)


def buy(oid: int, cid: int, lots: int, price: str, **kw) -> Order:
    """A single-leg buy at unit ``price`` (lot size 1 assumed by the total)."""
    return order(oid, [(cid, "B", lots)], str(lots * Decimal(price)), **kw)


def sell(oid: int, cid: int, lots: int, price: str, **kw) -> Order:
    return order(oid, [(cid, "S", lots)], str(-lots * Decimal(price)), **kw)


def book(contracts: list[Contract], orders: list[Order]) -> Book:
    return Book({c.contract_id: c for c in contracts}, tuple(orders))
