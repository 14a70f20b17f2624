"""Order intake reads only what it needs, and gets what a full recomputation would give.

* Self-match prevention reads the candidate resting orders through ``order_single_legs``
  (:func:`coordinator.persistence.intake.self_match_candidates`): admission with them equals
  admission against the client's whole live book, under both policies.
* The funds check uses the stored ``orderValue`` (updated incrementally by each admission and
  self-match cancel): it always equals the full recomputation, the sum of the live orders'
  locks (``Tx.order_values``), and so do the admission results.
* ``order_single_legs`` holds exactly the live single-leg orders (written with the order,
  deleted with it when it leaves the live book).

Each hypothesis example runs in one write transaction that is rolled back at its end, over a
store seeded once (SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from auction.orders import Leg, Order, OrderStatus, Side
from auction.products import DEFAULT_CURRENCIES, Contract, CurrencyPair, Payoff
from coordinator.admission import admit
from coordinator.intake import admit_orders
from coordinator.persistence import tables as t
from coordinator.persistence.intake import self_match_candidates
from coordinator.persistence.records import FundLock

NOW = 1_700_000_000_000
EOT = timedelta(hours=12)
CLIENTS = (1, 2, 3)
PAIR = CurrencyPair("WBTC", "USDC")


class _Rollback(Exception):
    pass


def _contracts() -> list[Contract]:
    exp = date(2024, 1, 26)
    return [Contract(1, Payoff.CALL, PAIR, exp, Decimal(40000), Decimal("0.1"),
                     Decimal("0.01"), Decimal(2000), Decimal(1), Decimal(10000)),
            Contract(2, Payoff.PUT, PAIR, exp, Decimal(38000), Decimal("0.1"),
                     Decimal("0.01"), Decimal(1500), Decimal(1), Decimal(10000)),
            Contract(3, Payoff.CALL, PAIR, exp, Decimal(42000), Decimal("0.1"),
                     Decimal("0.01"), Decimal(900), Decimal(1), Decimal(10000))]


@pytest.fixture
def seeded(store):
    with store.write() as tx:
        for sym in ("USDC", "WBTC"):
            tx.put_currency(DEFAULT_CURRENCIES[sym])
        for c in _contracts():
            tx.put_contract(c, NOW)
        tx.ensure_clients(CLIENTS, NOW)
        # some clients rich, one poor: INSUFFICIENT_FUNDS happens too
        tx.put_fund_locks([FundLock(1, "USDC", 10**8 * 10**4), FundLock(1, "WBTC", 10**12),
                           FundLock(2, "USDC", 3_000 * 10**4), FundLock(2, "WBTC", 10**6),
                           FundLock(3, "USDC", 10**6 * 10**4)], NOW)
    return store


@st.composite
def orders(draw, start: int, n: int) -> list[Order]:
    out = []
    for i in range(draw(st.integers(1, n))):
        client = draw(st.sampled_from(CLIENTS))
        ids = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2, unique=True))
        legs = tuple(sorted((Leg(c, Side(draw(st.sampled_from(["BUY", "SELL"]))),
                                 draw(st.integers(1, 40))) for c in ids),
                            key=lambda leg: leg.contract_id))
        price = Decimal(draw(st.integers(-3000, 3000))).scaleb(-2)  # USDC, 2 places
        out.append(Order(start + i, client, price, legs))
    return out


def _full_order_values(tx) -> dict[tuple[int, str], int]:
    return {k: v for k, v in tx.order_values(CLIENTS).items() if v}


def _stored_order_values(tx) -> dict[tuple[int, str], int]:
    return {k: f.order_value for k, f in tx.fund_locks(CLIENTS).items() if f.order_value}


def _single_legs(tx) -> set[tuple[int, int, int, str]]:
    s = t.order_single_legs
    return {tuple(r) for r in tx.conn.execute(select(s.c.order_id, s.c.client_id,
                                                     s.c.contract_id, s.c.side))}


def _expected_single_legs(tx) -> set[tuple[int, int, int, str]]:
    return {(so.order_id, so.client_id, so.order.legs[0].contract_id,
             str(so.order.legs[0].side)) for so in tx.live_orders() if len(so.order.legs) == 1}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(rounds=st.lists(st.tuples(orders(0, 12), st.sampled_from(["reject", "cancel_oldest"])),
                       min_size=1, max_size=5),
       new=orders(0, 8))
def test_indexed_reads_and_incremental_funds_equal_the_full_recomputation(seeded, rounds, new):
    contracts = {c.contract_id: c for c in _contracts()}
    with pytest.raises(_Rollback), seeded.write() as tx:
        next_id = 1
        for batch, policy in rounds:
            placed = [Order(next_id + i, o.client_id, o.total_net_price, o.legs)
                      for i, o in enumerate(batch)]
            next_id += len(batch)
            admit_orders(tx, placed, now_ms=NOW, end_of_trading=EOT, self_match=policy,
                         keep_rejected=False)
            # incremental orderValue == Σ locks of the live orders (the full recomputation)
            assert _stored_order_values(tx) == _full_order_values(tx)
            assert _single_legs(tx) == _expected_single_legs(tx)
        fresh = [Order(next_id + i, o.client_id, o.total_net_price, o.legs)
                 for i, o in enumerate(new)]
        for policy in ("reject", "cancel_oldest"):
            kw = dict(contracts=contracts, currencies=tx.currencies(),
                      balances=tx.fund_locks(CLIENTS), existing_ids=set(), now_ms=NOW,
                      end_of_trading=EOT, self_match=policy)
            indexed = admit(fresh, live=self_match_candidates(tx, fresh), **kw)
            full = admit(fresh, live=tx.live_orders(), **kw)
            assert indexed == full
            # and the funds check against the recomputed orderValue gives the same answer
            recomputed = {k: FundLock(f.client_id, f.currency, f.fund_lock_value,
                                      tx.order_values(CLIENTS).get(k, 0), f.settle_value)
                          for k, f in tx.fund_locks(CLIENTS).items()}
            assert admit(fresh, live=tx.live_orders(), **{**kw, "balances": recomputed}) == full
        raise _Rollback


def test_single_leg_rows_leave_with_their_order(seeded):
    with seeded.write() as tx:
        o = Order(1, 1, Decimal("10"), (Leg(1, Side.BUY, 5),))
        spread = Order(2, 1, Decimal("5"), (Leg(1, Side.BUY, 5), Leg(3, Side.SELL, 5)))
        admit_orders(tx, [o, spread], now_ms=NOW, end_of_trading=EOT)
        assert _single_legs(tx) == {(1, 1, 1, "BUY")}
        so = tx.order(1)
        tx.update_orders([so.evolve(status=OrderStatus.CANCELED, lock_underlying=0,
                                    lock_numeraire=0)], NOW)
        assert _single_legs(tx) == set()  # ON DELETE CASCADE
        assert [so.order_id for so in tx.live_orders()] == [2]


def test_a_self_match_is_found_among_many_resting_orders(seeded):
    """The candidates are the crossing orders only; the rest of the book is not read."""
    with seeded.write() as tx:
        resting = [Order(i, 1, Decimal(-20 - i % 5), (Leg(1, Side.SELL, 1),))
                   for i in range(1, 201)]  # SELL at 20..24 per lot
        resting += [Order(300 + i, 1, Decimal(15), (Leg(2, Side.BUY, 1),)) for i in range(50)]
        admit_orders(tx, resting, now_ms=NOW, end_of_trading=EOT)
        buy = Order(1000, 1, Decimal(21), (Leg(1, Side.BUY, 1),))  # crosses the sells at 20, 21
        found = self_match_candidates(tx, [buy])
        assert {so.order_id for so in found} == {i for i in range(1, 201) if i % 5 <= 1}
        assert self_match_candidates(tx, [Order(1001, 1, Decimal(19), (Leg(1, Side.BUY, 1),))
                                          ]) == []
        assert self_match_candidates(tx, [Order(1002, 2, Decimal(99), (Leg(1, Side.BUY, 1),))
                                          ]) == []  # another client's
        adm = admit_orders(tx, [buy], now_ms=NOW, end_of_trading=EOT, keep_rejected=False)
        assert [r.code for r in adm.rejections] == ["SELF_MATCH"]
        assert "order 1 " in adm.rejections[0].message  # the oldest crossing order
