"""The allocation MIP with the whole-package allowance solves each independent block of a
batch alone (issue 17's campaign: a batch of two 1,500-order components took 20 s in one
model, its branch and bound multiplying the blocks' trees); blocks under ``ALONE_ORDERS``
orders share one model."""

from __future__ import annotations

import numpy as np

from solver_models import SolverParams, highs, stages
from solver_models.market import Component, build_market, components
from solver_models.stages import Allocation, allocation_mip, welfare_lp
from tests.solver_models.tiny_books import book, buy, contract, order, sell


def _two_parts():
    # twice test_pipeline's book where no allocation in whole packages balances (calls at
    # 100/110, and at 120/130: other atomic instruments, an independent part)
    parts = []
    for shift, strikes in ((0, ("100", "110")), (10, ("120", "130"))):
        a = contract(1 + shift, strike=strikes[0], ref="7")
        b = contract(2 + shift, strike=strikes[1], ref="6")
        parts.append(([a, b], [order(1 + shift, [(1 + shift, "B", 6), (2 + shift, "B", 3)], "60"),
                               sell(2 + shift, 1 + shift, 5, "5"), buy(3 + shift, 2 + shift, 10, "6"),
                               sell(4 + shift, 2 + shift, 10, "6")]))
    return book(parts[0][0] + parts[1][0], parts[0][1] + parts[1][1])


def test_the_allowance_solves_each_block_of_a_batch_alone(monkeypatch):
    market = build_market(_two_parts())
    comps = components(market)
    assert len(comps) == 2
    params = SolverParams()
    models = []
    solve_of = highs.solve

    def spy(model, *args, **kw):
        models.append(model.a.shape[1])
        return solve_of(model, *args, **kw)

    monkeypatch.setattr(stages.highs, "solve", spy)
    monkeypatch.setattr(stages, "ALONE_ORDERS", 1)  # the tiny parts count as large blocks
    alone = []
    for comp in comps:
        cls = welfare_lp(market, comp, params, 60)
        models.clear()
        alloc = allocation_mip(market, comp, cls, params, 60, short=True)
        assert isinstance(alloc, Allocation) and alloc.short is not None
        alone.append((alloc.fills, max(models)))
    both = Component.union(comps)
    cls = welfare_lp(market, both, params, 60)
    models.clear()
    alloc = allocation_mip(market, both, cls, params, 60, short=True)
    assert isinstance(alloc, Allocation)
    # one model per block, none with the columns of both
    assert max(models) <= max(cols for _, cols in alone)
    np.testing.assert_array_equal(alloc.fills, np.concatenate([f for f, _ in alone]))
