"""The cut book: contracts and orders frozen at an auction's cut-off, validated as a whole."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from math import gcd
from types import MappingProxyType

from auction.orders import Order
from auction.products import Contract
from auction.units import EXACT, MAX_UNITS, PrecisionError, fmt


class BookError(ValueError):
    """A malformed book. ``problems`` lists every rule broken, each naming its order/contract."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _places(d: Decimal) -> int:
    """Decimal places of ``d`` as written (trailing zeros count; 0 for integers)."""
    exp = d.as_tuple().exponent
    assert isinstance(exp, int), d  # finite by construction of the domain types
    return max(0, -exp)


def lot_values(contracts: Mapping[int, Contract]) -> tuple[int, dict[int, int]]:
    """The common money scale ``S = 10**E`` and each contract's lot value on it.

    ``E`` is the most decimal places of any contract's ``lot_size`` plus that of its
    ``tick_size``, so the premium of one lot per tick, ``lot_size · tick_size``, is an exact
    integer ``lot_value[cid]`` once multiplied by ``S``; any premium ``a·p`` is then the exact
    integer ``Σ a_l · lot_value_l · p_l`` over ``S`` (no Decimal context, no Fraction per order).
    """
    scale = 10 ** max((_places(c.lot_size) + _places(c.tick_size) for c in contracts.values()),
                      default=0)
    values: dict[int, int] = {}
    for cid, c in contracts.items():
        ln, ld = c.lot_size.as_integer_ratio()
        tn, td = c.tick_size.as_integer_ratio()
        v, rem = divmod(ln * tn * scale, ld * td)
        assert rem == 0, c
        values[cid] = v
    return scale, values


def _lattice(ratios: Iterable[int], cids: Iterable[int], lot_value: Mapping[int, int]) -> int:
    """gcd over legs of |a_l|·lot_value_l: the step of ``a·p`` over whole ticks, × the scale."""
    return gcd(*[a * lot_value[cid] for a, cid in zip(ratios, cids, strict=True)])


def lattice_limit(total_net_price: Decimal, packages: int, step: int, scale: int) -> int:
    """Rule 11 (auction.md §4): the limit per package read on the lattice of ``a·p``.

    ``a·p`` over whole ticks is always a multiple of ``step / scale`` (the gcd over legs of
    ``|a_l|·lot_l·tick_l``, :meth:`Book.price_lattice`), so a limit ``π = totalNetPrice / q``
    at currency precision is exactly equivalent to ``π`` floored onto that lattice: a buyer
    pays at most, a seller receives at least, the nearest lattice price inside its limit. The
    signed limit is floored (toward minus infinity) whatever its sign. Returned as an integer
    number of ``1 / scale`` (a multiple of ``step``); the client's ``totalNetPrice`` is kept as
    sent everywhere else. Exact (Python integers).

    The one definition: the book, the matcher's arrays, the check and admission call it.
    """
    num, den = total_net_price.as_integer_ratio()
    return num * scale // (den * packages * step) * step


def read_limit(order: Order, contracts: Mapping[int, Contract]) -> Fraction:
    """The order's limit per package as the clearing rule reads it (rule 11,
    :func:`lattice_limit`), in the numeraire, from its legs' contracts alone (admission and
    locks use it before the order is in a book)."""
    scale, step = _package_lattice(tuple((abs(a), contracts[leg.contract_id])
                                         for a, leg in zip(order.ratios, order.legs,
                                                           strict=True)))
    return Fraction(lattice_limit(order.total_net_price, order.packages, step, scale), scale)


@lru_cache(maxsize=4096)
def _package_lattice(legs: tuple[tuple[int, Contract], ...]) -> tuple[int, int]:
    """(scale, step) of :func:`lattice_limit` for a package's legs (|ratio|, contract),
    remembered: it depends on the ratios and the contracts' terms only (the key holds both by
    value), and admission reads the limit of every order."""
    scale, lot_value = lot_values({cid: c for cid, (_a, c) in enumerate(legs)})
    return scale, _lattice((a for a, _c in legs), range(len(legs)), lot_value)


