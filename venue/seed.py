"""What ``ccp run`` lists on its embedded store: currencies, pairs and an option chain per pair.

For every pair of :data:`DEMO_MARKETS` and each of the next expiries (the nearest day still
trading, then the following Fridays; 12:00 UTC): calls and puts on five strikes around the
spot, binary calls on the three central strikes and a forward. Reference prices are Black-76
fair values from the spot (computed in float by :mod:`validator.collateral.black76`, converted
once to a Decimal on the contract's tick grid); the price bands are wide (the loosest bounds each
payoff allows). :func:`ensure_listed` is idempotent: it lists only the expiries that are missing,
so a venue that runs for days keeps a chain to trade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from auction.products import (
    DEFAULT_CURRENCIES,
    Contract,
    Currency,
    CurrencyPair,
    Payoff,
    expiry_datetime,
)
from coordinator.persistence import Store
from validator.collateral import black76


@dataclass(frozen=True)
class Market:
    """One pair's chain: spot, volatility, strike step, tick and lot sizes per product family."""

    pair: str
    spot: Decimal
    volatility: float
    strike_step: Decimal
    option_tick: Decimal
    option_lot: Decimal
    forward_tick: Decimal
    binary_tick: Decimal = Decimal("0.001")
    binary_lot: Decimal = Decimal("10")


DEMO_MARKETS: tuple[Market, ...] = (
    Market("WETH/USDC", Decimal("3000"), 0.6, Decimal("100"), Decimal("0.1"), Decimal("0.1"),
           Decimal("0.5")),
    Market("WBTC/USDC", Decimal("60000"), 0.5, Decimal("2000"), Decimal("1"), Decimal("0.01"),
           Decimal("5")),
)
STRIKE_OFFSETS = (-2, -1, 0, 1, 2)  # strikes: spot rounded to the step, ± 1, 2 steps
BINARY_OFFSETS = (-1, 0, 1)
EXPIRIES = 3
YEAR_SECONDS = 365.0 * 24 * 3600


def next_expiries(now: datetime, count: int = EXPIRIES,
                  end_of_trading: timedelta = timedelta(hours=12),
                  min_trading: timedelta = timedelta(hours=2)) -> list[date]:
    """The nearest day that trades at least ``min_trading`` more, then the Fridays after it."""
    d = now.date()
    while expiry_datetime(d) - end_of_trading < now + min_trading:
        d += timedelta(days=1)
    out = [d]
    f = d + timedelta(days=1)
    while len(out) < count:
        if f.weekday() == 4:
            out.append(f)
        f += timedelta(days=1)
    return out


