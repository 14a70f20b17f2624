"""The one-pass book reader and the streamed result writer give exactly what the strict reader
and ``json.dumps(result_to_dict(...), indent=1)`` give: the same orders (or the same problems)
and the same bytes."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction import interchange
from auction.book import BookError
from auction.interchange import (
    RawOrder,
    book_from_dict,
    loads,
    result_json_chunks,
    result_to_dict,
)
from auction.result import ClearingResult, Fill, reference_tick
from coordinator.scenarios import load_scenario, scenario_files

ROOT = Path(__file__).resolve().parents[2]
DEMO = json.loads((ROOT / "scenarios" / "demo.json").read_text())


def _strict(data):
    """The strict path alone (the fast path switched off)."""
    saved = interchange._raw_order
    interchange._raw_order = lambda o: None
    try:
        return _outcome(data)
    finally:
        interchange._raw_order = saved


def _outcome(data):
    try:
        book, params = book_from_dict(data)
    except BookError as e:
        return ("error", e.problems)
    return ("ok", book, params, [(o, o.legs, str(o.total_net_price)) for o in book.orders])


_values = st.one_of(st.integers(-3, 12), st.sampled_from(
    ["1", "0.5", "0.05", "-3005", "3005", "2.0", "abc", "1e3", "NaN", "-1", "0", " 7 ",
     "BUY", "SELL", "buy", "GOOD_TILL_DATE", "DAY", "IMMEDIATE_OR_CANCEL", "X"]),
    st.booleans(), st.none(), st.just(1.5), st.just([1]))


@st.composite
def _orders(draw):
    """Demo orders with random mutations: changed values, dropped and extra keys."""
    orders = []
    for i, base in enumerate(draw(st.lists(st.sampled_from(DEMO["orders"]), min_size=1,
                                           max_size=8))):
        o = json.loads(json.dumps(base))
        o["orderId"] = 1000 + i
        for _ in range(draw(st.integers(0, 2))):
            legs = o.get("legs")
            where = draw(st.sampled_from(["order", "leg"])) \
                if isinstance(legs, list) and legs and isinstance(legs[0], dict) else "order"
            target = o if where == "order" else draw(st.sampled_from(legs))
            keys = (["orderId", "clientId", "totalNetPrice", "timeInForce", "allOrNone",
                     "minQuantity", "reduceOnly", "iocAuctionTime", "extra", "legs"]
                    if where == "order" else ["contractId", "side", "quantity", "extra"])
            key = draw(st.sampled_from(keys))
            if draw(st.booleans()) and key in target:
                del target[key]
            else:
                target[key] = draw(_values)
        orders.append(o)
    if (draw(st.booleans()) and len(orders) > 1 and isinstance(orders[0].get("legs"), list)
            and isinstance(orders[1].get("legs"), list)):  # a contract twice, unsorted legs
        orders[0]["legs"] = orders[0]["legs"] + orders[1]["legs"]
    return orders


@settings(max_examples=150, deadline=None)
@given(orders=_orders())
def test_fast_reader_equals_the_strict_reader(orders):
    data = {"contracts": DEMO["contracts"], "orders": orders}
    strict = _strict(data)
    assert _outcome(data) == strict  # plain dicts through the fast path
    assert _outcome(loads(json.dumps(data))) == strict  # the compact form


def test_loads_is_compact_and_shares_equal_legs():
    text = json.dumps({"contracts": DEMO["contracts"], "orders": DEMO["orders"] * 1,
                       "params": {"legs": 3}})
    data = loads(text)
    assert all(type(o) is RawOrder for o in data["orders"])
    assert data["params"] == {"legs": 3} and data["contracts"] == DEMO["contracts"]
    assert [o.as_dict() for o in data["orders"]] == [
        {k: v for k, v in o.items()} for o in DEMO["orders"]]
    a, b = loads(json.dumps({"x": [DEMO["orders"][0], DEMO["orders"][0]]}))["x"]
    assert a[4] is b[4]  # the legs tuple is one object


def test_book_orders_share_leg_objects():
    book, _ = book_from_dict(loads(json.dumps({"contracts": DEMO["contracts"],
                                               "orders": DEMO["orders"] * 1})))
    same = {}
    for o in book.orders:
        for leg in o.legs:
            same.setdefault(leg, leg)
            assert same[leg] is leg


def _text(book, result, **kw):
    return json.dumps(result_to_dict(book, result, **kw), indent=1) + "\n"


@pytest.mark.parametrize("path", scenario_files(ROOT / "scenarios" / "golden"),
                         ids=lambda p: p.stem)
def test_streamed_result_is_byte_identical_on_the_golden_scenarios(path):
    from solver_models import solve

    s = load_scenario(path)
    out = solve(s.book, s.params)
    kw = dict(status=str(out.status), timings=out.timings(), params=out.params.to_dict())
    want = _text(s.book, out.result, **kw)
    for batch in (1, 2, 4096):
        assert "".join(result_json_chunks(s.book, out.result, batch=batch, **kw)) == want


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0, 1), batch=st.integers(1, 7))
def test_streamed_result_is_byte_identical_on_random_fills(seed, share, batch):
    from solver_models.generator import Recipe, generate_book

    book = generate_book(Recipe(seed=seed % 7, orders=120))
    rng = random.Random(seed)
    fills = tuple(Fill(o.order_id, rng.randint(1, o.packages)) for o in book.orders
                  if rng.random() < share)
    uncleared = frozenset(rng.sample(sorted(book.contracts), rng.randint(0, 3)))
    result = ClearingResult({cid: reference_tick(c) for cid, c in book.contracts.items()},
                            fills, uncleared)
    kw = dict(status="OPTIMAL", timings={"total": 0.5}, params={"a": [1, {"b": None}]})
    try:
        want = _text(book, result, **kw)
    except KeyError:  # surplus of an order on an unpriced contract: both must refuse
        with pytest.raises(KeyError):
            "".join(result_json_chunks(book, result, **kw))
        return
    assert "".join(result_json_chunks(book, result, batch=batch, **kw)) == want


# ---- the scan of the orders array (auction.interchange._scan_book) -------------------------

def _decoded(text):
    """What the object hook's decoder alone gives (the values, and which orders share legs)."""
    try:
        return ("ok", _shape(json.loads(text, object_hook=interchange._compact_hook())))
    except ValueError as e:
        return ("error", type(e), str(e))


