"""Token buckets per key (client id, Ethereum address, remote address), in the process.

A bucket holds ``burst`` tokens and refills at ``rate`` per second; a request takes ``cost``
tokens (an order counts one) or is refused with the seconds until it would fit
(``Retry-After``). Limits are per endpoint process: with N processes a client gets at most N
times the rate (state kept in the process keeps the hot path free of store writes).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def take(self, key: str, cost: float = 1.0) -> float | None:
        """None when allowed; else the seconds to wait (the request takes nothing)."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if cost > self.burst:
                return math.inf
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                return (cost - tokens) / self.rate
            self._buckets[key] = (tokens - cost, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return None
