"""Read-side payloads of the client API (positions, funds, history, market data): pure
functions of what one read transaction returns."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from auction.orders import Order
from auction.products import Contract, Currency, expiry_datetime
from auction.units import to_decimal
from coordinator.persistence import clientapi as repo
from coordinator.persistence.store import Tx
from endpoint.wire import contract_out, expiry_out, units

_PLACES = Decimal("1e-12")


def ratio(value: Fraction) -> Decimal:
    """An exact rational as a Decimal: exact when finite, else 12 places (display only)."""
    try:
        return to_decimal(value)
    except ValueError:
        return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_PLACES)


def tradeable(c: Contract, now_ms: int, eot_hours: float, delisted: set[int]) -> bool:
    end = c.end_of_trading(timedelta(hours=eot_hours))
    return c.contract_id not in delisted and now_ms < int(end.timestamp() * 1000)


def expired(c: Contract, now_ms: int) -> bool:
    return now_ms >= int(expiry_datetime(c.expiry).timestamp() * 1000)


def contracts_payload(contracts: Iterable[Contract], now_ms: int, eot_hours: float,
                      delisted: set[int], dialect: str) -> list[dict[str, Any]]:
    return [contract_out(c, dialect, tradeable(c, now_ms, eot_hours, delisted))
            for c in contracts]


def positions_payload(tx: Tx, client_id: int, contracts: Mapping[int, Contract],
                      dialect: str, only: set[int] | None = None) -> list[dict[str, Any]]:
    """Open positions with their average price: forwards their entry price, other contracts
    the quantity-weighted price of the fills that opened the current position."""
    states = tx.position_states([client_id])
    avg = average_prices(tx, client_id)
    out = []
    for (_c, cid), pos in sorted(states.items()):
        c = contracts.get(cid)
        if c is None or pos.lots == 0 or (only is not None and cid not in only):
            continue
        price = ratio(pos.entry_price) if c.strike is None else avg.get(cid, Decimal(0))
        out.append({"contractId": cid, "positionsQty": c.quantity(pos.lots),
                    "positionsAvgPrice": price,
                    "payoff": str(c.payoff), "currencyPair": str(c.pair),
                    "expiry": expiry_out(c.expiry, dialect), "strike": c.strike})
    return out


def average_prices(tx: Tx, client_id: int) -> dict[int, Decimal]:
    """Per contract: the average price (numeraire per unit) of the current position, replayed
    from the client's fills in batch order (adding to a position averages, reducing keeps the
    average, crossing zero restarts at the fill's price)."""
    cur = tx.currencies()
    precisions: dict[int, int] = {}
    for cid, c in tx.contracts().items():
        precisions[cid] = cur[c.pair.numeraire].precision if c.pair.numeraire in cur else 0
    lots: dict[int, int] = defaultdict(int)
    avg: dict[int, Fraction] = {}
    for f in reversed(repo.fills_of(tx, client_id)):
        for cid, signed, price in f["legs"]:
            p = Fraction(price, 10 ** precisions.get(cid, 0))
            have = lots[cid]
            new = have + signed
            if have == 0 or (have > 0) == (signed > 0):
                avg[cid] = (avg.get(cid, Fraction(0)) * abs(have) + p * abs(signed)) / abs(new) \
                    if new else Fraction(0)
            elif (have > 0) != (new > 0) and new != 0:
                avg[cid] = p
            lots[cid] = new
    return {cid: ratio(a) for cid, a in avg.items() if lots[cid]}


def funds_payload(tx: Tx, client_id: int) -> list[dict[str, Any]]:
    cur = tx.currencies()
    out = []
    for (_c, sym), f in sorted(tx.fund_locks([client_id]).items()):
        c = cur.get(sym, Currency(sym, 0, 0))
        out.append({"currency": sym, "orderValue": units(f.order_value, c),
                    "fundLockValue": units(f.fund_lock_value, c),
                    "settleValue": units(f.settle_value, c)})
    return out


