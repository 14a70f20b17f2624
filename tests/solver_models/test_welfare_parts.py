"""A batch's welfare LP gives each part what its LP alone gives it (``stages.welfare_lp_parts``,
stop 28): the batch's LP once, and alone only the parts whose duals in it are not proven unique
— each cut out of the batch's arrays (the very model built alone) and solved on one reused
HiGHS instance (``highs.Reused``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from solver_models import SolverParams, highs, pipeline
from solver_models.market import Component, build_market, components
from solver_models.stages import (
    Classification,
    _by_owner,
    _owner,
    _welfare_model,
    _welfare_parts,
    welfare_lp,
    welfare_lp_parts,
)
from tests.solver_models.test_pipeline_properties import CONTRACTS, _shifted
from tests.solver_models.tiny_books import book, order

ROOT = Path(__file__).resolve().parents[2]


def _batch(name: str):
    """The market, params and the first batch of several parts of a bench book."""
    from venue.cli.solve import load

    s = load(ROOT / "scenarios" / "bench" / "standard" / f"{name}.yaml")
    market = build_market(s.book, s.params.replication, s.params.price_band == "clip")
    batch = next(b for b in pipeline._batches(market, components(market, s.params.split_components))
                 if len(b) > 1)
    return market, s.params, batch


def _cut(market, comp: Component, parts: list[Component]):
    """Per part: the part as a component of ``comp`` and its model cut out of the batch's."""
    w = _welfare_model(market, comp, True)
    own_order = _owner(comp.orders, [p.orders for p in parts])
    own_contract = _owner(comp.contracts, [p.contracts for p in parts])
    col_owner = np.concatenate((own_order[w.first], own_contract, own_contract))
    row_owner = _owner(comp.atomics, [p.atomics for p in parts])
    cols_of, rows_of = _by_owner(col_owner, len(parts)), _by_owner(row_owner, len(parts))
    cut = _welfare_parts(w.model, [cols_of(i) for i in range(len(parts))],
                         [rows_of(i) for i in range(len(parts))], len(w.obj))
    pieces = [Component(comp.orders[own_order == i], comp.atomics[rows_of(i)],
                        comp.contracts[own_contract == i]) for i in range(len(parts))]
    return pieces, cut


@pytest.mark.parametrize("name", ["orders_2k", "no_cross"])
def test_a_part_cut_out_of_its_batch_is_the_model_built_alone(name):
    market, params, parts = _batch(name)
    comp = Component.union(parts)
    pieces, cut = _cut(market, comp, parts)
    for piece, model in zip(pieces, cut, strict=True):
        alone = _welfare_model(market, piece, True).model
        for f in ("c", "row_lo", "row_hi", "col_lo", "col_hi"):
            assert np.array_equal(getattr(model, f), getattr(alone, f)), f
            assert getattr(model, f).dtype == getattr(alone, f).dtype, f
        a = alone.a.tocsc()
        assert model.a.shape == a.shape and model.maximize == alone.maximize
        for f in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(model.a, f), getattr(a, f)), f
        # and one HiGHS instance solving them in turn answers as a fresh one each
    solver = highs.Reused(params)
    for model in cut:
        once, again = highs.solve(model, params, 60.0), solver.solve(model, 60.0)
        assert (once.status, once.objective) == (again.status, again.objective)
        assert np.array_equal(once.x, again.x) and np.array_equal(once.row_dual, again.row_dual)


def _same(cls: Classification, comp: Component, piece: Component, alone: Classification):
    """The classification equal; reduced costs and ticks as numbers (a unique dual may be
    rounded otherwise by HiGHS alone: 1.1e-13 apart on 4 of the campaign's 909 parts; bit-equal
    on these books with HiGHS 1.15.1)."""
    mine = np.isin(comp.orders, piece.orders)
    for f in ("itm", "otm", "atm"):
        assert np.array_equal(getattr(cls, f)[mine], getattr(alone, f)), f
    assert np.allclose(cls.reduced[mine], alone.reduced, rtol=0.0, atol=1e-9)
    assert np.allclose(cls.ticks[np.isin(comp.contracts, piece.contracts)], alone.ticks,
                       rtol=0.0, atol=1e-9)


@pytest.mark.parametrize("name", ["orders_2k", "aon_heavy", "no_cross"])
def test_each_part_of_a_batch_gets_its_welfare_lp_alone(name):
    """Bit for bit: the parts proven unique in the batch's LP and those solved again alone
    (both kinds on orders_2k and aon_heavy; no_cross's parts trade nothing, none proven)."""
    market, params, parts = _batch(name)
    comp = Component.union(parts)
    cls = welfare_lp_parts(market, comp, parts, params, 60.0)
    assert isinstance(cls, Classification)
    alone = [welfare_lp(market, piece, params, 60.0) for piece in _cut(market, comp, parts)[0]]
    for piece, a in zip(_cut(market, comp, parts)[0], alone, strict=True):
        _same(cls, comp, piece, a)
    again = int(cls.report.size.split("; ")[-1].split(" of ")[0])
    assert (0 < again < len(parts)) if name != "no_cross" else again == len(parts), cls.report


def test_a_part_with_other_duals_in_the_batch_is_solved_alone():
    """The 4-order counterexample of stop 27 (test_pipeline_properties.py): the batch's LP
    gives the second part other (degenerate) duals than its LP alone; it is not proven
    unique there, so it is solved again and gets its own."""
    on = [c for c in CONTRACTS if c.contract_id in (1, 3, 4)]
    first = book(on, [order(1, [(1, "B", 1)], "0"), order(2, [(3, "B", 1)], "0"),
                      order(3, [(1, "B", 1)], "1")])
    second = _shifted(book(on, [order(1, [(3, "B", 1)], "2", aon=True),
                                order(2, [(3, "B", 1)], "1"),
                                order(3, [(1, "B", 1), (3, "B", 1)], "0"),
                                order(4, [(3, "S", 1)], "-1")]), 10)
    from auction.book import Book

    both = Book({**first.contracts, **second.contracts}, first.orders + second.orders)
    params = SolverParams()
    market = build_market(both, params.replication, params.price_band == "clip")
    parts = components(market, params.split_components)
    assert len(parts) == 2
    comp = Component.union(parts)
    cls = welfare_lp_parts(market, comp, parts, params, 60.0)
    whole = welfare_lp(market, comp, params, 60.0)  # the batch's LP's own classification
    pieces = _cut(market, comp, parts)[0]
    differs = False
    for piece in pieces:
        a = welfare_lp(market, piece, params, 60.0)
        _same(cls, comp, piece, a)
        mine = np.isin(comp.orders, piece.orders)
        differs |= not np.array_equal(whole.atm[mine], a.atm)
    assert differs  # the batch's duals alone would not do
