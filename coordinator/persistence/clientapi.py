"""Repositories of the client API (endpoint): order intake serialisation and ids, a client's
orders by its own ids, fills, and the auction schedule the admin API sets.

Functions take the :class:`~coordinator.persistence.store.Tx` of ``Store.read()/write()``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, func, select

from coordinator.persistence import tables as t
from coordinator.persistence.intake import REFERENCE_FINGERPRINT, used_query
from coordinator.persistence.records import StoredOrder
from coordinator.persistence.store import Tx

#: Edges (``edges`` table) of the auction schedule the admin API sets and the coordinator reads.
SCHEDULE_PAUSED = "schedule.paused"  # 1: paused, 0 or missing: running
SCHEDULE_CADENCE_MS = "schedule.cadence_ms"  # missing: the settings' cadence


def next_order_ids(tx: Tx, n: int) -> list[int]:
    """``n`` venue order ids above every stored one (call under :func:`~coordinator.persistence.intake.lock_intake`)."""
    live, done = tx.conn.execute(select(
        select(func.coalesce(func.max(t.orders.c.order_id), 0)).scalar_subquery(),
        select(func.coalesce(func.max(t.historical_orders.c.order_id), 0)).scalar_subquery()
    )).one()
    top = max(live, done)
    return list(range(int(top) + 1, int(top) + 1 + n))


def client_order_ids_used(tx: Tx, keys: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which (client, clientOrderId) pairs are stored already (live or historical)."""
    query = used_query(tx.conn.dialect.name, keys)
    if query is None:
        return set()
    return {(int(r[0]), int(r[1])) for r in tx.conn.execute(*query)}


def order_by_client_id(tx: Tx, client_id: int, client_order_id: int) -> StoredOrder | None:
    """A client's order by its clientOrderId (live first, then historical)."""
    for table in (t.orders, t.historical_orders):
        found = tx._orders_from(table, and_(table.c.client_id == client_id,
                                            table.c.client_order_id == client_order_id))
        if found:
            return found[0]
    return None


def historical_orders_of(tx: Tx, client_id: int, *, since_ms: int | None = None,
                         until_ms: int | None = None) -> list[StoredOrder]:
    table = t.historical_orders
    conds = [table.c.client_id == client_id]
    if since_ms is not None:
        conds.append(table.c.updated_ms >= since_ms)
    if until_ms is not None:
        conds.append(table.c.updated_ms <= until_ms)
    return tx._orders_from(table, and_(*conds))


def fills_of(tx: Tx, client_id: int, *, since_ms: int | None = None,
             until_ms: int | None = None) -> list[dict[str, Any]]:
    """A client's fills, newest batch first: batch, order, packages and legs
    ``(contract, signed lots, price units)``."""
    conds = [t.fills.c.client_id == client_id]
    if since_ms is not None:
        conds.append(t.fills.c.batch_id >= since_ms)
    if until_ms is not None:
        conds.append(t.fills.c.batch_id <= until_ms)
    rows = tx.conn.execute(select(t.fills).where(and_(*conds))
                           .order_by(t.fills.c.batch_id.desc(), t.fills.c.order_id)).all()
    if not rows:
        return []
    legs: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    lq = (select(t.fill_legs).join(t.fills, and_(t.fills.c.batch_id == t.fill_legs.c.batch_id,
                                                 t.fills.c.order_id == t.fill_legs.c.order_id))
          .where(and_(*conds)).order_by(t.fill_legs.c.contract_id))
    for r in tx.conn.execute(lq):
        legs[(r.batch_id, r.order_id)].append((r.contract_id, r.lots, r.price))
    return [{"batch_id": r.batch_id, "order_id": r.order_id, "packages": r.packages,
             "legs": legs[(r.batch_id, r.order_id)]} for r in rows]


def live_sizes(tx: Tx) -> list[tuple[int, str, int, int, int, int, int]]:
    """Every live order's legs: (order, status, contract, signed lots per package, packages,
    remaining packages, total net price units) — the indicative book's raw material."""
    q = (select(t.orders.c.order_id, t.orders.c.status, t.order_legs.c.contract_id,
                t.order_legs.c.side, t.order_legs.c.lots, t.orders.c.packages,
                t.orders.c.filled_packages, t.orders.c.total_net_price)
         .join(t.order_legs, t.order_legs.c.order_id == t.orders.c.order_id))
    out = []
    for r in tx.conn.execute(q):
        per = r.lots // r.packages if r.packages else 0
        sign = 1 if r.side == "BUY" else -1
        out.append((r.order_id, r.status, r.contract_id, sign * per, r.packages,
                    r.packages - r.filled_packages, r.total_net_price))
    return out


def schedule(tx: Tx) -> tuple[bool, int | None]:
    """(paused, cadence ms or None for the settings' cadence)."""
    return bool(tx.edge(SCHEDULE_PAUSED) or 0), tx.edge(SCHEDULE_CADENCE_MS)


def set_schedule(tx: Tx, now_ms: int, *, paused: bool | None = None,
                 cadence_ms: int | None = None) -> None:
    if paused is not None:
        tx.set_edge(SCHEDULE_PAUSED, int(paused), now_ms)
    if cadence_ms is not None:
        tx.set_edge(SCHEDULE_CADENCE_MS, cadence_ms, now_ms)


