"""``validator.collateral.money``: exact decimals of fractions."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from validator.collateral.errors import UnitsError
from validator.collateral.money import to_decimal


@given(st.integers(-10**30, 10**30), st.integers(0, 40), st.integers(0, 40))
def test_to_decimal_is_exact_with_the_fewest_places(n, twos, fives):
    f = Fraction(n, 2**twos * 5**fives)
    d = to_decimal(f)
    assert Fraction(d) == f
    k = -d.as_tuple().exponent
    assert k >= 0
    # no fewer places can hold it: f · 10^(k-1) is not an integer
    assert k == 0 or (f * 10 ** (k - 1)).denominator != 1


@given(st.integers(-10**12, 10**12), st.sampled_from([3, 7, 6, 12, 15, 2**5 * 3]))
def test_to_decimal_refuses_what_has_no_finite_decimal(n, den):
    f = Fraction(n, den)
    if f.denominator in (1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 40, 50):
        assert Fraction(to_decimal(f)) == f
        return
    with pytest.raises(UnitsError):
        to_decimal(f)


def test_to_decimal_examples():
    assert str(to_decimal(Fraction(1, 8))) == "0.125"
    assert str(to_decimal(Fraction(-3, 20))) == "-0.15"
    assert str(to_decimal(Fraction(1200))) == "1200"
    assert str(to_decimal(Decimal("2.50"))) == "2.5"
    assert to_decimal(0) == 0
