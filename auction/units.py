"""Fixed-point conversions at the edge: decimal strings in, integer lots and ticks inside.

Nothing here rounds silently: a value that is not an exact multiple of its step raises
:class:`PrecisionError`. Rounding, where a caller wants it, states its direction by name.

Decimal arithmetic rounds to the *current context* (28 significant digits by default, and a
caller may lower it). The domain therefore never multiplies, adds or normalises Decimals in the
ambient context: it works in integers or :class:`~fractions.Fraction`, or in :data:`EXACT` (a
context that cannot round: its precision is the maximum and rounding raises). Division is never
done in :data:`EXACT` (a quotient like 1/3 would need unbounded digits).
"""

from __future__ import annotations

from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
)
from fractions import Fraction

#: Exact Decimal arithmetic for ``add``, ``subtract`` and ``multiply`` (never ``divide``):
#: the result keeps every digit and exponent the default context would give when it does not
#: round; any rounding would raise instead.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN,
                traps=[InvalidOperation, DivisionByZero, Overflow, Inexact, Rounded])


#: **The range of amounts — said once, here.** Every amount the venue holds is an integer
#: count of its step (ticks of a price, lots of a quantity, precision units of a currency, a
#: book's money scale) and that count fits a signed 64-bit integer, |n| <= ``MAX_UNITS``: the
#: store's BIGINT columns, the matcher's int64 arrays and the chain's int256 all hold it.
#: :func:`to_steps` (every conversion to steps) refuses a count beyond it, and
#: :func:`parse_decimal` (every decimal read from a file, the API or the command line) refuses
#: a decimal beyond ``MAX_AMOUNT`` in size or with more than ``MAX_PLACES`` digits after the
#: point before any arithmetic is done with it.
MAX_UNITS = 2**63 - 1
MAX_AMOUNT = Decimal(10**12)
MAX_PLACES = 30


class PrecisionError(ValueError):
    """A decimal value is not a whole multiple of its step (tick, lot, currency precision)."""


class RangeError(PrecisionError):
    """An amount beyond the range of amounts (``MAX_AMOUNT``, ``MAX_PLACES``, ``MAX_UNITS``)."""


def check_units(n: int, what: str = "value") -> int:
    """``n`` when it is within the range of amounts in steps, else RangeError."""
    if not -MAX_UNITS <= n <= MAX_UNITS:
        raise RangeError(f"{what}: {n} steps is beyond the range of amounts "
                         f"(at most {MAX_UNITS} steps)")
    return n


def parse_decimal(value: object, what: str = "value") -> Decimal:
    """Parse a wire decimal (string or int; never float) into an exact, finite Decimal."""
    if isinstance(value, bool | float):
        raise ValueError(f"{what}: expected a decimal string, got {type(value).__name__} {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected a decimal string, got {type(value).__name__}")
    try:
        d = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ValueError(f"{what}: {value!r} is not a finite number")
    exp = d.as_tuple().exponent
    if isinstance(exp, int) and exp < -MAX_PLACES and decimal_places(d) > MAX_PLACES:
        raise RangeError(f"{what}: {value!r} has more than {MAX_PLACES} decimal places")
    if d.adjusted() >= 13 or abs(d) > MAX_AMOUNT:  # adjusted() first: no huge arithmetic
        raise RangeError(f"{what}: {value!r} is beyond the range of amounts "
                         f"(at most {fmt(MAX_AMOUNT)} in absolute value)")
    return d


def to_steps(value: Decimal, step: Decimal, what: str = "value") -> int:
    """``value / step`` as an exact integer; raises PrecisionError when it is not whole."""
    if step <= 0:
        raise ValueError(f"{what}: step must be positive, got {step}")
    n, rem = divmod(Fraction(value), Fraction(step))
    if rem:
        raise PrecisionError(f"{what}: {value} is not a multiple of {step}")
    return check_units(int(n), what)


def steps_floor(value: Decimal | Fraction, step: Decimal) -> int:
    """The largest n with n·step <= value (rounds toward minus infinity)."""
    return int(Fraction(value) // Fraction(step))


def steps_ceil(value: Decimal | Fraction, step: Decimal) -> int:
    """The smallest n with n·step >= value (rounds toward plus infinity)."""
    return -int(-Fraction(value) // Fraction(step))


def decimal_places(value: Decimal) -> int:
    """Digits after the decimal point needed to write ``value`` exactly (0 for integers)."""
    _, digits, exp = value.as_tuple()
    if not isinstance(exp, int):
        raise ValueError(f"{value} is not a finite number")
    coefficient = "".join(map(str, digits)).rstrip("0")
    if not coefficient:
        return 0
    return max(0, -(exp + len(digits) - len(coefficient)))


def check_precision(value: Decimal, places: int, what: str = "value") -> None:
    """Reject a value with more than ``places`` digits after the point."""
    if decimal_places(value) > places:
        raise PrecisionError(f"{what}: {value} has more than {places} decimal places")


def fmt(value: Decimal | Fraction | int) -> str:
    """A canonical decimal string (no exponent, no trailing zeros) for the wire.

    Exact for any number of digits (integer work, no Decimal context); a Fraction without a
    finite decimal form raises PrecisionError.
    """
    if isinstance(value, Fraction):
        n, places = finite_decimal(value)
    elif isinstance(value, Decimal):
        sign, digits, exp = value.as_tuple()
        if not isinstance(exp, int):
            raise ValueError(f"{value} is not a finite number")
        n = int("".join(map(str, digits))) * (-1 if sign else 1)
        if exp >= 0:
            n, places = n * 10**exp, 0
        else:
            places = -exp
    else:
        n, places = int(value), 0
    return _digits(n, places)


def finite_decimal(value: Fraction) -> tuple[int, int]:
    """``(n, places)`` with ``value == n / 10**places``; PrecisionError when there is none."""
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        raise PrecisionError(f"{value} has no finite decimal form")
    places = max(twos, fives)
    return value.numerator * 10**places // value.denominator, places


def _digits(n: int, places: int) -> str:
    """``n / 10**places`` written out, trailing zeros after the point dropped; "0" for zero."""
    if n == 0:
        return "0"
    sign = "-" if n < 0 else ""
    s = str(abs(n))
    if not places:
        return sign + s
    s = s.rjust(places + 1, "0")
    whole, frac = s[:-places], s[-places:].rstrip("0")
    return sign + whole + ("." + frac if frac else "")


def to_decimal(value: Fraction | int) -> Decimal:
    """The exact Decimal of a finite decimal (PrecisionError otherwise); no context involved."""
    n, places = finite_decimal(Fraction(value))
    return Decimal(f"{n}E-{places}")
