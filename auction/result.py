"""The clearing result: one price per contract, whole-package fills."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil
from types import MappingProxyType

from auction.book import Book
from auction.products import Contract


@dataclass(frozen=True, slots=True)
class Fill:
    order_id: int
    packages: int


@dataclass(frozen=True)
class ClearingResult:
    """Prices (integer ticks) for every contract of the book and the fills (packages > 0).

    ``uncleared`` names contracts whose part of the book could not be cleared (a solve that hit
    its limit with no valid result): they keep their reference prices and have no fills.
    """

    prices: Mapping[int, int]
    fills: tuple[Fill, ...]
    uncleared: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prices", MappingProxyType(dict(sorted(self.prices.items()))))
        object.__setattr__(self, "fills", tuple(sorted(self.fills, key=lambda f: f.order_id)))

    def filled(self) -> dict[int, int]:
        return {f.order_id: f.packages for f in self.fills}

    def traded_contracts(self, book: Book) -> set[int]:
        filled = self.filled()
        return {leg.contract_id for o in book.orders if filled.get(o.order_id)
                for leg in o.legs}


def volume(book: Book, result: ClearingResult) -> int:
    """Σ fill · Σ|leg lots| of each original order (a put counts once)."""
    return sum(book.order(f.order_id).lots_per_package * f.packages for f in result.fills)


def surplus(book: Book, result: ClearingResult) -> int:
    """Executable-but-unfilled lots at the money: Σ over at-the-money orders of unfilled lots."""
    filled = result.filled()
    total = 0
    for o in book.orders:
        if any(leg.contract_id in result.uncleared for leg in o.legs):
            continue
        if book.order_money(o, result.prices) == book.effective_limit(o):
            total += (o.packages - filled.get(o.order_id, 0)) * o.lots_per_package
    return total


def no_trade(book: Book, uncleared: frozenset[int] | None = None) -> ClearingResult:
    """Reference prices (rounded to the nearest tick inside the band), no fills."""
    return ClearingResult({cid: reference_tick(c) for cid, c in book.contracts.items()}, (),
                          frozenset(book.contracts) if uncleared is None else uncleared)


def reference_tick(contract: Contract) -> int:
    """The tick nearest the reference price (ties toward the lower tick), clamped into the band."""
    lo, hi = contract.band_ticks
    t = ceil(Fraction(contract.reference_price) / Fraction(contract.tick_size) - Fraction(1, 2))
    return min(max(t, lo), hi)
