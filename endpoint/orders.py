"""Orders from the wire (api.md §3): parse, verify the signature, admit through the one intake
path (:func:`coordinator.intake.admit_orders`, the same as ``ccp orders import``), cancel by
the order state table.

A request that is rejected changes nothing: a rejected single order rolls its transaction back
(no REJECTED row, no event); in a ``newOrders`` batch the rejected orders are left out and the
admitted ones are stored. A client reaches only its own orders: another client's order id is
answered exactly like an id that does not exist.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from auction.orders import Leg, Order, OrderStatus, Side, TimeInForce, transition
from auction.products import Contract, Currency
from auction.units import decimal_places
from coordinator.admission import lock_units
from coordinator.events import Event, EventKind
from coordinator.intake import admit_orders
from coordinator.persistence import Conflict, Store
from coordinator.persistence import clientapi as repo
from coordinator.persistence.intake import IntakeReads, intake_reads, lock_clients
from coordinator.persistence.records import FundLock, HistoryEntry, StoredOrder
from coordinator.settings import Settings
from endpoint import eip712
from endpoint.auth import domains
from endpoint.errors import ApiError
from endpoint.models import OrderIn
from endpoint.wire import dec, qty_currency, signed_text, units
from validator.collateral.errors import CollateralError

MAX_CLIENT_ORDER_ID = 2**63
CANCEL_REASON = "CLIENT_CANCEL"


class ReferenceCache:
    """The listed contracts and currencies, read again only when
    :func:`~coordinator.persistence.clientapi.reference_fingerprint` changes (building every
    contract on each order was a tenth of the intake time)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._value: tuple[dict[int, Contract], dict[str, Currency], set[int]] = ({}, {}, set())
        self._lock = threading.Lock()

    def get(self, tx) -> tuple[dict[int, Contract], dict[str, Currency]]:
        return self.get_all(tx)[:2]

    def get_all(self, tx, key: tuple | None = None
                ) -> tuple[dict[int, Contract], dict[str, Currency], set[int]]:
        """(contracts, currencies, delisted contract ids). ``key``: the fingerprint as ``tx``
        read it already (else read here)."""
        if key is None:
            key = repo.reference_fingerprint(tx)
        with self._lock:
            if key == self._key:
                return self._value
        value = (tx.contracts(), dict(tx.currencies()), repo.delisted(tx))
        with self._lock:
            self._key, self._value = key, value
        return value


@dataclass(frozen=True)
class WireOrder:
    order: Order  # order_id 0: the venue assigns it at admission
    client_order_id: int
    gtd_ms: int | None
    typed_for: Callable[[eip712.Domain], eip712.TypedData]
    signature: str | None
    reduce_only: bool
    #: (underlying, numeraire) units the order locks, computed at parsing (outside the intake's
    #: transaction) with ``reference``, the contracts it was parsed against; None: computed
    #: (or refused) by admission
    lock: tuple[int, int] | None = None
    reference: Mapping[int, Contract] | None = None


def _ioc_time(value: Any) -> int | None:
    if value is None or value == "null":
        return None
    try:
        ms = int(value)
    except (TypeError, ValueError):
        raise ApiError("INVALID_REQUEST_DATA", f"iocAuctionTime {value!r} is not epoch ms") \
            from None
    if not 0 <= ms < 2**64:
        raise ApiError("INVALID_REQUEST_DATA", "iocAuctionTime out of range")
    return ms


