"""The pre-trade check ``validate-trade`` (collateral.md §6): no side effects.

Given an order as the client would send it (decimal quantities and ``totalNetPrice``), the
contracts, the funds state and the time ``now`` (injected), it answers the client's state per
currency before and after the order (locked = ``orderValue``, available), ``is_valid``, and the
failures with their API codes, in this order:

``INVALID_ORDER_LEGS`` (no legs, or a contract twice), ``INVALID_CONTRACT_ID`` (unknown series),
``EXPIRED_SERIES`` (at or after 12:00 UTC of the expiry date), ``TRADING_CLOSED`` (at or after
the end of trading, default 12 h before expiry), ``INVALID_ORDER_QTY_PRECISION`` (more digits than
the quantity currency accepts), ``INVALID_ORDER_QTY`` (not positive or not a whole number of
lots), ``INVALID_ORDER_PRICE_PRECISION`` (more digits than the numeraire accepts; a limit
off the tick lattice of the legs is not refused: it is read floored onto it, auction.md rule 11),
``PRICE_OUTSIDE_BAND`` (the limit per package lies outside what the legs' price bands allow),
``INSUFFICIENT_FUNDS`` (the lock of §2 exceeds what is available). The funds check runs only
when the order is otherwise well formed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import gcd, lcm

from auction.book import exact
from auction.orders import Leg, Order, Side
from auction.products import DEFAULT_CURRENCIES, Contract, Currency, expiry_datetime
from auction.units import decimal_places
from validator.collateral.errors import InsufficientFunds
from validator.collateral.fees import FeeSchedule
from validator.collateral.funds import FundsState
from validator.collateral.locks import OrderLock, order_lock
from validator.collateral.money import from_units, pair_currencies, quantity_currency


@dataclass(frozen=True, slots=True)
class LegRequest:
    contract_id: int
    side: Side
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class TradeRequest:
    client_id: int
    total_net_price: Decimal
    legs: tuple[LegRequest, ...]


@dataclass(frozen=True, slots=True)
class CurrencyState:
    currency: str
    locked: Decimal  # orderValue
    available: Decimal


@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    detail: str


@dataclass(frozen=True)
class TradeCheck:
    before: tuple[CurrencyState, ...]
    after: tuple[CurrencyState, ...]
    is_valid: bool
    failures: tuple[Failure, ...]
    lock: OrderLock | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.failures)


def _states(funds: FundsState, client: int, symbols: list[str],
            currencies: Mapping[str, Currency]) -> tuple[CurrencyState, ...]:
    out = []
    for sym in symbols:
        b = funds.balance(client, sym)
        c = currencies[sym]
        out.append(CurrencyState(sym, from_units(b.order_value, c), from_units(b.available, c)))
    return tuple(out)


def _lattice(values: list[Fraction]) -> Fraction:
    """gcd of positive rationals."""
    den = lcm(*(v.denominator for v in values))
    g = 0
    for v in values:
        g = gcd(g, int(v * den))
    return Fraction(g, den)


def validate_trade(request: TradeRequest, contracts: Mapping[int, Contract], funds: FundsState,
                   *, now: datetime, currencies: Mapping[str, Currency] = DEFAULT_CURRENCIES,
                   end_of_trading: timedelta = timedelta(hours=12),
                   fees: FeeSchedule | None = None) -> TradeCheck:
    """The pre-trade check; ``now`` must be timezone-aware."""
    failures: list[Failure] = []

    def fail(code: str, detail: str) -> None:
        failures.append(Failure(code, detail))

    client = request.client_id
    ids = [leg.contract_id for leg in request.legs]
    known = [contracts[i] for i in ids if i in contracts]
    if not request.legs or len(set(ids)) != len(ids):
        fail("INVALID_ORDER_LEGS", "legs missing or a contract twice")
    for i in ids:
        if i not in contracts:
            fail("INVALID_CONTRACT_ID", f"unknown contract {i}")
    if len({str(c.pair) for c in known}) > 1:
        fail("INVALID_ORDER_LEGS", "legs on more than one currency pair")
    for c in known:
        if now >= expiry_datetime(c.expiry):
            fail("EXPIRED_SERIES", f"contract {c.contract_id} expired")
        elif now >= c.end_of_trading(end_of_trading):
            fail("TRADING_CLOSED", f"contract {c.contract_id} stopped trading")
    legs: list[Leg] = []
    for leg in request.legs:
        c = contracts.get(leg.contract_id)
        if c is None:
            continue
        qc = quantity_currency(currencies, c)
        if decimal_places(leg.quantity) > qc.precision:
            fail("INVALID_ORDER_QTY_PRECISION",
                 f"contract {c.contract_id}: quantity {leg.quantity} has more than "
                 f"{qc.precision} decimals")
        elif leg.quantity <= 0 or (Fraction(leg.quantity) / Fraction(c.lot_size)).denominator != 1:
            fail("INVALID_ORDER_QTY", f"contract {c.contract_id}: quantity {leg.quantity} is not "
                 f"a positive multiple of the lot size {c.lot_size}")
        else:
            legs.append(Leg(c.contract_id, leg.side, c.lots(leg.quantity)))
    pair_syms: list[str] = []
    if known and not failures:
        u, n = pair_currencies(currencies, known[0].pair)
        pair_syms = [u.symbol, n.symbol]
        if decimal_places(request.total_net_price) > n.precision:
            fail("INVALID_ORDER_PRICE_PRECISION", f"totalNetPrice {request.total_net_price} has "
                 f"more than {n.precision} decimals")
    lock = None
    after = funds
    if not failures:
        order = Order(0, client, request.total_net_price,
                      tuple(sorted(legs, key=lambda leg: leg.contract_id)))
        cs = [contracts[leg.contract_id] for leg in order.legs]
        pi = order.limit_per_package
        steps = [abs(a) * Fraction(c.lot_size) * Fraction(c.tick_size)
                 for a, c in zip(order.ratios, cs, strict=True)]
        lo = sum(Fraction(a * c.lot_size * c.tick_size) * (c.band_ticks[0] if a > 0 else
                                                            c.band_ticks[1])
                 for a, c in zip(order.ratios, cs, strict=True))
        hi = sum(Fraction(a * c.lot_size * c.tick_size) * (c.band_ticks[1] if a > 0 else
                                                            c.band_ticks[0])
                 for a, c in zip(order.ratios, cs, strict=True))
        # a limit off the tick lattice is read floored onto it (rule 11), never refused
        pi = Fraction(_lattice(steps)) * (pi // _lattice(steps))
        if not lo <= pi <= hi:
            fail("PRICE_OUTSIDE_BAND", f"limit per package {exact(pi)} outside the bands "
                 f"[{exact(lo)}, {exact(hi)}]")
        else:
            lock = order_lock(order, contracts, fees=fees)
            try:
                probe = min(funds.orders, default=0) - 1  # an id no live order has
                after = funds.place(probe, client, lock.units(currencies))
            except InsufficientFunds as e:
                fail(e.code, str(e))
    symbols = sorted(set(funds.currencies(client)) | set(pair_syms))
    return TradeCheck(_states(funds, client, symbols, currencies),
                      _states(after, client, symbols, currencies),
                      not failures, tuple(failures), lock)
