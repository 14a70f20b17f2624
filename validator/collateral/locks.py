"""The lock of an order at entry (collateral.md §2).

Single legs, per unit: BUY of an option or binary locks its premium (the limit price); SELL
Call 1 underlying; SELL Put K numeraire; SELL binary 1 numeraire; BUY Forward the forward
price; SELL Forward 1 underlying. A multi-leg order is locked **as one package**: the portfolio
collateral (§3) of its legs plus the net premium if the client pays one (``totalNetPrice > 0``;
a premium the client would receive is not credited). The single-leg table is the special case
of one leg. A forward leg enters the portfolio as ``q·S`` and its level is part of
``totalNetPrice`` (the wire's "price" of a forward leg), which gives exactly the table's
"forward price" for a BUY and "1 underlying" for a SELL.

**Decision (package never above its legs):** the §3 rule takes the least underlying (the net
short slope). For a package such as "SELL call K1, BUY call K2 > K1" that trades 1 underlying
for ``K2 − K1`` numeraire, i.e. more numeraire than the legs lock alone. When the portfolio
numeraire exceeds the sum of the legs' numeraire we keep the legs' underlying ``ΣU_l`` and
take ``C = max(0, −inf(ΣU_l·S + P(S)))`` — still a full cover, and never more than the legs in
either currency. Both API examples of the spec use the §3 rule unchanged.

Lock of ``x`` of the order's ``q`` packages = ``x/q`` × the lock of the order (the collateral
is positively homogeneous), so a partly filled order keeps the lock of its remainder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from auction.book import read_limit
from auction.orders import Order
from auction.products import Contract, Currency
from validator.collateral.errors import CollateralError, UnitsError
from validator.collateral.fees import FeeSchedule
from validator.collateral.lockup import ZERO, Exposure, collateral, worst
from validator.collateral.money import pair_currencies, to_decimal, units_ceil


@dataclass(frozen=True, slots=True)
class OrderLock:
    """What an order locks, exact: underlying and numeraire of its pair."""

    pair: str
    underlying: Decimal
    numeraire: Decimal

    def units(self, currencies: Mapping[str, Currency]) -> dict[str, int]:
        """Per currency symbol, rounded up to the precision (a lock is never short)."""
        u, n = pair_currencies(currencies, self.pair)
        out = {u.symbol: units_ceil(self.underlying, u)}
        out[n.symbol] = out.get(n.symbol, 0) + units_ceil(self.numeraire, n)
        return out


def package_collateral(lines: list[Exposure]) -> tuple[Fraction, Fraction]:
    """§3 collateral of the legs, capped per currency by the legs' own (see module doc)."""
    u, c = collateral(lines)
    per_leg = [collateral([e]) for e in lines]
    u_sum = sum((x for x, _ in per_leg), ZERO)
    c_sum = sum((y for _, y in per_leg), ZERO)
    if c <= c_sum:
        return u, c
    low, _ = worst(lines, u_sum)
    return u_sum, max(ZERO, -low)


@lru_cache(maxsize=4096)
def _one_package(lines: tuple[Exposure, ...]) -> tuple[Fraction, Fraction]:
    """:func:`package_collateral` of one package, remembered: it depends only on the legs'
    ratios and their contracts' terms (the key holds both, by value: a contract whose terms
    change is another key), not on the price — the intake computes it for every order."""
    return package_collateral(list(lines))


def order_lock(order: Order, contracts: Mapping[int, Contract], *,
               packages: int | None = None, fees: FeeSchedule | None = None) -> OrderLock:
    """The lock of ``packages`` (default: all) of the order's packages, exact."""
    legs, x, u, c_sent, c_read = _package(order, contracts, packages, fees)
    pair = str(legs[0].pair)
    try:
        return OrderLock(pair, to_decimal(u * x), to_decimal(c_sent * x))
    except UnitsError:
        pass
    try:
        return OrderLock(pair, to_decimal(u * x), to_decimal(c_read * x))
    except UnitsError:
        raise _not_decimal(order) from None


def _package(order: Order, contracts: Mapping[int, Contract], packages: int | None,
             fees: FeeSchedule | None = None
             ) -> tuple[list[Contract], int, Fraction, Fraction, Fraction]:
    """(the legs' contracts, packages x, underlying of one package, numeraire of one package
    with the limit as sent, with the limit read on the lattice) — what :func:`order_lock` and
    :func:`order_lock_units` share; raises :class:`CollateralError` for an order they cannot
    lock."""
    try:
        legs = [contracts[leg.contract_id] for leg in order.legs]
    except KeyError as e:
        raise CollateralError(f"order {order.order_id}: unknown contract {e.args[0]}") from None
    if len({str(c.pair) for c in legs}) != 1:
        raise CollateralError(f"order {order.order_id}: legs on more than one currency pair")
    q = order.packages
    x = q if packages is None else packages
    if not 0 <= x <= q:
        raise CollateralError(f"order {order.order_id}: {x} of {q} packages")
    # One package (legs a_l lots, limit π) is exact in decimals; x packages are x times it.
    one = [Exposure(c, Fraction(a * c.lot_size)) for a, c in zip(order.ratios, legs, strict=True)]
    u, c = _one_package(tuple(one))
    if fees is not None:
        c += fees.order_fee([(ct, Fraction(abs(a) * ct.lot_size), None)
                             for a, ct in zip(order.ratios, legs, strict=True)])
    # rule 11: a limit at currency precision may not divide into a decimal per package; the
    # limit read on the lattice (never above it) is then what the order can pay
    return (legs, x, u, c + max(ZERO, order.limit_per_package),
            c + max(ZERO, read_limit(order, contracts)))


def _not_decimal(order: Order) -> CollateralError:
    return CollateralError(f"order {order.order_id}: limit per package "
                           f"{order.total_net_price}/{order.packages} is not a decimal amount")


def _finite(f: Fraction) -> bool:
    """``f`` has a finite decimal form (:func:`~validator.collateral.money.to_decimal`
    succeeds): its reduced denominator is 2^a·5^b."""
    d = f.denominator
    d >>= (d & -d).bit_length() - 1  # the twos
    while d % 5 == 0:
        d //= 5
    return d == 1


def order_lock_units(order: Order, contracts: Mapping[int, Contract],
                     currencies: Mapping[str, Currency], *,
                     packages: int | None = None) -> tuple[str, int, int]:
    """(pair, underlying units, numeraire units) of ``order_lock(order, contracts,
    packages=packages).units(currencies)`` — the same integers and the same errors, computed
    from the exact fractions without the Decimals between (the order intake computes it for
    every order). A pair whose underlying is its numeraire locks everything in the numeraire
    (underlying units 0)."""
    legs, x, u, c_sent, c_read = _package(order, contracts, packages)
    und, num = u * x, c_sent * x
    if not (_finite(und) and _finite(num)):  # order_lock: the limit read on the lattice
        num = c_read * x
        if not (_finite(und) and _finite(num)):
            raise _not_decimal(order)
    pair = str(legs[0].pair)
    uc, nc = pair_currencies(currencies, legs[0].pair)
    lu = -(-und.numerator * 10 ** uc.precision // und.denominator)  # rounded up
    ln = -(-num.numerator * 10 ** nc.precision // num.denominator)
    if uc.symbol == nc.symbol:
        return pair, 0, lu + ln
    return pair, lu, ln
