"""Outbox events: what the endpoint publishes (EXEC_REPORT, ORDERBOOK_DELTA, TRADE_REPORT, …).

An event is written to the outbox in the same transaction as the change it reports; its
``seq`` (assigned by the store) orders all events, and is what a subscriber resumes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    EXEC_REPORT = "EXEC_REPORT"  # an order's state changed (admitted, filled, cancelled, …)
    FILL = "FILL"  # one order's fill in a batch
    ORDERBOOK_DELTA = "ORDERBOOK_DELTA"  # a contract's resting size changed
    TRADE_REPORT = "TRADE_REPORT"  # a contract traded in a batch: price and volume
    AUCTION_STARTED = "AUCTION_STARTED"
    AUCTION_FINISHED = "AUCTION_FINISHED"
    AUCTION_FAILED = "AUCTION_FAILED"  # alert: the result failed the independent check
    FUNDS_UPDATED = "FUNDS_UPDATED"  # a client's fund lock values changed
    SPOT_PRICES = "SPOT_PRICES"  # payload {pair: decimal string}: a new aggregated spot price
    EXPIRY_SETTLED = "EXPIRY_SETTLED"  # a (pair, expiry) was fixed and its payoffs written
    ALERT = "ALERT"  # operations alert (readiness mismatch, failed fixing, failed settlement)


@dataclass(frozen=True)
class Event:
    kind: EventKind
    payload: dict[str, Any]
    batch_id: int | None = None
    seq: int | None = None  # assigned by the outbox
    created_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": str(self.kind), "batchId": self.batch_id,
                "createdMs": self.created_ms, "payload": self.payload}
