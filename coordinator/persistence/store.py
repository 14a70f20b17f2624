"""The store: repositories over one transaction. The only module that writes SQL.

``Store.read()`` and ``Store.write()`` open a transaction and yield a :class:`Tx`; leaving the
block commits (or rolls back on an exception). Database errors leave as typed
:mod:`coordinator.persistence.errors`.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    Integer,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from auction.cash import CashMovement, MovementOrigin, PositionChange
from auction.orders import Leg, Order, OrderStatus, Side, TimeInForce
from auction.products import Contract, Currency, CurrencyPair, Payoff, format_expiry, parse_expiry
from auction.units import PrecisionError, check_units, to_steps
from coordinator.events import Event, EventKind
from coordinator.persistence import order_types
from coordinator.persistence import tables as t
from coordinator.persistence.engine import is_sqlite, make_engine, sqlite_writer_lock
from coordinator.persistence.errors import (
    Conflict,
    LeaseHeld,
    LeaseLost,
    NotFound,
    SchemaNotCurrent,
    StoreError,
    translate_errors,
)
from coordinator.persistence.records import (
    BatchRecord,
    FillRecord,
    FundLock,
    HistoryEntry,
    Lease,
    Lockup,
    StoredOrder,
)
from validator.collateral.positions import Position

NOTIFY_CHANNEL = "ccp_outbox"
SETTLE_PENDING = "SETTLE_PENDING"


def to_units(value: Decimal, precision: int, what: str) -> int:
    """A decimal amount as an exact integer of 10^-precision units (else PrecisionError)."""
    if precision < 0:
        return to_steps(value, Decimal(1).scaleb(-precision), what)
    n, d = value.as_integer_ratio()  # exact, integers only (no Fraction: the intake's path)
    units, rem = divmod(n * 10**precision, d)
    if rem:
        raise PrecisionError(f"{what}: {value} is not a multiple of "
                             f"{Decimal(1).scaleb(-precision)}")
    return check_units(units, what)


def from_units(units: int, precision: int) -> Decimal:
    return Decimal(units).scaleb(-precision)


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str, **kw: Any) -> Store:
        with translate_errors():
            return cls(make_engine(url, **kw))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    def ensure_current(self) -> None:
        from coordinator.persistence.migrate import status

        st = status(self.engine)
        if st.current != st.head:
            raise SchemaNotCurrent(st.describe())

    @contextmanager
    def _tx(self, write: bool, snapshot: bool = False) -> Iterator[Tx]:
        with translate_errors(), sqlite_writer_lock(self.engine) if write else nullcontext(), \
                self.engine.connect() as conn:
            if write:
                conn.execution_options(ccp_write=True)
            elif snapshot and not is_sqlite(self.engine):
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                tx = Tx(conn)
                yield tx
                if tx._ended and not tx.ended_cleanly():
                    raise StoreError("statements ran after the transaction's COMMIT "
                                     "(Tx.deferred_inserts(commit=True) ends it)")

    def read(self):
        """A read transaction (READ COMMITTED on PostgreSQL: each statement sees what was
        committed when it started, so two statements may see two states)."""
        return self._tx(False)

    def snapshot(self):
        """A read transaction whose statements all see ONE committed state, however the other
        processes write meanwhile (REPEATABLE READ on PostgreSQL; on SQLite a WAL read
        transaction keeps the snapshot of its first read). For reads that must agree with
        each other, e.g. the reconciliation against the chain."""
        return self._tx(False, snapshot=True)

    def write(self):
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        return self._tx(True)


class Tx:
    """Repositories over one open transaction."""

    def __init__(self, conn: Connection):
        self.conn = conn
        #: inside :meth:`deferred_inserts` on PostgreSQL: the statements waiting to be sent
        #: (driver SQL, parameters), ``insert_rows``'s and :meth:`defer`'s
        self._deferred: list[tuple[str, list[Any]]] | None = None
        self._ended = False  # committed by ``deferred_inserts(commit=True)``
        self._currencies: dict[str, Currency] | None = None
        self._currencies_given = False  # ``_currencies`` from :meth:`known_currencies`
        self._numeraire_precision: dict[str, int] = {}  # pair -> (currencies never change)

    # ---- reference data -------------------------------------------------------------------

    def currencies(self) -> dict[str, Currency]:
        if self._currencies is None:
            rows = self.conn.execute(select(t.currencies)).all()
            self._currencies = {r.symbol: Currency(r.symbol, r.decimals, r.precision)
                                for r in rows}
        return self._currencies

    def known_currencies(self, currencies: Mapping[str, Currency]) -> None:
        """Currencies read before (e.g. by another transaction): :meth:`currencies` uses them
        instead of reading the table, until one is missing. A stored currency never changes
        or goes (:meth:`put_currency` only adds), so they are current but for additions."""
        if self._currencies is None:
            self._currencies = dict(currencies)
            self._currencies_given = True

    def put_currency(self, c: Currency) -> None:
        if self._currencies_given:  # another transaction's view: what is stored now
            self._currencies, self._currencies_given = None, False
        have = self.currencies().get(c.symbol)
        if have is None:
            self.conn.execute(insert(t.currencies).values(symbol=c.symbol, decimals=c.decimals,
                                                          precision=c.precision))
            self.currencies()[c.symbol] = c
        elif have != c:
            raise Conflict(f"currency {c.symbol} exists as {have}, not {c}")

    def put_pair(self, pair: CurrencyPair) -> None:
        name = str(pair)
        row = self.conn.execute(select(t.currency_pairs).where(
            t.currency_pairs.c.pair == name)).first()
        if row is None:
            for sym in (pair.underlying, pair.numeraire):
                if sym not in self.currencies():
                    raise NotFound(f"currency {sym} of pair {name} is not in the store")
            self.conn.execute(insert(t.currency_pairs).values(
                pair=name, underlying=pair.underlying, numeraire=pair.numeraire))

    def _precisions(self, contract_pair: CurrencyPair) -> tuple[int, int]:
        cur = self.currencies()
        try:
            return cur[contract_pair.underlying].precision, cur[contract_pair.numeraire].precision
        except KeyError as e:
            if self._currencies_given:  # added since they were read: read them now
                self._currencies, self._currencies_given = None, False
                return self._precisions(contract_pair)
            raise NotFound(f"currency {e.args[0]} is not in the store") from None

    def _quantity_precision(self, c: Contract) -> int:
        up, npr = self._precisions(c.pair)
        return npr if c.payoff.is_binary else up

    def put_contract(self, c: Contract, now_ms: int) -> bool:
        """List a contract with its initial reference price and band. Returns False when it was
        listed already with the same terms (its reference price then stays as stored)."""
        up, npr = self._precisions(c.pair)
        qp = npr if c.payoff.is_binary else up
        try:
            row = dict(contract_id=c.contract_id, payoff=str(c.payoff), pair=str(c.pair),
                       expiry=int(format_expiry(c.expiry)),
                       strike=None if c.strike is None else to_units(c.strike, npr, "strike"),
                       tick_size=to_units(c.tick_size, npr, "tickSize"),
                       lot_size=to_units(c.lot_size, qp, "lotSize"))
            ref = dict(price=to_units(c.reference_price, npr, "referencePrice"),
                       low_range=to_units(c.low_range, npr, "lowRange"),
                       high_range=to_units(c.high_range, npr, "highRange"))
        except PrecisionError as e:
            raise Conflict(f"contract {c.contract_id}: {e} (beyond the currency's precision)") \
                from None
        have = self.conn.execute(select(t.contracts).where(
            t.contracts.c.contract_id == c.contract_id)).first()
        if have is not None:
            stored = {k: getattr(have, k) for k in row}
            if stored != row:
                raise Conflict(f"contract {c.contract_id} is listed with other terms")
            return False
        self.put_pair(c.pair)
        self.conn.execute(insert(t.contracts).values(**row, listed_ms=now_ms))
        self.conn.execute(insert(t.reference_prices).values(
            contract_id=c.contract_id, **ref, batch_id=None, updated_ms=now_ms))
        return True

    def contracts(self) -> dict[int, Contract]:
        """Every listed contract, with its current reference price and band."""
        q = select(t.contracts, t.reference_prices.c.price, t.reference_prices.c.low_range,
                   t.reference_prices.c.high_range).join(
            t.reference_prices, t.reference_prices.c.contract_id == t.contracts.c.contract_id)
        out: dict[int, Contract] = {}
        for r in self.conn.execute(q.order_by(t.contracts.c.contract_id)):
            pair = CurrencyPair.parse(r.pair)
            up, npr = self._precisions(pair)
            payoff = Payoff(r.payoff)
            qp = npr if payoff.is_binary else up
            out[r.contract_id] = Contract(
                contract_id=r.contract_id, payoff=payoff, pair=pair,
                expiry=parse_expiry(str(r.expiry)),
                strike=None if r.strike is None else from_units(r.strike, npr),
                tick_size=from_units(r.tick_size, npr), lot_size=from_units(r.lot_size, qp),
                reference_price=from_units(r.price, npr), low_range=from_units(r.low_range, npr),
                high_range=from_units(r.high_range, npr))
        return out

    def numeraire_precision(self, pair: str) -> int:
        p = self._numeraire_precision.get(pair)
        if p is None:
            p = self._numeraire_precision[pair] = self._precisions(CurrencyPair.parse(pair))[1]
        return p

    def set_reference_prices(self, prices: Mapping[int, Decimal], batch_id: int,
                             now_ms: int) -> None:
        """New reference prices (decimal, numeraire per unit) from a batch's clearing prices."""
        if not prices:
            return
        pairs = dict(self.conn.execute(select(t.contracts.c.contract_id, t.contracts.c.pair)
                                       .where(t.contracts.c.contract_id.in_(list(prices)))).all())
        rows = [{"cid": cid, "p": to_units(p, self.numeraire_precision(pairs[cid]), "price")}
                for cid, p in prices.items()]
        self.conn.execute(
            update(t.reference_prices).where(t.reference_prices.c.contract_id == bindparam("cid"))
            .values(price=bindparam("p"), batch_id=batch_id, updated_ms=now_ms), rows)

    def reference_prices(self) -> dict[int, tuple[int, int | None]]:
        """contract → (price in numeraire units, the batch that set it)."""
        return {r.contract_id: (r.price, r.batch_id)
                for r in self.conn.execute(select(t.reference_prices))}

    def add_spot_price(self, pair: str, source: str, price: int, observed_ms: int,
                       is_fixing: bool = False) -> None:
        self.conn.execute(insert(t.spot_prices).values(pair=pair, source=source, price=price,
                                                       observed_ms=observed_ms,
                                                       is_fixing=is_fixing))

    def latest_spot(self, pair: str) -> tuple[int, int] | None:
        r = self.conn.execute(select(t.spot_prices.c.price, t.spot_prices.c.observed_ms)
                              .where(t.spot_prices.c.pair == pair)
                              .order_by(t.spot_prices.c.observed_ms.desc()).limit(1)).first()
        return None if r is None else (r.price, r.observed_ms)

    # ---- clients and funds ----------------------------------------------------------------

    def ensure_clients(self, client_ids: Iterable[int], now_ms: int) -> None:
        ids = set(client_ids)
        if not ids:
            return
        have = set(self.conn.scalars(select(t.clients.c.client_id)
                                     .where(t.clients.c.client_id.in_(ids))))
        new = [{"client_id": c, "registered_ms": now_ms} for c in sorted(ids - have)]
        if new:
            self.conn.execute(insert(t.clients), new)

    def fund_locks(self, client_ids: Iterable[int] | None = None, *,
                   for_update: bool = False) -> dict[tuple[int, str], FundLock]:
        """``for_update``: lock the rows (PostgreSQL) for a read-modify-write — the settlement
        monitor changes fundLockValue and settleValue concurrently."""
        q = select(t.fund_locks)
        if client_ids is not None:
            q = q.where(t.fund_locks.c.client_id.in_(set(client_ids)))
        if for_update:
            q = q.order_by(t.fund_locks.c.client_id, t.fund_locks.c.currency).with_for_update()
        return {(r.client_id, r.currency): FundLock(r.client_id, r.currency, r.fund_lock_value,
                                                    r.order_value, r.settle_value)
                for r in self.conn.execute(q)}

    def put_fund_locks(self, values: Iterable[FundLock], now_ms: int, *,
                       existing: Iterable[tuple[int, str]] | None = None) -> None:
        """Insert or overwrite the three values of each (client, currency).

        ``existing``: for a read-modify-write, the (client, currency) keys the caller's locked
        read (``fund_locks(…, for_update=True)``) found. Those rows are updated; every other
        row is inserted, never updated — so if another writer (the chain monitor's first
        deposit, the loop) inserted that row after the caller's read, this transaction fails
        with :class:`Conflict` (its callers retry) instead of overwriting the other writer's
        values with ones computed from a missing row. Without ``existing`` (set-up, imports
        with no concurrent writer) the rows present now are updated."""
        values = list(values)
        if not values:
            return
        self.ensure_clients({v.client_id for v in values}, now_ms)
        have = (set(self.fund_locks({v.client_id for v in values})) if existing is None
                else set(existing))
        rows = [dict(client_id=v.client_id, currency=v.currency,
                     fund_lock_value=v.fund_lock_value, order_value=v.order_value,
                     settle_value=v.settle_value, updated_ms=now_ms) for v in values]
        new = [r for r in rows if (r["client_id"], r["currency"]) not in have]
        old = [{**r, "cid": r["client_id"], "cur": r["currency"]} for r in rows
               if (r["client_id"], r["currency"]) in have]
        if new:
            self.conn.execute(insert(t.fund_locks), new)
        if old:
            self.conn.execute(
                update(t.fund_locks).where(and_(t.fund_locks.c.client_id == bindparam("cid"),
                                                t.fund_locks.c.currency == bindparam("cur")))
                .values(fund_lock_value=bindparam("fund_lock_value"),
                        order_value=bindparam("order_value"),
                        settle_value=bindparam("settle_value"),
                        updated_ms=bindparam("updated_ms")),
                [{k: v for k, v in r.items() if k not in ("client_id", "currency")}
                 for r in old])

    def order_values(self, client_ids: Iterable[int]) -> dict[tuple[int, str], int]:
        """Σ of the locks of each client's live orders, per currency (what orderValue must be)."""
        ids = set(client_ids)
        out: dict[tuple[int, str], int] = defaultdict(int)
        if not ids:
            return out
        q = (select(t.orders.c.client_id, t.currency_pairs.c.underlying,
                    t.currency_pairs.c.numeraire, func.sum(t.orders.c.lock_underlying),
                    func.sum(t.orders.c.lock_numeraire))
             .join(t.currency_pairs, t.currency_pairs.c.pair == t.orders.c.pair)
             .where(t.orders.c.client_id.in_(ids))
             .group_by(t.orders.c.client_id, t.currency_pairs.c.underlying,
                       t.currency_pairs.c.numeraire))
        for client, und, num, lu, ln in self.conn.execute(q):
            out[(client, und)] += int(lu or 0)
            out[(client, num)] += int(ln or 0)
        return out

    # ---- orders ---------------------------------------------------------------------------

    def _order_row(self, so: StoredOrder) -> dict[str, Any]:
        o = so.order
        return dict(order_id=o.order_id, client_id=o.client_id,
                    client_order_id=so.client_order_id, pair=so.pair,
                    total_net_price=to_units(o.total_net_price,
                                             self.numeraire_precision(so.pair),
                                             f"order {o.order_id} totalNetPrice"),
                    time_in_force=str(o.time_in_force), all_or_none=o.all_or_none,
                    min_packages=o.min_packages, packages=o.packages,
                    filled_packages=so.filled_packages, status=str(so.status),
                    reject_reason=so.reject_reason, admitted_ms=so.admitted_ms,
                    expire_ms=so.expire_ms, lock_underlying=so.lock_underlying,
                    lock_numeraire=so.lock_numeraire, version=so.version,
                    batch_id=so.batch_id, updated_ms=so.admitted_ms)

    def order_exists(self, order_ids: Iterable[int]) -> set[int]:
        """The ids taken by an order in the store. A REJECTED order does not take its id: the
        client may send an order with that id again (it then replaces the rejected record)."""
        return self._ids_in(order_ids, rejected=False)

    def _ids_in(self, order_ids: Iterable[int], rejected: bool) -> set[int]:
        """Ids of ``order_ids`` in the store: of orders that are not REJECTED, or (``rejected``)
        of REJECTED ones."""
        ids = list(set(order_ids))
        found: set[int] = set()
        hist = t.historical_orders
        rejected_status = str(OrderStatus.REJECTED)
        tables = ((hist, hist.c.status == rejected_status),) if rejected else (
            (t.orders, None), (hist, hist.c.status != rejected_status))
        for table, cond in tables:
            for i in range(0, len(ids), 5000):
                q = select(table.c.order_id).where(table.c.order_id.in_(ids[i:i + 5000]))
                found |= set(self.conn.scalars(q if cond is None else q.where(cond)))
        return found

    def insert_orders(self, stored: Iterable[StoredOrder],
                      history: Iterable[HistoryEntry], *, fresh_ids: bool = False) -> None:
        """New orders (live ones into the book, final ones — rejected — into history). An order
        whose id belongs to a REJECTED order replaces that record (its state history stays).
        ``fresh_ids``: the ids were never stored (the client API's venue ids: the order id
        sequence, or on SQLite max + 1 under the writer lock), so none can be a REJECTED
        record's: not looked up. Otherwise (ids from elsewhere, e.g. a book file) PostgreSQL's
        order id sequence is moved past them, so the client API never hands one out again."""
        stored = list(stored)
        if not fresh_ids and stored and self.conn.dialect.name == "postgresql":
            from coordinator.persistence.intake import order_ids_past  # imports this module

            order_ids_past(self, max(so.order_id for so in stored))
        replaced = [] if fresh_ids else list(
            self._ids_in((so.order_id for so in stored), rejected=True))
        for i in range(0, len(replaced), 5000):
            chunk = replaced[i:i + 5000]
            self.conn.execute(delete(t.order_legs).where(t.order_legs.c.order_id.in_(chunk)))
            self.conn.execute(delete(t.historical_orders).where(
                t.historical_orders.c.order_id.in_(chunk)))
        live, final, legs = [], [], []
        for so in stored:
            (final if so.status.is_final else live).append(self._order_row(so))
            legs.extend({"order_id": so.order_id, "contract_id": leg.contract_id,
                         "side": str(leg.side), "lots": leg.lots} for leg in so.order.legs)
        if live:
            self.insert_rows(t.orders, live)
            single = [{"order_id": so.order_id, "client_id": so.order.client_id,
                       "contract_id": so.order.legs[0].contract_id,
                       "side": str(so.order.legs[0].side)}
                      for so in stored if not so.status.is_final and len(so.order.legs) == 1]
            # self-match prevention's index (``order_single_legs``)
            self.insert_rows(t.order_single_legs, single)
        self.insert_rows(t.historical_orders, final)
        self.insert_rows(t.order_legs, legs)
        self.insert_rows(t.order_flags, [{"order_id": so.order_id, "reduce_only": True}
                                         for so in stored if so.order.reduce_only])
        self.add_history(history)

    def add_history(self, history: Iterable[HistoryEntry]) -> None:
        self.insert_rows(t.order_state_history, [
            dict(order_id=h.order_id, from_status=None if h.from_status is None
                 else str(h.from_status), to_status=str(h.to_status),
                 filled_packages=h.filled_packages, batch_id=h.batch_id, reason=h.reason,
                 at_ms=h.at_ms) for h in history])

    def insert_rows(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """``INSERT`` of ``rows`` (each with the same keys; plain values: ints, strings, bools,
        None; a JSON column's value as its text): what ``conn.execute(insert(table), rows)``
        stores, without SQLAlchemy building and processing the parameters of every row (the
        order intake's hot path). SQLite: the driver's ``executemany`` (one C loop).
        PostgreSQL: ``COPY … FROM STDIN`` (psycopg's ``executemany`` sends every row as a
        statement of its own; under intake load COPY halved the median latency)."""
        if not rows:
            return
        cols = tuple(rows[0])
        dialect = self.conn.dialect
        if self._deferred is not None:
            sql, kinds = _unnest_sql(dialect, table, cols)
            self._deferred.append((sql, [pg_array([r[c] for r in rows], kind)
                                         for c, kind in zip(cols, kinds, strict=True)]))
            return
        if dialect.paramstyle == "qmark":
            self.conn.exec_driver_sql(_insert_sql(dialect, table.name, cols),
                                      [tuple(r[c] for c in cols) for r in rows])
            return
        quote = dialect.identifier_preparer.quote
        with self.conn.connection.dbapi_connection.cursor() as cur, \
                cur.copy(f"COPY {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
                         "FROM STDIN") as copy:
            for r in rows:
                copy.write_row(tuple(r[c] for c in cols))

    @contextmanager
    def deferred_inserts(self, *, commit: bool = False) -> Iterator[None]:
        """On PostgreSQL, the :meth:`insert_rows` inside are sent at the end, together: one
        ``INSERT … SELECT FROM unnest(arrays)`` per table, all in one pipeline (one round trip
        for all the tables instead of two per table with COPY; the order intake holds its lock
        meanwhile). Only for inserts that nothing inside reads back; the statements inside run
        at once, before them. A block inside another one adds to the outer one's pipeline.

        ``commit`` (the outermost block only): the block ends the transaction — its pipeline
        ends with ``COMMIT`` (one round trip for the rows and the commit; the order intake
        holds its lock until the commit), and nothing may use this ``Tx`` after it. Left by an
        exception, nothing is sent (the transaction rolls back as usual).

        Elsewhere (SQLite) nothing changes: ``commit`` too is left to ``Store.write()``."""
        if self.conn.dialect.name != "postgresql" or self._deferred is not None:
            yield
            return
        self._deferred = []
        try:
            yield
            pending = self._deferred
        finally:
            self._deferred = None
        if commit:
            pending.append(("COMMIT", []))
        if not pending:
            return
        raw = self.conn.connection.dbapi_connection
        with raw.pipeline(), raw.cursor() as cur:
            for sql, params in pending:
                cur.execute(sql, params or None)
        if commit:
            self._ended = True

    def ended_cleanly(self) -> bool:
        """After ``deferred_inserts(commit=True)``: no transaction was opened since (nothing
        ran after the COMMIT)."""
        info = self.conn.connection.dbapi_connection.info
        return info.transaction_status == TransactionStatus.IDLE

    def defer(self, sql: str, params: list[Any]) -> bool:
        """Inside :meth:`deferred_inserts` on PostgreSQL: queue a statement that returns
        nothing to read (driver SQL, ``%s`` parameters) with the inserts; False elsewhere
        (the caller runs it itself)."""
        if self._deferred is None:
            return False
        self._deferred.append((sql, params))
        return True

    def _orders_from(self, table, where=None) -> list[StoredOrder]:
        q = select(table)
        if where is not None:
            q = q.where(where)
        rows = self.conn.execute(q.order_by(table.c.admitted_ms, table.c.order_id)).all()
        if not rows:
            return []
        ids = [r.order_id for r in rows]
        legs: dict[int, list[Leg]] = defaultdict(list)
        lq = select(t.order_legs).order_by(t.order_legs.c.order_id, t.order_legs.c.contract_id)
        if len(ids) <= 5000:
            lq = lq.where(t.order_legs.c.order_id.in_(ids))
        else:
            lq = lq.where(t.order_legs.c.order_id.in_(select(table.c.order_id).where(
                where if where is not None else text("1=1"))))
        for r in self.conn.execute(lq):
            legs[r.order_id].append(Leg(r.contract_id, Side(r.side), r.lots))
        reduce_only = order_types.reduce_only_ids(self.conn, ids)
        out = []
        for r in rows:
            prec = self.numeraire_precision(r.pair)
            order = Order(r.order_id, r.client_id, from_units(r.total_net_price, prec),
                          tuple(legs[r.order_id]), TimeInForce(r.time_in_force),
                          bool(r.all_or_none), r.min_packages)
            order = order_types.with_flags(order, r.order_id in reduce_only, r.expire_ms)
            out.append(StoredOrder(order=order, pair=r.pair, status=OrderStatus(r.status),
                                   admitted_ms=r.admitted_ms, filled_packages=r.filled_packages,
                                   expire_ms=r.expire_ms, lock_underlying=r.lock_underlying,
                                   lock_numeraire=r.lock_numeraire,
                                   client_order_id=r.client_order_id,
                                   reject_reason=r.reject_reason, version=r.version,
                                   batch_id=r.batch_id))
        return out

    def live_orders(self, admitted_before_ms: int | None = None,
                    client_ids: Iterable[int] | None = None,
                    contract_ids: Iterable[int] | None = None) -> list[StoredOrder]:
        """The live book in entry order (admission time, then id); ``contract_ids``: only the
        orders with a leg on one of them."""
        conds = []
        if contract_ids is not None:
            conds.append(t.orders.c.order_id.in_(select(t.order_legs.c.order_id).where(
                t.order_legs.c.contract_id.in_(set(contract_ids)))))
        if admitted_before_ms is not None:
            conds.append(t.orders.c.admitted_ms < admitted_before_ms)
        if client_ids is not None:
            conds.append(t.orders.c.client_id.in_(set(client_ids)))
        return self._orders_from(t.orders, and_(*conds) if conds else None)

    def historical_orders(self, client_ids: Iterable[int] | None = None) -> list[StoredOrder]:
        where = None if client_ids is None else t.historical_orders.c.client_id.in_(
            set(client_ids))
        return self._orders_from(t.historical_orders, where)

    def order(self, order_id: int) -> StoredOrder:
        for table in (t.orders, t.historical_orders):
            found = self._orders_from(table, table.c.order_id == order_id)
            if found:
                return found[0]
        raise NotFound(f"order {order_id} is not in the store")

    def order_versions(self, order_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
        ids = list(order_ids)
        out: dict[int, tuple[int, str]] = {}
        for i in range(0, len(ids), 5000):
            q = select(t.orders.c.order_id, t.orders.c.version, t.orders.c.status).where(
                t.orders.c.order_id.in_(ids[i:i + 5000]))
            out.update({r.order_id: (r.version, r.status) for r in self.conn.execute(q)})
        return out

    def history(self, order_id: int) -> list[HistoryEntry]:
        q = (select(t.order_state_history).where(t.order_state_history.c.order_id == order_id)
             .order_by(t.order_state_history.c.id))
        return [HistoryEntry(r.order_id, None if r.from_status is None
                             else OrderStatus(r.from_status), OrderStatus(r.to_status),
                             r.filled_packages, r.at_ms, r.batch_id, r.reason)
                for r in self.conn.execute(q)]

    def update_orders(self, changed: Iterable[StoredOrder], now_ms: int) -> None:
        """Write changed live orders; those now final move to the historical table.

        Each order's ``version`` must be the stored one (else :class:`Conflict`); it is bumped.
        """
        changed = list(changed)
        if not changed:
            return
        live = [so for so in changed if not so.status.is_final]
        final = [so for so in changed if so.status.is_final]
        if live:
            res = self.conn.execute(
                update(t.orders).where(and_(t.orders.c.order_id == bindparam("oid"),
                                            t.orders.c.version == bindparam("ver")))
                .values(status=bindparam("st"), filled_packages=bindparam("filled"),
                        lock_underlying=bindparam("lu"), lock_numeraire=bindparam("ln"),
                        batch_id=bindparam("bid"), version=t.orders.c.version + 1,
                        updated_ms=now_ms),
                [dict(oid=so.order_id, ver=so.version, st=str(so.status),
                      filled=so.filled_packages, lu=so.lock_underlying, ln=so.lock_numeraire,
                      bid=so.batch_id) for so in live])
            if (self.conn.dialect.supports_sane_multi_rowcount or len(live) == 1) \
                    and res.rowcount != len(live):
                raise Conflict(f"{len(live) - res.rowcount} order(s) changed concurrently")
        if final:
            res = self.conn.execute(
                delete(t.orders).where(and_(t.orders.c.order_id == bindparam("oid"),
                                            t.orders.c.version == bindparam("ver"))),
                [dict(oid=so.order_id, ver=so.version) for so in final])
            if (self.conn.dialect.supports_sane_multi_rowcount or len(final) == 1) \
                    and res.rowcount != len(final):
                raise Conflict(f"{len(final) - res.rowcount} order(s) changed concurrently")
            rows = []
            for so in final:
                row = self._order_row(so)
                row.update(version=so.version + 1, updated_ms=now_ms)
                rows.append(row)
            self.conn.execute(insert(t.historical_orders), rows)

    # ---- positions and lockups ------------------------------------------------------------

    def positions(self, client_ids: Iterable[int] | None = None) -> dict[tuple[int, int], int]:
        q = select(t.positions.c.client_id, t.positions.c.contract_id, t.positions.c.lots)
        if client_ids is not None:
            q = q.where(t.positions.c.client_id.in_(set(client_ids)))
        return {(r.client_id, r.contract_id): r.lots for r in self.conn.execute(q)}

    def position_states(self, client_ids: Iterable[int] | None = None
                        ) -> dict[tuple[int, int], Position]:
        """Positions with the forward entry price and realised result (flat rows left out)."""
        q = select(t.positions)
        if client_ids is not None:
            q = q.where(t.positions.c.client_id.in_(set(client_ids)))
        out = {}
        for r in self.conn.execute(q):
            p = Position(r.lots, Fraction(r.entry_num, r.entry_den),
                         Fraction(r.realised_num, r.realised_den))
            if not p.is_flat:
                out[(r.client_id, r.contract_id)] = p
        return out

    def put_positions(self, values: Mapping[tuple[int, int], Position], batch_id: int | None,
                      now_ms: int) -> None:
        """Write positions (insert or overwrite; a flat one is kept as a zero row)."""
        if not values:
            return
        have = set(self.positions({c for c, _ in values}))
        new, old = [], []
        for (c, k), p in values.items():
            row = dict(c=c, k=k, lots=p.lots, en=p.entry_price.numerator,
                       ed=p.entry_price.denominator, rn=p.realised.numerator,
                       rd=p.realised.denominator)
            (old if (c, k) in have else new).append(row)
        if new:
            self.conn.execute(insert(t.positions), [
                dict(client_id=r["c"], contract_id=r["k"], lots=r["lots"], entry_num=r["en"],
                     entry_den=r["ed"], realised_num=r["rn"], realised_den=r["rd"],
                     batch_id=batch_id, updated_ms=now_ms) for r in new])
        if old:
            self.conn.execute(
                update(t.positions).where(and_(t.positions.c.client_id == bindparam("c"),
                                               t.positions.c.contract_id == bindparam("k")))
                .values(lots=bindparam("lots"), entry_num=bindparam("en"),
                        entry_den=bindparam("ed"), realised_num=bindparam("rn"),
                        realised_den=bindparam("rd"), batch_id=batch_id, updated_ms=now_ms),
                old)

    def lockups(self, client_ids: Iterable[int] | None = None) -> dict[tuple[int, str, int],
                                                                       Lockup]:
        q = select(t.lockups)
        if client_ids is not None:
            q = q.where(t.lockups.c.client_id.in_(set(client_ids)))
        return {(r.client_id, r.pair, r.expiry): Lockup(r.client_id, r.pair, r.expiry,
                                                        r.underlying_amount, r.numeraire_amount)
                for r in self.conn.execute(q)}

    def put_lockups(self, values: Iterable[Lockup], batch_id: int | None, now_ms: int) -> None:
        values = list(values)
        if not values:
            return
        have = self.lockups({v.client_id for v in values})
        new, old = [], []
        for v in values:
            row = dict(client_id=v.client_id, pair=v.pair, expiry=v.expiry,
                       underlying_amount=v.underlying_amount,
                       numeraire_amount=v.numeraire_amount, batch_id=batch_id,
                       updated_ms=now_ms)
            (old if (v.client_id, v.pair, v.expiry) in have else new).append(row)
        if new:
            self.conn.execute(insert(t.lockups), new)
        if old:
            self.conn.execute(
                update(t.lockups).where(and_(t.lockups.c.client_id == bindparam("c"),
                                             t.lockups.c.pair == bindparam("p"),
                                             t.lockups.c.expiry == bindparam("e")))
                .values(underlying_amount=bindparam("underlying_amount"),
                        numeraire_amount=bindparam("numeraire_amount"), batch_id=batch_id,
                        updated_ms=now_ms),
                [dict(c=r["client_id"], p=r["pair"], e=r["expiry"],
                      underlying_amount=r["underlying_amount"],
                      numeraire_amount=r["numeraire_amount"]) for r in old])

    # ---- cash movements -------------------------------------------------------------------

    def insert_movements(self, movements: Iterable[CashMovement], now_ms: int) -> list[int]:
        """Record cash movements (state SETTLE_PENDING, with a first tracking row).

        A movement whose key exists already raises :class:`Conflict`: nothing is applied twice.
        """
        movements = list(movements)
        if not movements:
            return []
        keys = [m.key for m in movements]
        dup = set(self.conn.scalars(select(t.cash_movements.c.key)
                                    .where(t.cash_movements.c.key.in_(keys))))
        if dup:
            raise Conflict(f"cash movement(s) recorded already: {sorted(dup)[:3]}")
        self.conn.execute(insert(t.cash_movements), [
            dict(key=m.key, client_id=m.client_id, pair=m.pair, origin=str(m.origin),
                 origin_id=m.origin_id, underlying_amount=m.underlying_amount,
                 strike_amount=m.strike_amount, state=SETTLE_PENDING, created_ms=now_ms)
            for m in movements])
        ids = dict(self.conn.execute(select(t.cash_movements.c.key, t.cash_movements.c.id)
                                     .where(t.cash_movements.c.key.in_(keys))).all())
        pos = [dict(movement_id=ids[m.key], contract_id=p.contract_id, size=p.size)
               for m in movements for p in m.positions]
        if pos:
            self.conn.execute(insert(t.cash_movement_positions), pos)
        self.conn.execute(insert(t.cash_movement_trackings), [
            dict(movement_id=ids[k], from_state=None, to_state=SETTLE_PENDING, at_ms=now_ms)
            for k in keys])
        return [ids[k] for k in keys]

    def movements(self, origin: MovementOrigin | None = None,
                  origin_id: int | None = None) -> list[tuple[int, str, CashMovement]]:
        """(id, state, movement) in id order."""
        q = select(t.cash_movements)
        if origin is not None:
            q = q.where(t.cash_movements.c.origin == str(origin))
        if origin_id is not None:
            q = q.where(t.cash_movements.c.origin_id == origin_id)
        rows = self.conn.execute(q.order_by(t.cash_movements.c.id)).all()
        pos: dict[int, list[PositionChange]] = defaultdict(list)
        if rows:
            pq = select(t.cash_movement_positions).order_by(
                t.cash_movement_positions.c.movement_id, t.cash_movement_positions.c.contract_id)
            if len(rows) <= 5000:
                pq = pq.where(t.cash_movement_positions.c.movement_id.in_([r.id for r in rows]))
            for r in self.conn.execute(pq):
                pos[r.movement_id].append(PositionChange(r.contract_id, r.size))
        return [(r.id, r.state, CashMovement(r.client_id, r.pair, MovementOrigin(r.origin),
                                             r.origin_id, r.underlying_amount, r.strike_amount,
                                             tuple(pos[r.id]))) for r in rows]

    def track_movement(self, movement_id: int, from_state: str | None, to_state: str, now_ms: int,
                       tx_hash: str | None = None, detail: str | None = None) -> None:
        """One settlement transition; ``from_state`` must be the current state (else Conflict)."""
        res = self.conn.execute(update(t.cash_movements).where(and_(
            t.cash_movements.c.id == movement_id, t.cash_movements.c.state == from_state))
            .values(state=to_state))
        if res.rowcount != 1:
            raise Conflict(f"cash movement {movement_id} is not in state {from_state}")
        self.conn.execute(insert(t.cash_movement_trackings).values(
            movement_id=movement_id, from_state=from_state, to_state=to_state, tx_hash=tx_hash,
            detail=detail, at_ms=now_ms))

    def trackings(self, movement_id: int) -> list[tuple[str | None, str, int]]:
        q = (select(t.cash_movement_trackings).where(
            t.cash_movement_trackings.c.movement_id == movement_id)
            .order_by(t.cash_movement_trackings.c.id))
        return [(r.from_state, r.to_state, r.at_ms) for r in self.conn.execute(q)]

    # ---- edges ----------------------------------------------------------------------------

    def edge(self, name: str) -> int | None:
        return self.conn.scalar(select(t.edges.c.value).where(t.edges.c.name == name))

    def set_edge(self, name: str, value: int, now_ms: int) -> None:
        res = self.conn.execute(update(t.edges).where(t.edges.c.name == name)
                                .values(value=value, updated_ms=now_ms))
        if res.rowcount == 0:
            self.conn.execute(insert(t.edges).values(name=name, value=value, updated_ms=now_ms))

    # ---- batches and fills ----------------------------------------------------------------

    def batch_ids(self, limit: int | None = None, descending: bool = True) -> list[int]:
        q = select(t.batches.c.batch_id).order_by(
            t.batches.c.batch_id.desc() if descending else t.batches.c.batch_id)
        if limit:
            q = q.limit(limit)
        return list(self.conn.scalars(q))

    def batch_exists(self, batch_id: int) -> bool:
        return self.conn.scalar(select(t.batches.c.batch_id).where(
            t.batches.c.batch_id == batch_id)) is not None

    def last_batch_id(self) -> int | None:
        return self.conn.scalar(select(func.max(t.batches.c.batch_id)))

    def insert_batch(self, b: BatchRecord) -> None:
        if self.conn.scalar(select(t.batches.c.batch_id).where(
                t.batches.c.batch_id == b.batch_id)) is not None:
            raise Conflict(f"batch {b.batch_id} is recorded already")
        self.conn.execute(insert(t.batches).values(
            batch_id=b.batch_id, status=b.status, solve_status=b.solve_status,
            order_count=b.order_count, fill_count=b.fill_count, volume=b.volume, book=b.book,
            params=b.params, result=b.result, check_ok=b.check_ok, violations=b.violations,
            timings=b.timings, coordinator=b.coordinator, started_ms=b.started_ms,
            finished_ms=b.finished_ms))

    def set_batch_timings(self, batch_id: int, timings: Mapping[str, float]) -> None:
        self.conn.execute(update(t.batches).where(t.batches.c.batch_id == batch_id)
                          .values(timings=dict(timings)))

    def batch(self, batch_id: int) -> BatchRecord:
        r = self.conn.execute(select(t.batches).where(t.batches.c.batch_id == batch_id)).first()
        if r is None:
            raise NotFound(f"batch {batch_id} is not in the store")
        return BatchRecord(r.batch_id, r.status, r.solve_status, r.order_count, r.fill_count,
                           r.volume, _json(r.book), _json(r.params), _json(r.result),
                           r.check_ok, list(_json(r.violations)), dict(_json(r.timings)),
                           r.coordinator, r.started_ms, r.finished_ms)

    def insert_fills(self, fills: Iterable[FillRecord]) -> None:
        fills = list(fills)
        if not fills:
            return
        self.conn.execute(insert(t.fills), [dict(batch_id=f.batch_id, order_id=f.order_id,
                                                 client_id=f.client_id, packages=f.packages)
                                            for f in fills])
        legs = [dict(batch_id=f.batch_id, order_id=f.order_id, contract_id=c, lots=lots,
                     price=price) for f in fills for c, lots, price in f.legs]
        if legs:
            self.conn.execute(insert(t.fill_legs), legs)

    def fills(self, batch_id: int | None = None) -> list[FillRecord]:
        q = select(t.fills).order_by(t.fills.c.batch_id, t.fills.c.order_id)
        lq = select(t.fill_legs).order_by(t.fill_legs.c.batch_id, t.fill_legs.c.order_id,
                                          t.fill_legs.c.contract_id)
        if batch_id is not None:
            q = q.where(t.fills.c.batch_id == batch_id)
            lq = lq.where(t.fill_legs.c.batch_id == batch_id)
        legs: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
        for r in self.conn.execute(lq):
            legs[(r.batch_id, r.order_id)].append((r.contract_id, r.lots, r.price))
        return [FillRecord(r.batch_id, r.order_id, r.client_id, r.packages,
                           tuple(legs[(r.batch_id, r.order_id)])) for r in self.conn.execute(q)]

    # ---- outbox ---------------------------------------------------------------------------

    def append_events(self, events: Iterable[Event], now_ms: int) -> None:
        rows = [dict(batch_id=e.batch_id, kind=str(e.kind), payload=json.dumps(e.payload),
                     created_ms=now_ms) for e in events]
        if not rows:
            return
        if self.conn.dialect.name == "postgresql":
            from coordinator.persistence.intake import outbox_in_commit_order  # imports this

            outbox_in_commit_order(self)
        self.insert_rows(t.outbox, rows)  # the payload as the JSON column stores it: text
        # Delivered at commit, never for a rolled-back transaction (PostgreSQL; inside
        # deferred_inserts sent with the inserts).
        if self.conn.dialect.name == "postgresql" and not self.defer(
                "SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL]):
            self.conn.execute(text("SELECT pg_notify(:ch, '')"), {"ch": NOTIFY_CHANNEL})

    def events_after(self, seq: int, limit: int = 1000) -> list[Event]:
        q = (select(t.outbox).where(t.outbox.c.seq > seq).order_by(t.outbox.c.seq)
             .limit(limit))
        return [Event(EventKind(r.kind), _json(r.payload), r.batch_id, r.seq, r.created_ms)
                for r in self.conn.execute(q)]

    def last_event_seq(self) -> int:
        return self.conn.scalar(select(func.coalesce(func.max(t.outbox.c.seq), 0)))

    # ---- the coordinator lease ------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, now_ms: int, ttl_ms: int) -> Lease:
        """Take or renew the lease; raises :class:`LeaseHeld` while another holds it."""
        row = self.conn.execute(select(t.coordinator_lease).where(
            t.coordinator_lease.c.name == name).with_for_update()).first()
        if row is None:
            self.conn.execute(insert(t.coordinator_lease).values(
                name=name, holder=holder, token=1, expires_ms=now_ms + ttl_ms))
            return Lease(name, holder, 1, now_ms + ttl_ms)
        if row.holder != holder and row.expires_ms > now_ms:
            raise LeaseHeld(f"the coordinator lease {name!r} is held by {row.holder} until "
                            f"{row.expires_ms} (epoch ms)")
        token = row.token if row.holder == holder else row.token + 1
        res = self.conn.execute(update(t.coordinator_lease).where(and_(
            t.coordinator_lease.c.name == name, t.coordinator_lease.c.token == row.token))
            .values(holder=holder, token=token, expires_ms=now_ms + ttl_ms))
        if res.rowcount != 1:
            raise LeaseHeld(f"the coordinator lease {name!r} was taken concurrently")
        return Lease(name, holder, token, now_ms + ttl_ms)

    def check_lease(self, lease: Lease, now_ms: int) -> None:
        """Fence: the caller still holds ``lease`` (same token, not expired) in this
        transaction, else :class:`LeaseLost` (the transaction must not commit)."""
        row = self.conn.execute(select(t.coordinator_lease).where(
            t.coordinator_lease.c.name == lease.name).with_for_update()).first()
        if row is None or row.holder != lease.holder or row.token != lease.token:
            raise LeaseLost(f"the coordinator lease {lease.name!r} was taken over")
        if row.expires_ms <= now_ms:
            raise LeaseLost(f"the coordinator lease {lease.name!r} expired")

    def release_lease(self, lease: Lease) -> None:
        self.conn.execute(update(t.coordinator_lease).where(and_(
            t.coordinator_lease.c.name == lease.name,
            t.coordinator_lease.c.holder == lease.holder,
            t.coordinator_lease.c.token == lease.token)).values(expires_ms=0))

    def lease(self, name: str) -> Lease | None:
        r = self.conn.execute(select(t.coordinator_lease).where(
            t.coordinator_lease.c.name == name)).first()
        return None if r is None else Lease(r.name, r.holder, r.token, r.expires_ms)

    # ---- totals (reconciliation) ----------------------------------------------------------

    def count(self, table_name: str) -> int:
        table = t.metadata.tables[table_name]
        return self.conn.scalar(select(func.count()).select_from(table))

    def fill_totals(self) -> dict[int, int]:
        """order → Σ packages filled over all batches."""
        q = select(t.fills.c.order_id, func.sum(t.fills.c.packages)).group_by(t.fills.c.order_id)
        return {oid: int(n) for oid, n in self.conn.execute(q)}

    def fill_position_totals(self) -> dict[tuple[int, int], int]:
        """(client, contract) → Σ signed lots over all fills."""
        q = (select(t.fills.c.client_id, t.fill_legs.c.contract_id, func.sum(t.fill_legs.c.lots))
             .join(t.fill_legs, and_(t.fill_legs.c.batch_id == t.fills.c.batch_id,
                                     t.fill_legs.c.order_id == t.fills.c.order_id))
             .group_by(t.fills.c.client_id, t.fill_legs.c.contract_id))
        return {(c, k): int(n) for c, k, n in self.conn.execute(q)}


@lru_cache(maxsize=256)
def _insert_sql(dialect: Any, table: str, cols: tuple[str, ...]) -> str:
    """``INSERT INTO table (cols) VALUES (…)`` in the driver's parameter style."""
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    return (f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join([mark] * len(cols))})")


def _unnest_sql(dialect: Any, table: Table, cols: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """``INSERT INTO table (cols) SELECT * FROM unnest(%s::type[], …)`` (PostgreSQL): one
    array parameter per column, written by :func:`pg_array`; and each column's kind."""
    types = tuple(table.c[c].type for c in cols)
    kinds = tuple("bool" if isinstance(ty, Boolean) else "int" if isinstance(ty, Integer)
                  else "text" for ty in types)
    return _unnest_sql_cached(dialect, table.name, cols, tuple(
        ty.compile(dialect=dialect) for ty in types)), kinds


@lru_cache(maxsize=256)
def _unnest_sql_cached(dialect: Any, table: str, cols: tuple[str, ...],
                       types: tuple[str, ...]) -> str:
    quote = dialect.identifier_preparer.quote
    return (f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in cols)}) "
            f"SELECT * FROM unnest({', '.join(f'%s::text::{ty}[]' for ty in types)})")


