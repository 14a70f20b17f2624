"""Order admission: the rules an order passes before it rests in the book (pure; no I/O).

Rules, in order (API codes of ``api.md`` §1): ``DUPLICATE_ORDER_ID`` (the id is in the store or
earlier in the same request; not stored), ``INVALID_CONTRACT_ID`` (not stored),
``INVALID_ORDER_PRICE_PRECISION`` (more digits than the numeraire's precision; not stored),
``INVALID_ORDER_PRICE`` / ``INVALID_ORDER_QTY`` when the limit or the order's lock is beyond the
range of amounts (``auction.units``; not stored: the store could not hold it),
``INVALID_ORDER_TIF`` (a ``GOOD_TILL_DATE`` order without an ``iocAuctionTime`` in the future;
not stored), ``TRADING_CLOSED`` (a leg's contract is past its end of trading),
``REDUCE_ONLY_VIOLATION`` (a reduce-only order some leg of which would not bring the client's
position in its contract towards zero — same direction as the position, no position, or
beyond it), ``SELF_MATCH`` (a single-leg order that would cross a live single-leg order of
the same client on the same contract on the other side; with ``self_match='cancel_oldest'``
the resting order(s) are cancelled instead and the new order goes on), ``INSUFFICIENT_FUNDS``
(the order's lock, ``validator.collateral.locks``, exceeds ``fundLockValue + settleValue −
orderValue`` in some currency; ``validator.collateral.funds``). An admitted order moves
PENDING_NEW → NEW and its lock is added to the client's ``orderValue``; a rejected one moves
PENDING_NEW → REJECTED and is kept in the historical orders with its reason; its id stays free
(an order sent again with it replaces the rejected record). A rejected order changes nothing
else (no funds, no other order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from auction.orders import Order, OrderStatus, TimeInForce, transition
from auction.products import Contract, Currency
from auction.units import RangeError, check_precision, check_units, to_steps
from coordinator.persistence.records import FundLock, HistoryEntry, StoredOrder
from validator.collateral.errors import CollateralError, InsufficientFunds
from validator.collateral.funds import Balance, FundsState, LiveOrder
from validator.collateral.locks import order_lock_units


@dataclass(frozen=True)
class Rejection:
    order_id: int
    client_id: int
    code: str
    message: str
    stored: bool  # kept as a REJECTED order (False: the request could not become an order)


@dataclass(frozen=True)
class Admission:
    """What a request of orders does to the store."""

    orders: tuple[StoredOrder, ...]  # NEW and REJECTED orders to store
    history: tuple[HistoryEntry, ...]
    funds: tuple[FundLock, ...]  # the new three values of every touched (client, currency)
    rejections: tuple[Rejection, ...] = field(default_factory=tuple)
    #: live orders of the store cancelled by self-match prevention (``cancel_oldest``), final
    #: and without lock, for ``Tx.update_orders``; their history entries are in ``history``.
    cancelled: tuple[StoredOrder, ...] = field(default_factory=tuple)

    @property
    def admitted(self) -> tuple[StoredOrder, ...]:
        return tuple(o for o in self.orders if o.status is OrderStatus.NEW)


def lock_units(order: Order, contracts: Mapping[int, Contract],
               currencies: Mapping[str, Currency], packages: int | None = None
               ) -> tuple[str, int, int]:
    """(pair, underlying units, numeraire units) locked by ``packages`` of the order
    (:func:`validator.collateral.locks.order_lock_units`: ``order_lock(…).units(currencies)``
    in integers)."""
    return order_lock_units(order, contracts, currencies, packages=packages)


def expire_ms(order: Order, admitted_ms: int, gtd_ms: int | None = None) -> int | None:
    """DAY: the end of the UTC day of entry; GTD: its time; otherwise none."""
    if order.time_in_force is TimeInForce.DAY:
        day = datetime.fromtimestamp(admitted_ms / 1000, tz=UTC).date()
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        return int(end.timestamp() * 1000)
    if order.time_in_force is TimeInForce.GOOD_TILL_DATE:
        return order.good_till_ms if gtd_ms is None else gtd_ms
    return None


SELF_MATCH_POLICIES = ("reject", "cancel_oldest")


def crosses(new: Order, resting: Order) -> bool:
    """Two single-leg orders on the same contract, opposite sides, that would trade with each
    other: the buyer's limit per lot is at least the seller's (``π_buy + π_sell ≥ 0`` in
    package form, a sell's limit being the negative of what it receives)."""
    if len(new.legs) != 1 or len(resting.legs) != 1:
        return False
    a, b = new.legs[0], resting.legs[0]
    if a.contract_id != b.contract_id or a.side is b.side:
        return False
    return new.limit_per_package + resting.limit_per_package >= 0


def reduce_only_problem(order: Order, positions: Mapping[tuple[int, int], int]) -> str | None:
    """Why a reduce-only order would increase some absolute position (None: it reduces).

    ``positions``: signed lots per (client, contract)."""
    for leg in order.legs:
        pos = positions.get((order.client_id, leg.contract_id), 0)
        signed = leg.signed_lots
        if pos == 0:
            return f"reduce-only: no position in contract {leg.contract_id}"
        if (pos > 0) == (signed > 0):
            return (f"reduce-only: {leg.side} {leg.lots} lot(s) of contract {leg.contract_id} "
                    f"would increase the position of {pos} lot(s)")
        if abs(signed) > abs(pos):
            return (f"reduce-only: {leg.side} {leg.lots} lot(s) of contract {leg.contract_id} "
                    f"exceed the position of {pos} lot(s)")
    return None


def admit(orders: Iterable[Order], *, contracts: Mapping[int, Contract],
          currencies: Mapping[str, Currency], balances: Mapping[tuple[int, str], FundLock],
          live: Iterable[StoredOrder], existing_ids: set[int], now_ms: int,
          end_of_trading: timedelta,
          positions: Mapping[tuple[int, int], int] | None = None,
          self_match: str = "reject",
          locks: Mapping[int, tuple[int, int]] | None = None,
          client_order_ids: Mapping[int, int] | None = None,
          expire_at: Mapping[int, int] | None = None) -> Admission:
    """Admit ``orders`` in the given order (earlier first) against the current funds.

    ``positions`` (signed lots per (client, contract)) is what reduce-only orders are checked
    against (none given: no positions); ``self_match`` is ``'reject'`` (the new order is
    rejected with SELF_MATCH) or ``'cancel_oldest'`` (the resting orders it would cross are
    cancelled, reason SELF_MATCH, and the new order goes on). ``locks``: per order id, the
    (underlying, numeraire) units :func:`lock_units` gives for the order with these
    ``contracts`` and ``currencies``, computed by the caller beforehand (the client API does it
    before its transaction, to hold the intake lock for less); the others are computed here.
    ``client_order_ids``, ``expire_at``: per order id, the clientOrderId and the expiry (epoch
    ms, in place of the time in force's) the stored order carries (the client API).
    """
    coids = client_order_ids or {}
    expire_at = expire_at or {}
    locks = locks or {}
    if self_match not in SELF_MATCH_POLICIES:
        raise ValueError(f"self_match {self_match!r} is not one of {SELF_MATCH_POLICIES}")
    positions = positions or {}
    by_client: dict[int, FundsState] = {}
    live_by_client: dict[int, list[StoredOrder]] = defaultdict(list)
    # single-leg live orders per (client, contract), oldest first: self-match candidates
    resting: dict[tuple[int, int], list[StoredOrder]] = defaultdict(list)
    for so in live:
        live_by_client[so.client_id].append(so)
        if len(so.order.legs) == 1:
            resting[(so.client_id, so.order.legs[0].contract_id)].append(so)

    def state(client: int) -> FundsState:
        if client not in by_client:
            bal = {(c, cur): Balance(f.fund_lock_value, f.order_value, f.settle_value)
                   for (c, cur), f in balances.items() if c == client}
            los = {}
            for i, so in enumerate(live_by_client.get(client, [])):
                und, num = so.pair.split("/")
                lock = tuple(sorted((cur, v) for cur, v in ((und, so.lock_underlying),
                                                             (num, so.lock_numeraire)) if v))
                los[so.order_id] = LiveOrder(so.order_id, client, i, lock)
            by_client[client] = FundsState(bal, los, len(los))
        return by_client[client]

    ends: dict[int, int] = {}  # contract id -> its end of trading (epoch ms)

    def eot_ms(c: Contract) -> int:
        if c.contract_id not in ends:
            ends[c.contract_id] = int(c.end_of_trading(end_of_trading).timestamp() * 1000)
        return ends[c.contract_id]

    seen = set(existing_ids)
    stored: list[StoredOrder] = []
    cancelled: list[StoredOrder] = []
    history: list[HistoryEntry] = []
    rejections: list[Rejection] = []
    touched: set[tuple[int, str]] = set()

    def reject(o: Order, code: str, message: str, pair: str | None) -> None:
        rejections.append(Rejection(o.order_id, o.client_id, code, message, pair is not None))
        if pair is not None:
            stored.append(StoredOrder(o, pair, transition(OrderStatus.PENDING_NEW,
                                                          OrderStatus.REJECTED), now_ms,
                                      reject_reason=code,
                                      client_order_id=coids.get(o.order_id),
                                      expire_ms=expire_at.get(o.order_id)))
            history.append(HistoryEntry(o.order_id, OrderStatus.PENDING_NEW,
                                        OrderStatus.REJECTED, 0, now_ms, reason=code))

    for o in orders:
        if o.order_id in seen:
            rejections.append(Rejection(o.order_id, o.client_id, "DUPLICATE_ORDER_ID",
                                        f"order {o.order_id} exists already", False))
            continue
        seen.add(o.order_id)
        missing = [leg.contract_id for leg in o.legs if leg.contract_id not in contracts]
        if missing:
            rejections.append(Rejection(o.order_id, o.client_id, "INVALID_CONTRACT_ID",
                                        f"unknown contract {missing[0]}", False))
            continue
        legs = [contracts[leg.contract_id] for leg in o.legs]
        pair = str(legs[0].pair)
        num = currencies[legs[0].pair.numeraire]
        try:
            check_precision(o.total_net_price, num.precision, "totalNetPrice")
            to_steps(o.total_net_price, num.quantum, "totalNetPrice")  # the range of amounts
        except RangeError as e:
            rejections.append(Rejection(o.order_id, o.client_id, "INVALID_ORDER_PRICE",
                                        str(e), False))
            continue
        except ValueError as e:
            rejections.append(Rejection(o.order_id, o.client_id,
                                        "INVALID_ORDER_PRICE_PRECISION", str(e), False))
            continue
        if o.time_in_force is TimeInForce.GOOD_TILL_DATE and (
                o.good_till_ms is None or o.good_till_ms <= now_ms):
            rejections.append(Rejection(
                o.order_id, o.client_id, "INVALID_ORDER_TIF",
                "GOOD_TILL_DATE needs an iocAuctionTime (epoch ms) in the future, got "
                f"{o.good_till_ms}", False))
            continue
        closed = [c.contract_id for c in legs if eot_ms(c) <= now_ms]
        if closed:
            reject(o, "TRADING_CLOSED", f"contract {closed[0]} is past its end of trading",
                   pair)
            continue
        if o.reduce_only:
            problem = reduce_only_problem(o, positions)
            if problem is not None:
                reject(o, "REDUCE_ONLY_VIOLATION", problem, pair)
                continue
        crossed: list[StoredOrder] = []
        if len(o.legs) == 1:
            crossed = [so for so in resting.get((o.client_id, o.legs[0].contract_id), ())
                       if crosses(o, so.order)]
        if crossed and self_match == "reject":
            reject(o, "SELF_MATCH", f"would cross the client's live order "
                   f"{crossed[0].order_id} on contract {o.legs[0].contract_id}", pair)
            continue
        try:
            lu, ln = locks[o.order_id] if o.order_id in locks else lock_units(
                o, contracts, currencies)[1:]
            check_units(lu, "the order's lock of the underlying")
            check_units(ln, "the order's lock of the numeraire")
        except CollateralError as e:
            reject(o, "INVALID_ORDER_PRICE", str(e), pair)
            continue
        except RangeError as e:  # beyond what the store holds: not stored
            rejections.append(Rejection(o.order_id, o.client_id, "INVALID_ORDER_QTY", str(e),
                                        False))
            continue
        und_sym, num_sym = pair.split("/")
        lock: dict[str, int] = defaultdict(int)
        lock[und_sym] += lu
        lock[num_sym] += ln
        funds_before = state(o.client_id)
        try:
            for so in crossed:  # cancel_oldest: the resting orders go first (their locks too)
                by_client[o.client_id] = state(o.client_id).cancel(so.order_id)
            by_client[o.client_id] = state(o.client_id).place(o.order_id, o.client_id,
                                                              dict(lock))
        except InsufficientFunds as e:
            by_client[o.client_id] = funds_before  # a rejected order cancels nothing
            reject(o, e.code, str(e), pair)
            continue
        for so in crossed:
            _cancel_resting(so, now_ms, stored, cancelled, history)
            resting[(o.client_id, o.legs[0].contract_id)].remove(so)
            und, num = so.pair.split("/")
            touched.update((o.client_id, cur) for cur, v in ((und, so.lock_underlying),
                                                             (num, so.lock_numeraire)) if v)
        touched.update((o.client_id, cur) for cur, v in lock.items() if v)
        new = StoredOrder(o, pair, transition(OrderStatus.PENDING_NEW, OrderStatus.NEW),
                          now_ms, expire_ms=expire_at.get(o.order_id, expire_ms(o, now_ms)),
                          lock_underlying=lu, lock_numeraire=ln,
                          client_order_id=coids.get(o.order_id))
        stored.append(new)
        if len(o.legs) == 1:
            resting[(o.client_id, o.legs[0].contract_id)].append(new)
        history.append(HistoryEntry(o.order_id, OrderStatus.PENDING_NEW, OrderStatus.NEW, 0,
                                    now_ms))
    funds = []
    for client, cur in sorted(touched):
        b = by_client[client].balance(client, cur)
        funds.append(FundLock(client, cur, b.fund_lock_value, b.order_value, b.settle_value))
    return Admission(tuple(stored), tuple(history), tuple(funds), tuple(rejections),
                     tuple(cancelled))


def _cancel_resting(so: StoredOrder, now_ms: int, stored: list[StoredOrder],
                    cancelled: list[StoredOrder], history: list[HistoryEntry]) -> None:
    """Self-match ``cancel_oldest``: the resting order ends (CANCELED, or the rest of a partly
    filled one), its lock released. An order admitted earlier in the same request is replaced
    in ``stored``; one of the store goes to ``cancelled``."""
    new = OrderStatus.CANCELED if so.status is OrderStatus.NEW \
        else OrderStatus.PARTIALLY_FILLED_REM_CANCELLED
    done = so.evolve(status=transition(so.status, new), lock_underlying=0, lock_numeraire=0)
    history.append(HistoryEntry(so.order_id, so.status, new, so.filled_packages, now_ms,
                                reason="SELF_MATCH"))
    for i, s in enumerate(stored):
        if s is so:
            stored[i] = done
            return
    cancelled.append(done)
