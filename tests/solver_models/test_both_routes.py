"""Both routes on small components (``pipeline._clear``, ``pipeline._rank``; auction.md §4a):
where a component's allocation balances only with the whole-package allowance while
indivisible orders are at the money, dropping them is the other way; below
``stages.ALONE_ORDERS`` orders both answers are cleared and the better one by §4a's order
(the least priority loss first) is kept.

The book is orders_2k's 8-order component on contracts 32 and 33 (stop 27): with the allowance
(b0cb98f's route) it traded 52 lots with order 326 one package short (priority loss 0.29 USDC);
dropping the all-or-none orders at the money trades 54 lots exactly (loss 0)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from auction.book import Book
from auction.products import Contract, Payoff
from solver_models import SolverParams, SolveStatus, pipeline, solve
from tests.solver_models.batches import assert_each_as_alone, clears, joined
from tests.solver_models.test_pipeline_properties import _objectives, _shifted
from tests.solver_models.tiny_books import PAIR, order
from validator.equilibrium import check


def _contract(cid: int, payoff: Payoff, ref: str, lo: str, hi: str) -> Contract:
    return Contract(cid, payoff, PAIR, date(2025, 1, 10), Decimal("3300"), Decimal("0.001"),
                    Decimal("10"), Decimal(ref), Decimal(lo), Decimal(hi))


def _part() -> Book:
    call = _contract(32, Payoff.BINARY_CALL, "0.117", "0.008", "0.226")
    put = _contract(33, Payoff.BINARY_PUT, "0.883", "0.391", "1")
    orders = [order(326, [(33, "S", 27)], "-227.61"), order(349, [(32, "B", 32)], "32.96"),
              order(376, [(32, "S", 25)], "-32"), order(566, [(33, "B", 2)], "17.1"),
              order(840, [(32, "B", 26)], "32.76", aon=True),
              order(854, [(32, "S", 15)], "-19.8", aon=True),
              order(978, [(32, "S", 1)], "-1.18"), order(1229, [(33, "B", 103)], "832.24")]
    return Book({32: call, 33: put}, tuple(orders))


def test_dropping_beats_the_allowance_on_priority_loss():
    part = _part()
    out = solve(part, SolverParams())
    assert out.status is SolveStatus.OPTIMAL, out.notes
    assert check(part, out.result).ok
    volume, loss, _, _ = _objectives(part, out.result)
    assert (volume, loss) == (54, 0), out.notes  # the allowance's answer: 52 lots, loss 0.29
    assert out.relaxations == ()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_batched_part_with_the_choice_clears_as_alone(workers, monkeypatch):
    """Batched with a copy of itself (two parts, one batch), each part's answer is its own
    alone: a part with the choice leaves the batch and is cleared both ways."""
    monkeypatch.setattr(pipeline, "WORKERS", workers)
    parts = [_part(), _shifted(_part(), 40)]
    whole = joined(parts)
    out = solve(whole, SolverParams())
    assert out.status is SolveStatus.OPTIMAL, out.notes
    assert check(whole, out.result).ok
    assert_each_as_alone(parts, out)
    for part in parts:
        ids = {o.order_id for o in part.orders}
        mine = replace(out.result, prices={k: out.result.prices[k] for k in part.contracts},
                       fills=tuple(f for f in out.result.fills if f.order_id in ids))
        assert _objectives(part, mine)[:2] == (54, 0)


def test_a_batch_failing_on_a_part_without_indivisible_orders_takes_the_allowance(monkeypatch):
    """A batch drops first, but when every part with indivisible orders at the money balances
    in whole packages (no part drops or leaves), the failure is a part's without them: alone
    it takes the allowance, so the batch's round runs again with it — the batch clears as one,
    each part as alone (found by a random search of two-part books, contracts 1, 3, 4)."""
    from tests.solver_models.test_batch_follows_alone import _ON
    from tests.solver_models.tiny_books import book

    # alone: no allocation in whole packages, no indivisible order: the allowance
    short = book(_ON, [order(1, [(4, "B", 3)], "300"), order(2, [(1, "S", 2)], "-20"),
                       order(3, [(3, "B", 2)], "24"),
                       order(4, [(1, "S", 2), (4, "S", 2)], "-202"),
                       order(5, [(3, "B", 3), (4, "S", 3)], "-285")])
    # alone: its all-or-none order at the money, in whole packages
    keeps = book(_ON, [order(1, [(1, "B", 3), (3, "B", 2)], "27", aon=True),
                       order(2, [(4, "B", 2)], "188")])
    parts = [short, _shifted(keeps, 10)]
    whole = joined(parts)
    cleared = clears(monkeypatch)
    out = solve(whole, SolverParams())
    assert out.status is SolveStatus.OPTIMAL, out.notes
    assert check(whole, out.result).ok
    assert cleared == [2], cleared  # one batch, no part alone
    assert any(k == "short" for _, k in out.relaxations), out.relaxations
    assert_each_as_alone(parts, out)


def test_the_drop_route_does_not_clear_the_allowance_routes_rounds_again(monkeypatch):
    """Only a route's last round can differ between the two routes (``pipeline._route``): a
    round where the choice does not arise is the same on both, and one where it arises and
    fails drops what dropping first drops. Campaign s47009's 147-order component (issue 17)
    drops indivisible orders at the money in four rounds (the choice arising in two of them),
    halts five contracts, and clears in its tenth round without the choice: the drop route
    would clear the same ten rounds and give the same answer (20 rounds before), so it is not
    run."""
    from solver_models.generator import Recipe, generate_book
    from tests.solver_models.test_fresh_books import _component_of

    book = generate_book(Recipe(
        seed=47009, pair="WETH/USDC", spot="3000", start="20250103", expiries=3,
        strikes_per_expiry=13, strike_step=0.05, orders=4861, combo_share=0.47,
        combo_types=("vertical", "calendar", "straddle", "butterfly", "risk_reversal",
                     "ratio", "condor", "conversion", "box", "binary_spread"),
        aon_share=0.45, price_noise=0.093, bias=0.5, volatility=0.6, band=0.5,
        include_puts=True, include_binaries=True, include_forwards=True, cross=True,
        clients=0, pairs=("WBTC/USDC",), limit_places=4))
    part = _component_of(book, 4)
    assert len(part.orders) == 147
    rounds = []
    stages = pipeline._stages

    def counted(market, comp, *args, **kwargs):
        rounds.append(len(comp.orders))
        return stages(market, comp, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_stages", counted)
    out = solve(part, SolverParams())
    rep = check(part, out.result)
    assert rep.ok, str(rep)
    assert out.status is SolveStatus.NOT_CLEARED and rep.volume == 992, out.notes
    assert out.relaxations == ()
    assert rounds == [147, 138, 133, 131, 129, 124, 118, 114, 110, 102], rounds
    assert sum("halted: no equilibrium" in n for n in out.notes) == 5, out.notes
    assert any("4 indivisible order(s) left unfilled at the money in an earlier round filled"
               in n for n in out.notes), out.notes


def test_the_drop_route_from_the_last_round_gives_its_answer_from_scratch(monkeypatch):
    """Where the choice arises in the allowance route's last round after earlier rounds, the
    drop route starts there: the same answer and notes as the drop route from scratch, one
    round fewer. Campaign s47014's 28-order component of order 12 (issue 17): the allowance
    route drops one indivisible order and takes the allowance at 27 orders; dropping first
    clears 28 → 27 → 26 from scratch."""
    from solver_models.generator import Recipe, generate_book
    from tests.solver_models.test_fresh_books import _component_of

    book = generate_book(Recipe(
        seed=47014, pair="WETH/USDC", spot="3000", start="20250103", expiries=3,
        strikes_per_expiry=5, strike_step=0.05, orders=785, combo_share=0.44,
        combo_types=("vertical", "calendar", "straddle", "butterfly", "risk_reversal",
                     "ratio", "condor", "conversion", "box", "binary_spread"),
        aon_share=0.12, price_noise=0.025, bias=0.5, volatility=0.6, band=0.5,
        include_puts=True, include_binaries=True, include_forwards=True, cross=True,
        clients=0, pairs=("WBTC/USDC",), limit_places=0))
    part = _component_of(book, 12)
    assert len(part.orders) == 28
    stages, route = pipeline._stages, pipeline._route

    def cleared(scratch: bool):
        rounds = []

        def counted(market, comp, *args, **kwargs):
            rounds.append(len(comp.orders))
            return stages(market, comp, *args, **kwargs)

        def routed(*args, **kwargs):
            if scratch:
                kwargs["start"] = None
            return route(*args, **kwargs)

        monkeypatch.setattr(pipeline, "_stages", counted)
        monkeypatch.setattr(pipeline, "_route", routed)
        return solve(part, SolverParams()), rounds

    out, rounds = cleared(False)
    again, scratch = cleared(True)
    assert rounds == [28, 27, 27, 26], rounds  # allowance route 28, 27; drop route 27, 26
    assert scratch == [28, 27, 28, 27, 26], scratch
    assert out.result == again.result and out.notes == again.notes
    assert out.relaxations == again.relaxations and out.status is SolveStatus.OPTIMAL
    assert check(part, out.result).ok
