"""The brute-force oracle on books whose answer is computed by hand."""

from __future__ import annotations

import pytest

from auction.products import Payoff
from tests.solver_models.bruteforce import (
    best_equilibria,
    equilibrium_volume_at,
    max_equilibrium_volume,
)
from tests.solver_models.tiny_books import book, buy, contract, order, sell


def single_crossing():
    # buys 5@12, 3@10; sells 4@9, 6@11. At 11: buyers 5 (the 10 is out), sellers 4 + 1 of 6.
    return book([contract(1)], [buy(1, 1, 5, "12"), buy(2, 1, 3, "10"),
                                sell(3, 1, 4, "9"), sell(4, 1, 6, "11")])


def test_single_instrument_crossing():
    b = single_crossing()
    best = best_equilibria(b)
    assert best is not None
    assert best.volume == 10  # 5 bought + 5 sold
    assert [dict(p) for p in best.prices] == [{1: 11}]
    assert equilibrium_volume_at(b, {1: 11}) == 10
    # at 10 the 9-seller (4) must fill and the 12-buyer (5) too: no balance
    assert equilibrium_volume_at(b, {1: 10}) is None
    assert equilibrium_volume_at(b, {1: 12}) is None


def test_no_cross_is_a_zero_volume_equilibrium():
    b = book([contract(1)], [buy(1, 1, 5, "8"), sell(2, 1, 5, "10")])
    best = best_equilibria(b)
    assert best is not None and best.volume == 0
    # every price from 8 (buyer at the money) to 10 (seller at the money) clears nothing
    assert sorted(p[1] for p in best.prices) == [8, 9, 10]


def test_identical_at_the_money_orders_share():
    b = book([contract(1)], [buy(1, 1, 1, "10"), buy(2, 1, 1, "10"), sell(3, 1, 1, "10")])
    assert max_equilibrium_volume(b) == 2


def test_all_or_none():
    # AON buy 2 @10 against sellers 1@8 and 1@9: both sellers fill, the buyer fills 2
    b = book([contract(1)], [buy(1, 1, 2, "10", aon=True), sell(2, 1, 1, "8"), sell(3, 1, 1, "9")])
    assert max_equilibrium_volume(b) == 4
    # AON buy 3 cannot be met by 2 lots: the only equilibria trade nothing (prices <= 8)
    b3 = book([contract(1)], [buy(1, 1, 3, "10", aon=True), sell(2, 1, 1, "8"),
                              sell(3, 1, 1, "9")])
    best = best_equilibria(b3)
    assert best is not None and best.volume == 0
    assert max(p[1] for p in best.prices) == 8


def test_vertical_spread_against_singles():
    # buy the 100/110 call spread x2 at 5 per package; sell 2 C100 @12; buy 2 C110 @8.
    # At C100=12, C110=7 everything fills: 2 packages x 2 lots + 2 + 2 = 8 lots.
    b = book([contract(1, strike="100"), contract(2, strike="110")],
             [order(1, [(1, "B", 2), (2, "S", 2)], "10"), sell(2, 1, 2, "12"),
              buy(3, 2, 2, "8")])
    best = best_equilibria(b)
    assert best is not None and best.volume == 8
    assert all(p[1] - p[2] <= 5 and p[1] >= 12 and p[2] <= 8 for p in best.prices)
    assert {1: 12, 2: 7} in [dict(p) for p in best.prices]


def test_no_equilibrium_anywhere():
    # a (2 A + 1 B) buyer limited above the band and sellers of 1 A and 1 B limited below it:
    # inside the bands someone is always forced to fill, and 2 A never meets 1 A.
    b = book([contract(1, strike="100", hi="4"), contract(2, strike="110", hi="4")],
             [order(1, [(1, "B", 2), (2, "B", 1)], "100"), sell(2, 1, 1, "-1"),
              sell(3, 2, 1, "-1")])
    assert max_equilibrium_volume(b) is None
    assert max_equilibrium_volume(b, replication=False) is None


def put_call_forward(put_band=("0", "20")):
    return [contract(1, Payoff.CALL, "100", "0", "20"),
            contract(2, Payoff.PUT, "100", *put_band),
            contract(3, Payoff.FORWARD, None, "90", "110")]


