"""The allocation MIP gathers the exposure rows of all its columns at once (one row gather,
not one per kind of column), and its allocations balance exactly, with and without the
whole-package allowance, on generated books with many all-or-none orders and with a quarter of
the orders given a minimum quantity."""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from solver_models import SolverParams
from solver_models.generator import Recipe, generate_book
from solver_models.market import build_market, components
from solver_models.stages import Allocation, allocation_mip, welfare_lp


class _Counting(sp.csr_matrix):
    gathers = 0

    def __getitem__(self, key):
        type(self).gathers += 1
        return sp.csr_matrix(super().__getitem__(key))


def _books():
    for seed in (1, 4):
        yield generate_book(Recipe(seed=seed, orders=600, aon_share=0.3, combo_share=0.4))
    b = generate_book(Recipe(seed=4, orders=600, aon_share=0.1, combo_share=0.4))
    yield dataclasses.replace(b, orders=tuple(
        dataclasses.replace(o, min_packages=2)
        if i % 4 == 0 and not o.all_or_none and o.packages >= 3 else o
        for i, o in enumerate(b.orders)))


def test_one_gather_per_model_and_exact_balance():
    params = SolverParams()
    solved = 0
    for book in _books():
        market = build_market(book)
        for comp in components(market):
            if len(comp.orders) < 20:
                continue
            cls = welfare_lp(market, comp, params, 60.0)
            exposure = market.exposure_in(comp.orders, comp.atomics)
            for short in (False, True):
                counting = _Counting(exposure)
                _Counting.gathers = 0
                alloc = allocation_mip(market, comp, cls, params, 60.0, short, counting)
                assert _Counting.gathers <= 1
                if isinstance(alloc, Allocation):
                    solved += 1
                    assert not np.any(exposure.T @ alloc.fills)
    assert solved
