"""Market.money / linking / band_keepers are made once per index arrays (the stages of a
component ask for the same ones on every retry, round and route) and equal what a fresh
computation gives; arrays of other dtypes or lengths never share an entry."""

from __future__ import annotations

import numpy as np

from solver_models import market as mk
from solver_models.generator import Recipe, generate_book
from solver_models.market import _submatrix, build_market, components


def _market():
    return build_market(generate_book(Recipe(seed=5, orders=300, combo_share=0.4)))


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "toarray"):
        return a.shape == b.shape and (a != b).nnz == 0 and a.dtype == b.dtype
    return np.array_equal(a, b) and a.dtype == b.dtype


def test_answers_are_made_once_and_equal_fresh_ones():
    market = _market()
    for comp in components(market):
        o, kc, at = comp.orders, comp.contracts, comp.atomics
        money = market.money(o, kc)
        assert market.money(o.copy(), kc.copy()) is money  # equal arrays, one entry
        assert _same(money, _submatrix(market.leg_money, o, kc))
        link = market.linking(kc, at)
        assert market.linking(kc, at) is link
        assert _same(link, (market.tick_value[kc], market.cash_value[kc],
                            _submatrix(market.contract_terms, kc, at).astype(float)))
        keep = market.band_keepers(kc, at)
        assert market.band_keepers(kc, at) is keep
        assert _same(keep, market._band_keepers(kc, at))


def test_other_dtype_or_length_is_another_entry():
    market = _market()
    comp = max(components(market), key=lambda c: len(c.orders))
    o, kc = comp.orders, comp.contracts
    a = market.money(o, kc)
    b = market.money(o.astype(np.int32), kc)
    assert a is not b and _same(a, b)
    assert market.money(o[:-1], kc).shape[0] == len(o) - 1


def test_large_index_arrays_are_not_kept(monkeypatch):
    monkeypatch.setattr(mk, "MEMO_MAX", 3)
    market = _market()
    comp = max(components(market), key=lambda c: len(c.orders))
    o, kc = comp.orders, comp.contracts
    assert market.money(o, kc) is not market.money(o, kc)
    assert not any(key[0] == "money" for key in market.memo)
