"""Portfolio collateral (the lockup) per client × pair × expiry (collateral.md §3).

A bucket's payoff at settlement price S, in numeraire, is ``P(S) = Σ q_i·payoff_i(S) + Σ c``
(q in units of the contract's quantity; forwards contribute ``q·(S − entry) + realised``).

1. Underlying needed ``U = max(0, −lim P(S)/S)``: the net short slope (calls and forwards).
2. Numeraire needed ``C = max(0, −inf_S (U·S + P(S)))``. ``U·S + P`` is piecewise linear with
   breakpoints at the strikes and a slope >= 0 beyond the last one, so its infimum over S >= 0
   is reached at S = 0, at a strike, or just **above** a strike (the right limit, where a
   binary call starts paying and a binary put stops). We evaluate exactly those points (plus
   every forward entry price, as the spec lists them): this is the spec's "every strike ± one
   tick" with the tick taken to zero, so it is never less than the spec's number and covers
   every settlement price, whatever the tick of the fixing.
3. Lockup = U underlying + C numeraire, each **rounded up** to its currency's precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from auction.products import Contract, Currency, Payoff
from validator.collateral.money import from_units, pair_currencies, units_ceil
from validator.collateral.positions import BucketKey, Position, Positions

ZERO = Fraction(0)


@dataclass(frozen=True, slots=True)
class Exposure:
    """One line of a payoff: ``quantity`` units (signed) of a contract.

    For a forward ``entry_price`` is F (payoff ``q·(S − F)``) and ``realised`` a constant.
    """

    contract: Contract
    quantity: Fraction
    entry_price: Fraction = ZERO
    realised: Fraction = ZERO


def exposures(positions: Iterable[tuple[Contract, Position]]) -> list[Exposure]:
    return [Exposure(c, Fraction(p.lots * c.lot_size), p.entry_price, p.realised)
            for c, p in positions]


def unit_payoff(contract: Contract, s: Fraction, right: bool = False) -> Fraction:
    """Payoff of one long unit at S (auction.md §1); ``right``: the limit from above at S.

    Forwards return S (the entry price is applied by the caller). Only binaries jump: a
    BinaryCall pays when S > K, so just above K it pays; a BinaryPut pays when S <= K.
    """
    k = Fraction(contract.strike) if contract.strike is not None else ZERO
    match contract.payoff:
        case Payoff.CALL:
            return max(s - k, ZERO)
        case Payoff.PUT:
            return max(k - s, ZERO)
        case Payoff.FORWARD:
            return s
        case Payoff.BINARY_CALL:
            return Fraction(1) if (s >= k if right else s > k) else ZERO
        case Payoff.BINARY_PUT:
            return Fraction(1) if (s < k if right else s <= k) else ZERO
    raise AssertionError(contract.payoff)


def payoff(lines: Iterable[Exposure], s: Fraction | Decimal, right: bool = False) -> Fraction:
    """P(S) of a set of exposures, exact, in numeraire."""
    s = Fraction(s)
    total = ZERO
    for e in lines:
        total += e.quantity * unit_payoff(e.contract, s, right)
        if e.contract.payoff is Payoff.FORWARD:
            total += e.realised - e.quantity * e.entry_price
    return total


def slope(lines: Iterable[Exposure]) -> Fraction:
    """lim P(S)/S as S → ∞: the net long units of calls and forwards."""
    return sum((e.quantity for e in lines
                if e.contract.payoff in (Payoff.CALL, Payoff.FORWARD)), ZERO)


def breakpoints(lines: Iterable[Exposure]) -> list[Fraction]:
    """S = 0, every strike, every forward entry price (sorted, unique, >= 0)."""
    pts = {ZERO}
    for e in lines:
        if e.contract.strike is not None:
            pts.add(Fraction(e.contract.strike))
        elif e.contract.payoff is Payoff.FORWARD and e.entry_price > 0:
            pts.add(e.entry_price)
    return sorted(pts)


def worst(lines: Iterable[Exposure], u: Fraction) -> tuple[Fraction, Fraction]:
    """(inf over S >= 0 of U·S + P(S), a settlement price where it is reached or approached)."""
    lines = list(lines)
    best: tuple[Fraction, Fraction] | None = None
    for s in breakpoints(lines):
        for right in (False, True):
            v = u * s + payoff(lines, s, right)
            if best is None or v < best[0]:
                best = (v, s)
    assert best is not None
    return best


def collateral(lines: Iterable[Exposure]) -> tuple[Fraction, Fraction]:
    """Exact (U underlying, C numeraire) of a portfolio (steps 1-2 above)."""
    lines = [e for e in lines if e.quantity or e.realised]
    u = max(ZERO, -slope(lines))
    if not lines:
        return ZERO, ZERO
    low, _ = worst(lines, u)
    return u, max(ZERO, -low)


@dataclass(frozen=True, slots=True)
class Lockup:
    """A bucket's lockup in precision units of the pair's underlying and numeraire."""

    underlying: int = 0
    numeraire: int = 0

    def __sub__(self, other: Lockup) -> Lockup:
        return Lockup(self.underlying - other.underlying, self.numeraire - other.numeraire)

    def __add__(self, other: Lockup) -> Lockup:
        return Lockup(self.underlying + other.underlying, self.numeraire + other.numeraire)

    def decimals(self, pair: str, currencies: Mapping[str, Currency]) -> tuple[Decimal, Decimal]:
        u, n = pair_currencies(currencies, pair)
        return from_units(self.underlying, u), from_units(self.numeraire, n)


def lockup_of(lines: Iterable[Exposure], pair: str,
              currencies: Mapping[str, Currency]) -> Lockup:
    """The lockup of a portfolio, each currency rounded up to its precision."""
    u_cur, n_cur = pair_currencies(currencies, pair)
    u, c = collateral(lines)
    return Lockup(units_ceil(u, u_cur), units_ceil(c, n_cur))


def bucket_lockup(positions: Positions, key: BucketKey, contracts: Mapping[int, Contract],
                  currencies: Mapping[str, Currency]) -> Lockup:
    return lockup_of(exposures(positions.bucket(key, contracts)), key.pair, currencies)


def lockups(positions: Positions, contracts: Mapping[int, Contract],
            currencies: Mapping[str, Currency]) -> dict[BucketKey, Lockup]:
    """The lockup of every bucket that holds a position."""
    return {key: bucket_lockup(positions, key, contracts, currencies)
            for key in sorted(positions.buckets(contracts))}
