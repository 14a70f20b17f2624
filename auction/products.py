"""Currencies, pairs, contracts and their payoffs (auction.md §1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from auction.units import EXACT, steps_ceil, steps_floor, to_steps

EXPIRY_TIME_UTC = time(12, 0)


@dataclass(frozen=True, slots=True)
class Currency:
    """A token: ``decimals`` on chain, ``precision`` digits accepted on the wire."""

    symbol: str
    decimals: int
    precision: int

    @property
    def quantum(self) -> Decimal:
        """The smallest amount the wire accepts (10^-precision)."""
        return Decimal(1).scaleb(-self.precision)


DEFAULT_CURRENCIES: dict[str, Currency] = {
    "USDC": Currency("USDC", 6, 4),
    "WETH": Currency("WETH", 18, 7),
    "WBTC": Currency("WBTC", 8, 8),
}


@dataclass(frozen=True, slots=True)
class CurrencyPair:
    """``UNDERLYING/NUMERAIRE``; every price is numeraire per unit of underlying."""

    underlying: str
    numeraire: str

    @classmethod
    def parse(cls, text: str) -> CurrencyPair:
        if not isinstance(text, str):
            raise ValueError(f"currency pair {text!r} is not of the form UNDERLYING/NUMERAIRE")
        parts = text.split("/")
        if len(parts) != 2 or not all(p and p.isalnum() for p in parts):
            raise ValueError(f"currency pair {text!r} is not of the form UNDERLYING/NUMERAIRE")
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{self.underlying}/{self.numeraire}"


class Payoff(StrEnum):
    CALL = "Call"
    PUT = "Put"
    FORWARD = "Forward"
    BINARY_CALL = "BinaryCall"
    BINARY_PUT = "BinaryPut"

    @property
    def is_binary(self) -> bool:
        return self in (Payoff.BINARY_CALL, Payoff.BINARY_PUT)

    @property
    def is_option(self) -> bool:
        return self in (Payoff.CALL, Payoff.PUT)


def expiry_datetime(expiry: date) -> datetime:
    """Every contract expires at 12:00 UTC on its expiry date."""
    return datetime.combine(expiry, EXPIRY_TIME_UTC, tzinfo=UTC)


def parse_expiry(text: str | int) -> date:
    """``yyyymmdd`` (wire form) to a date."""
    s = str(text)
    if len(s) != 8 or not s.isdigit():
        raise ValueError(f"expiry {text!r} is not yyyymmdd")
    try:
        return date(int(s[:4]), int(s[4:6]), int(s[6:]))
    except ValueError as e:
        raise ValueError(f"expiry {text!r}: {e}") from None


def format_expiry(expiry: date) -> str:
    return expiry.strftime("%Y%m%d")


@dataclass(frozen=True, slots=True)
class Contract:
    """A listed contract. Prices are integer ticks and quantities integer lots inside."""

    contract_id: int
    payoff: Payoff
    pair: CurrencyPair
    expiry: date
    strike: Decimal | None
    tick_size: Decimal
    lot_size: Decimal
    reference_price: Decimal
    low_range: Decimal
    high_range: Decimal

    def __post_init__(self) -> None:
        cid = self.contract_id
        if not 0 <= cid < 2**32:
            raise ValueError(f"contract {cid}: contractId must fit uint32")
        if self.tick_size <= 0 or self.lot_size <= 0:
            raise ValueError(f"contract {cid}: tickSize and lotSize must be positive")
        if (self.payoff is Payoff.FORWARD) != (self.strike is None):
            raise ValueError(f"contract {cid}: a {self.payoff} " + (
                "has no strike" if self.payoff is Payoff.FORWARD else "needs a strike"))
        if self.strike is not None and self.strike <= 0:
            raise ValueError(f"contract {cid}: strike must be positive")
        if self.low_range > self.high_range:
            raise ValueError(f"contract {cid}: crossed price band "
                             f"lowRange {self.low_range} > highRange {self.high_range}")
        if self.band_ticks[0] > self.band_ticks[1]:
            raise ValueError(f"contract {cid}: price band [{self.low_range}, "
                             f"{self.high_range}] contains no tick of {self.tick_size}")
        if self.payoff.is_binary and (self.low_range < 0 or self.high_range > 1):
            raise ValueError(f"contract {cid}: a binary's price band must lie within [0, 1]")
        if not self.low_range <= self.reference_price <= self.high_range:
            raise ValueError(f"contract {cid}: referencePrice {self.reference_price} "
                             f"outside the band [{self.low_range}, {self.high_range}]")

    @property
    def band_ticks(self) -> tuple[int, int]:
        """The band as whole ticks: lowest and highest admissible price, inclusive."""
        return (steps_ceil(self.low_range, self.tick_size),
                steps_floor(self.high_range, self.tick_size))

    @property
    def reference_ticks(self) -> Fraction:
        """The reference price in (possibly fractional) ticks, exactly."""
        return Fraction(self.reference_price) / Fraction(self.tick_size)

    def price(self, ticks: int) -> Decimal:
        """``ticks · tick_size`` exactly (the tick's exponent, whatever the digits)."""
        return EXACT.multiply(ticks, self.tick_size)

    def ticks(self, price: Decimal) -> int:
        return to_steps(price, self.tick_size, f"contract {self.contract_id} price")

    def quantity(self, lots: int) -> Decimal:
        """``lots · lot_size`` exactly."""
        return EXACT.multiply(lots, self.lot_size)

    def lots(self, quantity: Decimal) -> int:
        return to_steps(quantity, self.lot_size, f"contract {self.contract_id} quantity")

    def payoff_per_unit(self, settlement: Decimal, traded_price: Decimal = Decimal(0)) -> Decimal:
        """Payoff of one long unit at settlement price S (auction.md §1).

        For a forward ``traded_price`` is the forward level F (long receives S − F).
        BinaryCall pays 1 when S > K, BinaryPut when S <= K, so the two sum to exactly 1.
        Exact whatever the digits (no rounding to the Decimal context).
        """
        s, k = settlement, self.strike
        match self.payoff:
            case Payoff.CALL:
                return max(EXACT.subtract(s, k), Decimal(0))
            case Payoff.PUT:
                return max(EXACT.subtract(k, s), Decimal(0))
            case Payoff.FORWARD:
                return EXACT.subtract(s, traded_price)
            case Payoff.BINARY_CALL:
                return Decimal(1) if s > k else Decimal(0)
            case Payoff.BINARY_PUT:
                return Decimal(1) if s <= k else Decimal(0)
        raise AssertionError(self.payoff)

    def end_of_trading(self, period: timedelta = timedelta(hours=12)) -> datetime:
        """When the contract stops taking orders (default 12 h before expiry)."""
        return expiry_datetime(self.expiry) - period
