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

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from auction.products import Contract, Payoff


class AtomicKind(StrEnum):
    FORWARD = "Forward"
    CALL = "Call"
    BINARY_CALL = "BinaryCall"
    CONTRACT = "Contract"  # replication off: the contract itself


@dataclass(frozen=True, slots=True, order=True)
class Atomic:
    kind: AtomicKind
    pair: str
    expiry: date
    strike: Decimal | None = None
    contract_id: int | None = None

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
