"""Expiry (collateral.md §5): payoffs, lockup release, one movement per client × pair × expiry."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.cash import MovementOrigin, PositionChange
from auction.products import CurrencyPair
from tests.validator.collateral.helpers import BTC, CUR, T, contract
from tests.validator.collateral.test_movements import batches
from validator.collateral.errors import CollateralError
from validator.collateral.expiry import expire
from validator.collateral.lockup import Lockup
from validator.collateral.movements import batch_movements
from validator.collateral.positions import BucketKey, Positions

U, N = 10**8, 10**4
CALL = contract(1, "Call", 15, ref="10", high="100")
SETUP = Positions.of({(1, 1): 20, (2, 1): -20})


def run(positions, s, contracts=None, **kw):
    return expire(positions, contracts or {1: CALL}, pair=str(BTC), expiry=T,
                  settlement_price=Decimal(s), **kw)


def test_in_the_money_call_loser_pays_from_its_underlying():
    ex = run(SETUP, 25)
    by = {m.client_id: m for m in ex.movements}
    assert ex.payoffs == {1: Decimal(200), 2: Decimal(-200)}
    assert (by[1].underlying_amount, by[1].strike_amount) == (0, -200 * N)
    # 200 USDC at 25 = 8 WBTC out of the 20 locked; 12 come back
    assert (by[2].underlying_amount, by[2].strike_amount) == (-12 * U, 0)
    assert by[2].positions == (PositionChange(1, 20 * U),)
    assert by[1].origin is MovementOrigin.EXPIRY and by[1].origin_id == 20300304
    # the house held the 20 WBTC: it pays back 12 and the 200 USDC, keeping 8 WBTC (= 200 at S)
    assert (ex.clearing_house.underlying_amount, ex.clearing_house.strike_amount) == (12 * U,
                                                                                     200 * N)
    assert ex.released[BucketKey(2, str(BTC), T)] == Lockup(20 * U, 0)
    assert not ex.positions.holdings


def test_out_of_the_money_releases_everything():
    ex = run(SETUP, 10)
    by = {m.client_id: m for m in ex.movements}
    assert (by[2].underlying_amount, by[2].strike_amount) == (-20 * U, 0)
    assert (by[1].underlying_amount, by[1].strike_amount) == (0, 0)


def test_short_put_pays_from_numeraire_and_rounds_against_the_client():
    put = contract(1, "Put", "100", lot="1")
    pos = Positions.of({(1, 1): 1, (2, 1): -1})
    ex = run(pos, "33.33333", {1: put})
    by = {m.client_id: m for m in ex.movements}
    # payoff 66.66667: the winner gets 66.6666 (down), the loser pays 66.6667 (up)
    assert by[1].strike_amount == -666_666
    assert by[2].strike_amount == -(1_000_000 - 666_667)
    assert ex.clearing_house.strike_amount == 999_999  # of the 1,000,000 it held: 1 unit kept


def test_only_the_given_pair_and_expiry_and_stored_lockups():
    other = contract(2, "Call", 15, expiry=T.replace(year=2031))
    pos = Positions.of({(1, 1): 20, (2, 1): -20, (2, 2): -1})
    ex = run(pos, 25, {1: CALL, 2: other})
    assert set(ex.positions.holdings) == {(2, 2)}
    assert run(ex.positions, 25, {1: CALL, 2: other}).movements == ()  # re-run: nothing
    with pytest.raises(CollateralError):  # a lockup that does not cover is refused
        run(SETUP, 25, lockups={BucketKey(2, str(BTC), T): Lockup(1 * U, 0)})


@settings(max_examples=100, deadline=None)
@given(batches(), st.integers(0, 400), st.sampled_from(["0", "0.37", "0.5"]))
def test_batch_then_expiry_conserves_and_the_house_never_loses(data, s, frac):
    book, result, _ = data
    cash = batch_movements(book, result, Positions(), batch_id=1)
    price = Decimal(s) + Decimal(frac)
    flows = list(cash.all_movements())
    pos = cash.positions
    for pair in ("WBTC/USDC", "WETH/USDC"):
        ex = expire(pos, book.contracts, pair=pair, expiry=T, settlement_price=price)
        totals: dict[str, int] = defaultdict(int)
        for m in ex.all_movements():
            p = CurrencyPair.parse(m.pair)
            totals[p.underlying] += m.underlying_amount
            totals[p.numeraire] += m.strike_amount
            assert (m.underlying_amount <= 0 and m.strike_amount <= 0) or m.client_id == 0
        assert all(v == 0 for v in totals.values())
        flows += ex.all_movements()
        pos = ex.positions
    assert not pos.holdings
    # each client's total over batch + expiry equals its trading result, up to rounding
    # against it; the house ends with a non-negative value (the dust) at S
    house = Fraction(0)
    for m in flows:
        if m.client_id == 0:
            u, n = CUR[CurrencyPair.parse(m.pair).underlying], CUR["USDC"]
            house -= Fraction(m.underlying_amount, 10**u.precision) * Fraction(price) \
                + Fraction(m.strike_amount, 10**n.precision)
    assert house >= 0
