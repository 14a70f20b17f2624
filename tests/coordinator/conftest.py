"""Fixtures: a store on each engine (SQLite file, throwaway PostgreSQL), clocks, books."""

from __future__ import annotations

import pytest

from coordinator.clock import ManualClock
from coordinator.persistence import Store
from coordinator.persistence.migrate import upgrade


@pytest.fixture
def store(db_url):
    """A store with the current schema."""
    s = Store.open(db_url)
    upgrade(s.engine)
    yield s
    s.dispose()


@pytest.fixture
def clock():
    return ManualClock(1_700_000_000_000)


# ---- books and invariants -----------------------------------------------------------------

import json  # noqa: E402
from collections import defaultdict  # noqa: E402
from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402

from auction.cash import MovementOrigin  # noqa: E402
from coordinator.intake import import_book  # noqa: E402
from coordinator.loop import Coordinator  # noqa: E402
from coordinator.settings import Settings  # noqa: E402
from validator.collateral.funds import movement_amounts  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.json"
EOT = timedelta(hours=12)
RICH = {"USDC": Decimal(10_000_000), "WETH": Decimal(10_000)}
T0 = 1_700_000_000_000  # 2023-11-14; the demo contracts expire 2025-01-31


def demo_data() -> dict:
    return json.loads(DEMO.read_text())


def seed(store, clock, data=None, credit=RICH):
    return import_book(store, data or demo_data(), clock, end_of_trading=EOT, credit=credit)


def coordinator(store, clock, **kw):
    settings = Settings(database_url="sqlite://", **kw.pop("settings", {}))
    return Coordinator(store, settings, clock, **kw)


def assert_reconciles(store) -> None:
    """Order, position, fund and movement totals agree with the sum of fills."""
    with store.read() as tx:
        fills = tx.fill_totals()
        orders = {so.order_id: so for so in tx.live_orders() + tx.historical_orders()}
        for oid, n in fills.items():
            assert orders[oid].filled_packages == n, f"order {oid}"
        for oid, so in orders.items():
            assert so.filled_packages == fills.get(oid, 0), f"order {oid}"
            hist = tx.history(oid)
            assert hist[-1].to_status == so.status, f"order {oid} history"
            assert hist[-1].filled_packages == so.filled_packages
        pos = {k: v for k, v in tx.positions().items() if v}
        assert pos == {k: v for k, v in tx.fill_position_totals().items() if v}
        live = tx.live_orders()
        locks: dict[tuple[int, str], int] = defaultdict(int)
        for so in live:
            und, num = so.pair.split("/")
            locks[(so.client_id, und)] += so.lock_underlying
            locks[(so.client_id, num)] += so.lock_numeraire
        settle: dict[tuple[int, str], int] = defaultdict(int)
        per_batch: dict[tuple[int, str], int] = defaultdict(int)
        for _, _, m in tx.movements():
            for cur, amt in movement_amounts(m).items():
                settle[(m.client_id, cur)] -= amt
                if m.origin is MovementOrigin.BATCH:
                    per_batch[(m.origin_id, cur)] += amt
        assert all(v == 0 for v in per_batch.values()), "a batch's movements do not sum to 0"
        for (client, cur), f in tx.fund_locks().items():
            assert f.order_value == locks.get((client, cur), 0), (client, cur)
            assert f.settle_value == settle.get((client, cur), 0), (client, cur)
        for bid in tx.batch_ids():
            rec = tx.batch(bid)
            assert rec.fill_count == len(tx.fills(bid)), bid
            if rec.status == "FAILED":
                assert rec.fill_count == 0 and not tx.movements(origin_id=bid)