def _step_decimal(step: int, scale: int, order: Order,
                  contracts: Mapping[int, Contract]) -> Decimal:
    """``step / scale`` as an exact Decimal, written with as many places as the order's legs'
    ``lot_size · tick_size`` have (as the product of the two Decimals would show it)."""
    places = max(max(0, -(c.lot_size.as_tuple().exponent + c.tick_size.as_tuple().exponent))
                 for c in (contracts[leg.contract_id] for leg in order.legs))
    n, rem = divmod(step * 10**places, scale)
    assert rem == 0, (step, scale, places)
    return Decimal(f"{n}E-{places}")


@dataclass(frozen=True)
class Book:
    """Contracts by id and orders in entry order (earlier entry first; used for tie-breaks).

    ``money_scale`` and ``lot_value`` carry money exactly as integers: one lot at one tick of
    contract ``cid`` is worth ``lot_value[cid] / money_scale`` in the numeraire
    (:func:`lot_values`).
    """

    contracts: Mapping[int, Contract]
    orders: tuple[Order, ...]
    batch_id: int | None = None
    _by_id: Mapping[int, Order] = field(init=False, repr=False, compare=False)
    money_scale: int = field(init=False, repr=False, compare=False)
    lot_value: Mapping[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "contracts", MappingProxyType(dict(self.contracts)))
        object.__setattr__(self, "_by_id", MappingProxyType({o.order_id: o for o in self.orders}))
        scale, values = lot_values(self.contracts)
        object.__setattr__(self, "money_scale", scale)
        object.__setattr__(self, "lot_value", MappingProxyType(values))
        problems = validate(self.contracts, self.orders)
        if problems:
            raise BookError(problems)

    def order(self, order_id: int) -> Order:
        return self._by_id[order_id]

    def order_money(self, order: Order, prices: Mapping[int, int]) -> Fraction:
        """a·p: the premium of one package at integer-tick ``prices``, in the numeraire."""
        lv = self.lot_value
        total = sum(a * lv[leg.contract_id] * prices[leg.contract_id]
                    for a, leg in zip(order.ratios, order.legs, strict=True))
        return Fraction(total, self.money_scale)

    def band_cap(self, order: Order) -> Fraction:
        """max a·p over the price bands: the most one package can cost inside the bands.

        An order whose limit lies beyond it is treated as limited at the band (fat-finger
        protection): its effective limit is ``min(π, band_cap)``. Exact (integers on the
        book's scale).
        """
        total = 0
        for a, leg in zip(order.ratios, order.legs, strict=True):
            lo, hi = self.contracts[leg.contract_id].band_ticks
            total += a * self.lot_value[leg.contract_id] * (hi if a > 0 else lo)
        return Fraction(total, self.money_scale)

    def limit(self, order: Order) -> Fraction:
        """The limit per package as the clearing rule reads it (rule 11): π floored onto the
        lattice of the order's ``a·p`` (:func:`lattice_limit`)."""
        return Fraction(self.limit_units(order), self.money_scale)

    def limit_units(self, order: Order) -> int:
        """:meth:`limit` times ``money_scale``: an exact integer."""
        step = _lattice(map(abs, order.ratios), (leg.contract_id for leg in order.legs),
                        self.lot_value)
        return lattice_limit(order.total_net_price, order.packages, step, self.money_scale)

    def effective_limit(self, order: Order) -> Fraction:
        """The limit the clearing rule uses: the lattice limit (rule 11) clipped to the band
        cap."""
        return min(self.limit(order), self.band_cap(order))

    def price_lattice(self, order: Order) -> Decimal:
        """The step of a·p over whole ticks: gcd over legs of |a_l|·lot_l·tick_l (exact)."""
        step = _lattice(map(abs, order.ratios), (leg.contract_id for leg in order.legs),
                        self.lot_value)
        return _step_decimal(step, self.money_scale, order, self.contracts)


def leg_value(contract: Contract, ticks: int) -> Decimal:
    """Premium of one lot at ``ticks`` (exact)."""
    return EXACT.multiply(EXACT.multiply(contract.lot_size, contract.tick_size), ticks)


