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

import gc
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from itertools import repeat
from math import ceil, gcd
from typing import Any

from auction.book import Book, BookError, range_problems
from auction.orders import Leg, Order, Side, TimeInForce, orders_from_columns
from auction.products import Contract, CurrencyPair, Payoff, format_expiry, parse_expiry
from auction.result import ClearingResult, Fill, surplus, volume
from auction.units import MAX_PLACES, MAX_UNITS, PrecisionError, fmt, parse_decimal

_CONTRACT_KEYS = {"contractId", "payoff", "currencyPair", "expiry", "strike", "tickSize",
                  "lotSize", "referencePrice", "lowRange", "highRange"}
_CONTRACT_REQUIRED = _CONTRACT_KEYS - {"strike"}
_ORDER_KEYS = {"orderId", "clientId", "totalNetPrice", "timeInForce", "legs", "allOrNone",
               "minQuantity", "reduceOnly", "iocAuctionTime"}
_ORDER_REQUIRED = {"orderId", "clientId", "totalNetPrice", "legs"}
_LEG_KEYS = {"contractId", "side", "quantity"}
_BOOK_KEYS = {"contracts", "orders", "params"}
_RESULT_KEYS = {"status", "prices", "fills", "uncleared", "volume", "surplus", "timings", "params"}


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
        n = int(value)
    except ValueError:
        raise ValueError(f"{what}: expected an integer, got {str(value)[:40]!r}") from None
    if not -MAX_UNITS <= n <= MAX_UNITS:  # the store keeps ids as signed 64-bit integers
        raise ValueError(f"{what}: {n} is beyond the range of ids (a signed 64-bit integer)")
    return n


def contract_from_dict(d: Mapping[str, Any]) -> Contract:
    payoff = d["payoff"]
    if not isinstance(payoff, str) or payoff not in Payoff._value2member_map_:
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
        if not isinstance(tif, str) or tif not in TimeInForce._value2member_map_:
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


# ---- the fast path: one pass, integers, shared legs ---------------------------------------
#
# A book of a million orders repeats a few thousand distinct legs: the reader turns each
# distinct leg into one shared :class:`Leg` (lots by integer arithmetic, no Fraction) and each
# order into one :class:`Order` with its ``totalNetPrice`` as the one Decimal it keeps. Anything
# unusual (a minQuantity, a value of another type, a problem) goes to the strict path below,
# which gives the same orders and names every problem with its path.

_ABSENT = object()
_ORDER_FIELDS = ("orderId", "clientId", "totalNetPrice", "timeInForce", "legs", "allOrNone",
                 "minQuantity", "reduceOnly", "iocAuctionTime")
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
# a decimal that is finite, has at most MAX_PLACES places and is below 10**13 in magnitude
_PLAIN_PRICE = re.compile(f"-?[0-9]{{1,13}}(?:\\.[0-9]{{1,{MAX_PLACES}}})?").fullmatch
_TIFS = {str(t): t for t in TimeInForce}


class RawLeg(tuple):
    """A leg object as :func:`loads` read it: ``(contractId, side, quantity)`` as in the file,
    of the types int, str, str exactly (anything else stays a dict for the strict path)."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(("contractId", "side", "quantity"), self, strict=True))


class RawOrder(tuple):
    """An order object as :func:`loads` read it: its values in ``_ORDER_FIELDS`` order (absent
    keys as a marker), legs as a tuple of :class:`RawLeg` — a fraction of a dict's memory."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in zip(_ORDER_FIELDS, self, strict=True) if v is not _ABSENT}
        d["legs"] = [leg.as_dict() for leg in d["legs"]]
        return d


