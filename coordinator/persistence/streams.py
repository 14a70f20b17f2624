"""Reads for the endpoint's streams (``endpoint/streams.py``): the resting book of a few
contracts, orders by id across the live and historical tables, the fill legs of orders.

Functions taking the :class:`~coordinator.persistence.store.Tx` of ``Store.read()``; read-only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from auction.orders import Side
from coordinator.persistence import tables as t
from coordinator.persistence.records import StoredOrder
from coordinator.persistence.store import Tx

_CHUNK = 5000


@dataclass(frozen=True)
class RestingOrder:
    """A live order as the indicative book needs it (amounts as stored: integers)."""

    order_id: int
    pair: str
    total_net_price: int  # numeraire precision units, signed (buy +, sell −)
    packages: int
    filled_packages: int
    legs: tuple[tuple[int, Side, int], ...]  # (contract, side, lots at entry), by contract

    @property
    def remaining(self) -> int:
        return self.packages - self.filled_packages


def resting_orders(tx: Tx, contract_ids: Iterable[int]) -> list[RestingOrder]:
    """The live orders with a leg on one of ``contract_ids`` (all their legs), by order id."""
    ids = sorted(set(contract_ids))
    if not ids:
        return []
    # Driven from the live orders (the PK of order_legs starts with order_id; the legs of
    # historical orders, which only grow, are never scanned).
    with_leg = (select(t.order_legs.c.order_id)
                .join(t.orders, t.orders.c.order_id == t.order_legs.c.order_id)
                .where(t.order_legs.c.contract_id.in_(ids)))
    q = (select(t.orders.c.order_id, t.orders.c.pair, t.orders.c.total_net_price,
                t.orders.c.packages, t.orders.c.filled_packages, t.order_legs.c.contract_id,
                t.order_legs.c.side, t.order_legs.c.lots)
         .join(t.order_legs, t.order_legs.c.order_id == t.orders.c.order_id)
         .where(t.orders.c.order_id.in_(with_leg))
         .order_by(t.orders.c.order_id, t.order_legs.c.contract_id))
    rows: dict[int, tuple] = {}
    legs: dict[int, list[tuple[int, Side, int]]] = defaultdict(list)
    for r in tx.conn.execute(q):
        rows[r.order_id] = (r.pair, r.total_net_price, r.packages, r.filled_packages)
        legs[r.order_id].append((r.contract_id, Side(r.side), r.lots))
    return [RestingOrder(oid, pair, tnp, q_, f, tuple(legs[oid]))
            for oid, (pair, tnp, q_, f) in rows.items()]


def orders_by_id(tx: Tx, order_ids: Iterable[int]) -> dict[int, StoredOrder]:
    """The stored orders (live or historical) with these ids; unknown ids are left out."""
    ids = sorted(set(order_ids))
    out: dict[int, StoredOrder] = {}
    for table in (t.orders, t.historical_orders):
        for i in range(0, len(ids), _CHUNK):
            part = [oid for oid in ids[i:i + _CHUNK] if oid not in out]
            if part:
                for so in tx._orders_from(table, table.c.order_id.in_(part)):
                    out[so.order_id] = so
    return out


def fill_legs_of(tx: Tx, order_ids: Iterable[int]
                 ) -> dict[int, list[tuple[int, int, int, int]]]:
    """order → [(batch, contract, signed lots, price in numeraire units)] by batch, contract."""
    ids = sorted(set(order_ids))
    out: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    for i in range(0, len(ids), _CHUNK):
        q = (select(t.fill_legs).where(t.fill_legs.c.order_id.in_(ids[i:i + _CHUNK]))
             .order_by(t.fill_legs.c.order_id, t.fill_legs.c.batch_id,
                       t.fill_legs.c.contract_id))
        for r in tx.conn.execute(q):
            out[r.order_id].append((r.batch_id, r.contract_id, r.lots, r.price))
    return dict(out)