def parse_order(body: OrderIn, *, client_id: int, address: str | None,
                contracts: Mapping[int, Contract], currencies: Mapping[str, Currency],
                check_address: bool = True) -> WireOrder:
    """A wire order as an :class:`Order` of ``client_id`` (codes of api.md §1)."""
    coid = body.clientOrderId
    if not 0 < coid < MAX_CLIENT_ORDER_ID:
        raise ApiError("INVALID_ORDER_ID", "clientOrderId must be a positive integer below 2^63")
    if body.orderType != "LIMIT":
        raise ApiError("INVALID_ORDER_TYPE", f"orderType {body.orderType!r}: only LIMIT")
    try:
        tif = TimeInForce(body.timeInForce)
    except ValueError:
        raise ApiError("INVALID_ORDER_TIF", f"timeInForce {body.timeInForce!r} is not one of "
                       f"{', '.join(TimeInForce)}") from None
    gtd = _ioc_time(body.iocAuctionTime)
    if tif is TimeInForce.GOOD_TILL_DATE and gtd is None:
        raise ApiError("INVALID_ORDER_TIF", "GOOD_TILL_DATE needs iocAuctionTime (epoch ms)")
    if check_address and (body.clientEthAddress is None or address is None
                          or body.clientEthAddress.strip().lower() != address):
        raise ApiError("INVALID_ACCOUNT", "clientEthAddress is not the session's address")
    if not body.legs:
        raise ApiError("INVALID_ORDER_LEGS", "an order needs at least one leg")
    ids = [leg.contractId for leg in body.legs]
    if len(set(ids)) != len(ids):
        raise ApiError("INVALID_ORDER_LEGS", "a contract appears in two legs")
    legs: list[Leg] = []
    pairs = set()
    for leg in body.legs:
        if leg.side not in ("BUY", "SELL"):
            raise ApiError("INVALID_ORDER_SIDE", f"side {leg.side!r}: BUY or SELL")
        c = contracts.get(leg.contractId)
        if c is None:
            raise ApiError("INVALID_CONTRACT_ID", f"unknown contract {leg.contractId}")
        pairs.add(str(c.pair))
        qty = dec(leg.quantity, f"contract {c.contract_id} quantity", "INVALID_ORDER_QTY")
        qc = currencies.get(qty_currency(c))
        if qc is not None and decimal_places(qty) > qc.precision:
            raise ApiError("INVALID_ORDER_QTY_PRECISION", f"contract {c.contract_id}: quantity "
                           f"{leg.quantity} has more than {qc.precision} decimals")
        lots, rem = divmod(qty, c.lot_size)
        if qty <= 0 or rem != 0:
            raise ApiError("INVALID_ORDER_QTY", f"contract {c.contract_id}: quantity "
                           f"{leg.quantity} is not a positive multiple of the lot size "
                           f"{c.lot_size}")
        legs.append(Leg(c.contract_id, Side(leg.side), int(lots)))
    if len(pairs) > 1:
        raise ApiError("INVALID_ORDER_LEGS", "legs on more than one currency pair")
    price = dec(body.totalNetPrice, "totalNetPrice", "INVALID_ORDER_PRICE")
    num = currencies.get(contracts[ids[0]].pair.numeraire)
    if num is not None and decimal_places(price) > num.precision:
        raise ApiError("INVALID_ORDER_PRICE_PRECISION", f"totalNetPrice {body.totalNetPrice} has "
                       f"more than {num.precision} decimals")
    legs.sort(key=lambda leg: leg.contract_id)
    try:
        order = Order(0, client_id, price, tuple(legs), tif, bool(body.allOrNone),
                      body.minQuantity or 0, reduce_only=bool(body.reduceOnly),
                      good_till_ms=gtd if tif is TimeInForce.GOOD_TILL_DATE else None)
    except ValueError as e:
        raise ApiError("INVALID_ORDER_QTY", str(e).replace("order 0: ", "")) from None
    signed_legs = [(leg.contractId, leg.side, signed_text(leg.quantity)) for leg in body.legs]
    signed_address = body.clientEthAddress or ""

    def typed_for(domain: eip712.Domain) -> eip712.TypedData:
        return eip712.order(domain, order_type=body.orderType, order_id=coid,
                            price=signed_text(body.totalNetPrice),
                            time_in_force=body.timeInForce, address=signed_address,
                            legs=signed_legs, single_price=body.requestSinglePrice,
                            ioc_auction_time=gtd, all_or_none=body.allOrNone,
                            min_quantity=body.minQuantity, reduce_only=body.reduceOnly)

    try:
        lock: tuple[int, int] | None = lock_units(order, contracts, currencies)[1:]
    except (CollateralError, ArithmeticError, ValueError, KeyError):  # admission names it
        lock = None
    return WireOrder(order, coid, gtd, typed_for, body.signature, bool(body.reduceOnly), lock,
                     contracts)