def _compact_hook() -> Any:
    """A ``json`` object hook that keeps orders and legs compact (equal legs shared)."""
    legs_memo: dict[Any, Any] = {}

    def hook(d: dict[str, Any]) -> Any:
        if len(d) == 3 and d.keys() == _LEG_KEYS:
            t = (d["contractId"], d["side"], d["quantity"])
            if type(t[0]) is not int or type(t[1]) is not str or type(t[2]) is not str:
                return d  # (True == 1 would share a leg): the strict path says what is wrong
            leg = legs_memo.get(t)
            if leg is None:
                leg = legs_memo[t] = RawLeg(t)
            return leg
        legs = d.get("legs")
        if (type(legs) is list and legs and _ORDER_REQUIRED <= d.keys() <= _ORDER_KEYS
                and all(type(leg) is RawLeg for leg in legs)):
            get = d.get
            return RawOrder((d["orderId"], d["clientId"], d["totalNetPrice"],
                             get("timeInForce", _ABSENT), share(legs), get("allOrNone", _ABSENT),
                             get("minQuantity", _ABSENT), get("reduceOnly", _ABSENT),
                             get("iocAuctionTime", _ABSENT)))
        return d

    def leg(t: tuple[int, str, str]) -> RawLeg:
        """The one :class:`RawLeg` of ``(contractId, side, quantity)`` (types exact)."""
        leg = legs_memo.get(t)
        if leg is None:
            leg = legs_memo[t] = RawLeg(t)
        return leg

    def share(legs: list[RawLeg]) -> tuple[RawLeg, ...]:
        """The one tuple of these legs (equal legs tuples shared)."""
        key = tuple(legs)
        shared = legs_memo.get(key)
        if shared is None:
            shared = legs_memo[key] = key
        return shared

    hook.share, hook.leg = share, leg  # type: ignore[attr-defined]  # for _scan_orders
    return hook


def loads(text: str | bytes) -> Any:
    """``json.loads`` for book files: orders and legs come out compact (:class:`RawOrder`,
    :class:`RawLeg`, read by :func:`book_from_dict` like the dicts they replace); everything
    else as ``json.loads`` gives it.

    A book's orders array is first scanned by :func:`_scan_orders` (``re.split`` over pieces
    of the array, the fields in columns: no Python call per JSON object); a text it cannot
    vouch for takes the object hook's path, which gives the same values (and the same
    errors)."""
    import json

    hook = _compact_hook()
    with _gc_paused():
        if isinstance(text, str):
            doc = _scan_book(text, hook)
            if doc is not None:
                return doc
        return json.loads(text, object_hook=hook)


# One order exactly as ``json.dumps`` writes :func:`order_to_dict`'s dict (default separators):
# JSON integers, a decimal string, the time in force, the legs array (checked by the JSON
# decoder, once per distinct text) and the optional flags. Anything else (another key order,
# other spacing inside the object, a minQuantity, an escape in a string) is decoded by the JSON
# decoder with the object hook, as before: the scan only takes a shortcut for the usual text.
_WS = "[ \t\n\r]*"  # JSON whitespace (``\s`` would also take what JSON refuses)
_INT = "(-?(?:0|[1-9][0-9]*))"
_ORDER_RE = (
    _WS + '\\{"orderId": ' + _INT + ', "clientId": ' + _INT
    + ', "totalNetPrice": "([0-9.eE+-]+)"(?:, "timeInForce": "([A-Z_]+)")?'
    + ', "legs": (\\[[^\\[\\]"]*(?:"[A-Za-z0-9./+-]*"[^\\[\\]"]*)*\\])'
    + '(?:, "allOrNone": (true|false))?(?:, "reduceOnly": (true|false))?'
    + '(?:, "iocAuctionTime": ' + _INT + ')?\\}' + _WS + "([,\\]])")
_BOOLS = {"true": True, "false": False, None: _ABSENT}
_LEG_RE = '\\{"contractId": ' + _INT + ', "side": "([A-Z]+)", "quantity": "([0-9.eE+-]+)"\\}'
_LEG_TEXT = '\\{"contractId": -?(?:0|[1-9][0-9]*), "side": "[A-Z]+", "quantity": "[0-9.eE+-]+"\\}'
_LEGS_FULL = re.compile(f"\\[{_LEG_TEXT}(?:, {_LEG_TEXT})*\\]").fullmatch
_LEGS_ALL = re.compile(_LEG_RE).findall


