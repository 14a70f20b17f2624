"""Rows the store hands out and takes in: frozen values, integers for every amount."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from auction.orders import Leg, Order, OrderStatus


@dataclass(frozen=True)
class StoredOrder:
    """An order as the store keeps it: the original order plus its life so far."""

    order: Order  # as entered (all packages)
    pair: str
    status: OrderStatus
    admitted_ms: int
    filled_packages: int = 0
    expire_ms: int | None = None
    lock_underlying: int = 0  # what the unfilled rest locks (precision units)
    lock_numeraire: int = 0
    client_order_id: int | None = None
    reject_reason: str | None = None
    version: int = 0
    batch_id: int | None = None

    @property
    def order_id(self) -> int:
        return self.order.order_id

    @property
    def client_id(self) -> int:
        return self.order.client_id

    @property
    def remaining(self) -> int:
        return self.order.packages - self.filled_packages

    def remaining_order(self, packages: int | None = None) -> Order:
        """The unfilled rest as an order of its own (same id, limit and ratios); ``packages``
        (at most the rest) caps it further (a reduce-only order capped by the position)."""
        o, rest = self.order, self.remaining
        if packages is not None:
            rest = min(rest, packages)
        if rest == o.packages:
            return o
        if rest <= 0:
            raise ValueError(f"order {o.order_id} has nothing left")
        total = Fraction(o.total_net_price) * rest / o.packages
        price = Decimal(total.numerator) / Decimal(total.denominator)
        legs = tuple(Leg(leg.contract_id, leg.side, abs(a) * rest)
                     for a, leg in zip(o.ratios, o.legs, strict=True))
        return Order(o.order_id, o.client_id, price, legs, o.time_in_force, o.all_or_none,
                     min(o.min_packages, rest), o.reduce_only, o.good_till_ms)

    def evolve(self, **changes: Any) -> StoredOrder:
        return replace(self, **changes)


@dataclass(frozen=True)
class HistoryEntry:
    order_id: int
    from_status: OrderStatus | None
    to_status: OrderStatus
    filled_packages: int
    at_ms: int
    batch_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class FundLock:
    """The three values of one client and currency (collateral.md §1), precision units."""

    client_id: int
    currency: str
    fund_lock_value: int = 0
    order_value: int = 0
    settle_value: int = 0

    @property
    def available(self) -> int:
        return self.fund_lock_value + self.settle_value - self.order_value


@dataclass(frozen=True)
class Lockup:
    client_id: int
    pair: str
    expiry: int  # yyyymmdd
    underlying_amount: int
    numeraire_amount: int


@dataclass(frozen=True)
class BatchRecord:
    batch_id: int
    status: str  # APPLIED | FAILED
    solve_status: str | None
    order_count: int
    fill_count: int
    volume: int
    book: dict[str, Any]
    params: dict[str, Any]
    result: dict[str, Any] | None
    check_ok: bool | None
    violations: list[str]
    timings: dict[str, float]
    coordinator: str
    started_ms: int
    finished_ms: int


@dataclass(frozen=True)
class FillRecord:
    batch_id: int
    order_id: int
    client_id: int
    packages: int
    legs: tuple[tuple[int, int, int], ...] = field(default=())  # (contract, signed lots, price)


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    token: int
    expires_ms: int