#: Per address, the dialect (index into :func:`endpoint.auth.domains`) its last valid order
#: signature used: tried first, so a client of either dialect costs one key recovery.
_LAST_DIALECT: dict[str, int] = {}


def verify_signature(settings: Settings, w: WireOrder, address: str) -> None:
    if not w.signature:
        raise ApiError("INVALID_SIGNATURE", "signature missing")
    try:
        eip712.parse_signature(w.signature)
    except eip712.SignatureError as e:
        raise ApiError("INVALID_SIGNATURE", str(e)) from None
    both = domains(settings)
    first = _LAST_DIALECT.get(address, 0)
    for i in (first, 1 - first):
        try:
            if eip712.recover(w.typed_for(both[i]), w.signature) == address:
                if i != first:
                    if len(_LAST_DIALECT) > 100_000:
                        _LAST_DIALECT.clear()
                    _LAST_DIALECT[address] = i
                return
        except ValueError:  # SignatureError, or a field the typed data cannot carry
            continue
    raise ApiError("INVALID_SIGNATURE", "the signature is not the client's for this order "
                   "(fields are signed as sent: price and quantities as strings)")


@dataclass(frozen=True)
class Outcome:
    client_order_id: int
    code: str  # OK or a rejection code
    details: str = ""
    order_id: int | None = None
    status: str | None = None


_NO_TURN = contextlib.nullcontext()  # reusable: it holds nothing


def submit(store: Store, settings: Settings, orders: Sequence[WireOrder], now_ms: int,
           *, all_or_nothing: bool, cache: ReferenceCache | None = None,
           turn: contextlib.AbstractContextManager = _NO_TURN) -> list[Outcome]:
    """Admit ``orders`` (verified) in one transaction. ``all_or_nothing`` (newOrder): any
    rejection rolls everything back and raises it. ``turn``: a context entered once the
    intake locks are held, around the admission's CPU work and (PostgreSQL) the commit
    (:class:`Turns`).

    PostgreSQL: the intake locks (the intake lock shared, each client's exclusive:
    admissions of other clients go on meanwhile) and the order ids are taken in the round
    trip of admission's reads (:func:`intake_reads`), and the new rows and the COMMIT go in
    one round trip (``Tx.deferred_inserts(commit=True)``) once the outcomes are known — the
    locks are held for the CPU work and two round trips, not five."""
    outcomes: dict[int, Outcome] = {}
    with store.write() as tx:
        todo = list(orders)
        # PostgreSQL: the intake locks and ids, then what admission reads (the delisted
        # contracts and the reference data's fingerprint too), in one round trip (SQLite: the
        # writer transaction is the lock, held since BEGIN; admission reads one by one)
        reads = intake_reads(tx, [w.order for w in todo],
                             [(w.order.client_id, w.client_order_id) for w in todo],
                             fingerprint=cache is not None)
        # both read under the locks: a delisting (it takes the intake lock exclusive) that
        # committed before is seen, and none commits before this intake does
        ref = None if cache is None else cache.get_all(
            tx, None if reads is None else reads.fingerprint)
        delisted = reads.delisted if reads is not None else \
            repo.delisted(tx) if ref is None else ref[2]
        if ref is not None:
            tx.known_currencies(ref[1])  # not read again for the rows' precisions
        kept = []
        for w in todo:
            gone = [leg.contract_id for leg in w.order.legs if leg.contract_id in delisted]
            if gone:
                why = f"contract {gone[0]} is delisted"
                if all_or_nothing:
                    raise ApiError("INVALID_CONTRACT_ID", why)
                outcomes[id(w)] = Outcome(w.client_order_id, "INVALID_CONTRACT_ID", why)
            else:
                kept.append(w)
        if len(kept) < len(todo) and reads is not None:  # their ids stay unused (a gap)
            left = {id(w) for w in kept}
            reads = replace(reads, order_ids=[
                oid for w, oid in zip(todo, reads.order_ids, strict=True) if id(w) in left])
        todo = kept
        # the rows and the COMMIT sent together once every outcome is known (an exception
        # inside, e.g. a rejected newOrder, sends nothing: the transaction rolls back)
        with turn, tx.deferred_inserts(commit=True):
            outcomes.update(_admit(tx, settings, todo, ref, now_ms, all_or_nothing, reads))
    return [outcomes[id(w)] for w in orders]


