"""The cut book: contracts and orders frozen at an auction's cut-off, validated as a whole."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import reduce
from math import gcd
from types import MappingProxyType

from auction.orders import Order
from auction.products import Contract


class BookError(ValueError):
    """A malformed book. ``problems`` lists every rule broken, each naming its order/contract."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _decimal_gcd(values: Iterable[Decimal]) -> Decimal:
    vals = [abs(v) for v in values if v]
    if not vals:
        return Decimal(0)
    scale = max(max(0, -int(v.as_tuple().exponent)) for v in vals)
    ints = [int(v.scaleb(scale)) for v in vals]
    return Decimal(reduce(gcd, ints)).scaleb(-scale)


@dataclass(frozen=True)
class Book:
    """Contracts by id and orders in entry order (earlier entry first; used for tie-breaks)."""

    contracts: Mapping[int, Contract]
    orders: tuple[Order, ...]
    batch_id: int | None = None
    _by_id: Mapping[int, Order] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "contracts", MappingProxyType(dict(self.contracts)))
        object.__setattr__(self, "_by_id", MappingProxyType({o.order_id: o for o in self.orders}))
        problems = validate(self.contracts, self.orders)
        if problems:
            raise BookError(problems)

    def order(self, order_id: int) -> Order:
        return self._by_id[order_id]

    def order_money(self, order: Order, prices: Mapping[int, int]) -> Fraction:
        """a·p: the premium of one package at integer-tick ``prices``, in the numeraire."""
        return Fraction(sum(a * leg_value(self.contracts[leg.contract_id], prices[leg.contract_id])
                            for a, leg in zip(order.ratios, order.legs, strict=True)))

    def band_cap(self, order: Order) -> Fraction:
        """max a·p over the price bands: the most one package can cost inside the bands.

        An order whose limit lies beyond it is treated as limited at the band (fat-finger
        protection): its effective limit is ``min(π, band_cap)``.
        """
        total = Decimal(0)
        for a, leg in zip(order.ratios, order.legs, strict=True):
            c = self.contracts[leg.contract_id]
            lo, hi = c.band_ticks
            total += a * c.lot_size * c.tick_size * (hi if a > 0 else lo)
        return Fraction(total)

    def effective_limit(self, order: Order) -> Fraction:
        """The limit the clearing rule uses: π clipped to the band cap."""
        return min(order.limit_per_package, self.band_cap(order))

    def price_lattice(self, order: Order) -> Decimal:
        """The step of a·p over whole ticks: gcd over legs of |a_l|·lot_l·tick_l."""
        return _decimal_gcd(a * self.contracts[leg.contract_id].lot_size
                            * self.contracts[leg.contract_id].tick_size
                            for a, leg in zip(order.ratios, order.legs, strict=True))


def leg_value(contract: Contract, ticks: int) -> Decimal:
    """Premium of one lot at ``ticks``."""
    return contract.lot_size * contract.tick_size * ticks


def validate(contracts: Mapping[int, Contract], orders: Iterable[Order]) -> list[str]:
    """Every rule the book breaks, as messages naming the order or contract and the rule."""
    problems: list[str] = []
    for cid, c in contracts.items():
        if cid != c.contract_id:
            problems.append(f"contract {cid}: keyed under a different id {c.contract_id}")
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
        step = _decimal_gcd(a * contracts[leg.contract_id].lot_size
                            * contracts[leg.contract_id].tick_size
                            for a, leg in zip(o.ratios, o.legs, strict=True))
        limit = o.limit_per_package
        if (limit / Fraction(step)).denominator != 1:
            problems.append(
                f"order {o.order_id}: totalNetPrice {o.total_net_price} over {o.packages} "
                f"package(s) is {float(limit):g} per package, not on the tick grid of its legs "
                f"(a multiple of {step})")
    return problems