def _scanned(text):
    try:
        return ("ok", _shape(loads(text)))
    except ValueError as e:
        return ("error", type(e), str(e))


def _shape(doc):
    orders = doc.get("orders", doc.get("book", {}).get("orders")) if type(doc) is dict else None
    first: dict[int, int] = {}
    sharing = [first.setdefault(id(o[4]), i) for i, o in enumerate(orders or [])
               if type(o) is RawOrder]
    return doc, sharing


def _order_text(o, style):
    if style == "usual":
        return json.dumps(o)
    if style == "indent":
        return json.dumps(o, indent=1)
    return json.dumps(dict(reversed(list(o.items()))))  # another key order


@settings(max_examples=150, deadline=None)
@given(orders=_orders(), styles=st.lists(st.sampled_from(["usual", "usual", "indent", "keys"]),
                                         min_size=8, max_size=8),
       space=st.sampled_from(["", " ", "\n  ", "\t", "\r\n"]), nested=st.booleans(),
       broken=st.sampled_from([None, "", "]", ",]", "}", "[", " x"]),
       chunk=st.sampled_from([1 << 24, 1, 40, 300]))
def test_scan_equals_the_decoder(orders, styles, space, nested, broken, chunk):
    """Whatever the text (usual orders, other spacing or key order, broken JSON) and however
    the array is cut into pieces, the scan gives what the object hook's decoder gives: the
    same values, legs shared alike, the same error."""
    body = ("," + space).join(_order_text(o, styles[i % 8]) for i, o in enumerate(orders))
    if broken is not None:
        body = body[:len(body) // 2] + broken + body[len(body) // 2:]
    book = '{"contracts": ' + json.dumps(DEMO["contracts"]) + ', "orders": [' + space + body \
        + space + '], "params": {"legs": 3}}'
    text = '{"description": "x", "book": ' + book + "}" if nested else book
    saved = interchange._SCAN_CHUNK
    interchange._SCAN_CHUNK = chunk
    try:
        assert _scanned(text) == _decoded(text)
    finally:
        interchange._SCAN_CHUNK = saved


@pytest.mark.parametrize("text", [
    '{"contracts": [], "orders": []}',
    '{"contracts": [], "orders": [ ]}',
    '{"orders": [], "contracts": []}',
    '{"contracts": [], "orders": [{"orderId": 1, "clientId": 2, "totalNetPrice": "1", '
    '"legs": [{"contractId": 1, "side": "BUY", "quantity": "1"}]}]}',
    # a second "orders" (here in a string): the ordinary decoder
    '{"description": "\\"orders\\": [", "contracts": [], "orders": []}',
    '{"description": "orders", "contracts": [], "orders": [{"orderId": 1, "clientId": 2, '
    '"totalNetPrice": "1", "legs": [{"contractId": 1, "side": "BUY", "quantity": "1"}]}]}',
    # a later duplicate key written with an escape replaces the scanned array
    '{"contracts": [], "orders": [{"orderId": 1, "clientId": 2, "totalNetPrice": "1", '
    '"legs": [{"contractId": 1, "side": "BUY", "quantity": "1"}]}], "ord\\u0065rs": []}',
    # an order-like object after the array, and orders after a usual one that closes it
    '{"contracts": [], "orders": [{"orderId": 1, "clientId": 2, "totalNetPrice": "1", '
    '"legs": [{"contractId": 1, "side": "BUY", "quantity": "1"}]}], "params": {"x": '
    '[{"orderId": 1, "clientId": 2, "totalNetPrice": "1", "legs": []}]}}',
    '{"contracts": [], "orders": [{"orderId": 1, "clientId": 2, "totalNetPrice": "1", '
    '"legs": [{"contractId": 1, "side": "BUY", "quantity": "1"}]}] {"orderId": 3}]}',
    # numbers JSON refuses or reads otherwise, a leg with a float, a huge id
    '{"contracts": [], "orders": [{"orderId": 01, "clientId": 2, "totalNetPrice": "1", '
    '"legs": [{"contractId": 1, "side": "BUY", "quantity": "1"}]}]}',
    '{"contracts": [], "orders": [{"orderId": 1, "clientId": 2, "totalNetPrice": "1", '
    '"legs": [{"contractId": 1.0, "side": "BUY", "quantity": "1"}]}]}',
    '{"contracts": [], "orders": [{"orderId": ' + "9" * 5000 + ', "clientId": 2, '
    '"totalNetPrice": "1", "legs": [{"contractId": 1, "side": "BUY", "quantity": "1"}]}]}',
])
def test_scan_edge_cases_equal_the_decoder(text, monkeypatch):
    assert _scanned(text) == _decoded(text)
    monkeypatch.setattr(interchange, "_SCAN_CHUNK", 1)
    assert _scanned(text.replace(", {", ",\n {")) == _decoded(text.replace(", {", ",\n {"))


def test_usual_book_takes_the_scan_and_the_columns(monkeypatch):
    """The demo's orders written as ``json.dumps`` writes them: every order a match of the
    scan, the book built column by column, equal to the order-by-order reader's."""
    text = json.dumps({"contracts": DEMO["contracts"], "orders": DEMO["orders"] * 3})
    parts = re.compile(interchange._ORDER_RE).split(text)
    assert (len(parts) - 1) // 10 == len(DEMO["orders"]) * 3  # every order a match
    seen = []
    scan = interchange._scan_orders
    monkeypatch.setattr(interchange, "_scan_orders",
                        lambda *a: seen.append(scan(*a)) or seen[-1])
    columns = interchange._FastOrders.all
    monkeypatch.setattr(interchange._FastOrders, "all",
                        lambda self, raw: seen.append(columns(self, raw)) or seen[-1])
    fast = _outcome(loads(text))
    assert len(seen[0][0]) == len(DEMO["orders"]) * 3 and seen[1]  # both shortcuts taken
    monkeypatch.setattr(interchange._FastOrders, "all", lambda self, raw: [])
    assert fast == _outcome(loads(text)) == _strict(json.loads(text))


def test_orders_from_columns_equal_orders_one_by_one():
    from decimal import Decimal

    from auction.orders import Leg, Order, Side, TimeInForce, orders_from_columns

    one = (Leg(1, Side.BUY, 3),)
    two = (Leg(1, Side.BUY, 2), Leg(4, Side.SELL, 4))
    rows = [(7, 1, Decimal("1.5"), one, TimeInForce.DAY, False, False, None),
            (8, 2, Decimal("-3"), two, TimeInForce.GOOD_TILL_DATE, True, True, 1700000000000),
            (9, 1, Decimal("0"), one, TimeInForce.GOOD_TILL_CANCEL, False, True, None)]
    made = orders_from_columns(*map(list, zip(*rows, strict=True)))
    expected = [Order(oid, c, p, legs, tif, aon, 0, ro, gt)
                for oid, c, p, legs, tif, aon, ro, gt in rows]
    assert made == expected
    assert [hash(o) for o in made] == [hash(o) for o in expected]
    assert all(o.packages == e.packages and o.ratios == e.ratios for o, e in zip(
        made, expected, strict=True))
    unsorted = (Leg(4, Side.BUY, 1), Leg(1, Side.SELL, 1))
    for bad in (unsorted, (), (Leg(1, Side.BUY, 0),), (Leg(1, Side.BUY, 1),) * 2):
        with pytest.raises(ValueError, match="order 5"):
            orders_from_columns([5], [1], [Decimal(1)], [bad], [TimeInForce.DAY], [False],
                                [False], [None])
        with pytest.raises(ValueError, match="order 5"):
            Order(5, 1, Decimal(1), bad)
