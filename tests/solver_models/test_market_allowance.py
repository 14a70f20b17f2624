"""The matcher's rounding allowance per order (``Market.allowance``, computed in integers over
the distinct leg signatures) is rule 2's ρ of auction.replication.RoundingAllowance, floored to
money at 10^-D, for every order — with replication on and off, on the bench books and on
random mixes (binaries on both sides, calendars, one-leg markets that clear exactly: ρ = 0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.replication import RoundingAllowance
from coordinator.scenarios import load_scenario
from solver_models.generator import ALL_COMBO_TYPES, Recipe, generate_book
from solver_models.market import build_market

ROOT = Path(__file__).resolve().parents[2]


def _expected(book, replication: bool, places: int) -> list[int]:
    rho_of = RoundingAllowance(book.contracts, replication, book.orders)
    out = []
    for o in book.orders:
        rho = rho_of(o)
        out.append(rho.numerator * 10**places // rho.denominator)
    return out


def _assert_same(book, replication: bool) -> None:
    market = build_market(book, replication)
    assert market.allowance.tolist() == _expected(book, replication, market.money_places)


@pytest.mark.parametrize("path", ["scenarios/mixed/mixed_2k.json",
                                  "scenarios/bench/standard/orders_1k.yaml",
                                  "scenarios/bench/hard/parity_chain.yaml",
                                  "scenarios/bench/smoke/small.yaml"])
@pytest.mark.parametrize("replication", [True, False])
def test_allowance_is_rule_2s_rho_on_bench_books(path, replication):
    _assert_same(load_scenario(ROOT / path).book, replication)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), orders=st.integers(1, 120),
       combo_share=st.sampled_from([0.0, 0.3, 1.0]),
       combos=st.lists(st.sampled_from(ALL_COMBO_TYPES), min_size=1, max_size=4, unique=True),
       pairs=st.sampled_from([(), ("WBTC/USDC",)]), expiries=st.integers(1, 3),
       strikes=st.integers(3, 7), binaries=st.booleans(), puts=st.booleans(),
       replication=st.booleans())
def test_allowance_is_rule_2s_rho_on_random_mixes(seed, orders, combo_share, combos, pairs,
                                                   expiries, strikes, binaries, puts,
                                                   replication):
    book = generate_book(Recipe(seed=seed, orders=orders, combo_share=combo_share,
                                combo_types=tuple(combos), pairs=pairs, expiries=expiries,
                                strikes_per_expiry=strikes, include_binaries=binaries,
                                include_puts=puts, limit_places=4))
    _assert_same(book, replication)
