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

#: The PostgreSQL advisory lock of intake as a whole. Every admission and cancel of the
#: client API takes it SHARED, then an exclusive lock per client involved
#: (:func:`lock_clients`): admissions of different clients run side by side, two of one client
#: one after the other (fund values are read, checked and written back; clientOrderIds and
#: self-match are per client). What needs the whole book still, or writes fund rows of any
#: client, takes it EXCLUSIVE (:func:`lock_intake`): ``ccp orders import``, the admin API's
#: contract changes, the chain monitor's funds. SQLite's writer transaction (``BEGIN
#: IMMEDIATE``) serialises every writer already: these are no-ops there.
INTAKE_LOCK = 0x63637001
#: The key space of the per-client locks: ``pg_advisory_xact_lock(CLIENT_LOCKS, key)`` (the
#: two-int4 form, apart from the one-bigint form of :data:`INTAKE_LOCK`).
CLIENT_LOCKS = 0x6363
#: Venue order ids (client API, PostgreSQL): handed out by this sequence, never twice; moved
#: past every id stored from elsewhere (``Tx.insert_orders``, :func:`order_ids_past`).
ORDER_ID_SEQ = "order_ids"
#: Taken by a transaction holding intake locks when it appends outbox events, until its
#: commit (:func:`outbox_in_commit_order`).
OUTBOX_LOCK = 0x63637002
_LOCK_PG = "SELECT pg_advisory_xact_lock(%(k)s)"
_SHARED_PG = "SELECT pg_advisory_xact_lock_shared(%(k)s)"
_CLIENT_PG = "SELECT pg_advisory_xact_lock(%(ns)s, %(c)s)"
_IDS_PG = f"SELECT nextval('{ORDER_ID_SEQ}') FROM generate_series(1, %(n)s)"
_PAST_PG = (f"SELECT setval('{ORDER_ID_SEQ}', %(m)s) FROM {ORDER_ID_SEQ} "
            "WHERE (is_called AND last_value < %(m)s) OR (NOT is_called AND last_value <= %(m)s)")


class IntakeLockError(RuntimeError):
    """A transaction asked for intake locks in an order that could deadlock (a programming
    error, never a user's)."""


def _pg(tx: Tx) -> bool:
    return tx.conn.dialect.name == "postgresql"


def client_key(client_id: int) -> int:
    """The int4 key of a client's advisory lock (ids beyond int4 share keys: less
    concurrency, never less exclusion)."""
    return client_id if 0 <= client_id < 2**31 else client_id % (2**31 - 1)


def lock_intake(tx: Tx) -> None:
    """Take the intake lock EXCLUSIVE for the rest of the transaction: no admission or cancel
    of any client runs meanwhile (a no-op if held already; SQLite: a no-op)."""
    if not _pg(tx):
        return
    held = getattr(tx, "_intake_lock", None)
    if held == "exclusive":
        return
    if held is not None:
        raise IntakeLockError("the intake lock is held shared: take it exclusive first")
    tx.conn.exec_driver_sql(_LOCK_PG, {"k": INTAKE_LOCK})
    tx._intake_lock = "exclusive"  # type: ignore[attr-defined]


def _lock_statements(tx: Tx, client_ids: Iterable[int]) -> list[tuple[str, dict[str, int]]]:
    """The statements :func:`lock_clients` sends (in this order) and notes them taken."""
    held = getattr(tx, "_intake_lock", None)
    if held == "exclusive":
        return []
    out: list[tuple[str, dict[str, int]]] = []
    if held is None:
        out.append((_SHARED_PG, {"k": INTAKE_LOCK}))
        tx._intake_lock = "shared"  # type: ignore[attr-defined]
    mine: set[int] = getattr(tx, "_client_locks", set())
    keys = sorted({client_key(c) for c in client_ids} - mine)
    if keys and mine and keys[0] < max(mine):
        raise IntakeLockError("client locks must be taken in ascending order")
    out += [(_CLIENT_PG, {"ns": CLIENT_LOCKS, "c": k}) for k in keys]
    tx._client_locks = mine | set(keys)  # type: ignore[attr-defined]
    return out


def lock_clients(tx: Tx, client_ids: Iterable[int]) -> None:
    """Take the intake lock SHARED and each client's lock (ascending keys, so two
    transactions never wait for each other in a cycle) for the rest of the transaction — what
    an admission or cancel of these clients needs (SQLite: a no-op)."""
    if _pg(tx):
        for sql, params in _lock_statements(tx, client_ids):
            tx.conn.exec_driver_sql(sql, params)


def outbox_in_commit_order(tx: Tx) -> None:
    """Before a transaction holding intake locks appends outbox events (``Tx.append_events``,
    PostgreSQL): take :data:`OUTBOX_LOCK` until its commit (queued with the inserts inside
    ``Tx.deferred_inserts``), so that among these transactions the events' ``seq`` follow the
    commit order. The outbox readers (streams, publisher, keepers) read ``seq > cursor`` and
    move the cursor to the last seq seen: an event committed after one with a higher seq would
    be skipped. The one global intake lock gave this order; with admissions of different
    clients side by side only this last step is serialised — the lock is taken just before
    the events, after every other lock the transaction takes, and held for the rest of the
    commit's round trip."""
    if not _pg(tx) or getattr(tx, "_intake_lock", None) is None \
            or getattr(tx, "_outbox_locked", False):
        return
    tx._outbox_locked = True  # type: ignore[attr-defined]
    if not tx.defer("SELECT pg_advisory_xact_lock(%s)", [OUTBOX_LOCK]):
        tx.conn.exec_driver_sql(_LOCK_PG, {"k": OUTBOX_LOCK})


