"""Wire conversions (api.md §0 and §4): decimals in, expiries both ways, contracts out."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from auction.products import Contract, Currency
from endpoint.errors import ApiError


def dec(value: Any, what: str, code: str = "INVALID_REQUEST_DATA") -> Decimal:
    """A decimal string or JSON number as an exact Decimal (a JSON number is read as the
    shortest decimal that prints it, i.e. as the client wrote it)."""
    if isinstance(value, bool) or value is None:
        raise ApiError(code, f"{what}: expected a decimal string or number")
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ApiError(code, f"{what}: {value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ApiError(code, f"{what}: {value!r} is not a finite number")
    return d


def signed_text(value: Any) -> str:
    """The text of a value as the client signed it (strings as sent)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)


def expiry_out(expiry: date, dialect: str) -> int:
    """Elektro ``yyyymmdd``; Ithaca ``yymmddHHM`` (every expiry is 12:00 UTC → ``…120``)."""
    if dialect == "ithaca":
        return int(expiry.strftime("%y%m%d") + "120")
    return int(expiry.strftime("%Y%m%d"))


def expiry_in(value: Any) -> date | None:
    """Either wire form (``yyyymmdd``, ``yymmddHHM``, ``yymmddHHMM``); 0/None/"" = every expiry."""
    if value in (None, "", 0, "0"):
        return None
    s = str(value).strip()
    try:
        if len(s) == 8 and s.isdigit():
            return datetime.strptime(s, "%Y%m%d").date()
        if len(s) in (9, 10) and s.isdigit():
            return datetime.strptime(s[:6], "%y%m%d").date()
    except ValueError:
        pass
    raise ApiError("INVALID_REQUEST_DATA", f"expiry {value!r} is neither yyyymmdd nor yymmddHHM")


def ms_to_date(ms: int) -> date:
    return (datetime(1970, 1, 1) + timedelta(milliseconds=ms)).date()


def qty_currency(c: Contract) -> str:
    return c.pair.numeraire if c.payoff.is_binary else c.pair.underlying


def contract_out(c: Contract, dialect: str, tradeable: bool) -> dict[str, Any]:
    econ: dict[str, Any] = {"currencyPair": str(c.pair), "expiry": expiry_out(c.expiry, dialect),
                            "priceCurrency": c.pair.numeraire, "qtyCurrency": qty_currency(c)}
    if c.strike is not None:
        econ["strike"] = c.strike
    return {"contractId": c.contract_id, "payoff": str(c.payoff), "economics": econ,
            "tradeable": tradeable, "tickSize": c.tick_size, "lotSize": c.lot_size}


def units(amount: int, currency: Currency) -> Decimal:
    return Decimal(amount).scaleb(-currency.precision)
