"""The stream hub: one per endpoint process, tailing the outbox and turning its events into the
WebSocket messages of api.md §5.

A :class:`Hub` runs one thread. It starts at the head of the outbox (a process serves what
happens while it runs; a client catches up by a snapshot, never by replay) and keeps its
cursor in memory — it writes nothing to the store. It wakes on PostgreSQL ``NOTIFY`` (the batch
transaction and every intake send one at commit), on :meth:`Hub.wake`, or every
``ws_poll_seconds`` (SQLite). Each round it reads the new events and hands a list of
:class:`Out` items, in event order, to its *sink* (the WebSocket fan-out, :mod:`endpoint.ws`):

* ``EXEC_REPORT`` (admission, cancel, fill, expiry) → the wire ``EXEC_REPORT`` of the order's
  client: the order's static terms come from the store, its state from the event, the average
  price and total cost from the fills up to the event's batch;
* ``FUNDS_UPDATED`` → ``FUNDLOCK_UPDATED`` to the client (decimal amounts);
* ``TRADE_REPORT`` → ``TRADE_REPORT {contractId, batchId, tradeDetails{price: qty}}`` to the
  contract's subscribers;
* ``AUCTION_STARTED`` / ``AUCTION_FINISHED`` (and a failed auction's ``AUCTION_FAILED``, as
  ``AUCTION_FINISHED`` with status ``FAILED``) and ``SPOT_PRICES`` → everyone.

The **indicative book** (auction.md §6) of each contract someone subscribed to is kept here:
resting size per price level of the single-leg orders, and the sizes of multi-leg
(conditional) orders summed per side, read from the store. After every round that touched a
contract (an order admitted, cancelled, filled or expired on it) the hub re-reads its book and,
when it changed, emits a :class:`BookChanged` with the delta (the changed levels with their new
size, ``"0"`` for a level that went; the conditional sizes) and ``deltaNum`` one higher — gap
free per contract — together with the full book after it, from which a new subscriber gets its
snapshot. Deltas of an auction go out before its ``AUCTION_FINISHED``.

Level prices are the order's per-unit limit read onto the tick lattice the way the venue
reads it (api.md §0): a buyer's floored, a seller's ceiled.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from auction.orders import OrderStatus, Side
from auction.products import Contract, Currency
from auction.units import PrecisionError, finite_decimal, fmt, steps_ceil, steps_floor
from coordinator.clock import Clock
from coordinator.events import Event, EventKind
from coordinator.persistence import Store, Tx
from coordinator.persistence.records import StoredOrder
from coordinator.persistence.store import Waiter, from_units
from coordinator.persistence.streams import (
    RestingOrder,
    fill_legs_of,
    orders_by_id,
    resting_orders,
)
from coordinator.settings import Settings

log = logging.getLogger(__name__)

LIVE = (OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


# ---- wire messages ------------------------------------------------------------------------

def message(response_type: str, payload: Any = None, *, error: bool = False,
            cause: str | None = None, details: str = "") -> dict[str, Any]:
    """The server's envelope (api.md §5)."""
    return {"responseType": response_type, "error": error, "cause": cause, "details": details,
            "payload": payload}


def encode(msg: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON, compact (sent as a binary frame)."""
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()


# ---- what the hub hands to its sink --------------------------------------------------------

@dataclass(frozen=True)
class Broadcast:
    data: bytes


@dataclass(frozen=True)
class ToClient:
    client_id: int
    data: bytes


@dataclass(frozen=True)
class ToTrades:
    contract_id: int
    data: bytes


@dataclass(frozen=True)
class BookChanged:
    """A contract's book: ``snapshot`` is the ORDERBOOK payload after the change (its
    ``deltaNum``); ``delta`` the encoded ORDERBOOK_DELTA (None: a first load, no delta)."""

    contract_id: int
    snapshot: dict[str, Any]
    delta: bytes | None


@dataclass(frozen=True)
class BookUnknown:
    contract_id: int


Out = Broadcast | ToClient | ToTrades | BookChanged | BookUnknown
Sink = Callable[[list[Out]], None]


# ---- the indicative book ------------------------------------------------------------------

@dataclass
class Levels:
    """One contract's indicative book: price → size per side, conditional sizes per side."""

    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    conditional_bid: Decimal = Decimal(0)
    conditional_ask: Decimal = Decimal(0)


