"""Whole-package pro-rata allocation at the money (auction.md §4 rule 8)."""

from __future__ import annotations

import numpy as np


def pro_rata(total: int, sizes: np.ndarray, entry: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Split ``total`` whole packages over orders of remaining ``sizes`` pro rata.

    Each order gets ``floor(total·size/Σsize)``; what is left goes one package at a time to the
    largest remainders, ties by earlier entry, then by smaller order id. Exact integer arithmetic.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    whole = int(sizes.sum())
    if not 0 <= total <= whole:
        raise ValueError(f"cannot allocate {total} packages over {whole}")
    if total == whole:
        return sizes.copy()
    prod = [total * int(s) for s in sizes]  # Python ints: no overflow
    base = np.array([p // whole for p in prod], dtype=np.int64)
    rem = np.array([p % whole for p in prod], dtype=object)
    left = total - int(base.sum())
    if left:
        order = sorted(range(len(sizes)), key=lambda j: (-rem[j], int(entry[j]), int(ids[j])))
        base[order[:left]] += 1
    return base
