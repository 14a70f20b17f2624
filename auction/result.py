"""The clearing result: one price per contract, whole-package fills."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil, gcd
from types import MappingProxyType

from auction.book import Book, lattice_limit
from auction.orders import Order, Side
from auction.products import Contract
from auction.replication import (
    Atomic,
    atomic_prices,
    contract_value,
    reference_prices,
    replicate,
)


@dataclass(frozen=True, slots=True)
class Fill:
    order_id: int
    packages: int


@dataclass(frozen=True)
class ClearingResult:
    """Prices (integer ticks) for every contract of the book and the fills (packages > 0).

    ``uncleared`` names contracts whose part of the book could not be cleared (a solve that hit
    its limit with no valid result) or that were halted (no equilibrium keeps their price in
    their band): they keep their reference prices, and no order touching them is filled.
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
    per_legs: dict[int, int] = {}  # id(legs) -> lots per package (equal legs are shared)
    total = 0
    for f in result.fills:
        o = book.order(f.order_id)
        lpp = per_legs.get(id(o.legs))
        if lpp is None:
            lpp = per_legs[id(o.legs)] = o.lots_per_package
        total += lpp * f.packages
    return total


def surplus(book: Book, result: ClearingResult) -> int:
    """Executable-but-unfilled lots at the money: Σ over at-the-money orders of unfilled lots.

    An order is at the money when ``a·p == min(π, band cap)``; orders touching an uncleared
    contract are left out, and an order on a contract without a price raises KeyError.

    Exact and fast: money is carried as integers on the book's scale (``a·p`` and the band cap
    times ``book.money_scale``) and compared with π floored onto the order's lattice (rule 11,
    :func:`auction.book.lattice_limit`), so no Fraction or Decimal is built per order.
    """
    scale = book.money_scale
    lot_value = book.lot_value
    prices = result.prices
    uncleared = result.uncleared
    # per priced, cleared contract: one lot's money at the price, at the band top, at the bottom
    money: dict[int, tuple[int, int, int]] = {}
    for cid, c in book.contracts.items():
        if cid in uncleared or cid not in prices:
            continue
        lv = lot_value[cid]
        lo, hi = c.band_ticks
        money[cid] = (lv * prices[cid], lv * hi, lv * lo)
    money_get = money.get
    filled_get = result.filled().get
    buy = Side.BUY
    total = 0
    for o in book.orders:
        legs = o.legs
        if len(legs) == 1:  # one leg: ``lots`` packages of ratio ±1
            leg = legs[0]
            v = money_get(leg.contract_id)
            if v is None:
                _unpriced(o, result)
                continue
            q = size = leg.lots
            step = lot_value[leg.contract_id]
            if leg.side is buy:
                m, cap = v[0], v[1]
            else:
                m, cap = -v[0], -v[2]
        else:
            q = gcd(*[leg.lots for leg in legs])
            step = gcd(*[leg.lots // q * lot_value[leg.contract_id] for leg in legs])
            m = cap = size = 0  # a·p and the band cap (× scale), the order's lots
            for leg in legs:
                v = money_get(leg.contract_id)
                if v is None:
                    break
                a = leg.lots // q
                size += leg.lots
                if leg.side is buy:
                    m += v[0] * a
                    cap += v[1] * a
                else:
                    m -= v[0] * a
                    cap -= v[2] * a
            if v is None:  # the loop broke at an unpriced or uncleared contract
                _unpriced(o, result)
                continue
        if m > cap:
            continue  # beyond the band cap: out of the money
        # the sign of a·p − π, π read on the lattice of a·p (rule 11)
        vs_limit = m - lattice_limit(o.total_net_price, q, step, scale)
        if vs_limit > 0 or (vs_limit and m != cap):
            continue  # out of the money, or in the money (below both π and the cap)
        total += size - filled_get(o.order_id, 0) * (size // q)
    return total


def _unpriced(order: Order, result: ClearingResult) -> None:
    """An order on a contract without a usable price: exempt when it touches an uncleared
    contract, else the result is incomplete (KeyError naming the first unpriced contract)."""
    if any(leg.contract_id in result.uncleared for leg in order.legs):
        return
    raise KeyError(next(leg.contract_id for leg in order.legs
                        if leg.contract_id not in result.prices))


def no_trade(book: Book, uncleared: frozenset[int] | None = None, *,
             replication: bool = True) -> ClearingResult:
    """No fills. ``uncleared=None``: nothing cleared, every contract at its reference tick (the
    nearest tick inside the band) and named uncleared. Otherwise an auction that cleared with
    no trade: the contracts of ``uncleared`` at their reference ticks, every other one at its
    published price of rule 10 (:func:`published_prices` with nothing solved), and the
    contracts that rule cannot price (replication off the grid or outside the band) added to
    ``uncleared`` — exactly what the matcher publishes for a book without orders."""
    if uncleared is None:
        return ClearingResult({cid: reference_tick(c) for cid, c in book.contracts.items()}, (),
                              frozenset(book.contracts))
    prices, off = published_prices(book.contracts, {}, uncleared, replication)
    return ClearingResult(prices, (), frozenset(uncleared) | frozenset(off))


def published_prices(contracts: Mapping[int, Contract], solved: Mapping[int, int],
                     uncleared: Set[int] = frozenset(), replication: bool = True,
                     bounds: Mapping[int, tuple[int, int]] | None = None,
                     reference: Mapping[Atomic, Fraction] | None = None
                     ) -> tuple[dict[int, int], list[int]]:
    """Every contract's published price in ticks (auction.md §4 rule 10) and the contracts it
    cannot price.

    ``solved`` (contractId -> ticks, the cleared contracts with orders) are published as they
    are; they fix the atomic prices they imply, and every instrument nothing fixes keeps its
    reference price (:func:`auction.replication.atomic_prices`). Every other cleared contract
    is its replication of those atomic prices — when that is a whole number of its ticks
    inside ``bounds`` (contractId -> (low, high) ticks; default the band). A contract whose
    replication is off its grid or outside its bounds, and every contract of ``uncleared``,
    keeps its reference tick; the former are returned (ascending ids) to be named uncleared,
    since no price of theirs is consistent with the others'. ``reference``: the atomic
    reference prices when the caller has them (default
    :func:`auction.replication.reference_prices`). One rule for the matcher
    (``solver_models.pipeline.all_prices``), an auction without orders (:func:`no_trade`) and
    the reference model."""
    if reference is None:
        reference = reference_prices(contracts, replication)
    atomic = atomic_prices(contracts, solved, reference, replication)
    out: dict[int, int] = {}
    off: list[int] = []
    for cid in sorted(contracts):
        if cid in solved:
            out[cid] = solved[cid]
            continue
        c = contracts[cid]
        if cid not in uncleared:
            t = contract_value(replicate(c, replication), atomic) / Fraction(c.tick_size)
            lo, hi = c.band_ticks if bounds is None else bounds[cid]
            if t.denominator == 1 and lo <= t <= hi:
                out[cid] = int(t)
                continue
            off.append(cid)
        out[cid] = reference_tick(c)
    return out, off


def reference_tick(contract: Contract) -> int:
    """The tick nearest the reference price (ties toward the lower tick), clamped into the band."""
    lo, hi = contract.band_ticks
    t = ceil(Fraction(contract.reference_price) / Fraction(contract.tick_size) - Fraction(1, 2))
    return min(max(t, lo), hi)
