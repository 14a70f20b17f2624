"""Cash movements of a batch (collateral.md §4): the five settlement vectors and properties."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.book import Book
from auction.cash import PositionChange
from auction.products import CurrencyPair
from auction.result import ClearingResult, Fill
from tests.validator.collateral.helpers import BTC, CUR, contract, order
from validator.collateral import CLEARING_HOUSE_ID
from validator.collateral.errors import CollateralError
from validator.collateral.fees import FeeSchedule
from validator.collateral.lockup import bucket_lockup
from validator.collateral.movements import batch_movements
from validator.collateral.positions import Position, Positions

CALL = contract(1, "Call", 15, ref="10", high="100")
U, N = 10**8, 10**4  # WBTC and USDC precision units


def run(orders, positions, price=10):
    book = Book({1: CALL}, tuple(orders))
    result = ClearingResult({1: price}, tuple(Fill(o.order_id, o.packages) for o in orders))
    return batch_movements(book, result, positions, batch_id=1)


SETUP = Positions.of({(1, 1): 20, (2, 1): -20})


def summary(cash):
    return {m.client_id: (Decimal(m.underlying_amount) / U, Decimal(m.strike_amount) / N)
            for m in cash.movements}


def after(cash):
    return {cl: p.lots for (cl, _), p in cash.positions.items()}


@pytest.mark.parametrize(("before", "orders", "moves", "positions"), [
    (Positions(), [order(1, 1, 220, (1, "BUY", 20)), order(2, 2, -180, (1, "SELL", 20))],
     {1: (0, 200), 2: (20, -200)}, {1: 20, 2: -20}),
    (SETUP, [order(1, 2, 110, (1, "BUY", 10)), order(2, 3, -90, (1, "SELL", 10))],
     {2: (-10, 100), 3: (10, -100)}, {1: 20, 2: -10, 3: -10}),
    (SETUP, [order(1, 3, 110, (1, "BUY", 10)), order(2, 1, -90, (1, "SELL", 10))],
     {3: (0, 100), 1: (0, -100)}, {1: 10, 2: -20, 3: 10}),
    (SETUP, [order(1, 2, 330, (1, "BUY", 30)), order(2, 3, -270, (1, "SELL", 30))],
     {2: (-20, 300), 3: (30, -300)}, {1: 20, 2: 10, 3: -30}),
    (SETUP, [order(1, 3, 330, (1, "BUY", 30)), order(2, 1, -270, (1, "SELL", 30))],
     {3: (0, 300), 1: (10, -300)}, {1: -10, 2: -20, 3: 30}),
], ids=["setup", "short partial exit", "long partial exit", "short to long", "long to short"])
def test_spec_settlement_vectors(before, orders, moves, positions):
    cash = run(orders, before)
    assert summary(cash) == {k: (Decimal(a), Decimal(b)) for k, (a, b) in moves.items()}
    assert after(cash) == positions
    for m in cash.movements:
        lots = sum(o.legs[0].signed_lots for o in orders if o.client_id == m.client_id)
        assert m.positions == (PositionChange(1, lots * U),)
    # the clearing house holds the posted collateral and nothing else here
    (house,) = cash.clearing_house
    assert house.client_id == CLEARING_HOUSE_ID
    assert house.underlying_amount == -sum(m.underlying_amount for m in cash.movements)
    assert house.strike_amount == 0


def test_replication_residual_goes_to_the_clearing_house():
    # A put bought against a call sold and a forward bought: K - F per unit stays with the house.
    put = contract(2, "Put", 100, ref="12", high="1000")
    call = contract(1, "Call", 100, ref="20", high="1000")
    fwd = contract(3, "Forward", ref="108", high="1000")
    orders = (order(1, 1, 12, (2, "BUY", 1)), order(2, 2, -20, (1, "SELL", 1)),
              order(3, 3, 108, (3, "BUY", 1)))
    book = Book({1: call, 2: put, 3: fwd}, orders)
    # parity: P = C - F + K = 20 - 108 + 100 = 12
    res = ClearingResult({1: 20, 2: 12, 3: 108}, tuple(Fill(o.order_id, 1) for o in orders))
    cash = batch_movements(book, res, Positions(), batch_id=7)
    (r,) = cash.residuals
    assert r.premiums == Decimal(-8)  # clients paid 12 - 20 = -8 net: the house pays K - F = -8
    assert r.dust == 0
    assert cash.positions.get(3, 3).entry_price == 108
    by = {m.client_id: m for m in cash.movements}
    assert by[3].strike_amount == 108 * N  # forward buyer locks F, pays no premium
    assert by[2].underlying_amount == U and by[2].strike_amount == -20 * N
    assert by[1].strike_amount == 12 * N


def test_premium_rounding_favours_the_venue():
    # lot 0.00001 BTC at price 3.33 USDC: 1 lot = 0.0000333 USDC, finer than 4 digits
    c = contract(1, "Call", 15, lot="0.00001", tick="0.01", ref="3.33", high="100")
    orders = (order(1, 1, "0.0000333", (1, "BUY", 1)), order(2, 2, "-0.0000333", (1, "SELL", 1)))
    book = Book({1: c}, orders)
    cash = batch_movements(book, ClearingResult({1: 333}, (Fill(1, 1), Fill(2, 1))),
                           Positions(), batch_id=1)
    by = {m.client_id: m for m in cash.movements}
    assert by[1].strike_amount == 1  # pays 0.0000333 -> 0.0001 (up)
    assert by[2].strike_amount == 0  # receives 0.0000333 -> 0 (less)
    assert by[2].underlying_amount == 1000  # 0.00001 BTC locked
    (r,) = cash.residuals
    assert r.dust == Decimal("0.0001") and cash.clearing_house[0].strike_amount == -1


def test_fees_charged_to_the_order_and_kept_by_the_house():
    orders = [order(1, 1, 220, (1, "BUY", 20)), order(2, 2, -180, (1, "SELL", 20))]
    book = Book({1: CALL}, tuple(orders))
    res = ClearingResult({1: 10}, (Fill(1, 20), Fill(2, 20)))
    cash = batch_movements(book, res, Positions(), batch_id=1,
                           fees=FeeSchedule(spot={str(BTC): Decimal(20)}))
    # 0.04 % × 20 × 20 = 0.16, under the cap 12.5 % × 200
    assert cash.fees == {1: Decimal("0.16"), 2: Decimal("0.16")}
    by = {m.client_id: m for m in cash.movements}
    assert by[1].strike_amount == 2_001_600 and by[2].strike_amount == -1_998_400
    assert cash.clearing_house[0].strike_amount == -3200


def test_clearing_house_may_not_trade():
    orders = (order(1, CLEARING_HOUSE_ID, 10, (1, "BUY", 1)),)
    with pytest.raises(CollateralError):
        run(orders, Positions())


# -- properties ----------------------------------------------------------------------------

CONTRACTS = {1: contract(1, "Call", 100, tick="0.5", lot="0.001", high="500"),
             2: contract(2, "Put", 100, tick="0.5", lot="0.001", high="500"),
             3: contract(3, "Forward", tick="0.25", lot="0.01", high="500"),
             4: contract(4, "BinaryCall", 120, tick="0.01", lot="0.5"),
             5: contract(5, "Call", 150, tick="0.5", lot="0.001", high="500"),
             6: contract(6, "Call", 2000, pair=CurrencyPair("WETH", "USDC"), tick="0.1",
                         lot="0.0001", high="5000")}


@st.composite
def batches(draw):
    """Random balanced fills: each trade is a buyer and a seller of the same contract, and
    random multi-leg orders are matched leg by leg against single-leg counterparties."""
    orders, fills, oid = [], [], 1
    prices = {cid: draw(st.integers(*c.band_ticks)) for cid, c in CONTRACTS.items()}
    for _ in range(draw(st.integers(1, 6))):
        legs = draw(st.lists(st.tuples(st.sampled_from([1, 2, 3, 4, 5]),
                                       st.sampled_from(["BUY", "SELL"]), st.integers(1, 4)),
                             min_size=1, max_size=3, unique_by=lambda t: t[0]))
        if draw(st.booleans()):
            legs = [(6, legs[0][1], legs[0][2])]
        client = draw(st.integers(1, 5))
        x = draw(st.integers(1, 3))
        tnp = sum((1 if s == "BUY" else -1) * q * x * CONTRACTS[c].lot_size
                  * CONTRACTS[c].price(prices[c]) for c, s, q in legs)
        orders.append(order(oid, client, tnp, *[(c, s, q * x) for c, s, q in legs]))
        fills.append(Fill(oid, draw(st.integers(1, orders[-1].packages))))
        oid += 1
        o, filled = orders[-1], fills[-1].packages
        for (c, s, _), a in zip(sorted(legs), o.ratios, strict=True):  # counterparties
            lots = abs(a) * filled
            cp = draw(st.integers(1, 5))
            other = "SELL" if s == "BUY" else "BUY"
            p = CONTRACTS[c].lot_size * CONTRACTS[c].price(prices[c])
            orders.append(order(oid, cp, (-1 if s == "BUY" else 1) * lots * p, (c, other, lots)))
            fills.append(Fill(oid, orders[-1].packages))
            oid += 1
    before = {(draw(st.integers(1, 5)), draw(st.sampled_from(sorted(CONTRACTS)))):
              draw(st.integers(-50, 50)) for _ in range(draw(st.integers(0, 4)))}
    return Book(CONTRACTS, tuple(orders)), ClearingResult(prices, tuple(fills)), before


@settings(max_examples=150, deadline=None)
@given(batches(), st.booleans())
def test_batch_conserves_every_currency(data, with_fees):
    book, result, before = data
    # before: a balanced book of positions against client 9 (so lockups are meaningful)
    pos = {}
    for (cl, cid), q in before.items():
        pos[(cl, cid)] = Position(q, Fraction(100) if cid == 3 else Fraction(0))
        pos[(9, cid)] = Position(pos.get((9, cid), Position(0)).lots - q)
    positions = Positions(pos)
    fees = FeeSchedule(spot={"WBTC/USDC": Decimal("101.5"), "WETH/USDC": Decimal(2000)}) \
        if with_fees else None
    cash = batch_movements(book, result, positions, batch_id=1, fees=fees)
    totals: dict[str, int] = defaultdict(int)
    for m in cash.all_movements():
        pair = CurrencyPair.parse(m.pair)
        totals[pair.underlying] += m.underlying_amount
        totals[pair.numeraire] += m.strike_amount
    assert all(v == 0 for v in totals.values()), totals
    # the house's numeraire is exactly collateral + premiums + fees + dust, dust in [0, n)
    for r, house in zip(cash.residuals, cash.clearing_house, strict=True):
        n = sum(1 for m in cash.movements if m.pair == r.pair) or 1
        assert Decimal(0) <= r.dust < Decimal(n) / N
        assert -house.strike_amount == r.collateral_numeraire + (r.premiums + r.fees
                                                                 + r.dust) * N
        assert -house.underlying_amount == r.collateral_underlying
        if not with_fees:
            assert r.premiums == 0  # no replication across books here: premiums net out
    # lockups after are those of the positions after, and the positions moved by the deltas
    for key, lk in cash.lockups.items():
        assert lk == bucket_lockup(cash.positions, key, book.contracts, CUR)
    for m in cash.movements:
        for pc in m.positions:
            c = book.contracts[pc.contract_id]
            unit = 10 ** CUR[c.pair.numeraire if c.payoff.is_binary else c.pair.underlying].precision
            moved = cash.positions.get(m.client_id, c.contract_id).lots - positions.get(
                m.client_id, c.contract_id).lots
            assert pc.size == moved * c.lot_size * unit


