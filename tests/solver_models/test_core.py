"""An infeasible core halted (issue 17, branch halt17): a component the engine would give up
because no §4a answer exists in its bands by its own model has the contracts of an infeasible
core halted (``solver_models.core``; the circuit breaker, README "Decisions made where the spec
is silent") and the rest clears — never on an unproven claim."""

from __future__ import annotations

import datetime
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


def _same_on_one_and_two_workers(monkeypatch, book: Book, out) -> None:
    """Rule 9: the status, result and notes of ``out`` again on one worker and on two."""
    key = (out.status, out.result, out.notes)
    for workers in (1, 2):
        monkeypatch.setattr(pipeline, "WORKERS", workers)
        again = solve(book, SolverParams())
        assert (again.status, again.result, again.notes) == key


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
    _same_on_one_and_two_workers(monkeypatch, book, out)


_FEB = 1000  # the second core's contract and order ids: the first's + _FEB


def _two_cores_and_a_trade() -> Book:
    """:func:`_core_and_a_trade`'s book and a copy of its nine core orders moved to a second
    expiry (2025-02-21: contracts and orders with ids + 1,000, the same strikes, bands and
    ticks — infeasible the same way), made one component with the first by a calendar (order
    903: buy the 2025-01-17 60,000 put, sell the 2025-02-21 one, 1 lot each, net limit 1) that
    nothing on the February put can fill — it neither trades nor touches either core. Two
    independent infeasible cores in one component of 21 orders, and 901/902 must trade."""
    book = _core_and_a_trade()
    feb = datetime.date(2025, 2, 21)
    contracts = dict(book.contracts)
    contracts.update({k + _FEB: replace(c, contract_id=k + _FEB, expiry=feb)
                      for k, c in book.contracts.items()})
    orders = list(book.orders)
    orders += [replace(o, order_id=o.order_id + _FEB,
                       legs=tuple(replace(leg, contract_id=leg.contract_id + _FEB)
                                  for leg in o.legs))
               for o in book.orders if o.order_id in _CORE]
    orders.append(replace(book.orders[0], order_id=903, client_id=97,
                          total_net_price=Decimal(1),
                          legs=(Leg(131, Side.BUY, 1), Leg(131 + _FEB, Side.SELL, 1))))
    return Book(contracts, tuple(orders))


def test_two_infeasible_cores_are_both_halted(monkeypatch):
    """A second halt (CORE_HALTS > 1): the first core (January, the first expiry QuickXplain
    keeps) halted, the rest starts over and is still proven infeasible — the February copy's
    contracts halted too (two notes, each naming its own nine orders); 901/902 trade, the
    calendar is cleared unfilled, the check passes; the same on one worker and two (rule 9).
    With CORE_HALTS = 1 the February core stays and the component is given up (below)."""
    book = _two_cores_and_a_trade()
    out = solve(book, SolverParams())
    rep = check(book, out.result)
    assert rep.ok, str(rep)
    feb = frozenset(k + _FEB for k in _CORE_CONTRACTS)
    assert out.result.uncleared == _CORE_CONTRACTS | feb
    assert out.result.filled() == {901: 2, 902: 2}
    assert out.status is SolveStatus.NOT_CLEARED and out.orders_uncleared == 18
    jan_note, feb_note = [n for n in out.notes if " halted: " in n]
    for note, shift in ((jan_note, 0), (feb_note, _FEB)):
        ids = ", ".join(str(i + shift) for i in _CORE)
        assert f"an infeasible core of 9 orders on these contracts (orders {ids};" in note, note
        assert "9 orders wait" in note, note
    assert not any(" not cleared: " in n for n in out.notes), out.notes
    _same_on_one_and_two_workers(monkeypatch, book, out)


def test_the_bound_on_halts_gives_the_component_up(monkeypatch):
    """CORE_HALTS reached: the first core's contracts are halted, the rest is still proven to
    have no answer, and no further core is searched — the component is given up as before
    branch halt17 (the route's notes, the halt's among them, replaced by the give-up's: every
    contract of the component is uncleared, so a note that the rest clears would be wrong).
    Nothing is filled, all 21 orders are not cleared, the check passes."""
    monkeypatch.setattr(pipeline, "CORE_HALTS", 1)
    found = []
    search = pipeline._core

    def counted(market, *args, **kwargs):
        core = search(market, *args, **kwargs)
        found.append(None if core is None else
                     {int(market.contract_ids[k]) for k in core[0]})
        return core

    monkeypatch.setattr(pipeline, "_core", counted)
    book = _two_cores_and_a_trade()
    out = solve(book, SolverParams())
    assert check(book, out.result).ok
    assert found == [_CORE_CONTRACTS]  # one search, its core halted; none after it
    assert out.result.uncleared == frozenset(book.contracts) and not out.result.fills
    assert out.status is SolveStatus.NOT_CLEARED and out.orders_uncleared == 21
    (note,) = [n for n in out.notes if " not cleared: " in n]
    assert note.startswith("component of 21 orders") and "local_mip infeasible" in note, note
    assert not any(" halted: " in n for n in out.notes), out.notes


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
