"""Cash movements: what one client pays or receives, and its position changes, on one pair.

The validator produces them (from a batch's fills, or from an expiry); the settlement service
puts them on chain. Amounts are integers in the currencies' wire-precision units and follow the
on-chain sign convention of the original venue: **positive = the client pays, negative = the
client receives**. Position sizes are in precision units of the contract's quantity currency
(the underlying for options and forwards, the numeraire for binaries).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MovementOrigin(StrEnum):
    BATCH = "BATCH"  # an auction's fills; origin_id = batchId (cut-off, epoch ms)
    EXPIRY = "EXPIRY"  # an expiry's payoffs; origin_id = expiry as yyyymmdd


@dataclass(frozen=True, slots=True)
class PositionChange:
    contract_id: int
    size: int  # signed delta: + long, − short


@dataclass(frozen=True, slots=True)
class CashMovement:
    client_id: int
    pair: str
    origin: MovementOrigin
    origin_id: int
    underlying_amount: int
    strike_amount: int
    positions: tuple[PositionChange, ...] = ()

    @property
    def key(self) -> str:
        """A stable identity: one movement per (origin, client, pair)."""
        return f"{self.origin}:{self.origin_id}:{self.client_id}:{self.pair}"

    @property
    def is_empty(self) -> bool:
        return not (self.underlying_amount or self.strike_amount
                    or any(p.size for p in self.positions))
