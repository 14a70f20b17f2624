"""Funds state (collateral.md §1): availability, orders, fills, settlements, withdrawals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.cash import CashMovement, MovementOrigin
from validator.collateral.errors import DuplicateOrder, InsufficientFunds, UnknownOrder
from validator.collateral.funds import Balance, FundsState

PAIR = "WBTC/USDC"


def mv(client, u, n):
    return CashMovement(client, PAIR, MovementOrigin.BATCH, 1, u, n)


def funded(usdc=1000, wbtc=0):
    s = FundsState()
    s = s.deposit(1, "USDC", usdc) if usdc else s
    return s.deposit(1, "WBTC", wbtc) if wbtc else s


def test_available_is_fund_lock_plus_settle_minus_orders():
    b = Balance(fund_lock_value=100, order_value=30, settle_value=-20)
    assert b.available == 50
    assert Balance(10, 30, 0).available == 0  # never negative


def test_new_order_locks_and_rejection_changes_nothing():
    s = funded(1000).place(10, 1, {"USDC": 600})
    assert s.balance(1, "USDC") == Balance(1000, 600, 0)
    with pytest.raises(InsufficientFunds) as e:
        s.place(11, 1, {"USDC": 401})
    assert e.value.code == "INSUFFICIENT_FUNDS" and e.value.available == 400
    assert set(s.orders) == {10}  # the old state is untouched (immutable)
    s2 = s.place(11, 1, {"USDC": 400})
    assert s2.available(1, "USDC") == 0
    with pytest.raises(DuplicateOrder):
        s2.place(11, 1, {"USDC": 0})


def test_two_currency_order_rejected_when_one_is_short():
    s = funded(1000, wbtc=5)
    with pytest.raises(InsufficientFunds):
        s.place(1, 1, {"USDC": 10, "WBTC": 6})
    assert s.place(1, 1, {"USDC": 10, "WBTC": 5}).available(1, "WBTC") == 0


def test_amend_and_cancel():
    s = funded(1000).place(10, 1, {"USDC": 600})
    with pytest.raises(InsufficientFunds):
        s.amend(10, {"USDC": 1001})
    s = s.amend(10, {"USDC": 900})
    assert s.balance(1, "USDC").order_value == 900
    s = s.amend(10, {"USDC": 100})
    s = s.cancel(10)
    assert s.balance(1, "USDC") == Balance(1000, 0, 0)
    with pytest.raises(UnknownOrder):
        s.cancel(10)


def test_fill_releases_lock_and_books_movement_until_confirmed():
    s = funded(1000).place(10, 1, {"USDC": 600})
    s = s.fill(10, {"USDC": 200}).post([mv(1, 0, 350)])  # paid 350 for the filled part
    assert s.balance(1, "USDC") == Balance(1000, 200, -350)
    assert s.available(1, "USDC") == 450
    s = s.confirm([mv(1, 0, 350)])
    assert s.balance(1, "USDC") == Balance(650, 200, 0)
    assert s.available(1, "USDC") == 450
    s = s.fill(10, None)
    assert 10 not in s.orders and s.balance(1, "USDC").order_value == 0


def test_received_premium_and_released_collateral_become_available_before_confirmation():
    s = funded(0, wbtc=20).post([mv(1, -5, -300)])
    assert s.available(1, "WBTC") == 25 and s.available(1, "USDC") == 300


def test_withdrawal_cancels_newest_orders_first():
    s = funded(1000).place(1, 1, {"USDC": 300}).place(2, 1, {"USDC": 300})
    s = s.place(3, 1, {"WBTC": 0, "USDC": 100})
    s2, cancelled = s.withdraw(1, "USDC", 500)
    # 500 left: 700 locked -> cancel 3 (600 left, still short) then 2 (300)
    assert cancelled == (3, 2)
    assert set(s2.orders) == {1}
    assert s2.balance(1, "USDC") == Balance(500, 300, 0)
    s3, none = s.withdraw(1, "USDC", 300)
    assert none == () and set(s3.orders) == {1, 2, 3}


def test_withdrawal_beyond_free_balance_rejected():
    s = funded(1000).post([mv(1, 0, 300)])  # 300 owed, not yet on chain
    with pytest.raises(InsufficientFunds):
        s.withdraw(1, "USDC", 701)
    s2, _ = s.withdraw(1, "USDC", 700)
    assert s2.balance(1, "USDC").free == 0


OPS = st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(["USDC", "WBTC"]), st.integers(1, 500)),
    st.tuples(st.just("withdraw"), st.sampled_from(["USDC", "WBTC"]), st.integers(1, 500)),
    st.tuples(st.just("place"), st.integers(0, 300), st.integers(0, 300)),
    st.tuples(st.just("cancel"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("fill"), st.integers(0, 20), st.integers(0, 100)),
    st.tuples(st.just("confirm"), st.just(0), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=40))
def test_funds_never_negative_through_accepted_operations(ops):
    """Any sequence; rejected operations change nothing; balances never go negative. A fill
    releases part of an order's lock and pays at most what it released (the clearing prices
    are within the limits and the lockup of the fill within its lock), possibly receiving."""
    s = FundsState()
    pending: list[CashMovement] = []
    oid = 0
    for op, a, b in ops:
        before = s
        try:
            if op == "deposit":
                s = s.deposit(1, a, b)
            elif op == "withdraw":
                s, _ = s.withdraw(1, a, b)
            elif op == "place":
                s = s.place(oid, 1, {"USDC": a, "WBTC": b})
                oid += 1
            elif op == "cancel" and a in s.orders:
                s = s.cancel(a)
            elif op == "fill" and a in s.orders:
                lock = dict(s.orders[a].lock)
                rest = {c: v * (100 - b) // 100 for c, v in lock.items()}
                released = {c: lock[c] - rest[c] for c in lock}
                m = mv(1, released.get("WBTC", 0) - b, released.get("USDC", 0) // 2)
                s = s.fill(a, rest).post([m])
                pending.append(m)
            elif op == "confirm" and pending:
                s = s.confirm(pending)
                pending = []
        except InsufficientFunds:
            assert s is before
        for (_, _cur), bal in s.balances.items():
            assert bal.fund_lock_value >= 0
            assert bal.order_value >= 0
            assert bal.free - bal.order_value >= 0
        for cur in ("USDC", "WBTC"):
            assert s.balance(1, cur).order_value == sum(o.amount(cur) for o in s.orders.values())


def _place_by_sorting(s: FundsState, order_id: int, client_id: int, lock) -> FundsState:
    """``FundsState.place`` as it was before it became incremental: copy, then let the
    constructor sort both mappings."""
    from validator.collateral.funds import LiveOrder, _lock

    if order_id in s.orders:
        raise DuplicateOrder(f"order {order_id} is already live")
    lk = _lock(lock)
    s._check(client_id, dict(lk), f"order {order_id}")
    orders = dict(s.orders)
    orders[order_id] = LiveOrder(order_id, client_id, s.next_seq, lk)
    return s._with(s._order_delta(client_id, dict(lk)), orders, s.next_seq + 1)


PLACES = st.lists(st.tuples(
    st.integers(0, 60),  # order id: mostly growing, sometimes below the last or taken
    st.integers(1, 3),  # client
    st.dictionaries(st.sampled_from(["USDC", "WBTC", "ETH", "AAA"]), st.integers(0, 400),
                    max_size=3)), max_size=40)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.sampled_from(["USDC", "WBTC", "ETH"]),
                          st.integers(1, 3000)), max_size=6), PLACES, st.booleans())
def test_incremental_place_is_the_sorting_place(deposits, places, grow):
    """The incremental :meth:`FundsState.place` gives the state the sorting one gave: the same
    balances and orders in the same (key) order, the same sequence, the same errors."""
    new = old = FundsState()
    for client, cur, amount in deposits:
        new = new.deposit(client, cur, amount)
        old = old.deposit(client, cur, amount)
    for i, (oid, client, lock) in enumerate(places):
        oid = i * 3 + oid % 3 if grow else oid
        results = []
        for s, place in ((new, FundsState.place), (old, _place_by_sorting)):
            try:
                results.append(place(s, oid, client, lock))
            except (InsufficientFunds, DuplicateOrder) as e:
                results.append(type(e))
        if isinstance(results[0], type):
            assert results[0] is results[1]
            continue
        new, old = results
        assert new == old and new.next_seq == old.next_seq
        assert list(new.balances.items()) == list(old.balances.items())
        assert list(new.orders.items()) == list(old.orders.items())
        assert list(new.balances) == sorted(new.balances)
        assert list(new.orders) == sorted(new.orders)
