"""An infeasible core halted (issue 17, branch halt17): a component the engine would give up
because no §4a answer exists in its bands by its own model has the contracts of an infeasible
core halted (``solver_models.core``; the circuit breaker, README "Decisions made where the spec
is silent") and the rest clears — never on an unproven claim."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from auction.book import Book
from auction.orders import Leg, Side
from solver_models import SolverParams, core, pipeline, solve
from solver_models.generator import generate_book
from solver_models.outcome import SolveStatus, StageReport
from tests.solver_models.test_fresh_books import _GIVEN_UP, _component_of
from validator.equilibrium import check

_CORE = (24, 68, 278, 402, 502, 508, 530, 572, 600)
_CORE_CONTRACTS = frozenset({117, 118, 122, 123, 126, 127})


def _core_and_a_trade() -> Book:
    """Nine orders of campaign s56013's given-up component (the engine's core of its part,
    and a buyer of the 2025-01-17 forward, whose band binds the core's parity: WBTC calls and
    puts 52,500 / 55,000 / 57,500) and two hand-made orders on the 2025-01-17 60,000 put —
    the same component through the forward — that cross (buy 2 lots at up to 1,500, sell 2
    at 1,250 or more)."""
    part = _component_of(generate_book(_GIVEN_UP["s56013"]), 68)
    orders = [o for o in part.orders if o.order_id in _CORE]
    model = orders[0]
    orders += [replace(model, order_id=901, client_id=98, total_net_price=Decimal(30),
                       legs=(Leg(131, Side.BUY, 2),)),
               replace(model, order_id=902, client_id=99, total_net_price=Decimal(-25),
                       legs=(Leg(131, Side.SELL, 2),))]
    used = {leg.contract_id for o in orders for leg in o.legs}
    return Book({k: v for k, v in part.contracts.items() if k in used}, tuple(orders))


def test_an_infeasible_core_is_halted_and_the_rest_clears(monkeypatch):
    """Given up before branch halt17 ('component of 11 orders … not cleared: local_mip
    infeasible', nothing filled): now the nine orders' six contracts are halted (a note names
    them, the core and the orders that wait), the put's two orders trade, the check passes;
    the same on one worker and two (rule 9; HiGHS's threads are one per process: 2 in a
    process of their own give the same, docs/performance.md "Stop 30 — halt17")."""
    book = _core_and_a_trade()
    out = solve(book, SolverParams())
    rep = check(book, out.result)
    assert rep.ok, str(rep)
    assert out.result.uncleared == _CORE_CONTRACTS
    assert out.result.filled() == {901: 2, 902: 2}
    assert out.status is SolveStatus.NOT_CLEARED and out.orders_uncleared == 9
    (note,) = [n for n in out.notes if " halted: " in n]
    assert "an infeasible core of 9 orders" in note and "9 orders wait" in note, note
    assert not any(" not cleared: " in n for n in out.notes), out.notes
    key = (out.status, out.result, out.notes)
    for workers in (1, 2):
        monkeypatch.setattr(pipeline, "WORKERS", workers)
        again = solve(book, SolverParams())
        assert (again.status, again.result, again.notes) == key


def test_an_undecided_oracle_halts_nothing(monkeypatch):
    """Where the oracle proves nothing (a node limit: no point, no proof — campaign s23016's
    1,138-order part at its root) no contract is halted: the component is given up as before."""

    def undecided(*args, **kwargs):
        return StageReport("local_mip", status="node_limit")

    monkeypatch.setattr(core, "local_mip", undecided)
    book = _core_and_a_trade()
    out = solve(book, SolverParams())
    assert check(book, out.result).ok
    assert out.result.uncleared == _CORE_CONTRACTS | {131} and not out.result.fills
    assert any(" not cleared: local_mip" in n for n in out.notes), out.notes
    assert not any(" halted: " in n for n in out.notes), out.notes


@pytest.mark.parametrize("needed", [(3,), (3, 50, 77), (0, 99), tuple(range(0, 100, 9))])
def test_quickxplain_finds_the_core_of_a_monotone_oracle(needed):
    calls = []

    def infeasible(kept):
        calls.append(kept)
        return set(needed) <= set(kept)

    assert core.quickxplain(list(range(100)), infeasible, 10**6) == sorted(needed)
    k = len(needed)
    assert len(calls) <= 2 * k * 7 + 2  # ~2·k·log2(n/k) + the last proof


def test_quickxplain_claims_nothing_unproven():
    """Bounded: None when the calls run out. Not monotone (an undecided answer where a
    superset was proven): the subset returned is proven (once more at the end), or None."""
    assert core.quickxplain(list(range(100)), lambda k: {3, 50} <= set(k), 5) is None
    assert core.quickxplain([], lambda k: False, 5) is None  # nothing to search: no claim
    assert core.quickxplain([], lambda k: True, 5) == []

    def infeasible(kept):  # {3, 50} with anything else proven, {3, 50} alone undecided
        return {3, 50} <= set(kept) and len(kept) > 2

    assert core.quickxplain(list(range(100)), infeasible, 10**6) == [0, 3, 50]

    calls = []

    def monotone(kept):
        calls.append(kept)
        return {3, 50} <= set(kept)

    assert core.quickxplain(list(range(100)), monotone, 10**6) == [3, 50]
    assert calls[-1] == [3, 50]  # the last call proves the answer once more

    def flaky(kept):  # the same answers but the last, undecided
        return monotone(kept) and len(calls) < n

    n, calls = len(calls), []
    assert core.quickxplain(list(range(100)), flaky, 10**6) is None