def indicative_books(orders: Iterable[RestingOrder], contracts: Mapping[int, Contract],
                     currencies: Mapping[str, Currency],
                     contract_ids: Iterable[int]) -> dict[int, Levels]:
    """The books of ``contract_ids`` from their resting orders (pure)."""
    books = {cid: Levels() for cid in contract_ids}
    for o in orders:
        rest = o.remaining
        if rest <= 0:
            continue
        if len(o.legs) == 1:
            cid, side, lots = o.legs[0]
            book = books.get(cid)
            c = contracts.get(cid)
            if book is None or c is None:
                continue
            prec = currencies[c.pair.numeraire].precision
            qty = c.quantity(lots)
            unit = Fraction(from_units(o.total_net_price, prec)) * side.sign / Fraction(qty)
            if side is Side.BUY:
                price, levels = c.price(steps_floor(unit, c.tick_size)), book.bids
            else:
                price, levels = c.price(steps_ceil(unit, c.tick_size)), book.asks
            size = c.quantity(lots // o.packages * rest)
            levels[price] = levels.get(price, Decimal(0)) + size
            continue
        for cid, side, lots in o.legs:
            book = books.get(cid)
            c = contracts.get(cid)
            if book is None or c is None:
                continue
            size = c.quantity(lots // o.packages * rest)
            if side is Side.BUY:
                book.conditional_bid += size
            else:
                book.conditional_ask += size
    return books


def _side(levels: Mapping[Decimal, Decimal], descending: bool) -> list[dict[str, str]]:
    return [{"price": fmt(p), "size": fmt(levels[p])}
            for p in sorted(levels, reverse=descending)]


def book_payload(cid: int, levels: Levels, delta_num: int, batch_id: int | None
                 ) -> dict[str, Any]:
    """The ORDERBOOK payload (a full snapshot)."""
    return {"contractId": cid, "deltaNum": delta_num, "batchId": batch_id,
            "asks": _side(levels.asks, False), "bids": _side(levels.bids, True),
            "conditionalAskQty": fmt(levels.conditional_ask),
            "conditionalBidQty": fmt(levels.conditional_bid)}


def book_delta(cid: int, old: Levels, new: Levels, delta_num: int, batch_id: int | None
               ) -> dict[str, Any] | None:
    """The ORDERBOOK_DELTA payload from ``old`` to ``new`` (None: nothing changed)."""
    def changed(a: Mapping[Decimal, Decimal], b: Mapping[Decimal, Decimal]):
        return {p: b.get(p, Decimal(0)) for p in set(a) | set(b)
                if a.get(p, Decimal(0)) != b.get(p, Decimal(0))}

    bids, asks = changed(old.bids, new.bids), changed(old.asks, new.asks)
    if not bids and not asks and old.conditional_bid == new.conditional_bid \
            and old.conditional_ask == new.conditional_ask:
        return None
    return {"contractId": cid, "deltaNum": delta_num, "batchId": batch_id,
            "asks": _side(asks, False), "bids": _side(bids, True),
            "conditionalAskQty": fmt(new.conditional_ask),
            "conditionalBidQty": fmt(new.conditional_bid)}


def apply_delta(snapshot: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """What a client does with a delta (used by tests): sizes replace levels, "0" removes."""
    if delta["deltaNum"] != snapshot["deltaNum"] + 1:
        raise ValueError(f"gap: book at {snapshot['deltaNum']}, delta {delta['deltaNum']}")
    out = dict(snapshot)
    for side, desc in (("asks", False), ("bids", True)):
        levels = {Decimal(x["price"]): Decimal(x["size"]) for x in snapshot[side]}
        for x in delta[side]:
            if Decimal(x["size"]) == 0:
                levels.pop(Decimal(x["price"]), None)
            else:
                levels[Decimal(x["price"])] = Decimal(x["size"])
        out[side] = _side(levels, desc)
    for k in ("deltaNum", "batchId", "conditionalAskQty", "conditionalBidQty"):
        out[k] = delta[k]
    return out


# ---- translation of events ----------------------------------------------------------------

def _qty(c: Contract | None, lots: int) -> str:
    return fmt(c.quantity(lots)) if c is not None else str(lots)


def exec_report(e: Event, so: StoredOrder, contracts: Mapping[int, Contract],
                currencies: Mapping[str, Currency],
                fills: list[tuple[int, int, int, int]]) -> dict[str, Any]:
    """The wire EXEC_REPORT payload of an order event (api.md §5)."""
    p = e.payload
    try:
        status = OrderStatus(p.get("status", so.status))
    except ValueError:
        status = so.status
    filled = int(p.get("filledPackages", so.filled_packages) or 0)
    this_fill = int(p.get("lastFillPackages", 0) or 0)
    o = so.order
    left = o.packages - filled
    upto = e.batch_id
    details = []
    for a, leg in zip(o.ratios, o.legs, strict=True):
        c = contracts.get(leg.contract_id)
        prec = currencies[c.pair.numeraire].precision if c is not None else 0
        done = [(lots, price) for b, cid, lots, price in fills
                if cid == leg.contract_id and (upto is None or b <= upto)]
        cost = sum((abs(lots) * Fraction(from_units(price, prec)) for lots, price in done),
                   Fraction(0))
        lots_done = sum(abs(lots) for lots, _ in done)
        if c is not None:
            cost *= Fraction(c.lot_size)
        avg = cost / (lots_done * Fraction(c.lot_size)) if lots_done and c is not None \
            else Fraction(0)
        remaining = abs(a) * left if status in LIVE else 0
        cancelled = 0 if status in LIVE or status is OrderStatus.FILLED else abs(a) * left
        details.append({
            "contractId": leg.contract_id, "side": str(leg.side),
            "originalQty": _qty(c, leg.lots), "remainingQty": _qty(c, remaining),
            "thisFillQty": _qty(c, abs(a) * this_fill), "cancelledQty": _qty(c, cancelled),
            "avgPrice": _decimal(avg, prec + 4), "totalCost": _decimal(cost, prec + 4)})
    report: dict[str, Any] = {
        "clientOrderId": p.get("clientOrderId") or so.client_order_id or so.order_id,
        "orderId": so.order_id, "orderStatus": str(status),
        "netPrice": fmt(o.total_net_price),
        "details": details}
    if status is OrderStatus.REJECTED:
        report["ordRejReason"] = p.get("reason") or so.reject_reason or ""
    return report


def _decimal(value: Fraction, places: int) -> str:
    """Exact when ``value`` has a finite decimal form of at most ``places`` digits, else
    rounded half-even to ``places`` (an average price may not have one)."""
    try:
        _, digits = finite_decimal(value)
        if digits <= places:
            return fmt(value)
    except PrecisionError:
        pass
    n = value * 10**places
    q = round(n)  # Fraction rounds half to even
    return fmt(Fraction(q, 10**places))


def funds_payload(p: Mapping[str, Any], currencies: Mapping[str, Currency]) -> dict[str, Any]:
    cur = currencies.get(p.get("currency", ""))
    prec = cur.precision if cur is not None else 0
    return {"currency": p.get("currency"),
            **{k: fmt(from_units(int(p.get(k, 0) or 0), prec))
               for k in ("orderValue", "fundLockValue", "settleValue")}}


# ---- the hub ------------------------------------------------------------------------------

class Hub:
    """Tails the outbox for one endpoint process (see the module docstring)."""

    def __init__(self, store: Store, clock: Clock, settings: Settings, *, chunk: int = 1000):
        self.store = store
        self.clock = clock
        self.settings = settings
        self.chunk = chunk
        self.sink: Sink = lambda outs: None
        self.position: int | None = None  # last outbox seq handled
        self.batch_id: int | None = None  # last applied batch
        self._books: dict[int, tuple[Levels, int]] = {}  # tracked contract → (levels, deltaNum)
        self._requests: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._contracts: dict[int, Contract] = {}
        self._currencies: dict[str, Currency] = {}
        self.failures = 0  # rounds that failed (store unavailable …); the hub keeps going
        self._round_started = 0.0

    # -- control ----------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.position is not None

    def start(self, sink: Sink) -> None:
        """Start the thread (once); ``sink`` gets every round's output, from the hub thread."""
        if self._thread is not None:
            return
        self.sink = sink
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ws-hub", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """New events may have been committed (in this process): look now."""
        self._wake.set()

    def want_book(self, contract_id: int) -> None:
        """Track ``contract_id``'s book: a :class:`BookChanged` without delta (its current
        snapshot) or a :class:`BookUnknown` follows."""
        self._requests.put(contract_id)
        self._wake.set()

    # -- the thread -------------------------------------------------------------------------
    def _run(self) -> None:
        waiter = None
        while not self._stop.is_set():
            try:
                if waiter is None:
                    waiter = Waiter(self.store)
                if self.position is None:
                    self._begin()
                self.round()
            except Exception:  # a round that failed is tried again; the hub never dies
                self.failures += 1
                log.exception("stream hub: a round failed; retrying")
                if waiter is not None:
                    waiter.close()
                    waiter = None
                self._stop.wait(1.0)
                continue
            self._idle(waiter)
        if waiter is not None:
            waiter.close()

    def _idle(self, waiter: Waiter) -> None:
        if not self._requests.empty():
            return
        poll = self.settings.ws_poll_seconds
        # Coalesce: under a stream of commits (a NOTIFY each) rounds come at most every
        # min(poll, 50 ms), each taking everything committed meanwhile.
        rest = min(poll, 0.05) - (time.monotonic() - self._round_started)
        if rest > 0:
            self._stop.wait(rest)
        if waiter.listens:
            deadline = time.monotonic() + max(poll, 0.5)
            while not self._wake.is_set() and not self._stop.is_set():
                if waiter.wait(min(poll, 0.1)):
                    break
                if time.monotonic() > deadline:
                    break
        else:
            self._wake.wait(poll)
        self._wake.clear()

    def _begin(self) -> None:
        with self.store.read() as tx:
            self.position = tx.last_event_seq()
            self.batch_id = tx.last_batch_id()
            self._refresh(tx)

    def _refresh(self, tx: Tx) -> None:
        self._contracts = tx.contracts()
        self._currencies = dict(tx.currencies())

    def round(self) -> int:
        """Serve book requests, then every event after the cursor; returns events handled."""
        self._round_started = time.monotonic()
        if self.position is None:
            self._begin()
        handled = 0
        wanted: set[int] = set()
        while True:
            try:
                wanted.add(self._requests.get_nowait())
            except queue.Empty:
                break
        if wanted:
            try:
                self._load(wanted)
            except Exception:
                for cid in wanted:  # asked again next round: every request gets its answer
                    self._requests.put(cid)
                raise
        while True:
            with self.store.read() as tx:
                events = tx.events_after(self.position or 0, self.chunk)
                if not events:
                    return handled
                outs = self._translate(tx, events)
            self.position = events[-1].seq
            handled += len(events)
            if outs:
                self.sink(outs)

    def _load(self, wanted: set[int]) -> None:
        outs: list[Out] = []
        with self.store.read() as tx:
            if any(cid not in self._contracts for cid in wanted):
                self._refresh(tx)
            known = {cid for cid in wanted if cid in self._contracts}
            new = {cid for cid in known if cid not in self._books}
            books = indicative_books(resting_orders(tx, new), self._contracts,
                                     self._currencies, new) if new else {}
        for cid in sorted(wanted):
            if cid not in known:
                outs.append(BookUnknown(cid))
                continue
            if cid in books:
                self._books[cid] = (books[cid], 0)
            levels, n = self._books[cid]
            outs.append(BookChanged(cid, book_payload(cid, levels, n, self.batch_id), None))
        self.sink(outs)

    def _translate(self, tx: Tx, events: list[Event]) -> list[Out]:
        order_ids = {_int(e.payload.get("orderId")) for e in events
                     if e.kind is EventKind.EXEC_REPORT} - {None}
        orders = orders_by_id(tx, order_ids) if order_ids else {}
        fills = fill_legs_of(tx, order_ids) if order_ids else {}
        seen = {leg.contract_id for so in orders.values() for leg in so.order.legs}
        seen |= {_int(e.payload.get("contractId")) for e in events
                 if e.kind in (EventKind.TRADE_REPORT, EventKind.ORDERBOOK_DELTA)}
        if seen - {None} - set(self._contracts):
            self._refresh(tx)  # a contract listed since: its lot and tick sizes
        outs: list[Out] = []
        touched: set[int] = set()
        for e in events:
            try:
                self._one(tx, e, orders, fills, outs, touched)
            except Exception:  # a malformed event is skipped, never retried forever
                self.failures += 1
                log.exception("stream hub: event %s (%s) skipped", e.seq, e.kind)
        outs += self._books_after(tx, touched)
        return outs

    def _one(self, tx: Tx, e: Event, orders: Mapping[int, StoredOrder],
             fills: Mapping[int, list[tuple[int, int, int, int]]], outs: list[Out],
             touched: set[int]) -> None:
        """Translate one event into ``outs``; collect the contracts whose book it touched in
        ``touched`` (flushed as deltas before an auction's end)."""
        p = e.payload
        match e.kind:
            case EventKind.EXEC_REPORT:
                so = orders.get(_int(p.get("orderId")))  # type: ignore[arg-type]
                if so is None:
                    return
                touched.update(leg.contract_id for leg in so.order.legs)
                rep = exec_report(e, so, self._contracts, self._currencies,
                                  fills.get(so.order_id, []))
                outs.append(ToClient(so.client_id, encode(message("EXEC_REPORT", rep))))
            case EventKind.ORDERBOOK_DELTA:
                touched.add(int(p["contractId"]))
            case EventKind.FUNDS_UPDATED:
                outs.append(ToClient(int(p["clientId"]), encode(message(
                    "FUNDLOCK_UPDATED", funds_payload(p, self._currencies)))))
            case EventKind.TRADE_REPORT:
                cid = int(p["contractId"])
                qty = _qty(self._contracts.get(cid), int(p.get("lots", 0)))
                outs.append(ToTrades(cid, encode(message("TRADE_REPORT", {
                    "contractId": cid, "batchId": e.batch_id,
                    "tradeDetails": {fmt(Decimal(str(p["price"]))): qty}}))))
            case EventKind.AUCTION_STARTED:
                outs.append(Broadcast(encode(message("AUCTION_STARTED",
                                                     {"batchId": e.batch_id}))))
            case EventKind.AUCTION_FINISHED | EventKind.AUCTION_FAILED:
                applied = e.kind is EventKind.AUCTION_FINISHED
                if applied:
                    self.batch_id = e.batch_id
                outs += self._books_after(tx, touched)  # the auction's deltas go first
                touched.clear()
                outs.append(Broadcast(encode(message("AUCTION_FINISHED", {
                    "batchId": e.batch_id, "status": "APPLIED" if applied else "FAILED"}))))
            case EventKind.SPOT_PRICES:
                outs.append(Broadcast(encode(message("SPOT_PRICES", p))))
            case _:
                pass  # FILL, EXPIRY_SETTLED, ALERT: not for the wire

    def _books_after(self, tx: Tx, touched: set[int]) -> list[Out]:
        tracked = sorted(cid for cid in touched if cid in self._books)
        if not tracked:
            return []
        books = indicative_books(resting_orders(tx, tracked), self._contracts,
                                 self._currencies, tracked)
        outs: list[Out] = []
        for cid in tracked:
            old, n = self._books[cid]
            delta = book_delta(cid, old, books[cid], n + 1, self.batch_id)
            if delta is None:
                continue
            self._books[cid] = (books[cid], n + 1)
            outs.append(BookChanged(cid, book_payload(cid, books[cid], n + 1, self.batch_id),
                                    encode(message("ORDERBOOK_DELTA", delta))))
        return outs


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def indicative_book(store: Store, contract_ids: Iterable[int] | None = None
                    ) -> dict[int, dict[str, Any]]:
    """The indicative book of ``contract_ids`` (default: every listed contract) as ORDERBOOK
    payloads without a stream position (``deltaNum`` 0) — for the REST ``orderbook`` call."""
    with store.read() as tx:
        contracts = tx.contracts()
        ids = sorted(contracts if contract_ids is None else set(contract_ids) & set(contracts))
        books = indicative_books(resting_orders(tx, ids), contracts, tx.currencies(), ids)
        batch = tx.last_batch_id()
    return {cid: book_payload(cid, books[cid], 0, batch) for cid in ids}


__all__ = ["BookChanged", "BookUnknown", "Broadcast", "Hub", "Levels", "Out", "ToClient",
           "ToTrades", "apply_delta", "book_delta", "book_payload", "encode", "exec_report",
           "indicative_book", "indicative_books", "message"]
