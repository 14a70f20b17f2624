"""Repositories of the background jobs: price aggregations, settlement prices, expiry runs,
expired contracts, alerts, keepers and webhook deliveries.

Functions take the :class:`~coordinator.persistence.store.Tx` of ``Store.read()/write()``.
Amounts are integers (numeraire precision units); expiries ``yyyymmdd`` integers; times epoch ms.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, func, insert, select, update

from coordinator.persistence import tables as t
from coordinator.persistence.errors import Conflict, NotFound
from coordinator.persistence.store import Tx

SPOT, FIXING = "SPOT", "FIXING"
OK, NO_QUORUM = "OK", "NO_QUORUM"
PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# ---- prices ---------------------------------------------------------------------------------

def record_aggregation(tx: Tx, *, pair: str, kind: str, status: str, price: int | None,
                       observed_ms: int, rule: str, sources: Sequence[Mapping[str, Any]]) -> int:
    """Store one aggregation; a SPOT price with quorum also goes to ``spot_prices`` (what
    ``Tx.latest_spot`` and the API's ``spotPrices`` read)."""
    spot_id = None
    if status == OK and price is not None and kind == SPOT:
        tx.add_spot_price(pair, "median", price, observed_ms)
        spot_id = tx.conn.scalar(select(func.max(t.spot_prices.c.id))
                                 .where(t.spot_prices.c.pair == pair))
    res = tx.conn.execute(insert(t.price_aggregations).values(
        pair=pair, kind=kind, status=status, price=price, observed_ms=observed_ms, rule=rule,
        sources=[dict(s) for s in sources], spot_price_id=spot_id))
    return int(res.inserted_primary_key[0])


def aggregations(tx: Tx, pair: str | None = None, kind: str | None = None,
                 limit: int = 50) -> list[dict[str, Any]]:
    """The newest aggregations first."""
    q = select(t.price_aggregations)
    if pair is not None:
        q = q.where(t.price_aggregations.c.pair == pair)
    if kind is not None:
        q = q.where(t.price_aggregations.c.kind == kind)
    q = q.order_by(t.price_aggregations.c.id.desc()).limit(limit)
    return [dict(id=r.id, pair=r.pair, kind=r.kind, status=r.status, price=r.price,
                 observed_ms=r.observed_ms, rule=r.rule, sources=_json(r.sources),
                 spot_price_id=r.spot_price_id) for r in tx.conn.execute(q)]


def spot_status(tx: Tx, pair: str, now_ms: int, staleness_ms: int) -> dict[str, Any] | None:
    """The latest spot price of a pair and whether it is stale: older than the staleness limit,
    or the newest aggregation of the pair had no quorum (the last price stays, flagged)."""
    latest = tx.latest_spot(pair)
    if latest is None:
        return None
    price, observed = latest
    last = aggregations(tx, pair, SPOT, limit=1)
    no_quorum = bool(last) and last[0]["status"] != OK
    return dict(pair=pair, price=price, observed_ms=observed,
                stale=no_quorum or now_ms - observed > staleness_ms)


def pairs(tx: Tx) -> list[str]:
    return list(tx.conn.scalars(select(t.currency_pairs.c.pair).order_by(
        t.currency_pairs.c.pair)))


def settlement_price(tx: Tx, pair: str, expiry: int) -> dict[str, Any] | None:
    r = tx.conn.execute(select(t.settlement_prices).where(and_(
        t.settlement_prices.c.pair == pair, t.settlement_prices.c.expiry == expiry))).first()
    if r is None:
        return None
    return dict(pair=r.pair, expiry=r.expiry, price=r.price, method=r.method, rule=r.rule,
                sources=_json(r.sources), actor=r.actor, reason=r.reason, set_ms=r.set_ms)


def put_settlement_price(tx: Tx, *, pair: str, expiry: int, price: int, method: str, rule: str,
                         sources: Sequence[Mapping[str, Any]], actor: str, reason: str,
                         now_ms: int, observed_ms: int) -> None:
    """Record the settlement price (once: a second one raises :class:`Conflict`). It is also
    kept in ``spot_prices`` as a fixing row (``is_fixing``), as in the original backend."""
    if settlement_price(tx, pair, expiry) is not None:
        raise Conflict(f"{pair} {expiry} has a settlement price already")
    tx.conn.execute(insert(t.settlement_prices).values(
        pair=pair, expiry=expiry, price=price, method=method, rule=rule,
        sources=[dict(s) for s in sources], actor=actor, reason=reason, set_ms=now_ms))
    tx.add_spot_price(pair, method.lower(), price, observed_ms, is_fixing=True)


# ---- expiry ---------------------------------------------------------------------------------

def expiry_buckets(tx: Tx) -> list[tuple[str, int]]:
    """Every listed (pair, expiry), in expiry order."""
    q = (select(t.contracts.c.pair, t.contracts.c.expiry).distinct()
         .order_by(t.contracts.c.expiry, t.contracts.c.pair))
    return [(r.pair, r.expiry) for r in tx.conn.execute(q)]


def expiry_run(tx: Tx, pair: str, expiry: int) -> dict[str, Any] | None:
    r = tx.conn.execute(select(t.expiry_runs).where(and_(
        t.expiry_runs.c.pair == pair, t.expiry_runs.c.expiry == expiry))).first()
    if r is None:
        return None
    return dict(pair=r.pair, expiry=r.expiry, price=r.price, clients=r.clients,
                movements=r.movements, actor=r.actor, settled_ms=r.settled_ms)


def put_expiry_run(tx: Tx, *, pair: str, expiry: int, price: int, clients: int, movements: int,
                   actor: str, now_ms: int) -> None:
    if expiry_run(tx, pair, expiry) is not None:
        raise Conflict(f"{pair} {expiry} is settled already")
    tx.conn.execute(insert(t.expiry_runs).values(
        pair=pair, expiry=expiry, price=price, clients=clients, movements=movements,
        actor=actor, settled_ms=now_ms))


def expired_contracts(tx: Tx) -> set[int]:
    """Contracts settled at expiry: out of ``contractList``, in ``historicalContracts``."""
    return set(tx.conn.scalars(select(t.expired_contracts.c.contract_id)))


def mark_expired(tx: Tx, contract_ids: Iterable[int], settlement_price: int,
                 now_ms: int) -> None:
    ids = sorted(set(contract_ids) - expired_contracts(tx))
    if ids:
        tx.conn.execute(insert(t.expired_contracts), [
            dict(contract_id=c, settlement_price=settlement_price, expired_ms=now_ms)
            for c in ids])


def bucket_contracts(tx: Tx, pair: str, expiry: int) -> list[int]:
    return list(tx.conn.scalars(select(t.contracts.c.contract_id).where(and_(
        t.contracts.c.pair == pair, t.contracts.c.expiry == expiry))
        .order_by(t.contracts.c.contract_id)))


def delete_lockups(tx: Tx, pair: str, expiry: int) -> int:
    """Zero the lockups of an expired bucket (released); returns how many were non-zero."""
    res = tx.conn.execute(update(t.lockups).where(and_(
        t.lockups.c.pair == pair, t.lockups.c.expiry == expiry,
        (t.lockups.c.underlying_amount != 0) | (t.lockups.c.numeraire_amount != 0)))
        .values(underlying_amount=0, numeraire_amount=0))
    return res.rowcount or 0


# ---- alerts ---------------------------------------------------------------------------------

def active_alert(tx: Tx, key: str) -> dict[str, Any] | None:
    r = tx.conn.execute(select(t.alerts).where(and_(t.alerts.c.key == key,
                                                    t.alerts.c.cleared_ms.is_(None)))).first()
    return None if r is None else _alert(r)


def raise_alert(tx: Tx, key: str, reason: str, payload: Mapping[str, Any],
                now_ms: int) -> bool:
    """Record an alert unless the same key is active already; True when it is new."""
    if active_alert(tx, key) is not None:
        return False
    tx.conn.execute(insert(t.alerts).values(key=key, reason=reason, payload=dict(payload),
                                            raised_ms=now_ms, cleared_ms=None))
    return True


def clear_alerts(tx: Tx, keys: Iterable[str], now_ms: int) -> int:
    keys = list(keys)
    if not keys:
        return 0
    res = tx.conn.execute(update(t.alerts).where(and_(t.alerts.c.key.in_(keys),
                                                      t.alerts.c.cleared_ms.is_(None)))
                          .values(cleared_ms=now_ms))
    return res.rowcount or 0


def active_alert_keys(tx: Tx, prefix: str) -> set[str]:
    return set(tx.conn.scalars(select(t.alerts.c.key).where(and_(
        t.alerts.c.key.startswith(prefix), t.alerts.c.cleared_ms.is_(None)))))


def list_alerts(tx: Tx, limit: int) -> list[dict[str, Any]]:
    q = select(t.alerts).order_by(t.alerts.c.id.desc()).limit(limit)
    return [_alert(r) for r in tx.conn.execute(q)]


def _alert(r: Any) -> dict[str, Any]:
    return dict(id=r.id, key=r.key, reason=r.reason, payload=_json(r.payload),
                raised_ms=r.raised_ms, cleared_ms=r.cleared_ms)


# ---- keepers and deliveries -----------------------------------------------------------------

def add_keeper(tx: Tx, url: str, secret: str, events: Sequence[str], now_ms: int) -> int:
    res = tx.conn.execute(insert(t.keepers).values(url=url, secret=secret, events=list(events),
                                                   active=True, created_ms=now_ms))
    return int(res.inserted_primary_key[0])


def keepers(tx: Tx, active_only: bool = True) -> list[dict[str, Any]]:
    """Keepers with their secrets (for signing; callers hide them)."""
    q = select(t.keepers).order_by(t.keepers.c.id)
    if active_only:
        q = q.where(t.keepers.c.active.is_(True))
    return [dict(id=r.id, url=r.url, secret=r.secret, events=list(_json(r.events)),
                 active=bool(r.active), created_ms=r.created_ms) for r in tx.conn.execute(q)]


def deactivate_keeper(tx: Tx, keeper_id: int) -> bool:
    res = tx.conn.execute(update(t.keepers).where(and_(t.keepers.c.id == keeper_id,
                                                       t.keepers.c.active.is_(True)))
                          .values(active=False))
    return (res.rowcount or 0) == 1


def enqueue_delivery(tx: Tx, keeper_id: int, event_seq: int, kind: str, body: str,
                     now_ms: int) -> bool:
    """One delivery per (keeper, event); False when it exists already."""
    have = tx.conn.scalar(select(t.keeper_deliveries.c.id).where(and_(
        t.keeper_deliveries.c.keeper_id == keeper_id,
        t.keeper_deliveries.c.event_seq == event_seq)))
    if have is not None:
        return False
    tx.conn.execute(insert(t.keeper_deliveries).values(
        keeper_id=keeper_id, event_seq=event_seq, kind=kind, body=body, status=PENDING,
        attempts=0, next_attempt_ms=now_ms, created_ms=now_ms, delivered_ms=None))
    return True


def due_deliveries(tx: Tx, now_ms: int, limit: int = 100) -> list[dict[str, Any]]:
    q = (select(t.keeper_deliveries, t.keepers.c.url, t.keepers.c.secret)
         .join(t.keepers, t.keepers.c.id == t.keeper_deliveries.c.keeper_id)
         .where(and_(t.keeper_deliveries.c.status == PENDING,
                     t.keeper_deliveries.c.next_attempt_ms <= now_ms))
         .order_by(t.keeper_deliveries.c.next_attempt_ms, t.keeper_deliveries.c.id)
         .limit(limit))
    return [dict(id=r.id, keeper_id=r.keeper_id, event_seq=r.event_seq, kind=r.kind,
                 body=r.body, attempts=r.attempts, url=r.url, secret=r.secret)
            for r in tx.conn.execute(q)]


def record_attempt(tx: Tx, delivery_id: int, *, attempt: int, status_code: int | None,
                   error: str | None, at_ms: int, duration_ms: int, status: str,
                   next_attempt_ms: int) -> None:
    """Log one attempt and move the delivery on (only from PENDING with the attempts seen)."""
    res = tx.conn.execute(update(t.keeper_deliveries).where(and_(
        t.keeper_deliveries.c.id == delivery_id, t.keeper_deliveries.c.status == PENDING,
        t.keeper_deliveries.c.attempts == attempt - 1)).values(
        status=status, attempts=attempt, next_attempt_ms=next_attempt_ms,
        delivered_ms=at_ms if status == DELIVERED else None))
    if (res.rowcount or 0) != 1:
        raise Conflict(f"delivery {delivery_id} moved on concurrently")
    tx.conn.execute(insert(t.keeper_attempts).values(
        delivery_id=delivery_id, attempt=attempt, status_code=status_code,
        error=None if error is None else error[:2000], at_ms=at_ms, duration_ms=duration_ms))


def deliveries(tx: Tx, keeper_id: int | None = None) -> list[dict[str, Any]]:
    q = select(t.keeper_deliveries).order_by(t.keeper_deliveries.c.id)
    if keeper_id is not None:
        q = q.where(t.keeper_deliveries.c.keeper_id == keeper_id)
    rows = tx.conn.execute(q).all()
    out = []
    for r in rows:
        atts = tx.conn.execute(select(t.keeper_attempts).where(
            t.keeper_attempts.c.delivery_id == r.id).order_by(t.keeper_attempts.c.attempt))
        out.append(dict(id=r.id, keeper_id=r.keeper_id, event_seq=r.event_seq, kind=r.kind,
                        status=r.status, attempts=r.attempts, delivered_ms=r.delivered_ms,
                        log=[dict(attempt=a.attempt, status_code=a.status_code, error=a.error,
                                  at_ms=a.at_ms, duration_ms=a.duration_ms) for a in atts]))
    return out


def require_pair(tx: Tx, pair: str) -> None:
    if pair not in pairs(tx):
        raise NotFound(f"pair {pair!r} is not in the store")