def _scan_book(text: str, hook: Any) -> Any:
    """The document of ``text`` with its top-level ``orders`` array read by :func:`_scan_orders`
    (values as the object hook gives them); None when the text is not a book this can read
    exactly (then the caller decodes it the ordinary way)."""
    import json

    key = '"orders"'
    at = text.find(key)
    if at < 0 or text.find(key, at + 1) >= 0:  # the one "orders" of the text: the book's key
        return None
    m = re.compile(_WS + ":" + _WS + "\\[").match(text, at + len(key))
    if m is None or (at and text[at - 1] == "\\"):
        return None
    marker = f"orders scanned {uuid.uuid4().hex}"
    if marker in text:
        return None
    try:
        orders, end = _scan_orders(text, m.end(), hook)
        doc = json.loads(text[:m.end() - 1] + json.dumps(marker) + text[end:],
                         object_hook=hook)
    except ValueError:  # a JSON error: the ordinary decoder reports it
        return None
    # the object that holds the marker (a book, or a scenario's "book"; a later duplicate key
    # "orders", written with an escape, would have replaced it: then the ordinary decoder)
    todo = [doc]
    while todo:
        obj = todo.pop()
        values = obj.values() if type(obj) is dict else obj if type(obj) is list else ()
        if type(obj) is dict and obj.get("orders") == marker:
            obj["orders"] = orders
            return doc
        todo.extend(v for v in values if type(v) is dict or type(v) is list)
    return None


_SCAN_CHUNK = 1 << 24  # characters of the orders array split at a time (bounded transients)


def _scan_orders(text: str, pos: int, hook: Any) -> tuple[list[Any], int]:
    """The orders of the JSON array whose ``[`` ends just before ``pos``, and the position after
    its ``]``. Each order is a :class:`RawOrder` (or what the object hook makes of it), equal
    legs shared as the hook shares them. Raises ValueError on anything the JSON decoder would
    refuse.

    ``re.split`` over pieces of the array (each ending just after a ``,`` that ends a line,
    never inside a string, so the strings of one piece are alive at a time): the usual orders
    are its matches (their fields in columns, converted by C-level maps), anything between two
    matches is decoded by the JSON decoder and must be whole orders, each followed by a comma,
    so matches and decoded orders tile the array exactly as the JSON grammar reads it."""
    import json

    space = re.compile(_WS)
    if text.startswith("]", space.match(text, pos).end()):
        return [], space.match(text, pos).end() + 1
    split = re.compile(_ORDER_RE).split
    tail_re = re.compile(_WS + "([,\\]])")
    decoder = json.JSONDecoder(object_hook=hook)
    orders: list[Any] = []
    legs_of: dict[str, Any] = {}
    while True:
        cut = text.find(",\n", pos + _SCAN_CHUNK)
        end = len(text) if cut < 0 else cut + 1
        closed, at = _scan_piece(text[pos:end], split, hook, decoder, space, tail_re, orders,
                                 legs_of)
        if closed:
            return orders, pos + at
        if end == len(text):
            raise ValueError("the orders array does not end")
        pos = end


