"""Aggregation of the sources' answers into one price (expiry_and_prices.md §1).

1. Failures are left out (each recorded with its kind).
2. A quote older than the staleness limit is ignored (``STALE``); fixings give no limit: a
   candle is the price of its minute whenever it is asked for.
3. The median of the fresh quotes; a quote further from it than the deviation limit (relative
   to the median) is ignored (``DEVIATION``).
4. Fewer quotes left than the quorum → no price (``NO_QUORUM``); else the price is the median of
   the quotes left (the mean of the middle two for an even count), rounded half-even to the
   numeraire's precision.

Pure: no I/O, no clock; ``now_ms`` is passed in. Every outcome lists every source with what
became of it, and the rule in words, so a stored price says how it was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from background.sources import Failure, Outcome, Quote

USED, STALE, DEVIATION, FAILED = "USED", "STALE", "DEVIATION", "FAILED"


def median(values: Sequence[Decimal]) -> Decimal:
    v = sorted(values)
    if not v:
        raise ValueError("median of nothing")
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


@dataclass(frozen=True)
class Aggregate:
    price: Decimal | None  # None: no quorum
    sources: tuple[dict[str, Any], ...]  # one per source: its answer and what became of it
    rule: str

    @property
    def ok(self) -> bool:
        return self.price is not None

    @property
    def used(self) -> list[str]:
        return [s["source"] for s in self.sources if s["status"] == USED]


def aggregate(outcomes: Sequence[Outcome], *, now_ms: int, staleness_ms: int | None,
              deviation_percent: Decimal, quorum: int, precision: int) -> Aggregate:
    """The price of one pair from every source's answer (see the module docstring)."""
    need = max(1, min(quorum, len(outcomes)))
    dev = Decimal(str(deviation_percent)) / 100
    rule = (f"median; staleness {'none' if staleness_ms is None else f'{staleness_ms // 1000}s'}"
            f", deviation {deviation_percent}%, quorum {need} of {len(outcomes)}")
    rows: list[dict[str, Any]] = []
    fresh: list[tuple[int, Quote]] = []
    for o in outcomes:
        if isinstance(o, Failure):
            rows.append({"source": o.source, "status": FAILED, "failure": str(o.kind),
                         "detail": o.detail[:300], "statusCode": o.status_code,
                         "attempts": o.attempts})
            continue
        rows.append({"source": o.source, "status": USED, "price": str(o.price),
                     "observedMs": o.observed_ms})
        if staleness_ms is not None and now_ms - o.observed_ms > staleness_ms:
            rows[-1]["status"] = STALE
        else:
            fresh.append((len(rows) - 1, o))
    kept = fresh
    if fresh:
        mid = median([q.price for _, q in fresh])
        kept = []
        for i, q in fresh:
            if abs(q.price - mid) > dev * mid:
                rows[i]["status"] = DEVIATION
            else:
                kept.append((i, q))
    if len(kept) < need:
        return Aggregate(None, tuple(rows), rule)
    price = median([q.price for _, q in kept]).quantize(Decimal(1).scaleb(-precision),
                                                        rounding=ROUND_HALF_EVEN)
    return Aggregate(price, tuple(rows), rule)
