"""The store's repositories on both engines: exact integers, lifecycles, typed errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.cash import CashMovement, MovementOrigin, PositionChange
from auction.orders import Leg, Order, OrderStatus, Side, TimeInForce
from auction.products import DEFAULT_CURRENCIES, Contract, CurrencyPair, Payoff
from coordinator.events import Event, EventKind
from coordinator.persistence import Conflict, LeaseHeld, NotFound, SchemaNotCurrent, Store
from coordinator.persistence.records import FundLock, HistoryEntry, StoredOrder
from coordinator.persistence.store import from_units, to_units
from validator.collateral.positions import Position

NOW = 1_700_000_000_000


def _call(cid=1, strike="2800", ref="308.5") -> Contract:
    return Contract(cid, Payoff.CALL, CurrencyPair("WETH", "USDC"), date(2025, 1, 31),
                    Decimal(strike), Decimal("0.1"), Decimal("0.1"), Decimal(ref),
                    Decimal("200"), Decimal("420"))


def _listed(store) -> None:
    with store.write() as tx:
        for c in DEFAULT_CURRENCIES.values():
            tx.put_currency(c)
        tx.put_contract(_call(), NOW)
        tx.put_contract(Contract(2, Payoff.BINARY_CALL, CurrencyPair("WETH", "USDC"),
                                 date(2025, 1, 31), Decimal(3000), Decimal("0.01"), Decimal(1),
                                 Decimal("0.47"), Decimal("0.2"), Decimal("0.8")), NOW)
        tx.put_contract(Contract(3, Payoff.FORWARD, CurrencyPair("WETH", "USDC"),
                                 date(2025, 1, 31), None, Decimal("0.5"), Decimal("0.1"),
                                 Decimal(3000), Decimal(2700), Decimal(3300)), NOW)


def test_contracts_round_trip_exactly(store):
    _listed(store)
    with store.read() as tx:
        got = tx.contracts()
    assert got[1] == _call()
    assert got[2].payoff is Payoff.BINARY_CALL and got[2].lot_size == 1
    assert got[3].strike is None
    with store.write() as tx:  # listing again with the same terms is a no-op
        assert tx.put_contract(_call(), NOW + 1) is False
    with pytest.raises(Conflict, match="other terms"), store.write() as tx:
        tx.put_contract(_call(strike="2900"), NOW)


def test_contract_beyond_currency_precision_is_refused(store):
    with store.write() as tx:
        for c in DEFAULT_CURRENCIES.values():
            tx.put_currency(c)
    with pytest.raises(Conflict, match="precision"), store.write() as tx:
        tx.put_contract(_call(ref="308.00001"), NOW)


@pytest.mark.parametrize("value", [0, 1, -1, 2**62, -(2**62), 2**63 - 1])
def test_amounts_are_exact_64_bit_integers(store, value):
    with store.write() as tx:
        tx.put_currency(DEFAULT_CURRENCIES["USDC"])
        tx.put_fund_locks([FundLock(7, "USDC", value, abs(value) // 3, -value)], NOW)
    with store.read() as tx:
        f = tx.fund_locks([7])[(7, "USDC")]
    assert (f.fund_lock_value, f.order_value, f.settle_value) == (value, abs(value) // 3, -value)


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**15, 10**15), st.integers(0, 18))
def test_units_round_trip(units, precision):
    assert to_units(from_units(units, precision), precision, "x") == units


@settings(max_examples=300, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None,
                   min_value=Decimal("-1e13"), max_value=Decimal("1e13")), st.integers(0, 18))
def test_to_units_is_to_steps_of_one_unit(value, precision):
    """The integer path of ``to_units`` gives what ``to_steps`` by one unit gives, error
    included."""
    from auction.units import PrecisionError, RangeError, to_steps

    def outcome(f):
        try:
            return f()
        except (PrecisionError, RangeError) as e:
            return type(e), str(e)

    assert outcome(lambda: to_units(value, precision, "x")) == outcome(
        lambda: to_steps(value, Decimal(1).scaleb(-precision), "x"))


def _order(oid=10, client=1, price="30.8", lots=20, tif=TimeInForce.GOOD_TILL_CANCEL,
           side=Side.BUY) -> Order:
    return Order(oid, client, Decimal(price), (Leg(1, side, lots),), tif)


def test_orders_live_then_historical(store):
    _listed(store)
    so = StoredOrder(_order(), "WETH/USDC", OrderStatus.NEW, NOW, lock_numeraire=308000)
    with store.write() as tx:
        tx.ensure_clients([1], NOW)
        tx.insert_orders([so], [HistoryEntry(10, OrderStatus.PENDING_NEW, OrderStatus.NEW, 0,
                                             NOW)])
    with store.read() as tx:
        [live] = tx.live_orders()
        assert live == so
        assert tx.live_orders(admitted_before_ms=NOW) == []
    part = live.evolve(status=OrderStatus.PARTIALLY_FILLED, filled_packages=5)
    with store.write() as tx:
        tx.update_orders([part], NOW + 1)
    with store.read() as tx:
        [live] = tx.live_orders()
    assert live.filled_packages == 5 and live.version == 1
    rest = live.remaining_order()
    assert rest.packages == 15 and rest.total_net_price == Decimal("23.1")
    with pytest.raises(Conflict), store.write() as tx:  # stale version
        tx.update_orders([part.evolve(status=OrderStatus.FILLED, filled_packages=20)], NOW)
    with store.write() as tx:
        tx.update_orders([live.evolve(status=OrderStatus.FILLED, filled_packages=20)], NOW + 2)
    with store.read() as tx:
        assert tx.live_orders() == []
        assert tx.order(10).status is OrderStatus.FILLED
        assert [h.to_status for h in tx.history(10)] == [OrderStatus.NEW]
        assert tx.order_exists([10, 11]) == {10}
    with pytest.raises(NotFound), store.read() as tx:
        tx.order(11)


def test_positions_keep_forward_entry_prices_exactly(store):
    _listed(store)
    with store.write() as tx:
        tx.ensure_clients([1, 2], NOW)
        tx.put_positions({(1, 3): Position(7, Fraction(30001, 3), Fraction(-5, 7)),
                          (2, 1): Position(-4)}, 1, NOW)
    with store.write() as tx:
        tx.put_positions({(2, 1): Position(0)}, 2, NOW)
    with store.read() as tx:
        assert tx.position_states() == {(1, 3): Position(7, Fraction(30001, 3),
                                                         Fraction(-5, 7))}
        assert tx.positions() == {(1, 3): 7, (2, 1): 0}


def test_cash_movements_are_recorded_once_and_tracked(store):
    _listed(store)
    m = CashMovement(1, "WETH/USDC", MovementOrigin.BATCH, 99, 10, -2000, (PositionChange(1, 5),))
    with store.write() as tx:
        tx.ensure_clients([1], NOW)
        [mid] = tx.insert_movements([m], NOW)
    with pytest.raises(Conflict, match="recorded already"), store.write() as tx:
        tx.insert_movements([m], NOW)
    with store.write() as tx:
        tx.track_movement(mid, "SETTLE_PENDING", "SETTLE_CONFIRMED", NOW + 5, tx_hash="0xab")
    with pytest.raises(Conflict), store.write() as tx:
        tx.track_movement(mid, "SETTLE_PENDING", "SETTLE_FAILED", NOW + 6)
    with store.read() as tx:
        [(got_id, state, got)] = tx.movements(MovementOrigin.BATCH, 99)
        assert (got_id, state, got) == (mid, "SETTLE_CONFIRMED", m)
        assert tx.trackings(mid) == [(None, "SETTLE_PENDING", NOW),
                                     ("SETTLE_PENDING", "SETTLE_CONFIRMED", NOW + 5)]


def test_edges(store):
    with store.write() as tx:
        assert tx.edge("chain:block") is None
        tx.set_edge("chain:block", 17, NOW)
        tx.set_edge("chain:block", 18, NOW)
    with store.read() as tx:
        assert tx.edge("chain:block") == 18


def test_outbox_keeps_order(store):
    with store.write() as tx:
        tx.append_events([Event(EventKind.AUCTION_STARTED, {"i": i}, 5) for i in range(3)], NOW)
    with store.write() as tx:
        tx.append_events([Event(EventKind.FILL, {"i": 3})], NOW)
    with store.read() as tx:
        events = tx.events_after(0)
        assert [e.payload["i"] for e in events] == [0, 1, 2, 3]
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        assert tx.events_after(events[1].seq, limit=1)[0].payload == {"i": 2}
        assert tx.last_event_seq() == events[-1].seq


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), _TEXT,
                               st.dictionaries(_TEXT, st.one_of(_TEXT, st.integers(), st.none(),
                                                                st.booleans()), max_size=3),
                               st.one_of(st.none(), _TEXT)),
                     min_size=1, max_size=30))
def test_insert_rows_stores_what_sqlalchemy_stores(store, rows):
    """``Tx.insert_rows`` (SQLite: executemany; PostgreSQL: COPY) against
    ``conn.execute(insert(table), rows)``: the same rows back, whatever the text (tabs,
    newlines, backslashes, quotes, non-ASCII), nulls and 64-bit integers."""
    import json

    from sqlalchemy import delete, insert, select

    from coordinator.persistence import tables as t

    hist = [dict(order_id=i, from_status=None, to_status=text or "x", filled_packages=0,
                 batch_id=big, reason=reason, at_ms=NOW) for i, (big, text, _p, reason)
            in enumerate(rows)]
    box = [dict(batch_id=big, kind=(text or "k")[:32], payload=json.dumps(p), created_ms=NOW)
           for big, text, p, _r in rows]
    got = {}
    for how in ("copy", "sqlalchemy"):
        with store.write() as tx:
            tx.conn.execute(delete(t.order_state_history))
            tx.conn.execute(delete(t.outbox))
            if how == "copy":
                tx.insert_rows(t.order_state_history, hist)
                tx.insert_rows(t.outbox, box)
            else:
                tx.conn.execute(insert(t.order_state_history), hist)
                tx.conn.execute(insert(t.outbox), [{**b, "payload": json.loads(b["payload"])}
                                                   for b in box])
        with store.read() as tx:
            h = tx.conn.execute(select(t.order_state_history).order_by(
                t.order_state_history.c.order_id)).all()
            o = tx.conn.execute(select(t.outbox).order_by(t.outbox.c.seq)).all()
        got[how] = ([tuple(r)[1:] for r in h], [tuple(r)[1:] for r in o])
    assert got["copy"] == got["sqlalchemy"]
    assert [r[0] for r in got["copy"][1]] == [b["batch_id"] for b in box]


def test_lease_one_holder_takeover_after_expiry(store):
    with store.write() as tx:
        a = tx.acquire_lease("coordinator", "a", NOW, 1000)
    with pytest.raises(LeaseHeld, match="held by a"), store.write() as tx:
        tx.acquire_lease("coordinator", "b", NOW + 500, 1000)
    with store.write() as tx:  # renewal keeps the token
        assert tx.acquire_lease("coordinator", "a", NOW + 900, 1000).token == a.token
    with store.write() as tx:
        b = tx.acquire_lease("coordinator", "b", NOW + 2000, 1000)
    assert b.token == a.token + 1
    with store.write() as tx:
        tx.release_lease(b)
    with store.read() as tx:
        assert tx.lease("coordinator").expires_ms == 0


def test_missing_schema_is_a_typed_error(db_url):
    s = Store.open(db_url)
    try:
        with pytest.raises(SchemaNotCurrent):
            s.ensure_current()
        with pytest.raises(SchemaNotCurrent, match="ccp db upgrade"), s.read() as tx:
            tx.contracts()
    finally:
        s.dispose()