def _grid(value: Decimal, tick: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    steps = (value / tick).to_integral_value(rounding=rounding)
    return max(steps, Decimal(1)) * tick


def fair_value(payoff: Payoff, spot: Decimal, strike: Decimal | None, vol: float,
               years: float) -> Decimal:
    """Black-76 on the forward F = spot, undiscounted; float inside, one conversion out."""
    if payoff is Payoff.FORWARD:
        return spot
    f, k = float(spot), float(strike)
    fn = {Payoff.CALL: black76.call, Payoff.PUT: black76.put,
          Payoff.BINARY_CALL: black76.binary_call, Payoff.BINARY_PUT: black76.binary_put}[payoff]
    return Decimal(repr(fn(f, k, vol, years)))


def chain_contracts(m: Market, expiry: date, now: datetime, first_id: int) -> list[Contract]:
    """The contracts of one pair and expiry, ids from ``first_id``."""
    pair = CurrencyPair.parse(m.pair)
    years = max((expiry_datetime(expiry) - now).total_seconds(), 3600.0) / YEAR_SECONDS
    atm = _grid(m.spot, m.strike_step)
    specs: list[tuple[Payoff, Decimal | None]] = []
    for off in STRIKE_OFFSETS:
        specs += [(Payoff.CALL, atm + off * m.strike_step), (Payoff.PUT, atm + off * m.strike_step)]
    specs += [(Payoff.BINARY_CALL, atm + off * m.strike_step) for off in BINARY_OFFSETS]
    specs.append((Payoff.FORWARD, None))
    out = []
    for i, (payoff, strike) in enumerate(specs):
        fair = fair_value(payoff, m.spot, strike, m.volatility, years)
        if payoff is Payoff.FORWARD:
            tick, lot = m.forward_tick, m.option_lot
            low = _grid(m.spot / 2, tick, ROUND_CEILING)
            high = _grid(m.spot * 2, tick, ROUND_FLOOR)
        elif payoff.is_binary:
            tick, lot = m.binary_tick, m.binary_lot
            low, high = tick, 1 - tick
        else:
            tick, lot = m.option_tick, m.option_lot
            low = tick
            # a call is worth at most F, a put at most K; leave room for the spot to double
            high = _grid(2 * m.spot if payoff is Payoff.CALL else strike, tick, ROUND_FLOOR)
        ref = min(max(_grid(fair, tick), low), high)
        out.append(Contract(first_id + i, payoff, pair, expiry, strike, tick, lot, ref, low,
                            high))
    return _with_parity(out)


def _with_parity(chain: list[Contract]) -> list[Contract]:
    """References that obey rule 10 (``P = C − F + K``) exactly on the grid.

    Rounding the call and the put of a strike each onto its grid, and keeping each at least one
    tick (its band's floor), can break parity by a tick: a deep in-the-money call 4000.4 → 4000
    beside its put 0.4 → 0 → 1 (the floor). Then no published price of the put agrees with the
    call and the forward, and it is not priced until it trades. So per strike the
    out-of-the-money one keeps its rounded fair value and the in-the-money one is its parity
    with the forward's reference, when that lies on its grid and inside its band."""
    fwd = next((c for c in chain if c.payoff is Payoff.FORWARD), None)
    if fwd is None:
        return chain
    f = fwd.reference_price
    by = {(c.payoff, c.strike): c for c in chain}
    out = []
    for c in chain:
        if c.payoff in (Payoff.CALL, Payoff.PUT):
            k = c.strike
            itm = k < f if c.payoff is Payoff.CALL else k > f
            other = by.get((Payoff.PUT if c.payoff is Payoff.CALL else Payoff.CALL, k))
            if itm and other is not None:
                ref = other.reference_price + (f - k if c.payoff is Payoff.CALL else k - f)
                if ref % c.tick_size == 0 and c.low_range <= ref <= c.high_range:
                    c = replace(c, reference_price=ref)
        out.append(c)
    return out


def ensure_listed(store: Store, now_ms: int, *, markets: tuple[Market, ...] = DEMO_MARKETS,
                  spots: Mapping[str, Decimal] | None = None,
                  currencies: Mapping[str, Currency] = DEFAULT_CURRENCIES,
                  end_of_trading: timedelta = timedelta(hours=12)) -> list[Contract]:
    """List currencies, pairs and the missing expiries of each market; returns what was listed.

    ``spots`` (latest prices, e.g. from the store) replace the markets' default spots for the
    fair values of newly listed expiries.
    """
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    listed: list[Contract] = []
    with store.write() as tx:
        for m in markets:
            for sym in m.pair.split("/"):
                tx.put_currency(currencies[sym])
            tx.put_pair(CurrencyPair.parse(m.pair))
        have = tx.contracts()
        next_id = max(have, default=0) + 1
        for m in markets:
            spot = (spots or {}).get(m.pair, m.spot)
            market = Market(m.pair, spot, m.volatility, m.strike_step, m.option_tick,
                            m.option_lot, m.forward_tick, m.binary_tick, m.binary_lot)
            listed_expiries = {c.expiry for c in have.values() if str(c.pair) == m.pair}
            for expiry in next_expiries(now, end_of_trading=end_of_trading):
                if expiry in listed_expiries:
                    continue
                new = chain_contracts(market, expiry, now, next_id)
                for c in new:
                    tx.put_contract(c, now_ms)
                next_id += len(new)
                listed += new
    return listed


def latest_spots(store: Store) -> dict[str, Decimal]:
    """The newest stored spot price per demo pair (numeraire units → Decimal)."""
    out: dict[str, Decimal] = {}
    with store.read() as tx:
        for m in DEMO_MARKETS:
            try:
                got = tx.latest_spot(m.pair)
                prec = tx.numeraire_precision(m.pair)
            except Exception:  # no pair yet: keep the default
                continue
            if got is not None:
                out[m.pair] = Decimal(got[0]).scaleb(-prec)
    return out
