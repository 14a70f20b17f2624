"""Packing cash movements into batches: per Ledger, under the gas budget, split when needed."""

from __future__ import annotations

import pytest

from auction.cash import CashMovement, MovementOrigin, PositionChange
from settlement.deploy import Deployment
from settlement.errors import SettlementError
from settlement.port import InMemorySettlementStore
from settlement.service import (
    GAS_BASE,
    GAS_PER_FUND_MOVEMENT,
    GAS_PER_POSITION,
    ServiceConfig,
    SettlementService,
    estimate_gas,
)

A = "0x" + "11" * 20
DEP = Deployment(chain_id=1, start_block=1, fund_lock=A, admin=A, operator=A,
                 tokens={"WETH": A, "USDC": A, "WBTC": A},
                 ledgers={"WETH/USDC": A, "WBTC/USDC": A})


def _service(budget: int) -> SettlementService:
    store = InMemorySettlementStore({i: f"0x{i:040x}" for i in range(1, 500)})
    svc = SettlementService.__new__(SettlementService)  # planning needs no chain
    svc.dep, svc.port, svc.config = DEP, store, ServiceConfig(gas_budget=budget)
    return svc


def _m(cid, pair="WETH/USDC", n_pos=1, u=1, s=1):
    return CashMovement(cid, pair, MovementOrigin.BATCH, 7, u, s,
                        tuple(PositionChange(k, 1) for k in range(n_pos)))


def test_batches_respect_the_budget_and_keep_every_movement_once():
    budget = GAS_BASE + 5 * (GAS_PER_POSITION + GAS_PER_FUND_MOVEMENT)
    svc = _service(budget)
    moves = [_m(i) for i in range(1, 24)] + [_m(i, "WBTC/USDC") for i in range(30, 33)]
    plan = svc.plan(moves)
    assert [p for p, _ in plan] == ["WBTC/USDC"] + ["WETH/USDC"] * 5
    for _, parts in plan:
        assert estimate_gas(parts) <= budget
    keys = [part.movement_key for _, parts in plan for part in parts]
    assert sorted(keys) == sorted(m.key for m in moves)


def test_a_movement_larger_than_the_budget_is_split_with_its_funds_in_the_last_part():
    budget = GAS_BASE + GAS_PER_FUND_MOVEMENT + 10 * GAS_PER_POSITION
    svc = _service(budget)
    plan = svc.plan([_m(1, n_pos=25, u=5, s=-7)])
    parts = [part for _, ps in plan for part in ps]
    assert [len(p.positions) for p in parts] == [10, 10, 5]
    assert [(p.underlying_amount, p.strike_amount) for p in parts] == [(0, 0), (0, 0), (5, -7)]
    assert len(plan) == 3
    for _, ps in plan:
        assert estimate_gas(ps) <= budget


def test_empty_movements_are_skipped_and_unknown_pairs_refused():
    svc = _service(10_000_000)
    assert svc.plan([CashMovement(1, "WETH/USDC", MovementOrigin.BATCH, 1, 0, 0,
                                  (PositionChange(1, 0),))]) == []
    with pytest.raises(SettlementError, match="no Ledger for pair ETH/DAI"):
        svc.plan([_m(1, "ETH/DAI")])


def test_unknown_client_address_is_an_error():
    svc = _service(10_000_000)
    with pytest.raises(KeyError):
        svc.plan([_m(10_000)])