def _admit(tx, settings: Settings, todo: list[WireOrder], ref: tuple | None, now_ms: int,
           all_or_nothing: bool, reads: IntakeReads | None) -> dict[int, Outcome]:
    """:func:`submit` once the intake locks are held: the outcome of each of ``todo`` by
    ``id()``. ``reads``: :func:`intake_reads`' (PostgreSQL), None to read here."""
    eot = timedelta(hours=settings.end_of_trading_hours)
    ids = repo.next_order_ids(tx, len(todo)) if reads is None else reads.order_ids
    placed = [_with_id(w.order, oid) for w, oid in zip(todo, ids, strict=True)]
    # locks computed at parsing hold when the contracts are still those it used
    locks = {oid: w.lock for w, oid in zip(todo, ids, strict=True)
             if ref is not None and w.lock is not None and w.reference is ref[0]}
    adm = admit_orders(tx, placed, now_ms=now_ms, end_of_trading=eot,
                       client_order_ids=[w.client_order_id for w in todo],
                       gtd_ms=[w.gtd_ms for w in todo], keep_rejected=False,
                       contracts=None if ref is None else ref[0],
                       currencies=None if ref is None else ref[1],
                       self_match=settings.self_match, locks=locks, reads=reads)
    if all_or_nothing and adm.rejections:
        r = adm.rejections[0]
        raise ApiError(r.code, r.message.replace(f"order {r.order_id}", "the order"))
    admitted = {so.order_id: so for so in adm.admitted}
    rejected = {r.order_id: r for r in adm.rejections}
    outcomes = {}
    for w, oid in zip(todo, ids, strict=True):
        if oid in admitted:
            outcomes[id(w)] = Outcome(w.client_order_id, "OK", "", oid,
                                      str(admitted[oid].status))
        else:
            r = rejected[oid]
            outcomes[id(w)] = Outcome(w.client_order_id, r.code,
                                      r.message.replace(f"order {oid}", "the order"))
    return outcomes


def _with_id(o: Order, order_id: int) -> Order:
    """``replace(o, order_id=order_id)`` without ``replace``'s look at the fields."""
    return Order(order_id, o.client_id, o.total_net_price, o.legs, o.time_in_force,
                 o.all_or_none, o.min_packages, o.reduce_only, o.good_till_ms)


class Turns:
    """CPU work of one process, one piece at a time, the intake writer first.

    Parsing, signature checks and the intake transaction are Python work under one GIL.
    Interleaved, they only stretch each other, and worse, a thread that has released the GIL
    for SQLite waits a whole switch interval (5 ms) to get it back while another computes: a
    transaction of a dozen statements lasted several times its CPU while it held the store's
    writer lock, which the other API processes wait for. So they take turns, in the order
    they asked (a plain lock is not fair: a thread could be passed again and again), except
    the intake writer: it holds the writer lock while it waits, so it goes first, and a
    request parsing a batch lets it in between two orders (:meth:`let_writer`)."""

    def __init__(self) -> None:
        self._cond = threading.Lock()  # guards the fields below
        self._busy = False
        # waiting turns, in the order they are served: each a lock held until its turn comes
        # (handed over directly by the turn that ends: one thread wakes, not every waiter)
        self._queue: deque[threading.Lock] = deque()
        self._writer: threading.Lock | None = None  # the waiting writer's turn (at the head)

    @contextlib.contextmanager
    def turn(self, writer: bool = False) -> Iterator[None]:
        with self._cond:
            if not self._busy:
                self._busy = True
                me = None
            else:
                me = threading.Lock()
                me.acquire()
                if writer:
                    self._writer = me
                    self._queue.appendleft(me)
                else:
                    self._queue.append(me)
        if me is not None:
            me.acquire()  # until the turn before hands over
        try:
            yield
        finally:
            self._release()

    def let_writer(self) -> None:
        """Inside a turn: if the writer waits, let it go first, then go on."""
        with self._cond:
            if self._writer is None:
                return
            me = threading.Lock()
            me.acquire()
            self._queue.insert(1, me)
            self._hand_over()
        me.acquire()

    def _hand_over(self) -> None:
        """The turn passes to the first waiting one (lock held; ``_busy`` stays True), or
        nobody's."""
        if self._queue:
            nxt = self._queue.popleft()
            if nxt is self._writer:
                self._writer = None
            nxt.release()
        else:
            self._busy = False

    def _release(self) -> None:
        with self._cond:
            self._hand_over()


