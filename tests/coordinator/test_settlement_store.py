"""The SQL settlement port against the in-memory reference: any legal sequence of batch
status changes gives the same movement states, one tracking row per change, and an illegal
change is refused without writing anything (property test, SQLite)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.cash import CashMovement, MovementOrigin, PositionChange
from coordinator.clock import ManualClock
from coordinator.persistence import Store
from coordinator.persistence import settlement as sq
from coordinator.persistence.migrate import upgrade
from settlement.deploy import Deployment
from settlement.errors import IllegalSettlementTransition
from settlement.port import BatchRecord, InMemorySettlementStore, MovementPart, SentTx
from settlement.port import SettlementTransition as Tr
from settlement.status import SettleStatus, allowed_transitions
from tests.coordinator.conftest import seed
from tests.coordinator.settle_helpers import client_account, register, write_movements

PAIR = "WETH/USDC"
IDS = (101, 102, 103)
DEP = Deployment(chain_id=31337, start_block=1, fund_lock="0x" + "f1" * 20, admin="0x" + "a" * 40,
                 operator="0x" + "b" * 40, tokens={"WETH": "0x" + "e" * 40,
                                                   "USDC": "0x" + "c" * 40},
                 ledgers={PAIR: "0x" + "d" * 40})


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    clock = ManualClock(1_700_000_000_000)
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('s') / 'ccp.sqlite3'}")
    upgrade(store.engine)
    register(store, clock, IDS)
    seed(store, clock, credit=None)
    yield store, clock, sq.SqlSettlement(store, DEP, clock), itertools.count(1)
    store.dispose()


def _moves(origin: int) -> list[CashMovement]:
    return [CashMovement(c, PAIR, MovementOrigin.BATCH, origin, 0, 5 + i,
                         (PositionChange(2, (-1) ** i * 10**6),))
            for i, c in enumerate(IDS)]


def _parts(moves) -> list[MovementPart]:
    return [MovementPart(m.key, m.client_id, client_account(m.client_id).address, m.positions,
                         m.underlying_amount, m.strike_amount) for m in moves]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3)), max_size=12))
def test_sql_port_matches_the_in_memory_reference(env, steps):
    store, clock, port, counter = env
    origin = next(counter)
    moves = _moves(origin)
    write_movements(store, clock, moves)
    parts = _parts(moves)
    # movement 0 is split over two batches (positions in the first, its amounts in the second)
    first = MovementPart(parts[0].movement_key, parts[0].client_id, parts[0].address,
                         parts[0].positions, 0, 0)
    last = MovementPart(parts[0].movement_key, parts[0].client_id, parts[0].address, (),
                        parts[0].underlying_amount, parts[0].strike_amount)
    b1, b2 = port.next_backend_id(), port.next_backend_id()
    batches = [BatchRecord(b1, PAIR, DEP.ledgers[PAIR], (first, parts[1]), 1),
               BatchRecord(b2, PAIR, DEP.ledgers[PAIR], (last, parts[2]), 1)]
    ref = InMemorySettlementStore()
    port.record_batches(batches)
    ref.record_batches(batches)
    status: dict[int, SettleStatus | None] = {b1: None, b2: None}
    moves_of = {b.backend_id: b for b in batches}
    changes = {m.key: 0 for m in moves}
    for which, pick in steps:
        bid = (b1, b2)[which]
        options = sorted(allowed_transitions(status[bid]))
        new = options[pick % len(options)]
        ts = [Tr(p.movement_key, bid, status[bid], new, "0x" + "ab" * 32, 7, "why", 1)
              for p in moves_of[bid].parts]
        port.record_tx(bid, SentTx("0x%064x" % (bid * 1000 + len(steps)), 1, 2, 1))
        port.record_transitions(ts)
        ref.record_transitions(ts)
        status[bid] = new
        for tr in ts:
            changes[tr.movement_key] += 1
    with store.read() as tx:
        stored = {m.key: (state, mid) for mid, state, m in tx.movements(origin_id=origin)
                  if m.client_id}
        for key, (state, mid) in stored.items():
            want = ref.movement_status(key) or SettleStatus.PENDING
            assert state == str(want), key
            assert len(tx.trackings(mid)) == 1 + changes[key]
    # resuming: the store remembers what the reference does
    opened = {ob.record.backend_id: ob for ob in port.open_batches()}
    for bid in (b1, b2):
        assert opened[bid].status == status[bid]
        assert opened[bid].record.parts == moves_of[bid].parts
    # an illegal change is refused and writes nothing
    illegal = next((s for s in SettleStatus if s not in allowed_transitions(status[b1])), None)
    if illegal is not None:
        with store.read() as tx:
            before = len(tx.trackings(stored[moves[1].key][1]))
        with pytest.raises(IllegalSettlementTransition):
            port.record_transitions([Tr(p.movement_key, b1, status[b1], illegal)
                                     for p in moves_of[b1].parts])
        with store.read() as tx:
            assert len(tx.trackings(stored[moves[1].key][1])) == before