def _scan_piece(piece: str, split: Any, hook: Any, decoder: Any, space: Any, tail_re: Any,
                orders: list[Any], legs_of: dict[str, Any]) -> tuple[bool, int]:
    """Append the orders of one piece of the array; whether the array ended in it, and where
    (the position in the piece just after its ``]``). A piece that does not end the array
    ends just after a comma. ``legs_of``: the legs tuple of each legs text met so far."""
    parts = split(piece)
    width = 10  # a gap and the pattern's 9 groups
    n = (len(parts) - 1) // width
    for t in set(parts[5::width]).difference(legs_of):  # each distinct legs text once
        legs = legs_of[t] = _scan_legs(t, hook)
        if legs is False:  # a legs text the shortcut cannot take: decode it all
            raise ValueError("not the usual legs")
    bools = _BOOLS
    raw = list(map(RawOrder, zip(
        map(int, parts[1::width]), map(int, parts[2::width]), parts[3::width],
        [_ABSENT if t is None else t for t in parts[4::width]],
        map(legs_of.__getitem__, parts[5::width]), map(bools.__getitem__, parts[6::width]),
        repeat(_ABSENT, n), map(bools.__getitem__, parts[7::width]),
        [_ABSENT if t is None else int(t) for t in parts[8::width]], strict=True)))
    seps = parts[9::width]
    gaps = parts[::width]  # gaps[k] before match k; gaps[n] after the last match
    del parts
    if "]" in seps[:-1]:
        raise ValueError("orders after the end of the array")
    after = len(piece) - len(gaps[n])  # just after the last match
    if not any(gaps[:n]) and n and (seps[-1] == "]" or not gaps[n]):
        orders.extend(raw)  # the usual piece: every order a match
        return seps[-1] == "]", after
    for k in range(n + 1):  # some orders are decoded: in file order, between the matches
        gap = gaps[k]
        at = 0
        while at < len(gap):
            start = space.match(gap, at).end()
            if start == len(gap):
                break
            if k == n and n and seps[-1] == "]":
                return True, after  # the rest of the document follows the array
            obj, at = decoder.raw_decode(gap, start)
            orders.append(obj)
            t = tail_re.match(gap, at)
            if t is None:
                raise ValueError("expected , or ] after an order")
            at = t.end()
            if t.group(1) == "]":
                if k < n:
                    raise ValueError("orders after the end of the array")
                return True, after + at
        if k < n:
            orders.append(raw[k])
    return bool(n) and seps[-1] == "]", after


