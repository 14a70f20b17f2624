"""Store access for the order types beyond the original columns (functions over a ``Tx``).

* ``reduce_only`` lives in ``order_flags`` (one row per reduce-only order, kept when the order
  moves to the history);
* ``GOOD_TILL_DATE``'s ``iocAuctionTime`` is the order's ``expire_ms`` column.

:meth:`Tx.insert_orders` writes the flags (``order_flags`` rows, with its other rows) and
:meth:`Tx._orders_from` reads them back through these functions, so every caller of the store
gets them.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection, select

from auction.orders import Order, TimeInForce
from coordinator.persistence import tables as t


def reduce_only_ids(conn: Connection, order_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for i in range(0, len(order_ids), 5000):
        found |= set(conn.scalars(select(t.order_flags.c.order_id).where(
            t.order_flags.c.order_id.in_(order_ids[i:i + 5000]),
            t.order_flags.c.reduce_only.is_(True))))
    return found


def with_flags(order: Order, reduce_only: bool, expire_ms: int | None) -> Order:
    """The stored order with its flags restored (reduce-only; GTD's time from ``expire_ms``)."""
    gtd = expire_ms if order.time_in_force is TimeInForce.GOOD_TILL_DATE else None
    if not reduce_only and gtd is None:
        return order
    return replace(order, reduce_only=reduce_only, good_till_ms=gtd)