class GroupCommit:
    """Admissions of concurrent requests committed together (group commit).

    Request threads hand their verified orders to one writer thread and wait; the writer takes
    everything waiting (up to ``max_orders``), admits it with one :func:`submit` — one
    transaction, one commit — and hands each request its outcomes. Admission is sequential in
    arrival order, so the result is the one the requests would get one after the other; what
    changes is that N waiting requests pay for one commit (an fsync on SQLite) instead of N.
    A failed transaction fails every request of its group (nothing of it is stored).
    Request threads parse inside ``turns.turn()``; the writer's admission, once it holds the
    intake lock, takes its turn before them (:class:`Turns`).
    """

    def __init__(self, store: Store, settings: Settings, clock: Any, cache: ReferenceCache,
                 max_orders: int = 2000):
        self.store, self.settings, self.clock, self.cache = store, settings, clock, cache
        self.max_orders = max_orders
        self.turns = Turns()
        self._cond = threading.Condition()
        self._waiting: list[tuple[list[WireOrder], dict[str, Any]]] = []
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(self, orders: Sequence[WireOrder]) -> list[Outcome]:
        slot: dict[str, Any] = {}
        with self._cond:
            if self._stopped:
                raise RuntimeError("the intake is stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="intake-writer",
                                                daemon=True)
                self._thread.start()
            self._waiting.append((list(orders), slot))
            self._cond.notify_all()
            while "result" not in slot and "error" not in slot:
                self._cond.wait()
        if "error" in slot:
            raise slot["error"]
        return slot["result"]

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)

    def _take(self) -> list[tuple[list[WireOrder], dict[str, Any]]] | None:
        with self._cond:
            while not self._waiting and not self._stopped:
                self._cond.wait()
            if not self._waiting:
                return None
            group, n = [], 0
            while self._waiting and (not group or n + len(self._waiting[0][0])
                                     <= self.max_orders):
                item = self._waiting.pop(0)
                group.append(item)
                n += len(item[0])
            return group

    def _run(self) -> None:
        while (group := self._take()) is not None:
            flat = [w for orders, _ in group for w in orders]
            try:
                outcomes = submit(self.store, self.settings, flat, self.clock.now_ms(),
                                  all_or_nothing=False, cache=self.cache,
                                  turn=self.turns.turn(writer=True))
                results: list[Any] = []
                i = 0
                for orders, _slot in group:
                    results.append(outcomes[i:i + len(orders)])
                    i += len(orders)
                with self._cond:
                    for (_o, slot), res in zip(group, results, strict=True):
                        slot["result"] = res
                    self._cond.notify_all()
            except Exception as e:  # the whole group's transaction failed: tell each request
                with self._cond:
                    for _o, slot in group:
                        slot["error"] = e
                    self._cond.notify_all()


def _funds_payload(f: FundLock) -> dict[str, Any]:
    return {"clientId": f.client_id, "currency": f.currency, "fundLockValue": f.fund_lock_value,
            "orderValue": f.order_value, "settleValue": f.settle_value}