def _scan_legs(legs_text: str, hook: Any) -> Any:
    """The shared legs tuple of one order's ``legs`` text, as the object hook makes it; False
    when the text is not a non-empty array of compact legs (the order is then decoded whole).
    The usual text (``json.dumps`` of the legs' dicts) by a regular expression, the rest by the
    JSON decoder."""
    import json

    if _LEGS_FULL(legs_text) is not None:
        leg = hook.leg
        return hook.share([leg((int(c), side, qty)) for c, side, qty in _LEGS_ALL(legs_text)])
    try:
        legs = json.loads(legs_text, object_hook=hook)
    except ValueError:
        return False
    if not legs or not all(type(leg) is RawLeg for leg in legs):
        return False
    return hook.share(legs)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a large book's objects are made (they form no
    cycles; otherwise its passes over millions of new objects cost a quarter of the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _FastOrders:
    """Orders from :class:`RawOrder` values with per-book caches; ``None`` means "take the
    strict path" (which then reports the problem, if there is one)."""

    def __init__(self, contracts: Mapping[int, Contract]):
        self.contracts = contracts
        self.lot = {cid: c.lot_size.as_integer_ratio() for cid, c in contracts.items()}
        self.legs: dict[tuple[RawLeg, ...], tuple[Leg, ...] | None] = {}
        self.leg: dict[RawLeg, Leg | None] = {}
        self.legs_by_id: dict[int, tuple[tuple[RawLeg, ...], tuple[Leg, ...] | None]] = {}

    def all(self, raw: list[Any]) -> list[Order]:
        """Every order of ``raw`` column by column when all are :class:`RawOrder` values of the
        usual types that :meth:`order` takes one by one (and gives equal orders); else an
        empty list (the caller then reads them one by one)."""
        n = len(raw)
        if not n or list(map(type, raw)).count(RawOrder) != n:
            return []
        oid, client, tnp, tif, raw_legs, aon, min_qty, reduce_only, ioc = map(list, zip(*raw, strict=True))
        absent = type(_ABSENT)
        if (set(map(type, oid)) | set(map(type, client)) != {int}
                or set(map(type, tnp)) != {str} or min_qty.count(_ABSENT) != n
                or min(oid) < -MAX_UNITS or max(oid) > MAX_UNITS
                or min(client) < -MAX_UNITS or max(client) > MAX_UNITS
                or not set(map(type, tif)) <= {str, absent}
                or not set(map(type, aon)) <= {bool, absent}
                or not set(map(type, reduce_only)) <= {bool, absent}
                or not set(map(type, ioc)) <= {int, absent}
                or None in map(_PLAIN_PRICE, tnp)):
            return []
        tifs = list(map({_ABSENT: TimeInForce.GOOD_TILL_CANCEL, **_TIFS}.get, tif))
        if None in tifs:
            return []
        legs_of: dict[int, tuple[Leg, ...] | None] = {}
        for t in raw_legs:
            if id(t) not in legs_of:
                legs_of[id(t)] = self._legs(t)
        if None in legs_of.values():
            return []
        flag = {_ABSENT: False, True: True, False: False}.__getitem__
        try:
            return orders_from_columns(
                oid, client, list(map(Decimal, tnp)), list(map(legs_of.__getitem__, map(id, raw_legs))),
                tifs, list(map(flag, aon)), list(map(flag, reduce_only)),
                [None if t is _ABSENT else t for t in ioc])
        except ValueError:
            return []

    def order(self, raw: RawOrder) -> Order | None:
        oid, client, tnp, tif, raw_legs, aon, min_qty, reduce_only, ioc = raw
        if (type(oid) is not int or type(client) is not int or type(tnp) is not str
                or min_qty is not _ABSENT or not -MAX_UNITS <= oid <= MAX_UNITS
                or not -MAX_UNITS <= client <= MAX_UNITS):  # the strict reader names the problem
            return None
        if tif is _ABSENT:
            tif = TimeInForce.GOOD_TILL_CANCEL
        else:
            tif = _TIFS.get(tif) if type(tif) is str else None
            if tif is None:
                return None
        if aon is _ABSENT:
            aon = False
        elif type(aon) is not bool:
            return None
        if reduce_only is _ABSENT:
            reduce_only = False
        elif type(reduce_only) is not bool:
            return None
        if ioc is _ABSENT:
            ioc = None
        elif type(ioc) is not int:
            return None
        hit = self.legs_by_id.get(id(raw_legs))  # shared tuples: no hash of nested tuples
        if hit is not None and hit[0] is raw_legs:
            legs = hit[1]
        else:
            try:
                legs = self.legs[raw_legs]
            except KeyError:
                legs = self.legs[raw_legs] = self._legs(raw_legs)
            self.legs_by_id[id(raw_legs)] = (raw_legs, legs)
        if legs is None:
            return None
        try:
            price = Decimal(tnp)
        except ArithmeticError:
            return None
        if _PLAIN_PRICE(tnp) is None and (  # a plain decimal of the usual size passes at once
                not price.is_finite() or price.as_tuple().exponent < -MAX_PLACES
                or price.adjusted() >= 13):  # near the range of amounts: the strict reader says
            return None
        try:
            return Order(oid, client, price, legs, tif, aon, 0, reduce_only, ioc)
        except ValueError:
            return None

    def _legs(self, raw_legs: tuple[RawLeg, ...]) -> tuple[Leg, ...] | None:
        out = []
        for raw in raw_legs:
            try:
                leg = self.leg[raw]
            except KeyError:
                leg = self.leg[raw] = self._leg(raw)
            if leg is None:
                return None
            out.append(leg)
        if len(out) > 1:
            out.sort(key=lambda leg: leg.contract_id)
        return tuple(out)

    def _leg(self, raw: RawLeg) -> Leg | None:
        cid, side, qty = raw
        if type(cid) is not int or cid not in self.contracts or type(qty) is not str:
            return None
        side = _SIDES.get(side) if type(side) is str else None
        if side is None:
            return None
        try:
            q = Decimal(qty)
        except ArithmeticError:
            return None
        if not q.is_finite() or q <= 0:
            return None
        n, d = q.as_integer_ratio()
        ln, ld = self.lot[cid]
        lots, rem = divmod(n * ld, d * ln)  # quantity / lot_size, exactly
        return None if rem else Leg(cid, side, lots)


