"""The matcher's vectorised reading of limits (rule 11) equals auction.book.lattice_limit."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.book import lattice_limit
from solver_models.market import _lattice_limits, _limits


def _rows(max_price: str, places: int):
    price = st.decimals(min_value=Decimal("-" + max_price), max_value=Decimal(max_price),
                        places=places, allow_nan=False, allow_infinity=False)
    return st.lists(st.tuples(price, st.integers(1, 10_000), st.integers(1, 10**6)),
                    min_size=1, max_size=30)


def _arrays(rows):
    orders = tuple(SimpleNamespace(total_net_price=p) for p, _, _ in rows)
    q = np.array([g for _, g, _ in rows], dtype=np.int64)
    step = np.array([s for _, _, s in rows], dtype=np.int64)
    return orders, q, step


@settings(max_examples=200, deadline=None)
@given(_rows("1e6", 4), st.integers(0, 6))
def test_vectorised_limits_equal_lattice_limit(rows, places):
    """Prices at currency precision of a real book: the int64 path is taken and is exact."""
    orders, q, step = _arrays(rows)
    expected = [lattice_limit(p, g, s, 10**places) for p, g, s in rows]
    fast = _lattice_limits(orders, q, step, 10**places)
    assert fast is not None and fast.tolist() == expected
    caps = np.array([e + d for e, d in zip(expected, range(-3, len(rows) - 3), strict=False)],
                    dtype=np.int64)
    assert _limits(orders, q, step, places, caps).tolist() == [
        min(e, int(c)) for e, c in zip(expected, caps.tolist(), strict=True)]


@settings(max_examples=200, deadline=None)
@given(_rows("1e12", 9), st.integers(0, 12))
def test_limits_equal_lattice_limit_whatever_their_size(rows, places):
    """Larger numbers: the int64 path or, when a term might not fit, Python integers."""
    orders, q, step = _arrays(rows)
    expected = [lattice_limit(p, g, s, 10**places) for p, g, s in rows]
    fast = _lattice_limits(orders, q, step, 10**places)
    assert fast is None or fast.tolist() == expected
    if all(abs(e) < 2**63 for e in expected):
        assert _limits(orders, q, step, places, None).tolist() == expected


def test_a_limit_too_large_for_int64_is_not_read_in_int64():
    orders = (SimpleNamespace(total_net_price=Decimal("1e30")),
              SimpleNamespace(total_net_price=Decimal("-7.25")))
    assert _lattice_limits(orders, np.array([3, 2]), np.array([1, 5]), 10**4) is None
    assert _lattice_limits(orders[1:], np.array([2]), np.array([5]), 10**4).tolist() == [
        lattice_limit(Decimal("-7.25"), 2, 5, 10**4)]
