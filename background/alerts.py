"""Operations alerts: stored once per key while active, published as ``ALERT`` outbox events.

Every alert has the spec's shape (expiry_and_prices.md §3, seed 000)::

    {"portfolioId", "reason", "obligation", "cash", "expiry", "recommendedAction"}

amounts in base units of the currency (token decimals) as strings, ``expiry`` the 12:00 UTC
expiry time in epoch seconds as a string; ``null`` where the alert concerns no portfolio (a
failed fixing). Extra keys (``pair``, ``currency``, ``alertId``, ``key``, …) add detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from coordinator.events import Event, EventKind
from coordinator.persistence import Tx
from coordinator.persistence import background as bg


def _expiry_s(expiry: date) -> str:
    return str(int(datetime(expiry.year, expiry.month, expiry.day, 12, tzinfo=UTC)
                   .timestamp()))


def raise_alert(tx: Tx, key: str, reason: str, now_ms: int, *, expiry: date | None,
                action: str, portfolio_id: int | None = None, obligation: int | None = None,
                cash: int | None = None, extra: Mapping[str, Any] | None = None) -> bool:
    """Record the alert and its ``ALERT`` event unless the same key is active; True if new."""
    payload: dict[str, Any] = {
        "portfolioId": None if portfolio_id is None else str(portfolio_id),
        "reason": reason,
        "obligation": None if obligation is None else str(obligation),
        "cash": None if cash is None else str(cash),
        "expiry": None if expiry is None else _expiry_s(expiry),
        "recommendedAction": action,
        "key": key,
        **dict(extra or {}),
    }
    if not bg.raise_alert(tx, key, reason, payload, now_ms):
        return False
    payload["alertId"] = bg.active_alert(tx, key)["id"]
    tx.append_events([Event(EventKind.ALERT, payload)], now_ms)
    return True
