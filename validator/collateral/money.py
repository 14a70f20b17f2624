"""Exact amounts and currency precision units.

Every amount leaves the validator as an integer number of the currency's wire-precision units
(``10^-precision``). Exact values are :class:`~fractions.Fraction` inside; rounding states its
direction: what a client pays or locks is rounded **up**, what it receives is rounded **down**
(the venue is never short of a unit; the clearing house account keeps the dust).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor

from auction.products import Contract, Currency, CurrencyPair
from auction.units import EXACT, PrecisionError, finite_decimal
from validator.collateral.errors import UnitsError, UnknownCurrency

Exact = Fraction | Decimal | int


def currency(currencies: Mapping[str, Currency], symbol: str) -> Currency:
    try:
        return currencies[symbol]
    except KeyError:
        raise UnknownCurrency(f"currency {symbol!r} is not in the currencies mapping") from None


def scale(c: Currency) -> int:
    return 10 ** c.precision


def units_ceil(amount: Exact, c: Currency) -> int:
    """The least whole number of units >= ``amount`` (what a client pays or locks)."""
    return ceil(Fraction(amount) * scale(c))


def units_floor(amount: Exact, c: Currency) -> int:
    """The greatest whole number of units <= ``amount`` (what a client receives)."""
    return floor(Fraction(amount) * scale(c))


def units_exact(amount: Exact, c: Currency, what: str = "amount") -> int:
    v = Fraction(amount) * scale(c)
    if v.denominator != 1:
        raise UnitsError(f"{what}: {amount} {c.symbol} is finer than its precision "
                         f"({c.precision} digits)")
    return int(v)


def from_units(units: int, c: Currency) -> Decimal:
    """Units back to a decimal amount (exact)."""
    return Decimal(units).scaleb(-c.precision)


def to_decimal(value: Exact) -> Decimal:
    """An exact decimal for a Fraction whose denominator is 2^a·5^b; raises otherwise."""
    f = Fraction(value)
    try:
        n, places = finite_decimal(f)
    except PrecisionError:
        raise UnitsError(f"{f} has no finite decimal form") from None
    return Decimal(n).scaleb(-places, EXACT)  # the exact context: the default rounds at 28


def pair_currencies(currencies: Mapping[str, Currency],
                    pair: CurrencyPair | str) -> tuple[Currency, Currency]:
    """(underlying, numeraire) of a pair."""
    p = CurrencyPair.parse(pair) if isinstance(pair, str) else pair
    return currency(currencies, p.underlying), currency(currencies, p.numeraire)


def quantity_currency(currencies: Mapping[str, Currency], contract: Contract) -> Currency:
    """Options and forwards are sized in the underlying, binaries in the numeraire."""
    u, n = pair_currencies(currencies, contract.pair)
    return n if contract.payoff.is_binary else u


def size_units(contract: Contract, lots: int, currencies: Mapping[str, Currency]) -> int:
    """A position size in precision units of the contract's quantity currency."""
    c = quantity_currency(currencies, contract)
    return units_exact(lots * contract.lot_size, c,
                       f"contract {contract.contract_id}: {lots} lot(s) of {contract.lot_size}")
