"""Order admission: the rules an order passes before it rests in the book (pure; no I/O).

Rules, in order (API codes of ``api.md`` §1): ``DUPLICATE_ORDER_ID`` (the id is in the store or
earlier in the same request; not stored), ``INVALID_CONTRACT_ID`` (not stored),
``INVALID_ORDER_PRICE_PRECISION`` (more digits than the numeraire's precision; not stored),
``INVALID_ORDER_PRICE`` / ``INVALID_ORDER_QTY`` when the limit or the order's lock is beyond the
range of amounts (``auction.units``; not stored: the store could not hold it),
``TRADING_CLOSED`` (a leg's contract is past its end of trading), ``INSUFFICIENT_FUNDS`` (the
order's lock, ``validator.collateral.locks``, exceeds ``fundLockValue + settleValue −
orderValue`` in some currency; ``validator.collateral.funds``). An admitted order moves
PENDING_NEW → NEW and its lock is added to the client's ``orderValue``; a rejected one moves
PENDING_NEW → REJECTED and is kept in the historical orders with its reason; its id stays free
(an order sent again with it replaces the rejected record).
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
from validator.collateral.locks import order_lock


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

    @property
    def admitted(self) -> tuple[StoredOrder, ...]:
        return tuple(o for o in self.orders if o.status is OrderStatus.NEW)


def lock_units(order: Order, contracts: Mapping[int, Contract],
               currencies: Mapping[str, Currency], packages: int | None = None
               ) -> tuple[str, int, int]:
    """(pair, underlying units, numeraire units) locked by ``packages`` of the order."""
    lk = order_lock(order, contracts, packages=packages)
    units = lk.units(currencies)
    und, num = lk.pair.split("/")
    if und == num:
        return lk.pair, 0, units[num]
    return lk.pair, units.get(und, 0), units.get(num, 0)


def expire_ms(order: Order, admitted_ms: int, gtd_ms: int | None = None) -> int | None:
    """DAY: the end of the UTC day of entry; GTD: its time; otherwise none."""
    if order.time_in_force is TimeInForce.DAY:
        day = datetime.fromtimestamp(admitted_ms / 1000, tz=UTC).date()
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        return int(end.timestamp() * 1000)
    if order.time_in_force is TimeInForce.GOOD_TILL_DATE:
        return gtd_ms
    return None


def admit(orders: Iterable[Order], *, contracts: Mapping[int, Contract],
          currencies: Mapping[str, Currency], balances: Mapping[tuple[int, str], FundLock],
          live: Iterable[StoredOrder], existing_ids: set[int], now_ms: int,
          end_of_trading: timedelta) -> Admission:
    """Admit ``orders`` in the given order (earlier first) against the current funds."""
    by_client: dict[int, FundsState] = {}
    live_by_client: dict[int, list[StoredOrder]] = defaultdict(list)
    for so in live:
        live_by_client[so.client_id].append(so)

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

    seen = set(existing_ids)
    stored: list[StoredOrder] = []
    history: list[HistoryEntry] = []
    rejections: list[Rejection] = []
    touched: set[tuple[int, str]] = set()

    def reject(o: Order, code: str, message: str, pair: str | None) -> None:
        rejections.append(Rejection(o.order_id, o.client_id, code, message, pair is not None))
        if pair is not None:
            stored.append(StoredOrder(o, pair, transition(OrderStatus.PENDING_NEW,
                                                          OrderStatus.REJECTED), now_ms,
                                      reject_reason=code))
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
        closed = [c.contract_id for c in legs
                  if int(c.end_of_trading(end_of_trading).timestamp() * 1000) <= now_ms]
        if closed:
            reject(o, "TRADING_CLOSED", f"contract {closed[0]} is past its end of trading",
                   pair)
            continue
        try:
            _, lu, ln = lock_units(o, contracts, currencies)
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
        try:
            by_client[o.client_id] = state(o.client_id).place(o.order_id, o.client_id,
                                                              dict(lock))
        except InsufficientFunds as e:
            reject(o, e.code, str(e), pair)
            continue
        touched.update((o.client_id, cur) for cur, v in lock.items() if v)
        stored.append(StoredOrder(o, pair, transition(OrderStatus.PENDING_NEW, OrderStatus.NEW),
                                  now_ms, expire_ms=expire_ms(o, now_ms), lock_underlying=lu,
                                  lock_numeraire=ln))
        history.append(HistoryEntry(o.order_id, OrderStatus.PENDING_NEW, OrderStatus.NEW, 0,
                                    now_ms))
    funds = []
    for client, cur in sorted(touched):
        b = by_client[client].balance(client, cur)
        funds.append(FundLock(client, cur, b.fund_lock_value, b.order_value, b.settle_value))
    return Admission(tuple(stored), tuple(history), tuple(funds), tuple(rejections))
