"""Expiry: the 12:00 UTC fixing, the settlement price, payoffs and lockup release.

For one (pair, expiry):

1. **fix** — if no settlement price is stored: ask every source for the one-minute candle that
   opens at 12:00 UTC on the expiry date, aggregate (median, deviation and quorum guards; no
   staleness for a candle), record the aggregation; with quorum store it as the settlement
   price (method ``FIXING``), else raise a ``FIXING_FAILED`` alert (once) and stop: operations
   set the price by hand (``MANUAL``, with who and why).
2. **settle** — in ONE transaction: payoffs from the locked collateral
   (:func:`validator.collateral.expiry.expire`), one cash movement per client × pair × expiry
   (pending; the settlement service puts it on chain) plus the clearing house's, positions of
   the bucket closed, lockups released (zeroed), ``settleValue`` of the fund locks moved, the
   contracts marked expired, the run recorded, ``EXPIRY_SETTLED`` and ``FUNDS_UPDATED`` events.

Idempotent: a settled (pair, expiry) has an ``expiry_runs`` row written in the same
transaction as its movements, so a second run changes nothing, and a job killed anywhere
either settled everything or nothing (the next run settles it then). The fixing and the
settlement are separate transactions: killed between them, the next run finds the price.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from auction.products import format_expiry, parse_expiry
from background.aggregate import Aggregate, aggregate
from background.alerts import raise_alert
from background.sources import Source
from coordinator.events import Event, EventKind
from coordinator.persistence import Store, Tx
from coordinator.persistence import background as bg
from coordinator.persistence.records import FundLock
from coordinator.persistence.store import from_units
from validator.collateral.expiry import expire
from validator.collateral.funds import movement_amounts
from validator.collateral.lockup import Lockup as VLockup
from validator.collateral.positions import BucketKey, Position, Positions

log = logging.getLogger(__name__)

FIXING, MANUAL = "FIXING", "MANUAL"


class ExpiryError(ValueError):
    """Bad input to an expiry operation (unknown pair or date, not due, already settled)."""


def expiry_ms(expiry: date) -> int:
    """12:00 UTC on the expiry date, epoch ms."""
    return int(datetime(expiry.year, expiry.month, expiry.day, 12, tzinfo=UTC).timestamp()
               * 1000)


def expiry_int(expiry: date) -> int:
    return int(format_expiry(expiry))


def fixing(sources: Sequence[Source], pair: str, expiry: date, *, now_ms: int,
           deviation_percent: Decimal, quorum: int, precision: int) -> Aggregate:
    """Ask every source for the 12:00 UTC candle of ``expiry`` and aggregate."""
    minute = expiry_ms(expiry)
    outcomes = [s.candle(pair, minute) for s in sources]
    return aggregate(outcomes, now_ms=now_ms, staleness_ms=None,
                     deviation_percent=deviation_percent, quorum=quorum, precision=precision)


def fix(store: Store, sources: Sequence[Source], pair: str, expiry: date, *, now_ms: int,
        deviation_percent: Decimal, quorum: int) -> dict[str, Any]:
    """Step 1: the fixing, stored as the settlement price, or an alert. Returns the stored
    settlement price (dict) or ``{"status": "NO_FIXING", …}``."""
    e = expiry_int(expiry)
    with store.read() as tx:
        have = bg.settlement_price(tx, pair, e)
        precision = tx.numeraire_precision(pair)
    if have is not None:
        return have
    agg = fixing(sources, pair, expiry, now_ms=now_ms, deviation_percent=deviation_percent,
                 quorum=quorum, precision=precision)
    observed = expiry_ms(expiry)
    with store.write() as tx:
        price = None if agg.price is None else _units(agg.price, precision)
        bg.record_aggregation(tx, pair=pair, kind=bg.FIXING,
                              status=bg.OK if agg.ok else bg.NO_QUORUM, price=price,
                              observed_ms=observed, rule=agg.rule, sources=agg.sources)
        if price is None:
            failed = [f"{s['source']}: {s['status']} {s.get('failure', '')}".strip()
                      for s in agg.sources if s["status"] != "USED"]
            raise_alert(tx, f"fixing:{pair}:{e}", "FIXING_FAILED", now_ms, expiry=expiry,
                        action="SET_SETTLEMENT_PRICE",
                        extra={"pair": pair, "expiryDate": format_expiry(expiry),
                               "sources": failed, "rule": agg.rule})
            return {"status": "NO_FIXING", "pair": pair, "expiry": e, "rule": agg.rule,
                    "sources": list(agg.sources)}
        if bg.settlement_price(tx, pair, e) is None:  # not set meanwhile by hand
            bg.put_settlement_price(tx, pair=pair, expiry=e, price=price, method=FIXING,
                                    rule=agg.rule, sources=agg.sources, actor="fixing",
                                    reason="12:00 UTC fixing", now_ms=now_ms,
                                    observed_ms=observed)
        return bg.settlement_price(tx, pair, e)


def _units(price: Decimal, precision: int) -> int:
    return int(price.scaleb(precision).to_integral_value())


def settle(store: Store, pair: str, expiry: date, *, actor: str, now_ms: int,
           failpoint: Callable[[str], None] = lambda name: None) -> dict[str, Any]:
    """Step 2: settle a (pair, expiry) whose settlement price is stored (one transaction)."""
    e = expiry_int(expiry)
    with store.write() as tx:
        run = bg.expiry_run(tx, pair, e)
        if run is not None:
            prec = tx.numeraire_precision(pair)
            return {"status": "ALREADY_SETTLED", "pair": pair, "expiry": format_expiry(expiry),
                    "price": str(from_units(run["price"], prec)), "clients": run["clients"],
                    "movements": run["movements"], "actor": run["actor"],
                    "settledMs": run["settled_ms"]}
        sp = bg.settlement_price(tx, pair, e)
        if sp is None:
            raise ExpiryError(f"{pair} {e} has no settlement price")
        failpoint("settle-begin")
        result = _settle_in(tx, pair, expiry, sp["price"], actor, now_ms, failpoint)
        failpoint("settle-end")
    failpoint("settle-committed")
    return result


def _settle_in(tx: Tx, pair: str, expiry: date, price_units: int, actor: str, now_ms: int,
               failpoint: Callable[[str], None]) -> dict[str, Any]:
    e = expiry_int(expiry)
    contracts = tx.contracts()
    currencies = tx.currencies()
    precision = tx.numeraire_precision(pair)
    price = from_units(price_units, precision)
    bucket_ids = set(bg.bucket_contracts(tx, pair, e))
    states = tx.position_states()
    positions = Positions({k: p for k, p in states.items() if k[1] in bucket_ids})
    stored = {BucketKey(c, p, parse_expiry(str(x))): VLockup(lk.underlying_amount,
                                                             lk.numeraire_amount)
              for (c, p, x), lk in tx.lockups().items() if p == pair and x == e}
    cash = expire(positions, contracts, pair=pair, expiry=expiry, settlement_price=price,
                  currencies=currencies, lockups=stored)
    moves = list(cash.movements)
    if not cash.clearing_house.is_empty:
        moves.append(cash.clearing_house)
    tx.ensure_clients({m.client_id for m in moves}, now_ms)
    tx.insert_movements(moves, now_ms)
    failpoint("settle-movements")
    closed = {k: Position(0) for k in positions.holdings}
    tx.put_positions(closed, None, now_ms)
    bg.delete_lockups(tx, pair, e)
    funds = _move_settle_values(tx, moves, now_ms)
    bg.mark_expired(tx, bucket_ids, price_units, now_ms)
    bg.put_expiry_run(tx, pair=pair, expiry=e, price=price_units, clients=len(cash.movements),
                      movements=len(moves), actor=actor, now_ms=now_ms)
    payload = {"pair": pair, "expiry": format_expiry(expiry), "price": str(price),
               "clients": len(cash.movements), "movements": len(moves), "actor": actor,
               "payoffs": {str(c): str(v) for c, v in sorted(cash.payoffs.items())},
               "expiredContracts": sorted(bucket_ids)}
    events = [Event(EventKind.EXPIRY_SETTLED, payload)]
    events += [Event(EventKind.FUNDS_UPDATED, {
        "clientId": f.client_id, "currency": f.currency, "fundLockValue": f.fund_lock_value,
        "orderValue": f.order_value, "settleValue": f.settle_value}) for f in funds]
    tx.append_events(events, now_ms)
    return {"status": "SETTLED", **payload}


def _move_settle_values(tx: Tx, moves: list, now_ms: int) -> list[FundLock]:
    delta: dict[tuple[int, str], int] = defaultdict(int)
    for m in moves:
        for cur, amt in movement_amounts(m).items():
            delta[(m.client_id, cur)] -= amt
    if not delta:
        return []
    current = tx.fund_locks({c for c, _ in delta}, for_update=True)
    changed = []
    for key in sorted(delta):
        if not delta[key]:
            continue
        old = current.get(key, FundLock(*key))
        changed.append(FundLock(key[0], key[1], old.fund_lock_value, old.order_value,
                                old.settle_value + delta[key]))
    tx.put_fund_locks(changed, now_ms, existing=current)
    return changed


def due(store: Store, now_ms: int, delay: timedelta) -> list[tuple[str, date]]:
    """Listed (pair, expiry) whose 12:00 UTC + delay has passed and that are not settled."""
    with store.read() as tx:
        out = []
        for pair, e in bg.expiry_buckets(tx):
            d = parse_expiry(str(e))
            if expiry_ms(d) + int(delay.total_seconds() * 1000) <= now_ms \
                    and bg.expiry_run(tx, pair, e) is None:
                out.append((pair, d))
        return out
