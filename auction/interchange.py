"""The book and result interchange format (JSON-ready dicts; decimals travel as strings).

Book::

    {"contracts": [{"contractId", "payoff", "currencyPair", "expiry": "yyyymmdd", "strike"?,
                    "tickSize", "lotSize", "referencePrice", "lowRange", "highRange"}],
     "orders": [{"orderId", "clientId", "totalNetPrice", "timeInForce"?,
                 "legs": [{"contractId", "side", "quantity"}], "allOrNone"?, "minQuantity"?,
                 "reduceOnly"?, "iocAuctionTime"? (epoch ms, GOOD_TILL_DATE's time)}],
     "params": {...}?}

Result::

    {"status", "prices": {"<contractId>": "<decimal>"},
     "fills": [{"orderId", "legs": [{"contractId", "side", "quantity"}]}],
     "volume", "surplus", "timings": {...}, "params": {...}}

Parsing is strict: an unknown key, a missing field or a bad value raises :class:`BookError`
listing every problem with its path (``orders[3].legs[0].quantity: …``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from math import ceil
from typing import Any

from auction.book import Book, BookError
from auction.orders import Leg, Order, Side, TimeInForce
from auction.products import Contract, CurrencyPair, Payoff, format_expiry, parse_expiry
from auction.result import ClearingResult, Fill, surplus, volume
from auction.units import PrecisionError, fmt, parse_decimal

_CONTRACT_KEYS = {"contractId", "payoff", "currencyPair", "expiry", "strike", "tickSize",
                  "lotSize", "referencePrice", "lowRange", "highRange"}
_CONTRACT_REQUIRED = _CONTRACT_KEYS - {"strike"}
_ORDER_KEYS = {"orderId", "clientId", "totalNetPrice", "timeInForce", "legs", "allOrNone",
               "minQuantity", "reduceOnly", "iocAuctionTime"}
_ORDER_REQUIRED = {"orderId", "clientId", "totalNetPrice", "legs"}
_LEG_KEYS = {"contractId", "side", "quantity"}
_BOOK_KEYS = {"contracts", "orders", "params"}


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def keys(self, path: str, obj: Any, allowed: set[str], required: set[str]) -> bool:
        if not isinstance(obj, Mapping):
            self.add(path, f"expected an object, got {type(obj).__name__}")
            return False
        ok = True
        for k in sorted(set(obj) - allowed):
            self.add(path, f"unknown key {k!r}")
            ok = False
        for k in sorted(required - set(obj)):
            self.add(path, f"missing field {k!r}")
            ok = False
        return ok


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{what}: expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{what}: expected an integer, got {value!r}") from None


def contract_from_dict(d: Mapping[str, Any]) -> Contract:
    payoff = d["payoff"]
    if payoff not in Payoff._value2member_map_:
        raise ValueError(f"payoff {payoff!r} is not one of {', '.join(Payoff)}")
    strike = d.get("strike")
    return Contract(
        contract_id=_int(d["contractId"], "contractId"),
        payoff=Payoff(payoff),
        pair=CurrencyPair.parse(d["currencyPair"]),
        expiry=parse_expiry(d["expiry"]),
        strike=None if strike is None else parse_decimal(strike, "strike"),
        tick_size=parse_decimal(d["tickSize"], "tickSize"),
        lot_size=parse_decimal(d["lotSize"], "lotSize"),
        reference_price=parse_decimal(d["referencePrice"], "referencePrice"),
        low_range=parse_decimal(d["lowRange"], "lowRange"),
        high_range=parse_decimal(d["highRange"], "highRange"),
    )


def contract_to_dict(c: Contract) -> dict[str, Any]:
    d: dict[str, Any] = {"contractId": c.contract_id, "payoff": str(c.payoff),
                         "currencyPair": str(c.pair), "expiry": format_expiry(c.expiry)}
    if c.strike is not None:
        d["strike"] = fmt(c.strike)
    d.update(tickSize=fmt(c.tick_size), lotSize=fmt(c.lot_size),
             referencePrice=fmt(c.reference_price), lowRange=fmt(c.low_range),
             highRange=fmt(c.high_range))
    return d


def _order_from_dict(d: Mapping[str, Any], contracts: Mapping[int, Contract], path: str,
                     problems: _Problems) -> Order | None:
    legs: list[Leg] = []
    raw_legs = d["legs"]
    if not isinstance(raw_legs, list) or not raw_legs:
        problems.add(f"{path}.legs", "an order needs at least one leg")
        return None
    for j, leg in enumerate(raw_legs):
        lp = f"{path}.legs[{j}]"
        if not problems.keys(lp, leg, _LEG_KEYS, _LEG_KEYS):
            return None
        try:
            cid = _int(leg["contractId"], "contractId")
            if cid not in contracts:
                raise ValueError(f"unknown contract {cid}")
            if leg["side"] not in ("BUY", "SELL"):
                raise ValueError(f"side {leg['side']!r} is not BUY or SELL")
            qty = parse_decimal(leg["quantity"], "quantity")
            if qty <= 0:
                raise ValueError(f"quantity {qty} is not positive")
            legs.append(Leg(cid, Side(leg["side"]), contracts[cid].lots(qty)))
        except (ValueError, PrecisionError) as e:
            problems.add(lp, str(e))
            return None
    legs.sort(key=lambda leg: leg.contract_id)
    try:
        tif = d.get("timeInForce", "GOOD_TILL_CANCEL")
        if tif not in TimeInForce._value2member_map_:
            raise ValueError(f"timeInForce {tif!r} is not one of {', '.join(TimeInForce)}")
        aon = d.get("allOrNone", False)
        if not isinstance(aon, bool):
            raise ValueError(f"allOrNone must be true or false, got {aon!r}")
        reduce_only = d.get("reduceOnly", False)
        if not isinstance(reduce_only, bool):
            raise ValueError(f"reduceOnly must be true or false, got {reduce_only!r}")
        ioc_time = d.get("iocAuctionTime")
        order = Order(
            order_id=_int(d["orderId"], "orderId"),
            client_id=_int(d["clientId"], "clientId"),
            total_net_price=parse_decimal(d["totalNetPrice"], "totalNetPrice"),
            legs=tuple(legs),
            time_in_force=TimeInForce(tif),
            all_or_none=aon,
            reduce_only=reduce_only,
            good_till_ms=None if ioc_time is None else _int(ioc_time, "iocAuctionTime"),
        )
        if "minQuantity" in d:
            order = _with_min_quantity(order, parse_decimal(d["minQuantity"], "minQuantity"),
                                       contracts)
        return order
    except ValueError as e:
        problems.add(path, str(e))
        return None


def _with_min_quantity(order: Order, min_qty: Decimal, contracts: Mapping[int, Contract]) -> Order:
    """``minQuantity`` is measured on the first leg; it becomes a minimum number of packages."""
    first = order.legs[0]
    per_package = abs(order.ratios[0]) * Fraction(contracts[first.contract_id].lot_size)
    if min_qty <= 0:
        raise ValueError(f"minQuantity {min_qty} is not positive")
    packages = ceil(Fraction(min_qty) / per_package)  # exact: no Decimal context
    if packages > order.packages:
        raise ValueError(f"minQuantity {min_qty} exceeds the order's size")
    return replace(order, min_packages=packages)


def book_from_dict(data: Any) -> tuple[Book, dict[str, Any]]:
    """Parse a book; returns the book and its optional ``params`` (raw, for the solver)."""
    problems = _Problems()
    if not problems.keys("book", data, _BOOK_KEYS, {"contracts", "orders"}):
        raise BookError(problems.items)
    contracts: dict[int, Contract] = {}
    for i, c in enumerate(data["contracts"] or []):
        path = f"contracts[{i}]"
        if not problems.keys(path, c, _CONTRACT_KEYS, _CONTRACT_REQUIRED):
            continue
        try:
            contract = contract_from_dict(c)
        except (ValueError, KeyError) as e:
            problems.add(path, str(e))
            continue
        if contract.contract_id in contracts:
            problems.add(path, f"duplicate contractId {contract.contract_id}")
            continue
        contracts[contract.contract_id] = contract
    orders: list[Order] = []
    for i, o in enumerate(data["orders"] or []):
        path = f"orders[{i}]"
        if problems.keys(path, o, _ORDER_KEYS, _ORDER_REQUIRED):
            order = _order_from_dict(o, contracts, path, problems)
            if order is not None:
                orders.append(order)
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        problems.add("params", "expected an object")
    if problems.items:
        raise BookError(problems.items)
    return Book(contracts, tuple(orders)), dict(params)


def order_to_dict(order: Order, contracts: Mapping[int, Contract]) -> dict[str, Any]:
    d: dict[str, Any] = {
        "orderId": order.order_id, "clientId": order.client_id,
        "totalNetPrice": fmt(order.total_net_price), "timeInForce": str(order.time_in_force),
        "legs": [{"contractId": leg.contract_id, "side": str(leg.side),
                  "quantity": fmt(contracts[leg.contract_id].quantity(leg.lots))}
                 for leg in order.legs],
    }
    if order.all_or_none:
        d["allOrNone"] = True
    if order.min_packages:
        first = order.legs[0]
        d["minQuantity"] = fmt(contracts[first.contract_id].quantity(
            order.min_packages * abs(order.ratios[0])))
    if order.reduce_only:
        d["reduceOnly"] = True
    if order.good_till_ms is not None:
        d["iocAuctionTime"] = order.good_till_ms
    return d


def book_to_dict(book: Book, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "contracts": [contract_to_dict(c) for c in book.contracts.values()],
        "orders": [order_to_dict(o, book.contracts) for o in book.orders],
    }
    if params:
        d["params"] = dict(params)
    return d


def result_to_dict(book: Book, result: ClearingResult, *, status: str,
                   timings: Mapping[str, float] | None = None,
                   params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    fills = []
    for f in result.fills:
        order = book.order(f.order_id)
        fills.append({"orderId": f.order_id, "legs": [
            {"contractId": leg.contract_id, "side": str(leg.side),
             "quantity": fmt(book.contracts[leg.contract_id].quantity(abs(a) * f.packages))}
            for a, leg in zip(order.ratios, order.legs, strict=True)]})
    return {
        "status": status,
        "prices": {str(cid): fmt(book.contracts[cid].price(t)) for cid, t in result.prices.items()},
        "fills": fills,
        "uncleared": sorted(result.uncleared),
        "volume": fmt(Decimal(volume(book, result))),
        "surplus": fmt(Decimal(surplus(book, result))),
        "timings": dict(timings or {}),
        "params": dict(params or {}),
    }


def result_from_dict(book: Book, data: Mapping[str, Any]) -> ClearingResult:
    """Read a result back against its book (prices to ticks, leg quantities to packages)."""
    problems = _Problems()
    prices: dict[int, int] = {}
    for key, value in (data.get("prices") or {}).items():
        try:
            cid = _int(key, "contractId")
            prices[cid] = book.contracts[cid].ticks(parse_decimal(value, "price"))
        except (ValueError, KeyError) as e:
            problems.add(f"prices.{key}", str(e) or "unknown contract")
    fills: list[Fill] = []
    for i, f in enumerate(data.get("fills") or []):
        try:
            order = book.order(_int(f["orderId"], "orderId"))
            lots = {int(leg["contractId"]): book.contracts[int(leg["contractId"])].lots(
                parse_decimal(leg["quantity"], "quantity")) for leg in f["legs"]}
            packages = {lots[leg.contract_id] // abs(a) for a, leg in
                        zip(order.ratios, order.legs, strict=True)}
            if len(packages) != 1 or any(lots[leg.contract_id] % abs(a) for a, leg in
                                         zip(order.ratios, order.legs, strict=True)):
                raise ValueError("leg quantities are not one whole number of packages")
            fills.append(Fill(order.order_id, packages.pop()))
        except (ValueError, KeyError) as e:
            problems.add(f"fills[{i}]", str(e))
    if problems.items:
        raise BookError(problems.items)
    return ClearingResult(prices, tuple(fills), frozenset(data.get("uncleared") or ()))
