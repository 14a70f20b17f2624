"""Pre-trade check (collateral.md §6) and the Black-76 risk view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from auction.orders import Side
from tests.validator.collateral.helpers import BTC, T, contract
from validator.collateral import black76
from validator.collateral.errors import CollateralError
from validator.collateral.funds import FundsState
from validator.collateral.positions import Position, Positions
from validator.collateral.pretrade import CurrencyState, LegRequest, TradeRequest, validate_trade
from validator.collateral.risk import risk_view

C = {1: contract(1, "Call", 6000, tick="0.5", lot="0.01", high="2000"),
     2: contract(2, "Put", 6000, tick="0.5", lot="0.01", high="2000")}
NOW = datetime(2030, 3, 1, tzinfo=UTC)
FUNDS = FundsState().deposit(1, "USDC", 10_000 * 10**4)  # 10,000 USDC


def req(tnp, *legs):
    return TradeRequest(1, Decimal(tnp), tuple(LegRequest(c, Side(s), Decimal(q))
                                               for c, s, q in legs))


def check(r, now=NOW, funds=FUNDS):
    return validate_trade(r, C, funds, now=now)


def test_valid_order_shows_before_and_after():
    res = check(req("110", (1, "BUY", "1")))
    assert res.is_valid and res.failures == ()
    assert res.before == (CurrencyState("USDC", Decimal(0), Decimal(10000)),
                          CurrencyState("WBTC", Decimal(0), Decimal(0)))
    assert res.after[0] == CurrencyState("USDC", Decimal(110), Decimal(9890))
    assert FUNDS.balance(1, "USDC").order_value == 0  # no side effect


def test_a_limit_off_the_tick_lattice_is_read_floored_onto_it():
    """Rule 11: 110.3 for 100 packages of one lot (lattice 0.01·0.5 = 0.005 per package) is
    1.103 per package, read as 1.100: valid; the lock is the limit as sent (it is a decimal)."""
    res = check(req("110.3", (1, "BUY", "1")))
    assert res.is_valid and res.failures == ()
    assert res.after[0] == CurrencyState("USDC", Decimal("110.3"), Decimal("9889.7"))
    sell = check(req("-0.3", (1, "SELL", "0.01")))  # receive at least 0.3: read as 0.5 (a tick)
    assert "INVALID_ORDER_PRICE" not in sell.codes and "PRICE_OUTSIDE_BAND" not in sell.codes


def test_insufficient_funds():
    res = check(req("-100", (2, "SELL", "2")))  # locks 12,000 USDC
    assert not res.is_valid and res.codes == ("INSUFFICIENT_FUNDS",)
    assert res.after == res.before


@pytest.mark.parametrize(("r", "code"), [
    (req("1", (9, "BUY", "1")), "INVALID_CONTRACT_ID"),
    (req("1", (1, "BUY", "0.001")), "INVALID_ORDER_QTY"),
    (req("1", (1, "BUY", "0.000000001")), "INVALID_ORDER_QTY_PRECISION"),
    (req("1", (1, "BUY", "-1")), "INVALID_ORDER_QTY"),
    (req("1.00001", (1, "BUY", "1")), "INVALID_ORDER_PRICE_PRECISION"),
    (req("2500", (1, "BUY", "1")), "PRICE_OUTSIDE_BAND"),
    (req("-1", (1, "BUY", "1")), "PRICE_OUTSIDE_BAND"),
    (TradeRequest(1, Decimal(1), ()), "INVALID_ORDER_LEGS"),
])
def test_failure_codes(r, code):
    res = check(r)
    assert not res.is_valid and code in res.codes


def test_trading_closed_then_expired():
    expiry_noon = datetime(T.year, T.month, T.day, 12, tzinfo=UTC)
    assert check(req("110", (1, "BUY", "1")), now=expiry_noon - timedelta(hours=11)).codes == (
        "TRADING_CLOSED",)
    assert check(req("110", (1, "BUY", "1")), now=expiry_noon).codes == ("EXPIRED_SERIES",)
    assert check(req("110", (1, "BUY", "1")), now=expiry_noon - timedelta(hours=13)).is_valid


def test_black76_parity_and_bounds():
    c, p = black76.call(100, 90, 0.5, 0.25), black76.put(100, 90, 0.5, 0.25)
    assert c - p == pytest.approx(10)
    assert 10 < c < 100
    assert black76.binary_call(100, 90, 0.5, 0.25) + black76.binary_put(100, 90, 0.5, 0.25) == 1
    assert black76.call(100, 90, 0.5, 0) == 10  # expired: intrinsic


def test_risk_view_four_corners():
    pos = Positions({(1, 1): Position(100), (1, 2): Position(-100)})  # synthetic long, 1 BTC
    rv = risk_view(pos, C, 1, spot={str(BTC): Decimal(6000)},
                   volatility={str(BTC): Decimal("0.6")}, now=NOW)
    assert rv.base_value == Decimal(0)
    assert len(rv.corners) == 4
    for corner in rv.corners:  # a synthetic forward moves 1:1 with spot, whatever the vol
        assert corner.value == pytest.approx(Decimal(6000) * corner.spot_shift, abs=Decimal("0.01"))
        assert isinstance(corner.value, Decimal)
    assert rv.worst_pnl == pytest.approx(Decimal(-600), abs=Decimal("0.01"))
    fwd = {3: contract(3, "Forward")}
    pos2 = Positions({(1, 3): Position(2, Fraction(5900), Fraction(-10))})
    rv2 = risk_view(pos2, fwd, 1, spot={str(BTC): Decimal(6000)},
                    volatility={str(BTC): Decimal("0.6")}, now=NOW)
    assert rv2.base_value == Decimal(190)
    with pytest.raises(CollateralError):
        risk_view(pos, C, 1, spot={}, volatility={}, now=NOW)


def test_price_outside_band_shows_exact_numbers():
    # never a rounded number in a message (issue 16, item 5): %g would print 1234.56
    res = check(req("1234.565", (1, "BUY", "0.01")))  # one lot, one package
    [failure] = res.failures
    assert failure.code == "PRICE_OUTSIDE_BAND"
    assert "limit per package 1234.565 outside the bands [0, 20]" in failure.detail
