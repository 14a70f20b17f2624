"""Admission reads a limit at currency precision on the tick lattice (auction.md rule 11):
never refused for it, stored as sent (pure function, no store)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from auction.orders import Leg, Order, OrderStatus, Side
from auction.products import DEFAULT_CURRENCIES
from coordinator.admission import admit
from coordinator.persistence.records import FundLock
from tests.solver_models.tiny_books import contract


def test_a_limit_off_the_lattice_is_admitted_as_sent():
    c = contract(1, tick="0.1", lo="0", hi="20", ref="7")  # WETH/USDC, lot 1, tick 0.1
    orders = [Order(1, 1, Decimal("21.9294"), (Leg(1, Side.BUY, 3),)),  # 7.3098 per lot
              Order(2, 1, Decimal("7.3333"), (Leg(1, Side.BUY, 1),)),
              Order(3, 1, Decimal("10"), (Leg(1, Side.BUY, 3),))]  # 3.333… per lot
    adm = admit(orders, contracts={1: c}, currencies=DEFAULT_CURRENCIES,
                balances={(1, "USDC"): FundLock(1, "USDC", 100 * 10**4)}, live=(),
                existing_ids=set(), now_ms=0, end_of_trading=timedelta(hours=12))
    assert adm.rejections == ()
    assert [o.status for o in adm.orders] == [OrderStatus.NEW] * 3
    assert [o.order.total_net_price for o in adm.orders] == [
        Decimal("21.9294"), Decimal("7.3333"), Decimal("10")]
    # the lock is what the orders can pay, the limits as sent (10/3 per lot times 3 lots is
    # the decimal 10; only a part of such an order would lock the lattice limit, 3.3 a lot)
    assert adm.funds[0].order_value == 219294 + 73333 + 100000