def order_ids_past(tx: Tx, top: int) -> None:
    """PostgreSQL: move the order id sequence past ``top`` (an id stored from elsewhere: the
    book of ``ccp orders import``), so the client API never hands it out; never back."""
    if _pg(tx) and top > 0:
        tx.conn.exec_driver_sql(_PAST_PG, {"m": int(top)})


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
    """What an intake transaction reads once it holds its locks (PostgreSQL: in one round
    trip, :func:`intake_reads`)."""

    order_ids: list[int]  # fresh venue order ids, one per order, ascending
    used: frozenset[tuple[int, int]]  # (client, clientOrderId) pairs stored already
    balances: dict[tuple[int, str], FundLock]  # of the orders' clients, locked FOR UPDATE
    live: list[StoredOrder]  # self-match candidates (:func:`self_match_candidates`)
    #: contracts delisted, read under the locks (a delisting takes the intake lock exclusive:
    #: none commits between this read and the intake's commit)
    delisted: frozenset[int] = frozenset()
    #: ``clientapi.reference_fingerprint`` read under the locks (None: not asked for)
    fingerprint: tuple | None = None


_DELISTED_PG = "SELECT contract_id FROM contract_delistings"
#: One row that changes whenever the reference data the intake uses changes: a currency or
#: contract added, a contract's terms, reference price or band changed, a contract delisted
#: (``clientapi.reference_fingerprint``; plain SQL, the same on both engines).
REFERENCE_FINGERPRINT = (
    "SELECT (SELECT count(*) FROM currencies), (SELECT count(*) FROM contracts), "
    "(SELECT max(listed_ms) FROM contracts), (SELECT max(updated_ms) FROM reference_prices), "
    "(SELECT count(*) FROM reference_prices), (SELECT count(*) FROM contract_delistings)")
_FUNDS_PG = ("SELECT client_id, currency, fund_lock_value, order_value, settle_value "
             "FROM fund_locks WHERE client_id = ANY(CAST(%(c)s AS BIGINT[])) "
             "ORDER BY client_id, currency FOR UPDATE")


def _pyformat(clause: TextClause) -> str:
    """A ``text()`` statement of this module (``:name`` parameters, no ``::`` casts) in the
    driver's ``%(name)s`` style."""
    return re.sub(r":(\w+)", r"%(\1)s", clause.text)


def intake_reads(tx: Tx, orders: Sequence[Order], keys: Iterable[tuple[int, int]],
                 *, fingerprint: bool = False) -> IntakeReads | None:
    """On PostgreSQL: take the locks of an intake of ``orders`` (:func:`lock_clients`: the
    intake lock shared, then each client's), then its reads — fresh order ids from the
    sequence (one per order), the (client, clientOrderId) ``keys`` stored already
    (``client_order_ids_used``), the clients' fund values FOR UPDATE (``Tx.fund_locks``) and
    the self-match candidates (:func:`self_match_candidates`), the delisted contracts and
    (``fingerprint``) the reference data's fingerprint — all sent in one pipeline (one
    round trip: the reads run as soon as the locks are granted). Each read is its own
    statement, run after the locks are granted, so it sees what every earlier holder of
    these clients' locks committed. None elsewhere (the caller reads them one by one; SQLite's
    writer transaction is the lock)."""
    if not _pg(tx):
        return None
    used_q = used_query("postgresql", keys)
    best, groups = _best(orders)
    clients = sorted({o.client_id for o in orders})
    locks = _lock_statements(tx, clients)
    raw = tx.conn.connection.dbapi_connection
    with raw.cursor() as lk, raw.cursor() as ids, raw.cursor() as used, \
            raw.cursor() as funds, raw.cursor() as cand, raw.cursor() as gone, \
            raw.cursor() as ref:
        with raw.pipeline():
            for sql, params in locks:
                lk.execute(sql, params)
            if orders:
                ids.execute(_IDS_PG, {"n": len(orders)})
            if used_q is not None:
                used.execute(_pyformat(used_q[0]), used_q[1])
            if clients:
                funds.execute(_FUNDS_PG, {"c": clients})
            if best:
                cand.execute(_pyformat(_candidates("postgresql", len(groups))),
                             _candidate_params(groups))
            gone.execute(_DELISTED_PG)
            if fingerprint:
                ref.execute(REFERENCE_FINGERPRINT)
        fresh = sorted(int(r[0]) for r in ids.fetchall()) if orders else []
        found = frozenset((int(r[0]), int(r[1])) for r in used.fetchall()) \
            if used_q is not None else frozenset()
        balances = {(r[0], r[1]): FundLock(r[0], r[1], r[2], r[3], r[4])
                    for r in funds.fetchall()} if clients else {}
        rows = [_Candidate(*r) for r in cand.fetchall()] if best else []
        delisted = frozenset(int(r[0]) for r in gone.fetchall())
        key = tuple(ref.fetchone()) if fingerprint else None
    live = _crossing(tx, rows, best) if rows else []
    return IntakeReads(fresh, found, balances, live, delisted, key)


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
        tx.put_fund_locks(new, now_ms, existing=())
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

