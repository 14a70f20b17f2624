"""Property: at any settlement price, the expiry of the auction's positions (on a store) pays
each client its lockup plus its payoff — in value at S, to within one precision unit of
rounding that the clearing house keeps — and every currency sums to zero."""

from __future__ import annotations

import shutil
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.cash import MovementOrigin
from background.operations import Operations
from coordinator.clock import ManualClock
from coordinator.persistence import Store
from coordinator.persistence.migrate import upgrade
from coordinator.settings import Settings
from tests.background.conftest import EXPIRY, FIX, PAIR, trade

LOCKUP = {1: (0, Fraction(0)), 2: (0, Fraction(3000)), 3: (1, Fraction(3800))}  # U WETH, C USDC


def payoff(client: int, s: Fraction) -> Fraction:
    call, put = max(s - 2800, Fraction(0)), max(3400 - s, Fraction(0))
    return {1: call + 2 * put, 2: -call + (s - 3000), 3: -2 * put - (s - 3000)}[client]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = tmp_path_factory.mktemp("tpl") / "traded.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    upgrade(store.engine)
    trade(store, ManualClock(0))
    store.dispose()
    return path


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cents=st.integers(1, 2_000_000))
def test_expiry_pays_lockup_plus_payoff_at_any_price(template, tmp_path, cents):
    s = Fraction(cents, 100)
    db = tmp_path / f"e{cents}.sqlite3"
    shutil.copy(template, db)
    store = Store.open(f"sqlite:///{db}")
    try:
        ops = Operations(store, Settings(database_url="sqlite://"),
                         ManualClock(FIX + 11 * 60_000), sources=[])
        out = ops.set_settlement_price(EXPIRY, PAIR, Decimal(cents) / 100, "prop", "test")
        assert out["settlement"]["status"] == "SETTLED"
        with store.read() as tx:
            moves = [m for _, _, m in tx.movements(MovementOrigin.EXPIRY)]
    finally:
        store.dispose()
    assert sum(m.underlying_amount for m in moves) == 0
    assert sum(m.strike_amount for m in moves) == 0
    for m in moves:
        if m.client_id == 0:
            continue
        assert m.underlying_amount <= 0 and m.strike_amount <= 0  # nobody pays in at expiry
        got = Fraction(-m.underlying_amount, 10**7) * s + Fraction(-m.strike_amount, 10**4)
        u, c = LOCKUP[m.client_id]
        due = u * s + c + payoff(m.client_id, s)
        assert due >= 0  # the lockup covers the worst case
        # rounding in the clearing house's favour: at most one unit of each currency
        assert due - (Fraction(1, 10**4) + s / 10**7) <= got <= due
