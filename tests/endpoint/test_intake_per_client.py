"""Per-client serialisation of the intake on PostgreSQL (``coordinator.persistence.intake``):
admissions take the intake lock SHARED and one lock per client, so admissions of different
clients run side by side, two of one client one after the other, and whatever needs the whole
book takes the intake lock EXCLUSIVE. Venue order ids come from a sequence, moved past ids
stored from elsewhere (``ccp orders import``).

These tests run transactions of their own threads (connections) against a real PostgreSQL —
what two API processes are to the store — and check what the one global serial order used to
guarantee: no order id twice, each clientOrderId once per client, never more locked than the
funds, ``orderValue`` the sum of the live orders' locks, no client's live orders crossing
each other (self-match prevention)."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from coordinator.admission import crosses
from coordinator.events import Event, EventKind
from coordinator.intake import admit_orders
from coordinator.persistence import Store
from coordinator.persistence import clientapi as repo
from coordinator.persistence.intake import (
    IntakeLockError,
    intake_reads,
    lock_clients,
    lock_intake,
)
from coordinator.persistence.migrate import downgrade, upgrade
from coordinator.persistence.records import FundLock
from coordinator.settings import Settings
from endpoint import orders as ords
from endpoint.errors import ApiError
from endpoint.models import OrderIn
from tests.endpoint.conftest import KEYS, NOW, Trader, seed

pytestmark = pytest.mark.postgres
BUY = [(1, "BUY", "0.10")]
SELL = [(1, "SELL", "0.10")]


def wire(store: Store, cache: ords.ReferenceCache, client: int, coid: int, legs=BUY,
         price: str = "100.0") -> ords.WireOrder:
    """An order of ``client`` as the API parses it (signature checks are not the subject)."""
    trader = Trader("http://unused", KEYS[1])
    with store.read() as tx:
        contracts, currencies = cache.get(tx)
    return ords.parse_order(OrderIn.model_validate(trader.order_body(coid, legs, price)),
                            client_id=client, address=None, contracts=contracts,
                            currencies=currencies, check_address=False)


@pytest.fixture
def pg_store(pg_server):
    url = pg_server.create_database()
    store = Store.open(url)
    upgrade(store.engine)
    seed(store, NOW)
    yield store, Settings(database_url=url)
    store.dispose()


def _in_thread(fn) -> tuple[threading.Thread, dict]:
    got: dict = {}

    def run() -> None:
        try:
            got["out"] = fn()
        except BaseException as e:  # reported by the test
            got["error"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, got


def test_other_clients_go_on_while_one_client_waits(pg_store):
    """While a transaction holds client 1's intake locks (its reads done, not committed): an
    intake of client 2 completes; an intake of client 1 waits for the commit, then reads what
    it committed (its clientOrderId is a duplicate)."""
    store, st_ = pg_store
    cache = ords.ReferenceCache()
    first = wire(store, cache, 1, 10)
    with store.write() as tx:
        reads = intake_reads(tx, [first.order], [(1, 10)])
        assert reads is not None and len(reads.order_ids) == 1
        other, got_other = _in_thread(lambda: ords.submit(
            store, st_, [wire(store, cache, 2, 10)], NOW, all_or_nothing=False, cache=cache))
        other.join(20)
        assert not other.is_alive(), "client 2 waited for client 1's transaction"
        assert "error" not in got_other and got_other["out"][0].code == "OK"
        same, got_same = _in_thread(lambda: ords.submit(
            store, st_, [wire(store, cache, 1, 10)], NOW, all_or_nothing=False, cache=cache))
        same.join(1.0)
        assert same.is_alive(), "client 1's second intake did not wait for the first"
        (mine,) = ords._admit(tx, st_, [first], cache.get_all(tx), NOW, False, reads).values()
        assert mine.code == "OK"
    same.join(20)
    assert not same.is_alive() and "error" not in got_same
    assert got_same["out"][0].code == "DUPLICATE_ORDER_ID"
    assert got_other["out"][0].order_id != mine.order_id


def test_exclusive_intake_lock_waits_for_and_holds_off_every_client(pg_store):
    """``lock_intake`` (import, admin contract changes, the chain monitor) waits for the
    admissions in progress, and no admission of any client runs while it is held; asking for
    it after the shared lock is a programming error, not a silent deadlock."""
    store, st_ = pg_store
    cache = ords.ReferenceCache()
    with store.write() as tx:
        lock_clients(tx, [1])
        with pytest.raises(IntakeLockError):
            lock_intake(tx)

        def exclusive() -> bool:
            with store.write() as tx2:
                lock_intake(tx2)
            return True

        ex, got_ex = _in_thread(exclusive)
        ex.join(1.0)
        assert ex.is_alive(), "the exclusive lock did not wait for the shared holder"
    ex.join(20)
    assert got_ex.get("out") is True
    with store.write() as tx:
        lock_intake(tx)
        lock_clients(tx, [3])  # held exclusive already: nothing more to take
        th, got = _in_thread(lambda: ords.submit(
            store, st_, [wire(store, cache, 2, 11)], NOW, all_or_nothing=False, cache=cache))
        th.join(1.0)
        assert th.is_alive(), "an admission ran under the exclusive intake lock"
    th.join(20)
    assert got["out"][0].code == "OK"


def test_ids_from_elsewhere_move_the_sequence(pg_store):
    """An order stored with an id of its own (the import path: ``admit_orders`` without
    clientOrderIds, under the exclusive lock) moves the sequence past it: the client API's
    next id is above it. A migration from 0008 starts the sequence above every stored id."""
    store, st_ = pg_store
    cache = ords.ReferenceCache()
    (a,) = ords.submit(store, st_, [wire(store, cache, 1, 1)], NOW, all_or_nothing=True,
                       cache=cache)
    imported = ords._with_id(wire(store, cache, 2, 2).order, 5000)
    with store.write() as tx:
        adm = admit_orders(tx, [imported], now_ms=NOW, end_of_trading=timedelta(hours=12))
        assert [so.order_id for so in adm.admitted] == [5000]
    (b,) = ords.submit(store, st_, [wire(store, cache, 3, 3)], NOW, all_or_nothing=True,
                       cache=cache)
    assert a.order_id < 5000 < b.order_id
    # a lower id from elsewhere never moves it back
    low = ords._with_id(wire(store, cache, 2, 4).order, 4000)
    with store.write() as tx:
        admit_orders(tx, [low], now_ms=NOW, end_of_trading=timedelta(hours=12))
    (c,) = ords.submit(store, st_, [wire(store, cache, 3, 5)], NOW, all_or_nothing=True,
                       cache=cache)
    assert c.order_id == b.order_id + 1
    downgrade(store.engine, "0008")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_class WHERE relname = 'order_ids'"
                                 )).scalar() == 0
    upgrade(store.engine)
    (d,) = ords.submit(store, st_, [wire(store, cache, 3, 6)], NOW, all_or_nothing=True,
                       cache=cache)
    assert d.order_id == c.order_id + 1  # max + 1 of the stored ids


@pytest.mark.parametrize("single", [False, True])
def test_a_delisting_committed_while_an_intake_waits_for_its_locks_is_seen(pg_store, single):
    """The admin API's delisting takes the intake lock exclusive, marks the contract and
    cancels its live orders. An intake that read the reference data before that commit (the
    cache: no contract delisted) and then waited for its locks must see the delisting: its
    order on the contract is refused, not left live on a delisted contract."""
    store, st_ = pg_store
    cache = ords.ReferenceCache()
    w = wire(store, cache, 1, 10)  # the cache holds the contracts, none delisted
    with store.write() as tx:
        lock_intake(tx)
        assert repo.delist(tx, 1, NOW)
        th, got = _in_thread(lambda: ords.submit(store, st_, [w], NOW, all_or_nothing=single,
                                                 cache=cache))
        th.join(1.0)
        assert th.is_alive(), "the intake did not wait for the exclusive intake lock"
    th.join(20)
    assert not th.is_alive()
    if single:
        assert isinstance(got.get("error"), ApiError), got
        assert got["error"].code == "INVALID_CONTRACT_ID"
    else:
        assert "error" not in got and got["out"][0].code == "INVALID_CONTRACT_ID"
    with store.read() as tx:
        assert tx.live_orders() == []
        assert tx.count("outbox") == 0 or all(
            e.payload.get("clientOrderId") != 10 for e in tx.events_after(0))


def test_the_fingerprint_read_under_the_locks_keeps_the_cache(pg_store):
    """The intake reads the reference fingerprint in its locks' pipeline and hands it to the
    cache: it is the very key ``reference_fingerprint`` gives (same values, same types), so
    the contracts the orders were parsed with stay the cached ones (their locks computed at
    parsing are used) and nothing is read again."""
    store, st_ = pg_store
    cache = ords.ReferenceCache()
    w = wire(store, cache, 1, 10)
    (out,) = ords.submit(store, st_, [w], NOW, all_or_nothing=True, cache=cache)
    assert out.code == "OK"
    with store.read() as tx:
        assert cache.get(tx)[0] is w.reference


def test_outbox_events_follow_the_commit_order(pg_store):
    """The outbox readers move their cursor to the last ``seq`` they saw: an event committed
    after one with a higher seq would never be delivered. While an admission of client 1 has
    appended its events (its seq taken) and not committed, an admission of client 2 does not
    commit its events before it: no reader sees client 2's events without client 1's."""
    store, st_ = pg_store
    cache = ords.ReferenceCache()
    with store.read() as tx:
        start = tx.last_event_seq()
    with store.write() as tx:
        lock_clients(tx, [1])
        tx.append_events([Event(EventKind.ALERT, {"message": "client 1's"})], NOW)
        th, got = _in_thread(lambda: ords.submit(
            store, st_, [wire(store, cache, 2, 1)], NOW, all_or_nothing=False, cache=cache))
        th.join(1.5)
        with store.read() as other:
            seen = other.events_after(start)
        assert seen == [], "a later admission's events were visible before an earlier seq's"
    th.join(20)
    assert got["out"][0].code == "OK"
    with store.read() as tx:
        kinds = [(e.kind, e.payload.get("clientId")) for e in tx.events_after(start)]
    assert kinds[0] == (EventKind.ALERT, None)
    assert (EventKind.EXEC_REPORT, 2) in kinds[1:]


# ---- invariants under concurrent writers (hypothesis) -------------------------------------

_COUNTER = itertools.count(1)
_SIDES = {"BUY": (BUY, "100.0"), "SELL": (SELL, "-90.0"), "SELL_HIGH": (SELL, "-150.0")}

order_st = st.tuples(st.integers(0, 2),  # which of the example's clients
                     st.integers(1, 6),  # clientOrderId (small: duplicates happen)
                     st.sampled_from(sorted(_SIDES)))
requests_st = st.lists(st.lists(order_st, min_size=1, max_size=4), min_size=1, max_size=3)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(work=st.lists(requests_st, min_size=2, max_size=4),
       fits=st.lists(st.integers(0, 4), min_size=3, max_size=3))
def test_concurrent_writers_of_overlapping_clients_keep_every_invariant(pg_store, work, fits):
    """Writers (threads, connections of their own) submit at once requests mixing three
    clients, whose clientOrderIds collide, whose locks exceed the funds and whose orders
    cross each other (a BUY at 100 crosses a SELL at 90, not one at 150): every order id
    once, each clientOrderId once per client, per client and currency ``orderValue`` = the sum
    of its live orders' locks ≤ its funds, and no client's live orders cross."""
    store, st_ = pg_store
    cache = ords.ReferenceCache()
    base = 1000 * next(_COUNTER)
    clients = [base + i for i in range(3)]
    buy_lock = wire(store, cache, clients[0], 1).lock
    sell_lock = wire(store, cache, clients[0], 1, SELL, "-90.0").lock
    assert buy_lock is not None and sell_lock is not None
    with store.write() as tx:
        tx.put_fund_locks([FundLock(c, cur, f * max(buy_lock[i], sell_lock[i]))
                           for c, f in zip(clients, fits, strict=True)
                           for i, cur in enumerate(("WBTC", "USDC"))], NOW)
    batches = [[[wire(store, cache, clients[c], coid, *_SIDES[side]) for c, coid, side in req]
                for req in reqs] for reqs in work]
    start = threading.Barrier(len(batches))
    errors: list[BaseException] = []
    outcomes: list[ords.Outcome] = []
    guard = threading.Lock()

    def run(mine) -> None:
        try:
            start.wait()
            for req in mine:
                out = ords.submit(store, st_, req, NOW, all_or_nothing=False, cache=cache)
                with guard:
                    outcomes.extend(out)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    ok = [o for o in outcomes if o.code == "OK"]
    assert {o.code for o in outcomes} <= {"OK", "DUPLICATE_ORDER_ID", "INSUFFICIENT_FUNDS",
                                          "SELF_MATCH"}, outcomes
    with store.read() as tx:
        live = tx.live_orders(client_ids=clients)
        funds = tx.fund_locks(clients)
    assert len({o.order_id for o in ok}) == len(ok)
    assert sorted(so.order_id for so in live) == sorted(o.order_id for o in ok)
    keys = [(so.client_id, so.client_order_id) for so in live]
    assert len(set(keys)) == len(keys)
    locked: dict[tuple[int, str], int] = defaultdict(int)
    for so in live:
        locked[(so.client_id, "WBTC")] += so.lock_underlying
        locked[(so.client_id, "USDC")] += so.lock_numeraire
    for (c, cur), f in funds.items():
        assert f.order_value == locked.get((c, cur), 0), (c, cur)
        assert f.order_value <= f.fund_lock_value, (c, cur)
    for a, b in itertools.combinations(live, 2):
        assert a.client_id != b.client_id or not crosses(a.order, b.order), (a, b)