def test_replication_put_through_call_and_forward():
    # buy put @10 ≡ (+C −F) at 10−100; sell call @5; buy forward @100. P = C − F + 100.
    orders = [buy(1, 2, 1, "10"), sell(2, 1, 1, "5"), buy(3, 3, 1, "100")]
    b = book(put_call_forward(), orders)
    best = best_equilibria(b, replication=True)
    assert best is not None and best.volume == 3
    for p in best.prices:
        assert p[2] == p[1] - p[3] + 100  # the replication identity holds on the grid
    # without replication the put, the call and the forward have no counterparty
    assert max_equilibrium_volume(b, replication=False) == 0


def test_replication_identity_out_of_the_bands():
    # P = C − F + 100 ∈ [0, 20] cannot meet the put band [50, 60]: no grid price at all
    b = book(put_call_forward(("50", "60")), [buy(1, 2, 1, "55")])
    assert max_equilibrium_volume(b, replication=True) is None
    assert max_equilibrium_volume(b, replication=False) == 0


def test_volume_counts_every_leg_of_the_original_order():
    # a (2 A + 1 B) package counts 3 lots, its sellers 2 + 1
    b = book([contract(1, strike="100", hi="10"), contract(2, strike="110", hi="10")],
             [order(1, [(1, "B", 2), (2, "B", 1)], "20"), sell(2, 1, 2, "1"),
              sell(3, 2, 1, "1")])
    assert max_equilibrium_volume(b) == 6


def test_refuses_large_books(monkeypatch):
    import tests.solver_models.bruteforce as bf

    monkeypatch.setattr(bf, "MAX_PRICE_VECTORS", 10)
    with pytest.raises(ValueError, match="too large"):
        max_equilibrium_volume(single_crossing())


# -- the dynamic programme against plain enumeration of every fill vector -----------------------

def _naive_max_volume(b, replication):
    """Rules 1-3 checked directly on every fill vector at every price vector (no merging)."""
    from fractions import Fraction
    from itertools import product

    from auction.replication import replicate
    from tests.solver_models.bruteforce import _Oracle

    oracle = _Oracle(b, replication)
    best = None
    for prices in oracle.price_vectors():
        for fills in product(*(range(o.packages + 1) for o in b.orders)):
            ok = True
            units: dict = {}
            for o, x in zip(b.orders, fills, strict=True):
                m, e = b.order_money(o, prices), b.effective_limit(o)
                limit_broken = x > 0 and m > e
                priority_broken = m < e and not o.indivisible and x != o.packages
                size_broken = o.indivisible and x not in (0, o.packages) and (
                    m < e or x < o.min_fill)
                if limit_broken or priority_broken or size_broken:
                    ok = False
                    break
                for a, leg in zip(o.ratios, o.legs, strict=True):
                    c = b.contracts[leg.contract_id]
                    for atom, coef in replicate(c, replication).terms:
                        units[atom] = units.get(atom, 0) + x * a * Fraction(c.lot_size) * coef
            if ok and not any(units.values()):
                v = sum(x * o.lots_per_package for o, x in zip(b.orders, fills, strict=True))
                best = v if best is None else max(best, v)
    return best


def test_dynamic_programme_matches_plain_enumeration():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    mid = {1: 2, 2: 2, 3: 100}  # call, put, forward; the put is C − F + 100 when replicated
    legs_st = st.sampled_from([[(1, "B", 1)], [(1, "S", 1)], [(2, "B", 1)], [(2, "S", 1)],
                               [(3, "B", 1)], [(3, "S", 1)], [(1, "B", 1), (2, "S", 1)],
                               [(1, "S", 1), (3, "S", 1)], [(1, "B", 1), (3, "B", 1)],
                               [(2, "B", 1), (3, "B", 1)], [(1, "S", 1), (2, "B", 2)]])
    order_st = st.tuples(legs_st, st.integers(1, 2), st.integers(-3, 3), st.booleans())

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(st.lists(order_st, min_size=1, max_size=4))
    def check(specs):
        orders = []
        for i, (legs, size, delta, aon) in enumerate(specs, start=1):
            limit = sum((1 if s == "B" else -1) * lots * mid[cid] for cid, s, lots in legs) + delta
            scaled = [(cid, s, lots * size) for cid, s, lots in legs]
            orders.append(order(i, scaled, str(limit * size), aon=aon and size > 1))
        b = book([contract(1, strike="100", hi="4"), contract(2, Payoff.PUT, "100", hi="4"),
                  contract(3, Payoff.FORWARD, None, "98", "102")], orders)
        for replication in (False, True):
            assert max_equilibrium_volume(b, replication) == _naive_max_volume(b, replication)

    check()
