"""A batch follows alone (``pipeline._clear``, ``_unbalanced``): a part whose direct route alone
takes the whole-package allowance (no allocation in whole packages balances, one with the
allowance does) leaves the batch and is cleared alone; the other parts stay batched and drop
or keep their indivisible orders at the money as each would alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from auction.book import Book
from solver_models import SolverParams, SolveStatus, pipeline, solve
from tests.solver_models.batches import assert_each_as_alone, clears, joined
from tests.solver_models.test_pipeline_properties import CONTRACTS, _objectives, _shifted
from tests.solver_models.tiny_books import book, order
from validator.equilibrium import check

_ON = [c for c in CONTRACTS if c.contract_id in (1, 3, 4)]


def _parts() -> list[Book]:
    # alone: no allocation in whole packages, the allowance balances (one order short)
    allowance = book(_ON, [order(1, [(1, "B", 1)], "2"), order(2, [(1, "S", 2)], "0"),
                           order(3, [(1, "B", 1), (3, "B", 1)], "7", aon=True),
                           order(4, [(4, "B", 1)], "94")])
    # alone: its all-or-none seller at the money balances with neither: dropped
    drops = book(_ON, [order(1, [(1, "S", 3)], "0", aon=True), order(2, [(1, "B", 1)], "0"),
                       order(3, [(1, "B", 1)], "1"), order(4, [(3, "B", 1)], "0")])
    # alone: balances in whole packages with its all-or-none seller (3 lots)
    keeps = book(_ON, [order(1, [(1, "B", 1)], "0"), order(2, [(1, "B", 1)], "0"),
                       order(3, [(3, "S", 1)], "-6", aon=True), order(4, [(4, "S", 1)], "-94")])
    return [allowance, _shifted(drops, 10), _shifted(keeps, 20)]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_part_with_the_allowance_leaves_the_batch_the_others_stay(workers, monkeypatch):
    monkeypatch.setattr(pipeline, "WORKERS", workers)
    parts = _parts()
    whole = joined(parts)
    cleared = clears(monkeypatch)  # parts per call of _clear (a batch, or a part alone)
    out = solve(whole, SolverParams())
    assert out.status is SolveStatus.OPTIMAL, out.notes
    assert check(whole, out.result).ok
    # one batch of three; the first part alone after it left; the other two never alone
    assert sorted(cleared) == [1, 3], cleared
    assert_each_as_alone(parts, out)
    # the drop notes count only the orders each kept answer dropped: the batch's (the second
    # part's seller) — the first part's alone is the allowance route's, made exact by the
    # wide search (pipeline._wide: loss 2 -> 0), which ties the drop route's and is kept
    assert [n for n in out.notes if "left unfilled" in n] == [
        "1 indivisible order(s) at the money left unfilled"], out.notes


def test_a_component_of_alone_orders_is_a_batch_of_its_own():
    """``pipeline._batches``: a component of ``stages.ALONE_ORDERS`` orders or more is cleared
    on its own (aon_heavy's 1,745 orders were batched with 25 small components, orders_1k's
    870 with 22: their rounds, or their failure, were the whole batch's); smaller ones stay
    batched."""
    from pathlib import Path

    from coordinator.scenarios import load_scenario
    from solver_models.market import build_market, components
    from solver_models.stages import ALONE_ORDERS

    bench = Path(__file__).resolve().parents[2] / "scenarios/bench/standard"
    for name, large in (("aon_heavy", 1745), ("orders_1k", 870)):
        market = build_market(load_scenario(bench / f"{name}.yaml").book)
        batches = pipeline._batches(market, components(market))
        sizes = [[len(c.orders) for c in b] for b in batches]
        assert [large] in sizes, sizes
        assert any(len(b) > 1 for b in batches)
        for b in batches:
            assert len(b) == 1 or all(len(c.orders) < ALONE_ORDERS for c in b), sizes


def test_two_large_components_clear_as_if_alone_campaign_counterexample(monkeypatch):
    """Found by the campaign (seed 18, book 8; stop 27): batched, its components of 1,535 and
    1,527 orders cleared at 13,753 lots (loss 0) and 15,012 lots (loss 5.36); alone at 13,615
    (loss 0) and 15,012 (loss 5.17). The batch's welfare LP gave the 1,535-order part other
    optimal duals than its LP alone (14 of its 51 contracts about one tick apart: the duals
    are degenerate and HiGHS's choice depended on the whole model), so its direct route
    started from another classification. A batch gives each part its welfare LP's
    classification alone (``stages.welfare_lp_parts``: the batch's LP, and alone the parts
    whose duals in it are not proven unique; stops 27–28): the classification the batch's allocation
    starts from is each part's alone, and the first part clears as alone. The second part is
    not compared: it leaves the batch (alone its direct route takes the allowance), and with
    ``ALONE_ORDERS`` patched (to batch the two) a part cleared alone takes both routes
    (``_clear``) where unpatched it takes the allowance only — another rule, not the batch."""
    import random
    import sys
    from pathlib import Path

    import numpy as np

    from solver_models.generator import generate_book
    from solver_models.market import build_market, components
    from solver_models.stages import welfare_lp

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from campaign import draw_recipe

    rng = random.Random(18)
    recipe = [draw_recipe(rng, 18_000 + k, 10_000) for k in range(9)][8]
    full = generate_book(recipe)
    market = build_market(full)
    parts = []
    for comp in components(market):
        if len(comp.orders) in (1535, 1527):
            ids = {int(x) for x in market.order_ids[comp.orders]}
            orders = tuple(o for o in full.orders if o.order_id in ids)
            legs = {leg.contract_id for o in orders for leg in o.legs}
            parts.append(Book({k: v for k, v in full.contracts.items() if k in legs}, orders))
    assert len(parts) == 2
    both = Book({k: v for p in parts for k, v in p.contracts.items()},
                tuple(sorted((o for p in parts for o in p.orders), key=lambda o: o.order_id)))
    started = []  # the batch's first allocation: its component and classification
    allocate = pipeline.allocation_mip

    def spy(market, comp, cls, *args, **kwargs):
        if not started:
            started.append((market, comp, cls))
        return allocate(market, comp, cls, *args, **kwargs)

    monkeypatch.setattr(pipeline, "allocation_mip", spy)
    monkeypatch.setattr(pipeline, "BATCH_ORDERS", 4000)  # the two in one batch, as before
    monkeypatch.setattr(pipeline, "ALONE_ORDERS", 4000)
    out = solve(both, SolverParams())
    monkeypatch.undo()
    market, batch, cls = started[0]
    assert len(batch.orders) == 1535 + 1527
    for comp in components(market):
        alone = welfare_lp(market, comp, SolverParams(), 60.0)
        mine = np.isin(batch.orders, comp.orders)
        for f in ("itm", "otm", "atm"):
            assert np.array_equal(getattr(cls, f)[mine], getattr(alone, f)), f
        assert np.array_equal(cls.ticks[np.isin(batch.contracts, comp.contracts)], alone.ticks)
    first = next(p for p in parts if len(p.orders) == 1535)
    alone = solve(first, SolverParams())
    ids = {o.order_id for o in first.orders}
    mine = replace(out.result, prices={k: out.result.prices[k] for k in first.contracts},
                   fills=tuple(f for f in out.result.fills if f.order_id in ids))
    assert _objectives(first, mine) == _objectives(first, alone.result)
