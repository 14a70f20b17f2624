"""Black-76 prices — **floats**, for the informational risk view only (never for money).

Forward F, strike K, volatility σ (annual), time t (years), no discounting (the venue settles
at expiry without interest, like the put–call parity of auction.md §3). Isolated here so that
no float reaches a cash amount: :mod:`validator.collateral.risk` rounds the results to Decimal.
"""

from __future__ import annotations

from math import erf, log, sqrt


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + erf(x / sqrt(2.0)))


def _d(f: float, k: float, vol: float, t: float) -> tuple[float, float] | None:
    if f <= 0 or k <= 0 or vol <= 0 or t <= 0:
        return None
    sd = vol * sqrt(t)
    d1 = (log(f / k) + 0.5 * sd * sd) / sd
    return d1, d1 - sd


def call(f: float, k: float, vol: float, t: float) -> float:
    d = _d(f, k, vol, t)
    if d is None:
        return max(f - k, 0.0)
    return f * norm_cdf(d[0]) - k * norm_cdf(d[1])


def put(f: float, k: float, vol: float, t: float) -> float:
    return call(f, k, vol, t) - f + k  # parity, no discounting


def binary_call(f: float, k: float, vol: float, t: float) -> float:
    d = _d(f, k, vol, t)
    if d is None:
        return 1.0 if f > k else 0.0
    return norm_cdf(d[1])


def binary_put(f: float, k: float, vol: float, t: float) -> float:
    return 1.0 - binary_call(f, k, vol, t)
