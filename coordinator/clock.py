"""The injected clock: "now" as epoch milliseconds, a real one and a manual one for tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def sleep_until(self, epoch_ms: int) -> None: ...


class SystemClock:
    """Wall-clock time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep_until(self, epoch_ms: int) -> None:
        while (left := epoch_ms - self.now_ms()) > 0:
            time.sleep(min(left / 1000, 1.0))


@dataclass
class ManualClock:
    """A clock that moves only when told to (``sleep_until`` jumps forward)."""

    now: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now_ms(self) -> int:
        with self._lock:
            return self.now

    def advance(self, ms: int) -> int:
        with self._lock:
            self.now += ms
            return self.now

    def sleep_until(self, epoch_ms: int) -> None:
        with self._lock:
            self.now = max(self.now, epoch_ms)


def to_datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def from_datetime(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)
