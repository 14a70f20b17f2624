"""Fixed-point conversions at the edge: decimal strings in, integer lots and ticks inside.

Nothing here rounds silently: a value that is not an exact multiple of its step raises
:class:`PrecisionError`. Rounding, where a caller wants it, states its direction by name.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction


class PrecisionError(ValueError):
    """A decimal value is not a whole multiple of its step (tick, lot, currency precision)."""


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
    return d


def to_steps(value: Decimal, step: Decimal, what: str = "value") -> int:
    """``value / step`` as an exact integer; raises PrecisionError when it is not whole."""
    q = value / step if step else None
    if q is None or step <= 0:
        raise ValueError(f"{what}: step must be positive, got {step}")
    n, rem = divmod(Fraction(value), Fraction(step))
    if rem:
        raise PrecisionError(f"{what}: {value} is not a multiple of {step}")
    return int(n)


def steps_floor(value: Decimal | Fraction, step: Decimal) -> int:
    """The largest n with n·step <= value (rounds toward minus infinity)."""
    return int(Fraction(value) // Fraction(step))


def steps_ceil(value: Decimal | Fraction, step: Decimal) -> int:
    """The smallest n with n·step >= value (rounds toward plus infinity)."""
    return -int(-Fraction(value) // Fraction(step))


def decimal_places(value: Decimal) -> int:
    """Digits after the decimal point needed to write ``value`` exactly (0 for integers)."""
    exp = value.normalize().as_tuple().exponent
    return max(0, -int(exp))


def check_precision(value: Decimal, places: int, what: str = "value") -> None:
    """Reject a value with more than ``places`` digits after the point."""
    if decimal_places(value) > places:
        raise PrecisionError(f"{what}: {value} has more than {places} decimal places")


def fmt(value: Decimal | Fraction | int) -> str:
    """A canonical decimal string (no exponent, no trailing zeros) for the wire."""
    if isinstance(value, Fraction):
        if value.denominator != 1 and (10**30 * value).denominator != 1:
            raise PrecisionError(f"{value} has no finite decimal form")
        value = Decimal(value.numerator) / Decimal(value.denominator)
    d = Decimal(value)
    s = format(d.normalize(), "f")
    return "0" if s in ("-0", "") else s