def cancel_orders(tx, found: Sequence[StoredOrder], now_ms: int) -> list[StoredOrder]:
    """Cancel live orders (NEW → CANCELED, PARTIALLY_FILLED → PARTIALLY_FILLED_REM_CANCELLED),
    release their locks, record history and events; inside a write transaction."""
    changed, history, events = [], [], []
    release: dict[tuple[int, str], int] = {}
    for so in found:
        new = OrderStatus.CANCELED if so.status is OrderStatus.NEW \
            else OrderStatus.PARTIALLY_FILLED_REM_CANCELLED
        transition(so.status, new)
        changed.append(so.evolve(status=new, lock_underlying=0, lock_numeraire=0))
        history.append(HistoryEntry(so.order_id, so.status, new, so.filled_packages, now_ms,
                                    reason=CANCEL_REASON))
        und, num = so.pair.split("/")
        for cur, amount in ((und, so.lock_underlying), (num, so.lock_numeraire)):
            if amount:
                release[(so.client_id, cur)] = release.get((so.client_id, cur), 0) + amount
        events.append(Event(EventKind.EXEC_REPORT, {
            "orderId": so.order_id, "clientId": so.client_id,
            "clientOrderId": so.client_order_id, "status": str(new),
            "filledPackages": so.filled_packages, "reason": CANCEL_REASON}))
    tx.update_orders(changed, now_ms)
    tx.add_history(history)
    balances = tx.fund_locks({c for c, _ in release}, for_update=True)
    funds = []
    for (client, cur), amount in sorted(release.items()):
        b = balances.get((client, cur), FundLock(client, cur))
        funds.append(replace(b, order_value=max(0, b.order_value - amount)))
    tx.put_fund_locks(funds, now_ms, existing=balances)
    events += [Event(EventKind.FUNDS_UPDATED, _funds_payload(f)) for f in funds]
    tx.append_events(events, now_ms)
    return changed


def cancel(store: Store, client_id: int, client_order_id: int, now_ms: int) -> StoredOrder:
    for _ in range(3):
        try:
            with store.write() as tx:
                lock_clients(tx, [client_id])
                so = repo.order_by_client_id(tx, client_id, client_order_id)
                if so is None:
                    raise ApiError("INVALID_ORDER_ID", f"no order {client_order_id}")
                if so.status.is_final or so.status is OrderStatus.PENDING_NEW:
                    raise ApiError("CANCEL_REJECTED",
                                   f"order {client_order_id} is {so.status}: nothing to cancel")
                return cancel_orders(tx, [so], now_ms)[0]
        except Conflict:
            continue  # an auction changed the order meanwhile: read it again
    raise ApiError("CANCEL_REJECTED", "the order is changing in an auction: try again")


def cancel_all(store: Store, client_id: int, now_ms: int,
               keep: Callable[[StoredOrder], bool] = lambda so: True) -> list[StoredOrder]:
    for _ in range(3):
        try:
            with store.write() as tx:
                lock_clients(tx, [client_id])
                live = [so for so in tx.live_orders(client_ids=[client_id])
                        if so.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
                        and keep(so)]
                return cancel_orders(tx, live, now_ms) if live else []
        except Conflict:
            continue
    raise ApiError("CANCEL_REJECTED", "orders are changing in an auction: try again")


def order_out(so: StoredOrder, contracts: Mapping[int, Contract],
              currencies: Mapping[str, Currency], *, with_lock: bool = False) -> dict[str, Any]:
    o = so.order
    q = o.packages
    legs = []
    for a, leg in zip(o.ratios, o.legs, strict=True):
        lot = contracts[leg.contract_id].lot_size if leg.contract_id in contracts else Decimal(1)

        def size(lots: int, lot: Decimal = lot) -> Decimal:
            return lot * lots
        legs.append({"contractId": leg.contract_id, "side": str(leg.side),
                     "originalQty": size(abs(a) * q),
                     "remainingQty": size(abs(a) * (q - so.filled_packages)),
                     "filledQty": size(abs(a) * so.filled_packages)})
    out: dict[str, Any] = {
        "clientOrderId": so.client_order_id, "orderId": so.order_id,
        "orderStatus": str(so.status), "ordRejReason": so.reject_reason,
        "timeInForce": str(o.time_in_force), "totalNetPrice": o.total_net_price,
        "currencyPair": so.pair, "packages": q, "filledPackages": so.filled_packages,
        "allOrNone": o.all_or_none, "minQuantity": o.min_packages,
        "createdAt": so.admitted_ms, "expireAt": so.expire_ms, "legs": legs}
    if with_lock:
        und, num = so.pair.split("/")
        out["underlierLock"] = units(so.lock_underlying, currencies[und]) \
            if und in currencies else Decimal(so.lock_underlying)
        out["numeraireLock"] = units(so.lock_numeraire, currencies[num]) \
            if num in currencies else Decimal(so.lock_numeraire)
    return out