def pg_array(values: Sequence[Any], kind: str) -> str:
    """A PostgreSQL array literal of a column's values (``kind``: int, bool or text; None is
    NULL), written here rather than by the driver's generic list adapter (a Python loop per
    element, several times slower: it was a tenth of an intake process's CPU)."""
    if kind == "int":
        if None in values:
            return "{" + ",".join("NULL" if v is None else str(int(v)) for v in values) + "}"
        return "{" + ",".join(map(str, map(int, values))) + "}"
    if kind == "bool":
        return "{" + ",".join("NULL" if v is None else "t" if v else "f" for v in values) + "}"
    return "{" + ",".join(
        "NULL" if v is None else
        '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value


__all__ = ["NOTIFY_CHANNEL", "Store", "StoreError", "Tx", "from_units", "is_sqlite", "to_units"]


class Waiter:
    """Wakes up when the outbox may have grown: PostgreSQL LISTEN/NOTIFY, else polling."""

    def __init__(self, store: Store):
        self._conn = None
        if store.dialect == "postgresql":
            with translate_errors():
                raw = store.engine.raw_connection()
                driver = raw.driver_connection
                driver.autocommit = True
                driver.execute(f"LISTEN {NOTIFY_CHANNEL}")
                self._raw, self._conn = raw, driver

    @property
    def listens(self) -> bool:
        return self._conn is not None

    def wait(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s``; True when a notification arrived."""
        if self._conn is None:
            import time

            time.sleep(timeout_s)
            return False
        with translate_errors():
            got = False
            for _ in self._conn.notifies(timeout=timeout_s, stop_after=1):
                got = True
            return got

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing anyway
                self._conn.execute(f"UNLISTEN {NOTIFY_CHANNEL}")
            self._raw.close()
            self._conn = None