def exact(value: Fraction) -> str:
    """A number for a message, never rounded: its decimal digits when it has a finite decimal
    form, else the exact fraction ``n/d``."""
    try:
        return fmt(value)
    except PrecisionError:
        return f"{value.numerator}/{value.denominator}"


def validate(contracts: Mapping[int, Contract], orders: Iterable[Order]) -> list[str]:
    """Every rule the book breaks, as messages naming the order or contract and the rule."""
    problems: list[str] = []
    for cid, c in contracts.items():
        if cid != c.contract_id:
            problems.append(f"contract {cid}: keyed under a different id {c.contract_id}")
    orders = orders if isinstance(orders, tuple | list) else tuple(orders)
    if _orders_valid(contracts, orders):
        return problems
    seen: set[int] = set()
    for o in orders:
        if o.order_id in seen:
            problems.append(f"order {o.order_id}: duplicate orderId")
            continue
        seen.add(o.order_id)
        unknown = [leg.contract_id for leg in o.legs if leg.contract_id not in contracts]
        if unknown:
            problems.append(f"order {o.order_id}: unknown contract {unknown[0]}")
            continue
        pairs = {contracts[leg.contract_id].pair for leg in o.legs}
        if len(pairs) > 1:
            problems.append(f"order {o.order_id}: legs on more than one currency pair")
            continue
        # a limit off the lattice of its legs is read floored onto it (rule 11), never refused
    return problems


def _orders_valid(contracts: Mapping[int, Contract], orders: Sequence[Order]) -> bool:
    """The fast answer of :func:`validate` for a large valid book: unique ids, and every
    distinct legs tuple (shared by the orders that have equal legs) on known contracts of one
    pair. False: some order breaks a rule, and the full pass names it."""
    if len({o.order_id for o in orders}) != len(orders):
        return False
    for legs in {id(o.legs): o.legs for o in orders}.values():
        try:
            if len({contracts[leg.contract_id].pair for leg in legs}) > 1:
                return False
        except KeyError:
            return False
    return True


def range_problems(book: Book) -> list[str]:
    """Where ``book`` leaves the range of amounts (``auction.units``) the matcher holds: it
    counts money on the book's scale (``money_scale``) and quantities on the scale of the
    finest lot in 64-bit integers. The domain itself is exact for any numbers; the readers of
    book files check this (``auction.interchange.book_from_dict``)."""
    problems: list[str] = []
    scale, lot_value = book.money_scale, book.lot_value
    qty_scale = 10 ** max((_places(c.lot_size) for c in book.contracts.values()), default=0)
    max_lots: dict[int, int] = {}
    for cid, c in book.contracts.items():
        edge = max(abs(t) for t in c.band_ticks)
        if lot_value[cid] * edge > MAX_UNITS:
            problems.append(f"contract {cid}: one lot at the edge of its band is "
                            f"{lot_value[cid] * edge} on the book's money scale 1/{scale}, "
                            f"beyond the range of amounts ({MAX_UNITS}; tickSize {c.tick_size}, "
                            f"lotSize {c.lot_size})")
        max_lots[cid] = MAX_UNITS // int(Fraction(c.lot_size) * qty_scale)
    limit_bound = Decimal(MAX_UNITS).scaleb(-(len(str(scale)) - 1))  # MAX_UNITS / scale, exact
    for o in book.orders:
        big = [leg.contract_id for leg in o.legs if leg.lots > max_lots[leg.contract_id]]
        if big:
            problems.append(f"order {o.order_id}: the quantity on contract {big[0]} is beyond "
                            f"the range of amounts on the book's quantity scale 1/{qty_scale}")
            continue
        if abs(o.total_net_price) > limit_bound:  # exact: Decimal comparison never rounds
            problems.append(f"order {o.order_id}: totalNetPrice {o.total_net_price} is beyond "
                            f"the range of amounts on the book's money scale 1/{scale} "
                            f"(at most {MAX_UNITS} units of it)")
    return problems
