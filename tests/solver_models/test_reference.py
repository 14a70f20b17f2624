"""The big-M reference model (auction.md §5) on hand-checked books, against the brute force.

The big-M model maximises volume over a superset of the equilibria (it enforces price priority
only inside a group, not across groups), so its volume is never below the brute-force maximum;
on single-instrument books of divisible orders the two agree. Where they differ is recorded
below (``test_recorded_differences``).
"""

from __future__ import annotations

from auction.products import Payoff
from auction.result import volume
from solver_models.outcome import SolveStatus
from solver_models.params import SolverParams
from solver_models.reference import solve_reference
from tests.solver_models.bruteforce import max_equilibrium_volume
from tests.solver_models.test_bruteforce import put_call_forward, single_crossing
from tests.solver_models.tiny_books import book, buy, contract, order, sell
from validator.equilibrium import check

STAGES = ["bigm_volume", "bigm_surplus", "bigm_premium", "bigm_reference"]


def solve(b, **kw):
    return solve_reference(b, SolverParams(formulation="bigm", **kw))


def test_single_instrument_crossing():
    b = single_crossing()
    out = solve(b)
    assert out.status is SolveStatus.OPTIMAL
    assert dict(out.result.prices) == {1: 11}
    assert out.result.filled() == {1: 5, 3: 4, 4: 1}
    assert volume(b, out.result) == max_equilibrium_volume(b) == 10
    assert check(b, out.result).ok
    assert [s.name for s in out.stages] == STAGES
    assert all(s.status == "optimal" and s.gap == 0.0 for s in out.stages)
    vol, surplus, premium, _ = (s.objective for s in out.stages)
    assert (vol, surplus, premium) == (10, 15, 5 * 12 - 4 * 9 - 1 * 11)


def test_pro_rata_inside_an_interval():
    # 2 packages over sellers of 3 and 1 at the same limit: 1.5 and 0.5 → the tie on the
    # remainder goes to the earlier entry
    b = book([contract(1)], [sell(7, 1, 3, "10"), sell(5, 1, 1, "10"), buy(9, 1, 2, "12")])
    out = solve(b)
    assert out.result.filled() == {7: 2, 9: 2}
    assert volume(b, out.result) == max_equilibrium_volume(b) == 4


def test_vertical_spread_against_singles():
    b = book([contract(1, strike="100"), contract(2, strike="110")],
             [order(1, [(1, "B", 2), (2, "S", 2)], "10"), sell(2, 1, 2, "12"),
              buy(3, 2, 2, "8")])
    out = solve(b)
    assert out.status is SolveStatus.OPTIMAL
    assert out.result.filled() == {1: 2, 2: 2, 3: 2}
    p = out.result.prices
    assert p[1] - p[2] <= 5 and p[1] >= 12 and p[2] <= 8
    assert volume(b, out.result) == max_equilibrium_volume(b) == 8
    assert check(b, out.result).ok


def test_no_cross():
    b = book([contract(1)], [buy(1, 1, 5, "8"), sell(2, 1, 5, "10")])
    out = solve(b)
    assert out.status is SolveStatus.OPTIMAL
    assert out.result.fills == ()
    assert 8 <= out.result.prices[1] <= 10  # reference 10 is reachable
    assert volume(b, out.result) == max_equilibrium_volume(b) == 0


def test_replication_put_through_call_and_forward():
    b = book(put_call_forward(), [buy(1, 2, 1, "10"), sell(2, 1, 1, "5"), buy(3, 3, 1, "100")])
    on = solve(b, replication=True)
    p = on.result.prices
    assert volume(b, on.result) == max_equilibrium_volume(b, True) == 3
    assert p[2] == p[1] - p[3] + 100
    off = solve(b, replication=False)
    assert volume(b, off.result) == max_equilibrium_volume(b, False) == 0


def test_infeasible_replication_is_not_cleared():
    b = book(put_call_forward(("50", "60")), [buy(1, 2, 1, "55")])
    out = solve(b, replication=True)
    assert out.status is SolveStatus.NOT_CLEARED
    assert out.result.fills == () and out.result.uncleared == frozenset(b.contracts)
    assert max_equilibrium_volume(b, True) is None


def test_single_instrument_books_agree_with_the_brute_force():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    order_st = st.tuples(st.booleans(), st.integers(1, 4), st.integers(1, 19))

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(st.lists(order_st, min_size=1, max_size=6))
    def agree(specs):
        orders = [(buy if is_buy else sell)(i, 1, size, str(limit))
                  for i, (is_buy, size, limit) in enumerate(specs, start=1)]
        b = book([contract(1)], orders)
        out = solve(b)
        assert out.status is SolveStatus.OPTIMAL
        assert volume(b, out.result) == max_equilibrium_volume(b)

    agree()