def _raw_order(o: Any) -> RawOrder | None:
    """A plain order dict in the compact form (None: not the usual shape)."""
    if type(o) is RawOrder:
        return o
    if not isinstance(o, Mapping) or not _ORDER_REQUIRED <= o.keys() <= _ORDER_KEYS:
        return None
    legs = o["legs"]
    if type(legs) is not list or not legs:
        return None
    raw_legs = []
    for leg in legs:
        if not isinstance(leg, Mapping) or leg.keys() != _LEG_KEYS:
            return None
        t = RawLeg((leg["contractId"], leg["side"], leg["quantity"]))
        if type(t[0]) is not int or type(t[1]) is not str or type(t[2]) is not str:
            return None  # only exact types: equal RawLegs must mean equal legs (True == 1)
        raw_legs.append(t)
    return RawOrder(o.get(k, _ABSENT) if k != "legs" else tuple(raw_legs)
                    for k in _ORDER_FIELDS)


def book_from_dict(data: Any) -> tuple[Book, dict[str, Any]]:
    """Parse a book; returns the book and its optional ``params`` (raw, for the solver).

    Orders may be dicts or, from :func:`loads`, compact :class:`RawOrder` values."""
    with _gc_paused():
        return _book_from_dict(data)


def _book_from_dict(data: Any) -> tuple[Book, dict[str, Any]]:
    problems = _Problems()
    if not problems.keys("book", data, _BOOK_KEYS, {"contracts", "orders"}):
        raise BookError(problems.items)
    for name in ("contracts", "orders"):
        if not isinstance(data[name] or [], list):
            problems.add(name, f"expected a list, got {type(data[name]).__name__}")
    if problems.items:
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
    # a contract with its own problem is not "unknown" to the orders on it: say it once
    broken = set()
    known = {str(k) for k in contracts}
    for c in data["contracts"] or []:
        cid = c.get("contractId") if isinstance(c, Mapping) else None
        if isinstance(cid, int | str) and not isinstance(cid, bool) \
                and str(cid).strip() not in known:
            broken.add(f"unknown contract {str(cid).strip()}")
    shown = len(problems.items)
    fast = _FastOrders(contracts)
    orders = fast.all(data["orders"] or [])
    append = orders.append
    for i, o in enumerate(data["orders"] or [] if not orders else []):
        raw = _raw_order(o)
        if raw is not None:
            order = fast.order(raw)
            if order is not None:
                append(order)
                continue
            if type(o) is RawOrder:
                o = o.as_dict()
        if isinstance(o, Mapping) and isinstance(o.get("legs"), list):  # RawLegs to dicts
            o = {**o, "legs": [leg.as_dict() if type(leg) is RawLeg else leg
                               for leg in o["legs"]]}
        path = f"orders[{i}]"
        if problems.keys(path, o, _ORDER_KEYS, _ORDER_REQUIRED):
            order = _order_from_dict(o, contracts, path, problems)
            if order is not None:
                orders.append(order)
    if broken:
        problems.items[shown:] = [p for p in problems.items[shown:]
                                  if p.split(": ", 1)[-1] not in broken]
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        problems.add("params", "expected an object")
    if problems.items:
        raise BookError(problems.items)
    book = Book(contracts, tuple(orders))
    beyond = range_problems(book)  # the range of amounts the matcher holds (auction.units)
    if beyond:
        raise BookError(beyond)
    return book, dict(params)


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


