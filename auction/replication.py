"""Atomic instruments and replication (auction.md §3).

Orders are matched on atomic instruments so that liquidity flows between books:
``Forward(pair, T)``, ``Call(pair, T, K)``, ``BinaryCall(pair, T, K)``. A put is a call minus a
forward plus cash K (``P = C − F + K``); a binary put is cash 1 minus a binary call
(``BP = 1 − BC``). With replication off every contract is its own instrument.

A contract's price is ``Σ coefficient·price(atomic) + cash``; one lot of it is
``coefficient·lot_size`` units of each atomic. Balance is counted in units of underlying (or of
binary payoff), not in lots, so contracts with different lot sizes share an instrument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from auction.orders import Order
from auction.products import Contract, Payoff
from auction.units import EXACT, decimal_places


class AtomicKind(StrEnum):
    FORWARD = "Forward"
    CALL = "Call"
    BINARY_CALL = "BinaryCall"
    CONTRACT = "Contract"  # replication off: the contract itself


@dataclass(frozen=True, slots=True)
class Atomic:
    """One atomic instrument, equal and hashed by its fields.

    Sorted by :meth:`sort_key`, a total order in which a missing strike or contract id sorts
    first and is never compared with a number (replication off, a forward contract and a call
    contract of one pair and expiry differ only there).
    """

    kind: AtomicKind
    pair: str
    expiry: date
    strike: Decimal | None = None
    contract_id: int | None = None

    def sort_key(self) -> tuple:
        """(kind, pair, expiry, has strike, strike, has contract id, contract id)."""
        s, c = self.strike, self.contract_id
        return (self.kind, self.pair, self.expiry, s is not None, 0 if s is None else s,
                c is not None, 0 if c is None else c)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Atomic):
            return NotImplemented
        return self.sort_key() < other.sort_key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Atomic):
            return NotImplemented
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Atomic):
            return NotImplemented
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Atomic):
            return NotImplemented
        return self.sort_key() >= other.sort_key()

    def __str__(self) -> str:
        if self.kind is AtomicKind.CONTRACT:
            return f"Contract#{self.contract_id}"
        k = "" if self.strike is None else f" K={self.strike}"
        return f"{self.kind}({self.pair} {self.expiry:%Y%m%d}{k})"


@dataclass(frozen=True, slots=True)
class Replication:
    """price(contract) = Σ coefficient·price(atomic) + cash; positions map by the coefficients."""

    terms: tuple[tuple[Atomic, int], ...]
    cash: Decimal


def replicate(contract: Contract, enabled: bool = True) -> Replication:
    """The atomic decomposition of one unit of ``contract``."""
    pair, t, k = str(contract.pair), contract.expiry, contract.strike
    if not enabled:
        return Replication(((Atomic(AtomicKind.CONTRACT, pair, t, k, contract.contract_id), 1),),
                           Decimal(0))
    match contract.payoff:
        case Payoff.FORWARD:
            return Replication(((Atomic(AtomicKind.FORWARD, pair, t), 1),), Decimal(0))
        case Payoff.CALL:
            return Replication(((Atomic(AtomicKind.CALL, pair, t, k), 1),), Decimal(0))
        case Payoff.PUT:
            return Replication(((Atomic(AtomicKind.CALL, pair, t, k), 1),
                                (Atomic(AtomicKind.FORWARD, pair, t), -1)), k)
        case Payoff.BINARY_CALL:
            return Replication(((Atomic(AtomicKind.BINARY_CALL, pair, t, k), 1),), Decimal(0))
        case Payoff.BINARY_PUT:
            return Replication(((Atomic(AtomicKind.BINARY_CALL, pair, t, k), -1),), Decimal(1))
    raise AssertionError(contract.payoff)



class RoundingAllowance:
    """ρ per package: how far an order may be in the money and still be left partly filled
    because the equilibrium lies between grid prices (auction.md §4 rule 2; our decision, see
    docs/check.md).

    ``ρ = Σ_j |B_j|·θ_j``: B the package's net units of each atomic instrument, θ_j the
    instrument's grid step — the largest tick among the contracts replicating onto it. It is the
    most ``a·p`` moves when every atomic price moves by less than one step. An order that alone
    prices one instrument (one leg on a contract that is the only one on its atomic instrument)
    gets ρ = 0: a single instrument always clears exactly on its grid.
    """

    def __init__(self, contracts: Mapping[int, Contract], enabled: bool = True):
        # exact integers: units of 10^-E underlying, steps of 10^-T numeraire
        e = max((decimal_places(c.lot_size) for c in contracts.values()), default=0)
        t = max((decimal_places(c.tick_size) for c in contracts.values()), default=0)
        self._unit = Fraction(1, 10 ** (e + t))
        steps: dict[Atomic, int] = {}
        users: dict[Atomic, int] = {}
        self._units: dict[int, tuple[tuple[Atomic, int], ...]] = {}  # per lot of a contract
        for cid, c in contracts.items():
            tick = int(c.tick_size.scaleb(t, EXACT))
            lot = int(c.lot_size.scaleb(e, EXACT))
            terms = replicate(c, enabled).terms
            self._units[cid] = tuple((atom, coef * lot) for atom, coef in terms)
            for atom, _ in terms:
                steps[atom] = max(steps.get(atom, tick), tick)
                users[atom] = users.get(atom, 0) + 1
        self._steps = steps
        self._alone = {cid for cid, terms in self._units.items()
                       if len(terms) == 1 and users[terms[0][0]] == 1}
        self._cache: dict[tuple, Fraction] = {}

    def __call__(self, order: Order) -> Fraction:
        key = tuple(zip(order.ratios, (leg.contract_id for leg in order.legs), strict=True))
        rho = self._cache.get(key)
        if rho is None:
            rho = self._cache[key] = self._compute(key)
        return rho

    def _compute(self, key: tuple[tuple[int, int], ...]) -> Fraction:
        if len(key) == 1 and key[0][1] in self._alone:
            return Fraction(0)
        net: dict[Atomic, int] = {}
        for a, cid in key:
            for atom, units in self._units[cid]:
                net[atom] = net.get(atom, 0) + a * units
        steps = self._steps
        return sum(abs(units) * steps[atom] for atom, units in net.items()) * self._unit