def test_never_below_the_brute_force_on_multi_instrument_books():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    mid = {1: 2, 2: 2, 3: 100}
    legs_st = st.sampled_from([[(1, "B", 1)], [(1, "S", 1)], [(2, "B", 1)], [(2, "S", 1)],
                               [(3, "B", 1)], [(3, "S", 1)], [(1, "B", 1), (2, "S", 1)],
                               [(1, "S", 1), (3, "S", 1)], [(2, "B", 1), (3, "B", 1)]])
    order_st = st.tuples(legs_st, st.integers(1, 2), st.integers(-3, 3))

    @settings(max_examples=15, deadline=None, derandomize=True)
    @given(st.lists(order_st, min_size=1, max_size=4))
    def never_below(specs):
        orders = []
        for i, (legs, size, delta) in enumerate(specs, start=1):
            limit = sum((1 if s == "B" else -1) * lots * mid[cid] for cid, s, lots in legs) + delta
            orders.append(order(i, [(c, s, lots * size) for c, s, lots in legs],
                                str(limit * size)))
        b = book([contract(1, strike="100", hi="4"), contract(2, Payoff.PUT, "100", hi="4"),
                  contract(3, Payoff.FORWARD, None, "98", "102")], orders)
        for replication in (True, False):
            bf = max_equilibrium_volume(b, replication)
            out = solve(b, replication=replication)
            if bf is not None:
                assert out.status is SolveStatus.OPTIMAL
                assert volume(b, out.result) >= bf

    never_below()


def test_recorded_differences():
    # 1. No equilibrium exists (see test_bruteforce.test_no_equilibrium_anywhere), but the big-M
    #    model leaves the in-the-money sellers unfilled (each is the last interval of its group,
    #    which is never forced) and reports a zero-volume result that breaks price priority.
    b = book([contract(1, strike="100", hi="4"), contract(2, strike="110", hi="4")],
             [order(1, [(1, "B", 2), (2, "B", 1)], "100"), sell(2, 1, 1, "-1"),
              sell(3, 2, 1, "-1")])
    out = solve(b)
    assert max_equilibrium_volume(b) is None
    assert out.status is SolveStatus.OPTIMAL and volume(b, out.result) == 0
    assert "priority" in check(b, out.result).rules

    # 2. All-or-none: the equilibrium may trade only 2 lots (the AON buyer cannot take the
    #    seller's 2 while the divisible 12-buyer is in the money); big-M fills the AON buyer
    #    and leaves the in-the-money 12-buyer out: 4 lots, not an equilibrium.
    b = book([contract(1)], [buy(1, 1, 2, "10", aon=True), buy(2, 1, 1, "12"),
                             sell(3, 1, 2, "8")])
    out = solve(b)
    assert max_equilibrium_volume(b) == 2
    assert volume(b, out.result) == 4
    assert not check(b, out.result).ok


def test_parameters_reach_highs_and_results_repeat():
    b = book([contract(1, strike="100"), contract(2, strike="110")],
             [order(1, [(1, "B", 2), (2, "S", 2)], "10"), sell(2, 1, 2, "12"),
              buy(3, 2, 2, "8"), buy(4, 1, 1, "13")])
    kw = dict(threads=1, random_seed=7, mip_gap=0.0, presolve="off",
              highs_options={"mip_heuristic_effort": 0.2})
    first, second = solve(b, **kw), solve(b, **kw)
    assert first.result == second.result
    assert first.params.random_seed == 7
    assert any("L1 distance" in n for n in first.notes)


def test_time_limit_returns_a_valid_result_or_no_trade():
    from solver_models.generator import Recipe, generate_book

    b = generate_book(Recipe(orders=100, seed=1))
    out = solve(b, time_limit=1.5, replication=True)  # all four stages need 7 s or more
    assert out.status is SolveStatus.TIME_LIMIT
    assert out.wall_seconds < 10
    assert any("time limit" in n or "no time left" in n for n in out.notes)
    if out.result.fills:
        assert not check(b, out.result, replication=True).by_rule("balance")
    else:
        assert out.result.uncleared == frozenset(b.contracts)


def test_empty_book():
    b = book([contract(1)], [])
    out = solve(b)
    assert out.status is SolveStatus.OPTIMAL and out.result.fills == ()
