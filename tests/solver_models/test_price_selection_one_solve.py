"""Price selection's minimum surplus (rule 5) and reference distance (rule 6) as one solve of
``W·surplus + distance`` chooses the same optimum as the two solves one after the other: the
same fills, surplus and distance to the reference prices; only a tie left after rule 6 may
fall on another price vector."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings

from auction.result import surplus, volume
from coordinator.scenarios import load_scenario
from solver_models import SolverParams, solve, stages
from solver_models.market import build_market
from tests.solver_models.test_pipeline_properties import tiny_books
from validator.equilibrium import check

MIXED = Path(__file__).resolve().parents[2] / "scenarios" / "mixed"


def _chosen(book, monkeypatch, one_solve: bool):
    monkeypatch.setattr(stages, "SURPLUS_WITH_REFERENCE", one_solve)
    out = solve(book, SolverParams())
    market = build_market(book)
    index = {int(c): k for k, c in enumerate(market.contract_ids)}
    traded = {leg.contract_id for o in book.orders for leg in o.legs}
    distance = sum(abs(t - market.ref_ticks[index[c]]) for c, t in out.result.prices.items()
                   if c in traded and c not in out.result.uncleared)
    return out, (out.status, out.result.fills, volume(book, out.result),
                 surplus(book, out.result), distance)


def _same_choice(book, monkeypatch):
    one, chosen_one = _chosen(book, monkeypatch, True)
    two, chosen_two = _chosen(book, monkeypatch, False)
    assert chosen_one == chosen_two
    assert check(book, one.result).ok
    return one, two


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(tiny_books(contract_ids=(1, 3, 4), max_orders=6))
def test_one_solve_chooses_as_two_on_tiny_books(monkeypatch, b):
    _same_choice(b, monkeypatch)


def test_one_solve_chooses_as_two_on_the_mixed_book(monkeypatch):
    book = load_scenario(MIXED / "mixed_2k.json").book
    one, _ = _same_choice(book, monkeypatch)
    # the combined stage ran (and the separate ones did not) where surplus is watched
    names = {s.name for s in one.stages}
    assert "surplus_reference_mip" in names and "surplus_mip" not in names
