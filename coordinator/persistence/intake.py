"""Repositories of order intake (:func:`coordinator.intake.admit_orders`): what admission must
read of the live book, read through indexes so that its cost does not grow with the book.

Functions take the :class:`~coordinator.persistence.store.Tx` of ``Store.write()``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from sqlalchemy import TextClause, and_, bindparam, or_, select, text, update

from auction.orders import Order
from coordinator.persistence import tables as t
from coordinator.persistence.records import FundLock, StoredOrder
from coordinator.persistence.store import Tx, pg_array

_OTHER_SIDE = {"BUY": "SELL", "SELL": "BUY"}

#: The PostgreSQL advisory lock every intake and cancel takes for its transaction: fund values
#: are read, checked and written back, so two writers must not interleave (SQLite's writer
#: transaction, ``BEGIN IMMEDIATE``, serialises them already).
INTAKE_LOCK = 0x63637001
_LOCK_PG = "SELECT pg_advisory_xact_lock(%(k)s)"


def lock_intake(tx: Tx) -> None:
    """Take the intake lock for the rest of the transaction (once per transaction)."""
    if tx.conn.dialect.name == "postgresql" and not getattr(tx, "_intake_locked", False):
        tx.conn.exec_driver_sql(_LOCK_PG, {"k": INTAKE_LOCK})
        tx._intake_locked = True  # type: ignore[attr-defined]


def self_match_candidates(tx: Tx, orders: Iterable[Order]) -> list[StoredOrder]:
    """The live single-leg orders of the store that would cross at least one of the new
    single-leg ``orders`` (same client, same contract, other side, the buyer's limit per lot at
    least the seller's: :func:`coordinator.admission.crosses`), in entry order.

    A superset of what :func:`coordinator.admission.admit` compares each new order with, and
    exactly the stored orders it could find crossing: admission gets the same answer as from
    the client's whole live book. Read through ``order_single_legs``'s index: the rows read are
    the client's live single-leg orders on the other side of the same contract, never the
    rest of the book. The price test is exact (integers and fractions, no float)."""
    best, groups = _best(orders)
    if not best:
        return []
    dialect = tx.conn.dialect.name
    if dialect == "postgresql":
        return _crossing(tx, tx.conn.execute(_candidates(dialect, len(groups)),
                                             _candidate_params(groups)).all(), best)
    # SQLite: its planner scans the table for the array form of this join; the list of
    # parameters keeps it on the index
    s, o_ = t.order_single_legs, t.orders
    cond = or_(*(and_(s.c.client_id == c, s.c.side == side, s.c.contract_id.in_(ks))
                 for (c, side), ks in groups.items()))
    rows = tx.conn.execute(
        select(o_.c.order_id, o_.c.pair, o_.c.total_net_price, o_.c.packages, s.c.client_id,
               s.c.contract_id, s.c.side)
        .join(o_, o_.c.order_id == s.c.order_id).where(cond)).all()
    return _crossing(tx, rows, best)


def _best(orders: Iterable[Order]) -> tuple[dict[tuple[int, int, str], Fraction],
                                             dict[tuple[int, str], list[int]]]:
    """(client, contract, side of the resting orders) -> the most aggressive new limit per
    lot; and the contracts per (client, side)."""
    best: dict[tuple[int, int, str], Fraction] = {}
    for o in orders:
        if len(o.legs) != 1:
            continue
        key = (o.client_id, o.legs[0].contract_id, _OTHER_SIDE[str(o.legs[0].side)])
        lim = o.limit_per_package
        if key not in best or lim > best[key]:
            best[key] = lim
    groups: dict[tuple[int, str], list[int]] = {}
    for c, k, side in sorted(best):
        groups.setdefault((c, side), []).append(k)
    return best, groups


def _candidate_params(groups: dict[tuple[int, str], list[int]]) -> dict[str, object]:
    params: dict[str, object] = {}
    for i, ((c, side), ks) in enumerate(groups.items()):
        params[f"c{i}"], params[f"s{i}"], params[f"k{i}"] = c, side, ids_param("postgresql", ks)
    return params


@dataclass(frozen=True)
class IntakeReads:
    """What an intake transaction reads once it holds the intake lock (PostgreSQL: in one
    round trip, :func:`intake_reads`)."""

    top_order_id: int  # the largest order id stored (live or historical), 0 for none
    used: frozenset[tuple[int, int]]  # (client, clientOrderId) pairs stored already
    balances: dict[tuple[int, str], FundLock]  # of the orders' clients, locked FOR UPDATE
    live: list[StoredOrder]  # self-match candidates (:func:`self_match_candidates`)


_TOP_ID_PG = ("SELECT (SELECT coalesce(max(order_id), 0) FROM orders), "
              "(SELECT coalesce(max(order_id), 0) FROM historical_orders)")
_FUNDS_PG = ("SELECT client_id, currency, fund_lock_value, order_value, settle_value "
             "FROM fund_locks WHERE client_id = ANY(CAST(%(c)s AS BIGINT[])) "
             "ORDER BY client_id, currency FOR UPDATE")


def _pyformat(clause: TextClause) -> str:
    """A ``text()`` statement of this module (``:name`` parameters, no ``::`` casts) in the
    driver's ``%(name)s`` style."""
    return re.sub(r":(\w+)", r"%(\1)s", clause.text)


def intake_reads(tx: Tx, orders: Sequence[Order],
                 keys: Iterable[tuple[int, int]]) -> IntakeReads | None:
    """On PostgreSQL: take the intake lock (:func:`lock_intake`, unless held already), then
    the reads of an intake of ``orders`` (their ids not assigned yet) with the (client,
    clientOrderId) ``keys`` — the top order id
    (:func:`~coordinator.persistence.clientapi.next_order_ids`), the keys stored already
    (``client_order_ids_used``), the clients' fund values FOR UPDATE (``Tx.fund_locks``) and
    the self-match candidates (:func:`self_match_candidates`) — the lock and the reads sent in
    one pipeline (one round trip instead of five: the reads run as soon as the lock is
    granted, while every other intake waits for it); each read is its own statement, run
    after the lock is granted, so each sees what was committed before it ran (every earlier
    holder's commit), as when sent one by one. None elsewhere (the caller reads them one by
    one; SQLite's writer transaction is the lock)."""
    if tx.conn.dialect.name != "postgresql":
        return None
    used_q = used_query("postgresql", keys)
    best, groups = _best(orders)
    raw = tx.conn.connection.dbapi_connection
    lock = not getattr(tx, "_intake_locked", False)
    with raw.cursor() as lk, raw.cursor() as top, raw.cursor() as used, \
            raw.cursor() as funds, raw.cursor() as cand:
        with raw.pipeline():
            if lock:
                lk.execute(_LOCK_PG, {"k": INTAKE_LOCK})
            top.execute(_TOP_ID_PG)
            if used_q is not None:
                used.execute(_pyformat(used_q[0]), used_q[1])
            clients = sorted({o.client_id for o in orders})
            if clients:
                funds.execute(_FUNDS_PG, {"c": clients})
            if best:
                cand.execute(_pyformat(_candidates("postgresql", len(groups))),
                             _candidate_params(groups))
        if lock:
            tx._intake_locked = True  # type: ignore[attr-defined]
        live_top, hist_top = top.fetchone()
        found = frozenset((int(r[0]), int(r[1])) for r in used.fetchall()) \
            if used_q is not None else frozenset()
        balances = {(r[0], r[1]): FundLock(r[0], r[1], r[2], r[3], r[4])
                    for r in funds.fetchall()} if clients else {}
        rows = [_Candidate(*r) for r in cand.fetchall()] if best else []
    live = _crossing(tx, rows, best) if rows else []
    return IntakeReads(max(int(live_top), int(hist_top)), found, balances, live)


@dataclass(frozen=True)
class _Candidate:
    order_id: int
    pair: str
    total_net_price: int
    packages: int
    client_id: int
    contract_id: int
    side: str


def in_ids(dialect: str, param: str) -> str:
    """SQL: ``column`` is one of the integers of the array parameter ``param``
    (:func:`ids_param`) — one statement text whatever the number of integers (compiled,
    prepared and planned once; a list of parameters is rendered and parsed per length), and an
    index on the column still serves it."""
    if dialect == "postgresql":
        return f"= ANY(CAST(:{param} AS BIGINT[]))"
    return f"IN (SELECT value FROM json_each(:{param}))"


def ids_param(dialect: str, ids: Iterable[int]) -> object:
    """The value of an :func:`in_ids` parameter."""
    ids = [int(i) for i in ids]
    return ids if dialect == "postgresql" else json.dumps(ids)


def used_query(dialect: str, keys: Iterable[tuple[int, int]]
               ) -> tuple[TextClause, dict[str, object]] | None:
    """The lookup of the (client, clientOrderId) ``keys`` stored already (live or historical)
    and its parameters; None for no keys. Per client one array of ids (:func:`in_ids`), so the
    text depends on the number of clients only; each client's ids are read through the
    (client, clientOrderId) index."""
    by_client: dict[int, list[int]] = {}
    for c, coid in sorted(set(keys)):
        by_client.setdefault(c, []).append(coid)
    if not by_client:
        return None
    params: dict[str, object] = {}
    for i, (c, ids) in enumerate(by_client.items()):
        params[f"c{i}"], params[f"k{i}"] = c, ids_param(dialect, ids)
    return _used(dialect, len(by_client)), params


@lru_cache(maxsize=64)
def _used(dialect: str, n: int) -> TextClause:
    cond = " OR ".join(f"(client_id = :c{i} AND client_order_id {in_ids(dialect, f'k{i}')})"
                       for i in range(n))
    return text(" UNION ALL ".join(f"SELECT client_id, client_order_id FROM {table} "
                                   f"WHERE {cond}"
                                   for table in ("orders", "historical_orders")))


@lru_cache(maxsize=64)
def _candidates(dialect: str, n: int) -> TextClause:
    """The read of :func:`self_match_candidates` for ``n`` (client, side) groups: per group
    one array of contracts, so the text depends on ``n`` only; read through
    ``order_single_legs``'s index."""
    cond = " OR ".join(f"(s.client_id = :c{i} AND s.side = :s{i} "
                       f"AND s.contract_id {in_ids(dialect, f'k{i}')})" for i in range(n))
    return text("SELECT o.order_id, o.pair, o.total_net_price, o.packages, s.client_id, "
                "s.contract_id, s.side FROM order_single_legs s JOIN orders o "
                f"ON o.order_id = s.order_id WHERE {cond}")


def _crossing(tx: Tx, rows, best: dict[tuple[int, int, str], Fraction]) -> list[StoredOrder]:
    """Of the rows read (resting order, client, contract, side), the orders that cross the
    most aggressive new limit of their key, in entry order."""
    ids = []
    for r in rows:
        if not r.packages:
            continue
        resting = Fraction(r.total_net_price, 10 ** tx.numeraire_precision(r.pair)) / r.packages
        if best[(r.client_id, r.contract_id, r.side)] + resting >= 0:
            ids.append(r.order_id)
    if not ids:
        return []
    return tx._orders_from(t.orders, t.orders.c.order_id.in_(ids))


_UPDATE_FUNDS_PG = (
    "UPDATE fund_locks AS f SET fund_lock_value = v.flv, order_value = v.ov, "
    "settle_value = v.sv, updated_ms = %s FROM unnest(%s::text::BIGINT[], %s::text::TEXT[], "
    "%s::text::BIGINT[], %s::text::BIGINT[], %s::text::BIGINT[]) AS v(cid, cur, flv, ov, sv) "
    "WHERE f.client_id = v.cid AND f.currency = v.cur")


def write_fund_values(tx: Tx, values: Iterable[FundLock], existing: Iterable[tuple[int, str]],
                      now_ms: int) -> None:
    """``Tx.put_fund_locks`` for a caller that has just read the rows (``existing``: the
    (client, currency) keys it found): one UPDATE for all of them, no second read."""
    values = list(values)
    have = set(existing)
    new = [v for v in values if (v.client_id, v.currency) not in have]
    if new:
        tx.put_fund_locks(new, now_ms)
    old = [dict(cid=v.client_id, cur=v.currency, flv=v.fund_lock_value, ov=v.order_value,
                sv=v.settle_value) for v in values if (v.client_id, v.currency) in have]
    if old and tx.defer(_UPDATE_FUNDS_PG, [now_ms] + [
            pg_array([v[k] for v in old], kind) for k, kind in (
                ("cid", "int"), ("cur", "text"), ("flv", "int"), ("ov", "int"), ("sv", "int"))]):
        return  # PostgreSQL: sent with the intake's inserts, in their pipeline
    if old:
        f = t.fund_locks
        tx.conn.execute(
            update(f).where(and_(f.c.client_id == bindparam("cid"),
                                 f.c.currency == bindparam("cur")))
            .values(fund_lock_value=bindparam("flv"), order_value=bindparam("ov"),
                    settle_value=bindparam("sv"), updated_ms=now_ms), old)

