"""Single-instrument components cleared by sort and sweep, without a solver.

Every order is one leg on one contract, so a package is one lot bought (a = +1, limit b ticks:
filled at p <= b) or sold (a = −1, limit s ticks: filled at p >= s). At a grid price t:

* demand that must fill ``D>(t) = Σ q[b > t]``, that may fill ``D>=(t) = Σ q[b >= t]``;
* supply likewise ``S<(t)``, ``S<=(t)``;
* t is an equilibrium iff ``D>(t) <= S<=(t)`` and ``S<(t) <= D>=(t)``; it trades
  ``V(t) = min(D>=(t), S<=(t))`` lots a side, leaving ``D>= + S<= − 2V`` unfilled at the money.

The price maximises V, then minimises that surplus, then |t − reference|, then t. Only limits,
their neighbours, the reference and the band ends can be optimal, so only those are tried.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver_models.allocation import pro_rata


@dataclass(frozen=True)
class SweepResult:
    tick: int
    fills: np.ndarray  # packages per order (aligned with the input)
    feasible: bool


def sweep(side: np.ndarray, limit_ticks: np.ndarray, q: np.ndarray, entry: np.ndarray,
          ids: np.ndarray, lo: int, hi: int, ref: float) -> SweepResult:
    """Clear one contract. ``side`` +1 buy / −1 sell; ``limit_ticks`` already clipped to the band."""
    buy = side > 0
    b, bq = limit_ticks[buy], q[buy]
    s, sq = limit_ticks[~buy], q[~buy]
    bo = np.argsort(b, kind="stable")
    b, bq = b[bo], bq[bo]
    so = np.argsort(s, kind="stable")
    s, sq = s[so], sq[so]
    bcum = np.concatenate(([0], np.cumsum(bq)))  # bcum[j] = Σ q of the j lowest bids
    scum = np.concatenate(([0], np.cumsum(sq)))
    ref_tick = min(max(round(ref), lo), hi)
    cand = np.unique(np.concatenate((b, b - 1, b + 1, s, s - 1, s + 1,
                                     [lo, hi, ref_tick, int(np.floor(ref)), int(np.ceil(ref))])))
    cand = cand[(cand >= lo) & (cand <= hi)]
    total_b = bcum[-1]
    d_strict = total_b - bcum[np.searchsorted(b, cand, side="right")]
    d_all = total_b - bcum[np.searchsorted(b, cand, side="left")]
    s_strict = scum[np.searchsorted(s, cand, side="left")]
    s_all = scum[np.searchsorted(s, cand, side="right")]
    ok = (d_strict <= s_all) & (s_strict <= d_all)
    if not ok.any():
        return SweepResult(ref_tick, np.zeros(len(q), dtype=np.int64), False)
    v = np.minimum(d_all, s_all)
    surplus = d_all + s_all - 2 * v
    dist = np.abs(cand - ref)
    # lexicographic: max V, min surplus, min distance, min price (lexsort: last key is primary)
    keys = np.lexsort((cand, dist, surplus, -v, ~ok))
    j = keys[0]
    t, vol = int(cand[j]), int(v[j])
    fills = np.zeros(len(q), dtype=np.int64)
    for mask, strict, atm, must in ((buy, limit_ticks > t, limit_ticks == t, int(d_strict[j])),
                                    (~buy, limit_ticks < t, limit_ticks == t, int(s_strict[j]))):
        full = mask & strict
        fills[full] = q[full]
        at = np.flatnonzero(mask & atm)
        if len(at):
            fills[at] = pro_rata(vol - must, q[at], entry[at], ids[at])
    return SweepResult(t, fills, True)
