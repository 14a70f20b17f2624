"""The auction loop on both engines: one transaction per batch, policies, reconciliation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from auction.interchange import result_to_dict
from auction.orders import OrderStatus
from auction.result import ClearingResult, Fill, no_trade
from coordinator.events import EventKind
from coordinator.loop import BatchStatus, Steps, default_check, default_solve, replay
from coordinator.persistence import LeaseHeld, LeaseLost
from tests.coordinator.conftest import (
    T0,
    assert_reconciles,
    coordinator,
    demo_data,
    seed,
)
from venue.cli import main

WBTC_CHAIN = (Path(__file__).resolve().parents[2] / "scenarios" / "golden" / "books"
              / "wbtc_chain_no_orders.json")


@pytest.fixture
def seeded(store, clock):
    clock.now = T0
    rep = seed(store, clock)
    assert rep.admitted == len(demo_data()["orders"]) and not rep.rejections
    clock.advance(1000)
    return store


def _events(store, batch_id):
    with store.read() as tx:
        return [e for e in tx.events_after(0, 100_000) if e.batch_id == batch_id]


def test_one_auction_applies_everything_and_reconciles(seeded, clock):
    co = coordinator(seeded, clock)
    r = co.run_once()
    assert r.status is BatchStatus.APPLIED and r.fills > 0 and r.volume > 0
    assert set(r.timings) >= {"cut", "solve", "check", "movements", "persist"}
    assert_reconciles(seeded)
    with seeded.read() as tx:
        rec = tx.batch(r.batch_id)
        assert rec.check_ok and rec.book["orders"] and rec.result["fills"]
        assert rec.params["solver"]["formulation"] == "equilibrium"
        refs = tx.reference_prices()
        assert any(b == r.batch_id for _, b in refs.values())  # traded contracts moved
        assert tx.movements(origin_id=r.batch_id)
        assert tx.lockups()
    kinds = [e.kind for e in _events(seeded, r.batch_id)]
    assert kinds[0] is EventKind.AUCTION_STARTED and kinds[-1] is EventKind.AUCTION_FINISHED
    assert {EventKind.EXEC_REPORT, EventKind.FILL, EventKind.TRADE_REPORT,
            EventKind.ORDERBOOK_DELTA, EventKind.FUNDS_UPDATED} <= set(kinds)
    assert replay(rec).identical
    # a second auction on the rest: still consistent, never applies a batch twice
    clock.advance(1000)
    r2 = co.run_once()
    assert r2.status is BatchStatus.APPLIED
    assert co.run_once(r2.batch_id).status is None
    assert_reconciles(seeded)


def test_orders_after_the_cutoff_wait_for_the_next_auction(store, clock):
    data = demo_data()
    late_ids = {o["orderId"] for o in data["orders"][10:]}
    seed(store, clock, {**data, "orders": data["orders"][:10]})
    cutoff = clock.advance(1000)
    clock.advance(1)
    seed(store, clock, {**data, "orders": data["orders"][10:]})
    co = coordinator(store, clock)
    r = co.run_once(cutoff)
    with store.read() as tx:
        cut_ids = {o["orderId"] for o in tx.batch(r.batch_id).book["orders"]}
    assert cut_ids and not cut_ids & late_ids
    r2 = co.run_once(clock.advance(1000))
    with store.read() as tx:
        cut2 = {o["orderId"] for o in tx.batch(r2.batch_id).book["orders"]}
    assert late_ids <= cut2
    assert_reconciles(store)


def test_ioc_leftovers_cancelled_after_their_first_auction(store, clock):
    data = demo_data()
    for o in data["orders"]:
        o["timeInForce"] = "IMMEDIATE_OR_CANCEL"
    seed(store, clock, data)
    r = coordinator(store, clock).run_once(clock.advance(1000))
    assert r.fills > 0
    with store.read() as tx:
        assert tx.live_orders() == []
        statuses = {so.status for so in tx.historical_orders()}
    assert OrderStatus.CANCELED in statuses
    assert statuses <= {OrderStatus.CANCELED, OrderStatus.FILLED,
                        OrderStatus.PARTIALLY_FILLED_REM_CANCELLED}
    assert_reconciles(store)


def test_day_orders_expire_and_contracts_stop_trading(store, clock):
    data = demo_data()
    data["orders"][0]["timeInForce"] = "DAY"
    seed(store, clock, data)
    day_id = data["orders"][0]["orderId"]
    no_fills = Steps(solve=lambda b, p: ("X", no_trade(b, frozenset()), {}),
                     check=lambda b, r, s: [])
    co = coordinator(store, clock, steps=no_fills)
    clock.advance(86_400_000)  # the next UTC day
    co.run_once()
    with store.read() as tx:
        so = tx.order(day_id)
        assert so.status is OrderStatus.CANCELED
        assert tx.history(day_id)[-1].reason == "EXPIRED"
    # 2025-01-31 is the demo expiry: end of trading at 00:00 UTC that day
    clock.now = 1_738_281_600_000
    co.run_once()
    with store.read() as tx:
        assert tx.live_orders() == []
        assert {h.reason for so in tx.historical_orders()
                for h in tx.history(so.order_id)[-1:]} == {"EXPIRED", "END_OF_TRADING"}
        assert all(v == 0 for (_, _), f in tx.fund_locks().items() for v in [f.order_value])
    assert_reconciles(store)


def test_an_auction_without_orders_publishes_the_prices_of_rule_10(store, clock):
    """Regression (ccp run, batch 1796322800000 FAILED on parity): with no orders the loop
    published every contract's reference tick as cleared, and the WBTC put floored at one tick
    beside its call (C 4000, F 60000, K 56000: parity needs 0) broke parity. It now publishes
    what the matcher publishes for that book (auction.result.no_trade): the put keeps its
    reference and is named uncleared, every other contract is priced, the check passes."""
    from auction.interchange import book_from_dict
    from solver_models import SolverParams, solve

    data = json.loads(WBTC_CHAIN.read_text())
    clock.now = T0
    seed(store, clock, data)
    clock.advance(1000)
    r = coordinator(store, clock).run_once()
    assert r.status is BatchStatus.APPLIED, r.violations
    with store.read() as tx:
        rec = tx.batch(r.batch_id)
    assert rec.solve_status == "EMPTY" and rec.check_ok and rec.order_count == 0
    assert rec.result["uncleared"] == [44]
    book, _ = book_from_dict(data)
    engine = solve(book, SolverParams()).result
    assert rec.result["prices"] == result_to_dict(book, engine, status="EMPTY")["prices"]
    assert engine.uncleared == {44}
    assert replay(rec).identical


def test_a_result_failing_the_check_is_not_applied(seeded, clock):
    def bad_solve(book, params):
        status, result, eff = default_solve(book, params)
        # double the first fill: breaks balance
        f = result.fills[0]
        return status, replace(result, fills=(Fill(f.order_id, f.packages * 2 or 1),
                                              *result.fills[1:])), eff

    co = coordinator(seeded, clock, steps=Steps(solve=bad_solve))
    with seeded.read() as tx:
        before = (tx.live_orders(), tx.fund_locks(), tx.positions(), tx.reference_prices())
    r = co.run_once()
    assert r.status is BatchStatus.FAILED and r.violations
    with seeded.read() as tx:
        assert (tx.live_orders(), tx.fund_locks(), tx.positions(),
                tx.reference_prices()) == before
        rec = tx.batch(r.batch_id)
        assert rec.status == "FAILED" and rec.check_ok is False and rec.violations
        assert tx.fills(r.batch_id) == [] and tx.movements(origin_id=r.batch_id) == []
    kinds = [e.kind for e in _events(seeded, r.batch_id)]
    assert EventKind.AUCTION_FAILED in kinds and EventKind.FILL not in kinds
    # the next auction runs normally
    co.steps = Steps()
    clock.advance(1000)
    assert co.run_once().status is BatchStatus.APPLIED
    assert_reconciles(seeded)


def test_a_crashing_step_fails_the_batch_not_the_loop(seeded, clock):
    def boom(book, result, settings):
        raise RuntimeError("checker exploded")

    r = coordinator(seeded, clock, steps=Steps(check=boom)).run_once()
    assert r.status is BatchStatus.FAILED
    assert "checker exploded" in r.violations[0]


def test_hand_made_result_is_persisted_as_given(seeded, clock):
    def solve(book, params):
        res = no_trade(book, frozenset())
        by_id = {o.order_id: o for o in book.orders}
        # orders 1 (BUY 0.5 fwd) and 2 (SELL 0.5 fwd) of the demo at the reference price
        assert by_id[1].legs[0].contract_id == by_id[2].legs[0].contract_id == 1
        return "HAND", ClearingResult(dict(res.prices), (Fill(1, 1), Fill(2, 1))), {}

    def check(book, result, settings):
        return []

    r = coordinator(seeded, clock, steps=Steps(solve=solve, check=check)).run_once()
    assert r.fills == 2
    with seeded.read() as tx:
        assert tx.order(1).status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)
        assert tx.positions()[(tx.order(1).client_id, 1)] == tx.order(1).order.legs[0].lots // \
            tx.order(1).order.packages
    assert_reconciles(seeded)


def test_book_changed_between_cut_and_apply_is_cut_again(seeded, clock):
    calls = []

    def solve(book, params):
        calls.append(len(book.orders))
        if len(calls) == 1:  # someone cancels order 3 while we solve
            with seeded.write() as tx:
                so = tx.order(3)
                tx.update_orders([so.evolve(status=OrderStatus.CANCELED)], clock.now_ms())
        return default_solve(book, params)

    r = coordinator(seeded, clock, steps=Steps(solve=solve)).run_once()
    assert r.status is BatchStatus.APPLIED
    assert calls[1] == calls[0] - 1
    with seeded.read() as tx:
        assert 3 not in {o["orderId"] for o in tx.batch(r.batch_id).book["orders"]}


def test_only_one_coordinator_holds_the_lease(seeded, clock):
    a = coordinator(seeded, clock, holder="a")
    b = coordinator(seeded, clock, holder="b")
    a.acquire()
    with pytest.raises(LeaseHeld):
        b.acquire()
    with pytest.raises(LeaseHeld):
        b.run_once()
    # a stalls past its lease; b takes over; a's late batch is fenced off
    clock.advance(31_000)
    b.acquire()
    with pytest.raises(LeaseLost):
        a.run_once()
    assert b.run_once().status is BatchStatus.APPLIED
    with seeded.read() as tx:
        assert {tx.batch(i).coordinator for i in tx.batch_ids()} == {"b"}


def test_admission_rejections(store, clock):
    rep = seed(store, clock, credit={"USDC": 1000})
    codes = {r.code for r in rep.rejections}
    assert codes == {"INSUFFICIENT_FUNDS"} and rep.admitted > 0
    again = seed(store, clock)
    # admitted orders keep their ids; rejected ones do not (issue 16): they are judged again
    dup = {r.order_id for r in again.rejections if r.code == "DUPLICATE_ORDER_ID"}
    judged = {r.order_id for r in rep.rejections}
    assert len(dup) == rep.admitted and not dup & judged
    assert {r.code for r in again.rejections} <= {"DUPLICATE_ORDER_ID", "INSUFFICIENT_FUNDS"}
    assert again.admitted + len(again.rejections) - len(dup) == len(judged)
    with store.read() as tx:
        rejected = [so for so in tx.historical_orders() if so.status is OrderStatus.REJECTED]
        assert rejected and all(so.reject_reason == "INSUFFICIENT_FUNDS" for so in rejected)
        for f in tx.fund_locks().values():
            assert f.order_value <= f.fund_lock_value + f.settle_value
    assert_reconciles(store)


def test_trading_closed_at_import(store, clock):
    clock.now = 1_738_281_600_000
    rep = seed(store, clock)
    assert rep.admitted == 0 and {r.code for r in rep.rejections} == {"TRADING_CLOSED"}


def test_replay_notices_a_different_result(seeded, clock):
    r = coordinator(seeded, clock).run_once()
    with seeded.read() as tx:
        rec = tx.batch(r.batch_id)
    tampered = replace(rec, result={**rec.result, "prices": {**rec.result["prices"], "1": "1"}})
    rep = replay(tampered)
    assert not rep.identical and rep.differences[0].startswith("prices")


def test_cli_run_once_show_replay(db_url, capsys, tmp_path):
    from tests.coordinator.conftest import DEMO

    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert main(["orders", "import", str(DEMO), "--db", db_url, "--now", "2024-12-01T00:00:00",
                 "--credit", "USDC=10000000", "--credit", "WETH=10000"]) == 0
    assert main(["auction", "run-once", "--db", db_url, "--now", "2024-12-01T00:01:00"]) == 0
    out = capsys.readouterr().out
    assert "APPLIED" in out
    assert main(["batch", "show", "last", "--db", db_url, "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "APPLIED" and doc["prices"] and doc["movements"]
    assert set(doc["timings"]) >= {"cut", "solve", "check", "movements", "persist"}
    assert main(["batch", "replay", str(doc["batchId"]), "--db", db_url]) == 0
    assert "identical" in capsys.readouterr().out
    assert main(["batch", "show", "123", "--db", db_url]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"contracts": [], "orders": [{"orderId": 1}]}')
    assert main(["orders", "import", str(bad), "--db", db_url]) == 2
    assert "missing field" in capsys.readouterr().err


def test_checker_is_the_real_one_by_default():
    assert Steps().check is default_check


def test_the_loop_follows_the_operators_schedule(store, clock):
    """Pause (admin API) skips cut-offs without an auction; resume runs them again; a cadence
    set by operations replaces the settings' on the cut-off grid."""
    from coordinator.persistence.clientapi import set_schedule

    seed(store, clock)
    co = coordinator(store, clock, settings={"cadence_seconds": 60})
    assert co.next_cutoff() % 60_000 == 0
    with store.write() as tx:
        set_schedule(tx, clock.now_ms(), paused=True, cadence_ms=7_000)
    assert co.schedule() == (True, 7_000)
    assert co.next_cutoff() % 7_000 == 0 and co.next_cutoff() > clock.now_ms()
    start = clock.now_ms()
    ran = co.loop(should_stop=lambda: clock.now_ms() > start + 3 * 7_000)
    assert ran == 0 and clock.now_ms() > start + 3 * 7_000  # three cut-offs went by
    with store.read() as tx:
        assert tx.last_batch_id() is None  # paused: no batch was cut
    with store.write() as tx:
        set_schedule(tx, clock.now_ms(), paused=False)
    start = clock.now_ms()
    assert co.loop(should_stop=lambda: clock.now_ms() > start + 3 * 7_000) >= 2
    with store.read() as tx:
        assert tx.last_batch_id() % 7_000 == 0