def settlement_summary(tx: Tx, batch_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Per batch: the number of its cash movements in each settlement state."""
    ids = list(batch_ids)
    if not ids:
        return {}
    q = (select(t.cash_movements.c.origin_id, t.cash_movements.c.state, func.count())
         .where(and_(t.cash_movements.c.origin == "BATCH",
                     t.cash_movements.c.origin_id.in_(ids)))
         .group_by(t.cash_movements.c.origin_id, t.cash_movements.c.state))
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for bid, state, n in tx.conn.execute(q):
        out[int(bid)][state] = int(n)
    return out


def delisted(tx: Tx) -> set[int]:
    return {int(c) for c in tx.conn.scalars(select(t.contract_delistings.c.contract_id))}


def delist(tx: Tx, contract_id: int, now_ms: int) -> bool:
    """Mark a contract delisted; False when it was already."""
    if contract_id in delisted(tx):
        return False
    tx.conn.execute(t.contract_delistings.insert().values(contract_id=contract_id,
                                                          delisted_ms=now_ms))
    return True


def reference_rows(tx: Tx) -> dict[int, tuple[int, int, int, int | None, int]]:
    """contract → (price, low, high units, the batch that set the price, updated ms)."""
    return {r.contract_id: (r.price, r.low_range, r.high_range, r.batch_id, r.updated_ms)
            for r in tx.conn.execute(select(t.reference_prices))}


def set_reference(tx: Tx, contract_id: int, now_ms: int, *, price: int | None = None,
                  low: int | None = None, high: int | None = None) -> None:
    values: dict[str, Any] = {"updated_ms": now_ms}
    if price is not None:
        values["price"] = price
    if low is not None:
        values["low_range"] = low
    if high is not None:
        values["high_range"] = high
    tx.conn.execute(t.reference_prices.update().where(
        t.reference_prices.c.contract_id == contract_id).values(**values))


def set_tick_lot(tx: Tx, contract_id: int, tick_units: int, lot_units: int,
                 now_ms: int) -> None:
    tx.conn.execute(t.contracts.update().where(t.contracts.c.contract_id == contract_id)
                    .values(tick_size=tick_units, lot_size=lot_units))
    set_reference(tx, contract_id, now_ms)  # the change shows in reference_fingerprint


def contract_in_use(tx: Tx, contract_id: int) -> bool:
    """Whether live orders or positions refer to the contract (its units must not change)."""
    live = tx.conn.scalar(select(func.count()).select_from(
        t.order_legs.join(t.orders, t.orders.c.order_id == t.order_legs.c.order_id))
        .where(t.order_legs.c.contract_id == contract_id))
    pos = tx.conn.scalar(select(func.count()).select_from(t.positions).where(and_(
        t.positions.c.contract_id == contract_id, t.positions.c.lots != 0)))
    return bool(live or pos)


def pairs(tx: Tx) -> list[tuple[str, str, str]]:
    return [(r.pair, r.underlying, r.numeraire) for r in tx.conn.execute(
        select(t.currency_pairs).order_by(t.currency_pairs.c.pair))]


def latest_spots(tx: Tx) -> dict[str, tuple[int, int]]:
    """pair → (price units, observed ms) of its newest spot price."""
    out: dict[str, tuple[int, int]] = {}
    for pair, _u, _n in pairs(tx):
        got = tx.latest_spot(pair)
        if got is not None:
            out[pair] = got
    return out


def fixings(tx: Tx, pair: str, since_ms: int, until_ms: int) -> list[tuple[int, int]]:
    """(price units, observed ms) of the fixings of a pair in a period."""
    q = (select(t.spot_prices.c.price, t.spot_prices.c.observed_ms)
         .where(and_(t.spot_prices.c.pair == pair, t.spot_prices.c.is_fixing.is_(True),
                     t.spot_prices.c.observed_ms >= since_ms,
                     t.spot_prices.c.observed_ms <= until_ms))
         .order_by(t.spot_prices.c.observed_ms))
    return [(r.price, r.observed_ms) for r in tx.conn.execute(q)]


def movements_of(tx: Tx, client_id: int, origin: str) -> list[tuple[str, int, int, int]]:
    """(pair, origin id, underlying, strike amount) of a client's cash movements of an origin
    (positive = the client pays)."""
    q = (select(t.cash_movements.c.pair, t.cash_movements.c.origin_id,
                t.cash_movements.c.underlying_amount, t.cash_movements.c.strike_amount)
         .where(and_(t.cash_movements.c.client_id == client_id,
                     t.cash_movements.c.origin == origin))
         .order_by(t.cash_movements.c.id))
    return [(r.pair, r.origin_id, r.underlying_amount, r.strike_amount)
            for r in tx.conn.execute(q)]


def reference_fingerprint(tx: Tx) -> tuple:
    """Changes whenever a currency or contract is added, a contract's terms, reference price
    or band change (the tick/lot update touches ``reference_prices.updated_ms`` too) or a
    contract is delisted (:data:`~coordinator.persistence.intake.REFERENCE_FINGERPRINT`; the
    intake reads it under its locks, :func:`~coordinator.persistence.intake.intake_reads`)."""
    return tuple(tx.conn.exec_driver_sql(REFERENCE_FINGERPRINT).one())
