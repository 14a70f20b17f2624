"""Orders, legs, the package form and the order state machine (auction.md §2).

An order with legs ``(contract, side, lots)`` is, inside the engine, a *package*: the leg lots
divided by their greatest common divisor g give the integer ratio vector ``a``; the order is
``q = g`` packages with limit ``π = totalNetPrice / q`` per package. A fill is a whole number of
packages ``x ∈ [0, q]``; leg l then fills ``x·a_l`` lots.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import reduce
from itertools import repeat
from math import gcd


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY (pays the premium), −1 for SELL."""
        return 1 if self is Side.BUY else -1


class TimeInForce(StrEnum):
    DAY = "DAY"
    GOOD_TILL_CANCEL = "GOOD_TILL_CANCEL"
    IMMEDIATE_OR_CANCEL = "IMMEDIATE_OR_CANCEL"
    GOOD_TILL_DATE = "GOOD_TILL_DATE"
    AT_AUCTION_ONLY = "AT_AUCTION_ONLY"

    @property
    def single_auction(self) -> bool:
        """Takes part in the next auction only; the rest is cancelled after it."""
        return self in (TimeInForce.IMMEDIATE_OR_CANCEL, TimeInForce.AT_AUCTION_ONLY)


@dataclass(frozen=True, slots=True)
class Leg:
    contract_id: int
    side: Side
    lots: int

    @property
    def signed_lots(self) -> int:
        return self.side.sign * self.lots


@dataclass(frozen=True, slots=True)
class Order:
    """A limit order: legs sorted by contract, one signed total premium for the whole order.

    ``total_net_price`` is ``Σ sign·quantity·price`` in the numeraire: positive, the client pays at
    most this; negative, it receives at least its absolute value. ``min_packages`` (> 0) and
    ``all_or_none`` make an order *indivisible*: it fills with at least that many packages, or
    fully, or not at all. ``reduce_only``: the order may only bring the client's positions
    towards zero (every leg against the position in its contract, never beyond it).
    ``good_till_ms``: for ``GOOD_TILL_DATE``, the wire's ``iocAuctionTime`` (epoch ms) at which
    the order expires.
    """

    order_id: int
    client_id: int
    total_net_price: Decimal
    legs: tuple[Leg, ...]
    time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCEL
    all_or_none: bool = False
    min_packages: int = 0
    reduce_only: bool = False
    good_till_ms: int | None = None

    def __post_init__(self) -> None:
        _check_legs(self.order_id, self.legs, self.min_packages)

    @property
    def packages(self) -> int:
        """q: the number of packages (the gcd of the leg lots)."""
        return reduce(gcd, (leg.lots for leg in self.legs))

    @property
    def ratios(self) -> tuple[int, ...]:
        """a: signed lots per package, one per leg (BUY +, SELL −)."""
        q = self.packages
        return tuple(leg.signed_lots // q for leg in self.legs)

    @property
    def limit_per_package(self) -> Fraction:
        """π = totalNetPrice / q, in the numeraire."""
        return Fraction(self.total_net_price) / self.packages

    @property
    def lots_per_package(self) -> int:
        """Volume of one package: Σ |a_l| lots (a put counts once, whatever replication does)."""
        return sum(abs(a) for a in self.ratios)

    @property
    def indivisible(self) -> bool:
        return self.all_or_none or self.min_packages > 0

    @property
    def min_fill(self) -> int:
        """The least non-zero fill in packages (q for all-or-none, 1 for a plain order)."""
        if self.all_or_none:
            return self.packages
        return max(1, self.min_packages)


def orders_from_columns(order_ids: list[int], client_ids: list[int], prices: list[Decimal],
                        legs: list[tuple[Leg, ...]], tifs: list[TimeInForce],
                        all_or_none: list[bool], reduce_only: list[bool],
                        good_till_ms: list[int | None]) -> list[Order]:
    """Many orders at once (``min_packages`` 0), equal to ``Order(...)`` of each row.

    A book of a million orders repeats a few distinct legs tuples; what ``__post_init__``
    checks depends on the legs alone when ``min_packages`` is 0, so it runs once per distinct
    legs tuple (raising its ValueError), and the rows are written into their slots column by
    column (each slot's own descriptor, a C-level loop per column) instead of a frozen
    dataclass ``__init__`` per order."""
    checked: dict[int, tuple[Leg, ...]] = {}
    for i, t in enumerate(legs):
        if id(t) not in checked:
            _check_legs(order_ids[i], t, 0)  # the checks of __post_init__, once per legs tuple
            checked[id(t)] = t
    n = len(order_ids)
    if not all(len(c) == n for c in (client_ids, prices, legs, tifs, all_or_none, reduce_only,
                                     good_till_ms)):
        raise ValueError("columns of different lengths")
    out = list(map(object.__new__, repeat(Order, n)))
    slot = Order.__dict__
    for name, column in (("order_id", order_ids), ("client_id", client_ids),
                         ("total_net_price", prices), ("legs", legs), ("time_in_force", tifs),
                         ("all_or_none", all_or_none), ("min_packages", repeat(0, n)),
                         ("reduce_only", reduce_only), ("good_till_ms", good_till_ms)):
        deque(map(slot[name].__set__, out, column), maxlen=0)
    return out


def _check_legs(order_id: int, legs: tuple[Leg, ...], min_packages: int) -> None:
    """What an order's legs and minimum must be (ValueError naming the order otherwise)."""
    if len(legs) == 1 and legs[0].lots > 0 and 0 <= min_packages <= legs[0].lots:
        return  # one valid leg: nothing else to check (most orders of a large book)
    if not legs:
        raise ValueError(f"order {order_id}: no legs")
    ids = [leg.contract_id for leg in legs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"order {order_id}: legs on one contract twice")
    if ids != sorted(ids):
        raise ValueError(f"order {order_id}: legs not sorted by contractId")
    for leg in legs:
        if leg.lots <= 0:
            raise ValueError(f"order {order_id}: leg on contract {leg.contract_id} "
                             "has a non-positive quantity")
    if not 0 <= min_packages <= reduce(gcd, (leg.lots for leg in legs)):
        raise ValueError(f"order {order_id}: minQuantity exceeds the order's size")


class OrderStatus(StrEnum):
    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    REJECTED = "REJECTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PARTIALLY_FILLED_REM_CANCELLED = "PARTIALLY_FILLED_REM_CANCELLED"
    CANCEL_REJECTED = "CANCEL_REJECTED"

    @property
    def is_final(self) -> bool:
        return not _TRANSITIONS[self]


class IllegalTransition(ValueError):
    """An order state change that the lifecycle table does not allow."""


_S = OrderStatus
_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING_NEW: frozenset({_S.NEW, _S.REJECTED}),
    _S.NEW: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED,
                                    _S.PARTIALLY_FILLED_REM_CANCELLED}),
    _S.REJECTED: frozenset(),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.PARTIALLY_FILLED_REM_CANCELLED: frozenset(),
    # CANCEL_REJECTED is the answer to a cancel request, never a state an order rests in.
    _S.CANCEL_REJECTED: frozenset(),
}


def transition(current: OrderStatus, new: OrderStatus) -> OrderStatus:
    """The order lifecycle: return ``new`` when the table allows the move, else raise."""
    if new not in _TRANSITIONS[current]:
        raise IllegalTransition(f"order status {current} cannot move to {new}")
    return new


def allowed_transitions(current: OrderStatus) -> frozenset[OrderStatus]:
    return _TRANSITIONS[current]