def lockups_payload(tx: Tx, client_id: int, dialect: str,
                    pair: str | None = None) -> list[dict[str, Any]]:
    cur = tx.currencies()
    out = []
    for (_c, p, expiry), lk in sorted(tx.lockups([client_id]).items()):
        if pair is not None and p != pair:
            continue
        und, num = p.split("/")
        out.append({"currencyPair": p,
                    "expiry": expiry_out(datetime.strptime(str(expiry), "%Y%m%d").date(),
                                         dialect),
                    "underlierAmount": units(lk.underlying_amount, cur[und]),
                    "numeraireAmount": units(lk.numeraire_amount, cur[num])})
    return out


def book_levels(tx: Tx, contracts: Mapping[int, Contract], currencies: Mapping[str, Currency],
                only: int | None = None) -> dict[int, dict[str, Any]]:
    """The indicative book per contract: single-leg orders by limit per unit, multi-leg
    (conditional) orders' remaining sizes summed per side."""
    bids: dict[int, dict[Decimal, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    asks: dict[int, dict[Decimal, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    cond_bid: dict[int, Decimal] = defaultdict(Decimal)
    cond_ask: dict[int, Decimal] = defaultdict(Decimal)
    rows = repo.live_sizes(tx)
    legs_per_order: dict[int, int] = defaultdict(int)
    for oid, *_ in rows:
        legs_per_order[oid] += 1
    for oid, _status, cid, per, packages, remaining, tnp in rows:
        c = contracts.get(cid)
        if c is None or (only is not None and cid != only) or remaining <= 0 or per == 0:
            continue
        qty = c.quantity(abs(per) * remaining)
        if legs_per_order[oid] > 1:
            (cond_bid if per > 0 else cond_ask)[cid] += qty
            continue
        prec = currencies[c.pair.numeraire].precision if c.pair.numeraire in currencies else 0
        # One leg: the limit per unit is |totalNetPrice| over the order's whole quantity.
        unit = Fraction(abs(tnp), 10 ** prec) / (abs(per) * packages * Fraction(c.lot_size))
        (bids if per > 0 else asks)[cid][ratio(unit)] += qty
    ids = [only] if only is not None else sorted(contracts)
    out = {}
    for cid in ids:
        if cid not in contracts:
            continue
        out[cid] = {"contractId": cid,
                    "bids": [{"price": p, "size": s} for p, s in
                             sorted(bids[cid].items(), reverse=True)],
                    "asks": [{"price": p, "size": s} for p, s in sorted(asks[cid].items())],
                    "conditionalBidQty": cond_bid[cid], "conditionalAskQty": cond_ask[cid]}
    return out


def best_bid_ask(book: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for cid, b in book.items():
        bid = b["bids"][0] if b["bids"] else None
        ask = b["asks"][0] if b["asks"] else None
        out.append({"contractId": cid, "bestBid": bid and bid["price"],
                    "bidSize": bid and bid["size"], "bestAsk": ask and ask["price"],
                    "askSize": ask and ask["size"]})
    return out


def order_payoff(order: Order, contracts: Mapping[int, Contract]) -> dict[str, Decimal]:
    """Payoff at expiry of the whole order (legs × payoff − premium paid) at settlement prices
    around its strikes: 0, each strike and ±10 %/±25 % of it, twice the largest."""
    legs = [(contracts[leg.contract_id], leg) for leg in order.legs]
    strikes = sorted({c.strike for c, _ in legs if c.strike is not None})
    ref = strikes or [c.reference_price for c, _ in legs if c.reference_price > 0] or [Decimal(1)]
    points = {Decimal(0), 2 * max(ref)}
    for k in ref:
        for f in ("0.75", "0.9", "1", "1.1", "1.25"):
            points.add(k * Decimal(f))
    out = {}
    for s in sorted(points):
        total = Decimal(0)
        for c, leg in legs:
            # A forward's level is part of totalNetPrice: its leg pays S here, the level
            # comes off with the premium below.
            total += leg.side.sign * c.quantity(leg.lots) * c.payoff_per_unit(s, Decimal(0))
        total -= order.total_net_price
        out[format(s.normalize(), "f")] = total
    return out


def now_date(now_ms: int):
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).date()

