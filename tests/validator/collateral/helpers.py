"""Builders shared by the collateral tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from auction.orders import Leg, Order, Side
from auction.products import DEFAULT_CURRENCIES, Contract, CurrencyPair, Payoff

CUR = DEFAULT_CURRENCIES
BTC = CurrencyPair("WBTC", "USDC")
ETH = CurrencyPair("WETH", "USDC")
T = date(2030, 3, 4)


def contract(cid: int, payoff: Payoff | str, strike: str | int | None = None, *,
             pair: CurrencyPair = BTC, expiry: date = T, tick: str = "1", lot: str = "1",
             ref: str = "10", low: str = "0", high: str = "1000000") -> Contract:
    payoff = Payoff(payoff)
    if payoff.is_binary:
        ref, high, tick = "0.5", "1", "0.01" if tick == "1" else tick
    return Contract(cid, payoff, pair, expiry, None if strike is None else Decimal(strike),
                    Decimal(tick), Decimal(lot), Decimal(ref), Decimal(low), Decimal(high))


def order(oid: int, client: int, tnp: str | int, *legs: tuple[int, str, int]) -> Order:
    """legs: (contract id, "BUY"/"SELL", lots)."""
    return Order(oid, client, Decimal(tnp),
                 tuple(Leg(cid, Side(side), lots) for cid, side, lots in sorted(legs)))
