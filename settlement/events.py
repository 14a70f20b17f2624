"""Chain events as the monitor hands them to the store: frozen, decoded, in chain order.

Amounts are the contracts' native token units (``amount``/``balance``); ``currency`` names the
token. ``ref`` identifies the log, so a store can refuse to apply one twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True, order=True)
class EventRef:
    block_number: int
    log_index: int
    tx_hash: str
    block_hash: str


class FundsKind(StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAW = "WITHDRAW"  # free balance → a withdrawal request slot
    RELEASE = "RELEASE"  # a request paid out
    ESCAPE = "ESCAPE"  # free balance paid out through the escape hatch
    SETTLEMENT = "SETTLEMENT"  # a batch's fund movement (amount > 0: the client paid)
    DRAWN = "DRAWN"  # part of a settlement payment taken from a young request


@dataclass(frozen=True, slots=True)
class ClientRegistered:
    ref: EventRef
    address: str


@dataclass(frozen=True, slots=True)
class FundsChanged:
    ref: EventRef
    kind: FundsKind
    address: str
    currency: str
    amount: int  # native units; signed for SETTLEMENT (+ paid), positive otherwise
    balance: int | None  # free balance after the event (None for RELEASE / DRAWN)
    slot: int | None = None
    backend_id: int | None = None


@dataclass(frozen=True, slots=True)
class PositionChanged:
    ref: EventRef
    pair: str
    contract_id: int
    address: str
    delta: int
    position: int
    backend_id: int


@dataclass(frozen=True, slots=True)
class BatchApplied:
    ref: EventRef
    pair: str
    backend_id: int
    position_count: int
    fund_movement_count: int


ChainEvent = ClientRegistered | FundsChanged | PositionChanged | BatchApplied
