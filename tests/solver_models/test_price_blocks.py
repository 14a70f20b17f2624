"""Price selection's lexicographic optimum is per independent block of the price model
(auction.md §4: independent components are solved separately): the blocks of a batch are
its parts, each whole (orders, atomic instruments, contracts)."""

from __future__ import annotations

import numpy as np

from solver_models.market import Component, build_market, components
from solver_models.stages import _price_blocks
from tests.solver_models.test_allocation_blocks import _two_parts


def test_a_batch_splits_into_its_parts():
    market = build_market(_two_parts())
    comps = components(market)
    assert len(comps) == 2
    for comp in comps:
        assert _price_blocks(market, comp) == [comp]
    blocks = _price_blocks(market, Component.union(comps))
    assert len(blocks) == 2
    for got, want in zip(blocks, comps, strict=True):
        for f in ("orders", "atomics", "contracts"):
            np.testing.assert_array_equal(getattr(got, f), getattr(want, f))