def result_json_chunks(book: Book, result: ClearingResult, *, status: str,
                       timings: Mapping[str, float] | None = None,
                       params: Mapping[str, Any] | None = None,
                       volume_lots: int | None = None, surplus_lots: int | None = None,
                       batch: int = 4096) -> Iterator[str]:
    """The text of ``json.dumps(result_to_dict(...), indent=1) + "\n"``, in pieces, without
    building the result's dict: the fills are written ``batch`` at a time, each distinct
    leg's text made once. ``volume_lots`` / ``surplus_lots`` when the caller has them already.
    Byte for byte the same file (the tests compare both on every golden scenario)."""
    import json

    def field(key: str, value: Any, last: bool = False) -> str:
        text = json.dumps(value, indent=1).replace("\n", "\n ")
        return f" {json.dumps(key)}: {text}" + ("\n" if last else ",\n")

    prices = {str(cid): fmt(book.contracts[cid].price(t)) for cid, t in result.prices.items()}
    yield "{\n" + field("status", status) + field("prices", prices)
    if not result.fills:
        yield ' "fills": [],\n'
    else:
        yield ' "fills": [\n'
        legs_text: dict[tuple[int, str, int], str] = {}
        contracts = book.contracts
        order_of = book.order
        parts: list[str] = []
        for n, f in enumerate(result.fills):
            order_legs = order_of(f.order_id).legs
            if len(order_legs) == 1:  # one leg: a package is one lot
                leg = order_legs[0]
                keys = [(leg.contract_id, leg.side, f.packages)]
            else:
                q = gcd(*[leg.lots for leg in order_legs])
                keys = [(leg.contract_id, leg.side, leg.lots // q * f.packages)
                        for leg in order_legs]
            legs = []
            for key in keys:
                text = legs_text.get(key)
                if text is None:
                    quantity = fmt(contracts[key[0]].quantity(key[2]))
                    text = legs_text[key] = (
                        f'    {{\n     "contractId": {key[0]},\n     "side": '
                        f'{json.dumps(str(key[1]))},\n     "quantity": {json.dumps(quantity)}'
                        '\n    }')
                legs.append(text)
            parts.append(f'  {{\n   "orderId": {f.order_id},\n   "legs": [\n'
                         + ",\n".join(legs) + "\n   ]\n  }")
            if len(parts) == batch:
                yield ",\n".join(parts) + (",\n" if n + 1 < len(result.fills) else "\n")
                parts = []
        if parts:
            yield ",\n".join(parts) + "\n"
        yield " ],\n"
    yield (field("uncleared", sorted(result.uncleared))
           + field("volume", fmt(Decimal(volume(book, result) if volume_lots is None
                                         else volume_lots)))
           + field("surplus", fmt(Decimal(surplus(book, result) if surplus_lots is None
                                          else surplus_lots)))
           + field("timings", dict(timings or {})) + field("params", dict(params or {}),
                                                           last=True) + "}\n")


def result_from_dict(book: Book, data: Mapping[str, Any]) -> ClearingResult:
    """Read a result back against its book (prices to ticks, leg quantities to packages)."""
    problems = _Problems()
    if not problems.keys("result", data, _RESULT_KEYS, {"prices", "fills"}):
        raise BookError(problems.items)
    for name, kind in (("prices", Mapping), ("fills", list), ("uncleared", list)):
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            problems.add(name, f"expected {'an object' if kind is Mapping else 'a list'}")
    if problems.items:
        raise BookError(problems.items)
    prices: dict[int, int] = {}
    for key, value in (data.get("prices") or {}).items():
        try:
            cid = _int(key, "contractId")
            if cid not in book.contracts:
                raise ValueError(f"no contract {cid} in the book")
            prices[cid] = book.contracts[cid].ticks(parse_decimal(value, "price"))
        except ValueError as e:
            problems.add(f"prices.{key}", str(e))
    fills: list[Fill] = []
    for i, f in enumerate(data.get("fills") or []):
        try:
            oid = _int(f["orderId"], "orderId")
            if oid not in book._by_id:
                raise ValueError(f"no order {oid} in the book")
            order = book.order(oid)
            lots = {int(leg["contractId"]): book.contracts[int(leg["contractId"])].lots(
                parse_decimal(leg["quantity"], "quantity")) for leg in f["legs"]}
            packages = {lots[leg.contract_id] // abs(a) for a, leg in
                        zip(order.ratios, order.legs, strict=True)}
            if len(packages) != 1 or any(lots[leg.contract_id] % abs(a) for a, leg in
                                         zip(order.ratios, order.legs, strict=True)):
                raise ValueError("leg quantities are not one whole number of packages")
            fills.append(Fill(order.order_id, packages.pop()))
        except ValueError as e:
            problems.add(f"fills[{i}]", str(e))
        except KeyError as e:
            problems.add(f"fills[{i}]", f"missing field or leg {e}")
    if problems.items:
        raise BookError(problems.items)
    return ClearingResult(prices, tuple(fills), frozenset(data.get("uncleared") or ()))
