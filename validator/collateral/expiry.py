"""Expiry: payoffs at the settlement price, release of the lockups (collateral.md §5).

For one (pair, expiry) and settlement price S, per client bucket:

* the payoff ``P(S)`` in numeraire (auction.md §1; forwards ``units·(S − entry) + realised``);
* the bucket's lockup ``(U underlying, C numeraire)`` is released;
* one movement per (client, pair, expiry), origin ``EXPIRY``, ``origin_id = yyyymmdd``, which
  closes every position of the bucket and pays the net result out of the released lockup —
  nobody pays anything in:
  - ``P >= 0``: the client receives ``U`` underlying and ``C + ⌊P⌋`` numeraire;
  - ``P < 0``: the loss ``L = −P`` is taken from the numeraire lockup first, ``⌈L⌉``; what
    ``C`` does not cover is taken from the underlying lockup at S, ``⌈(L − C)/S⌉`` units
    (rounded up), and the client receives the rest. The lockup guarantees
    ``U·S + C + P(S) >= 0``, so this never exceeds U.

**Decision (currencies at expiry):** payoffs are numeraire amounts; a gain is paid in the
numeraire. The clearing house account takes the per-currency balance (it receives the
underlying that losing clients pay at S and pays the numeraire), so every currency sums to
zero exactly, and its net value at S is the replication residual it returns plus the rounding
dust it keeps (>= 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from auction.cash import CashMovement, MovementOrigin, PositionChange
from auction.products import DEFAULT_CURRENCIES, Contract, Currency, format_expiry
from validator.collateral import CLEARING_HOUSE_ID
from validator.collateral.errors import CollateralError
from validator.collateral.lockup import Lockup, bucket_lockup, exposures, payoff
from validator.collateral.money import (
    pair_currencies,
    scale,
    size_units,
    to_decimal,
    units_ceil,
    units_floor,
)
from validator.collateral.positions import BucketKey, Positions


@dataclass(frozen=True)
class ExpiryCash:
    movements: tuple[CashMovement, ...]  # one per client of the bucket, by client id
    clearing_house: CashMovement
    payoffs: Mapping[int, Decimal]  # client -> exact P(S), numeraire
    released: Mapping[BucketKey, Lockup]
    positions: Positions  # after: the expired buckets removed

    def __post_init__(self) -> None:
        object.__setattr__(self, "payoffs", MappingProxyType(dict(self.payoffs)))
        object.__setattr__(self, "released", MappingProxyType(dict(self.released)))

    def all_movements(self) -> tuple[CashMovement, ...]:
        return (*self.movements, self.clearing_house)


def settle_bucket(lockup: Lockup, result: Fraction, settlement: Fraction, u_cur: Currency,
                  n_cur: Currency) -> tuple[int, int]:
    """(underlying, numeraire) movement of one bucket (positive = pays; here always <= 0)."""
    if result >= 0:
        return -lockup.underlying, -(lockup.numeraire + units_floor(result, n_cur))
    loss = -result
    loss_units = units_ceil(loss, n_cur)
    if loss_units <= lockup.numeraire:
        return -lockup.underlying, -(lockup.numeraire - loss_units)
    rest = loss - Fraction(lockup.numeraire, scale(n_cur))
    taken = units_ceil(rest / settlement, u_cur) if settlement > 0 else None
    if taken is None or taken > lockup.underlying:
        raise CollateralError(f"lockup {lockup} does not cover a loss of {to_decimal(loss)} "
                              f"at {to_decimal(settlement)}")
    return -(lockup.underlying - taken), 0


def expire(positions: Positions, contracts: Mapping[int, Contract], *, pair: str, expiry: date,
           settlement_price: Decimal, currencies: Mapping[str, Currency] = DEFAULT_CURRENCIES,
           lockups: Mapping[BucketKey, Lockup] | None = None,
           clearing_house_id: int = CLEARING_HOUSE_ID) -> ExpiryCash:
    """Settle every bucket of (pair, expiry) at ``settlement_price``.

    ``lockups``: the stored lockups to release (default: recomputed from the positions, which
    is what the batches stored). Running it on the positions it returns changes nothing.
    """
    if settlement_price < 0:
        raise CollateralError(f"settlement price {settlement_price} is negative")
    u_cur, n_cur = pair_currencies(currencies, pair)
    s = Fraction(settlement_price)
    keys = sorted(k for k in positions.buckets(contracts)
                  if k.pair == pair and k.expiry == expiry)
    movements, payoffs, released = [], {}, {}
    for key in keys:
        held = positions.bucket(key, contracts)
        lk = (lockups or {}).get(key) or bucket_lockup(positions, key, contracts, currencies)
        result = payoff(exposures(held), s)
        u, n = settle_bucket(lk, result, s, u_cur, n_cur)
        changes = tuple(PositionChange(c.contract_id, -size_units(c, p.lots, currencies))
                        for c, p in held if p.lots)
        movements.append(CashMovement(key.client_id, pair, MovementOrigin.EXPIRY,
                                       int(format_expiry(expiry)), u, n, changes))
        payoffs[key.client_id] = to_decimal(result)
        released[key] = lk
    house = CashMovement(clearing_house_id, pair, MovementOrigin.EXPIRY, int(format_expiry(expiry)),
                         -sum(m.underlying_amount for m in movements),
                         -sum(m.strike_amount for m in movements))
    return ExpiryCash(tuple(movements), house, payoffs, released,
                      positions.without(keys, contracts))
