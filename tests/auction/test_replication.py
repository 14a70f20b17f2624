"""Atomic instruments sort totally: a missing strike or contract id never meets a number."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from auction.replication import Atomic, AtomicKind

T = date(2025, 3, 28)
PAIR = "WETH/USDC"


def test_forward_and_call_of_one_pair_and_expiry_sort():
    fwd = Atomic(AtomicKind.FORWARD, PAIR, T)
    call = Atomic(AtomicKind.CALL, PAIR, T, Decimal(3000))
    assert sorted([fwd, call]) == sorted([call, fwd]) == [call, fwd]


def test_contract_atomics_with_and_without_a_strike_sort():
    # replication off: a forward contract (no strike) and a call contract share kind, pair, expiry
    fwd = Atomic(AtomicKind.CONTRACT, PAIR, T, None, 7)
    call = Atomic(AtomicKind.CONTRACT, PAIR, T, Decimal(3000), 2)
    assert sorted([call, fwd]) == sorted([fwd, call]) == [fwd, call]  # no strike first
    assert fwd < call and call > fwd and fwd <= call and call >= fwd
    assert not (call < fwd or fwd > call)


def test_equality_and_hash_are_by_value():
    a = Atomic(AtomicKind.CALL, PAIR, T, Decimal("3000"))
    b = Atomic(AtomicKind.CALL, PAIR, T, Decimal("3000.0"))
    assert a == b and hash(a) == hash(b) and not a < b and a <= b and a >= b
    assert len({a, b, Atomic(AtomicKind.CALL, PAIR, T, Decimal("3100"))}) == 2
    assert a != Atomic(AtomicKind.BINARY_CALL, PAIR, T, Decimal("3000"))
    assert Atomic(AtomicKind.FORWARD, PAIR, T) == Atomic(AtomicKind.FORWARD, PAIR, T)
    assert (a == "x") is False and (a < a) is False


atomics = st.builds(
    Atomic, st.sampled_from(list(AtomicKind)), st.sampled_from([PAIR, "WBTC/USDC"]),
    st.sampled_from([T, date(2025, 4, 25)]),
    st.none() | st.sampled_from([Decimal("2900"), Decimal("3000"), Decimal("3000.00")]),
    st.none() | st.integers(1, 3))


@given(st.lists(atomics, max_size=12))
def test_any_mix_sorts_and_the_order_is_total(items):
    out = sorted(items)
    for x, y in pairwise(out):
        assert x <= y and not y < x
    for x in items:
        for y in items:
            assert (x < y) + (x == y) + (x > y) == 1
            assert (x <= y) == (x < y or x == y)
