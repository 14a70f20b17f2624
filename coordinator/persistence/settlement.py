"""Settlement in the store: the SQL side of ``settlement.port`` (batches, transitions, chain
events, the monitor's edge, the reconciliation view) — repository functions over a ``Tx`` and
:class:`SqlSettlement`, the adapter the settlement service and the chain monitor are given.

Units: positions and movement amounts in precision units (as ``cash_movements``), fund values in
precision units of their currency; native token amounts of chain events as decimal strings.

How the funds state follows settlement (collateral.md §1): when a batch's cash movements are
written, the coordinator subtracts what each client pays from its ``settleValue``. When the chain
monitor — past its re-org-safe depth — sees the Ledger's ``PositionsUpdated(backendId)``, ONE
transaction sets each client's ``fundLockValue`` from the FundLock's ``BalanceUpdated`` events
(the balance on chain) and gives the batch's amounts back to ``settleValue``; the clearing-house
account (client 0) follows the FundLock's ``collateral`` the same way. So ``fundLockValue +
settleValue`` never counts a payment twice nor misses it. The same transaction moves the edge.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, insert, select, update

from auction.cash import CashMovement, MovementOrigin, PositionChange
from auction.products import Currency, CurrencyPair
from coordinator.clock import Clock
from coordinator.events import Event, EventKind
from coordinator.persistence import tables as t
from coordinator.persistence.errors import Conflict
from coordinator.persistence.intake import lock_intake
from coordinator.persistence.store import Store, Tx
from settlement.events import (
    BatchApplied,
    ChainEvent,
    ClientRegistered,
    FundsChanged,
    PositionChanged,
)
from settlement.port import (
    BatchRecord,
    MovementPart,
    OpenBatch,
    SentTx,
    SettlementTransition,
)
from settlement.status import SettleStatus, transition
from validator.collateral import CLEARING_HOUSE_ID

log = logging.getLogger(__name__)

S = SettleStatus
BACKEND_ID_EDGE = "settlement:backend_id"


def monitor_edge_name(chain_id: int, fund_lock: str) -> str:
    """The monitor's edge is per chain and FundLock: a new deployment starts afresh."""
    return f"chain:{chain_id}:{fund_lock.lower()}"


def aggregate(states: Iterable[str | None]) -> str:
    """A movement's state over its parts: CONFIRMED only when every part is."""
    states = list(states)
    if not states:
        return str(S.PENDING)
    if str(S.FAILED) in states:
        return str(S.FAILED)
    if None in states or str(S.PENDING) in states:
        return str(S.PENDING)
    if str(S.REPLACED) in states:
        return str(S.REPLACED)
    return str(S.CONFIRMED)


# ---- clients ------------------------------------------------------------------------------

def client_of_address(tx: Tx, address: str) -> int | None:
    return tx.conn.scalar(select(t.clients.c.client_id).where(
        func.lower(t.clients.c.eth_address) == address.lower()))


def address_of(tx: Tx, client_id: int) -> str | None:
    return tx.conn.scalar(select(t.clients.c.eth_address).where(
        t.clients.c.client_id == client_id))


def register_client(tx: Tx, address: str, now_ms: int, client_id: int | None = None) -> int:
    """The client of ``address``; registered when unknown (seed 001: registration on
    deposit, or on first login). ``client_id`` gives an existing client without an address
    its address (else a fresh id: one above the largest). Conflict when the address or the
    id belongs to another client."""
    have = client_of_address(tx, address)
    if have is not None:
        if client_id is not None and client_id != have:
            raise Conflict(f"address {address} is client {have}, not {client_id}")
        return have
    if client_id is not None:
        row = tx.conn.execute(select(t.clients).where(t.clients.c.client_id == client_id)).first()
        if row is not None:
            if row.eth_address:
                raise Conflict(f"client {client_id} has the address {row.eth_address}")
            tx.conn.execute(update(t.clients).where(t.clients.c.client_id == client_id)
                            .values(eth_address=address))
            return client_id
    else:
        client_id = int(tx.conn.scalar(select(func.coalesce(func.max(t.clients.c.client_id),
                                                            CLEARING_HOUSE_ID))) + 1)
    tx.conn.execute(insert(t.clients).values(client_id=client_id, eth_address=address,
                                             registered_ms=now_ms))
    return client_id


def addresses(tx: Tx) -> dict[int, str]:
    return {r.client_id: r.eth_address for r in tx.conn.execute(
        select(t.clients.c.client_id, t.clients.c.eth_address)
        .where(t.clients.c.eth_address.is_not(None)))}


# ---- movements to settle ------------------------------------------------------------------

def next_backend_id(tx: Tx, now_ms: int) -> int:
    last = tx.edge(BACKEND_ID_EDGE) or 0
    top = tx.conn.scalar(select(func.max(t.settlement_batches.c.backend_id))) or 0
    bid = max(last, top) + 1
    tx.set_edge(BACKEND_ID_EDGE, bid, now_ms)
    return bid


def unsettled_movements(tx: Tx, limit: int = 1000) -> list[tuple[int, CashMovement]]:
    """Clients' movements still SETTLE_PENDING and in no settlement batch, oldest first (the
    clearing house's are not sent: its account on chain is the FundLock's collateral)."""
    part = select(t.settlement_parts.c.movement_id).where(
        t.settlement_parts.c.movement_id == t.cash_movements.c.id).exists()
    q = (select(t.cash_movements).where(and_(
        t.cash_movements.c.state == str(S.PENDING),
        t.cash_movements.c.client_id != CLEARING_HOUSE_ID, ~part))
        .order_by(t.cash_movements.c.id).limit(limit))
    rows = tx.conn.execute(q).all()
    if not rows:
        return []
    pos: dict[int, list[PositionChange]] = defaultdict(list)
    for r in tx.conn.execute(select(t.cash_movement_positions).where(
            t.cash_movement_positions.c.movement_id.in_([r.id for r in rows]))
            .order_by(t.cash_movement_positions.c.movement_id,
                      t.cash_movement_positions.c.contract_id)):
        pos[r.movement_id].append(PositionChange(r.contract_id, r.size))
    return [(r.id, CashMovement(r.client_id, r.pair, MovementOrigin(r.origin), r.origin_id,
                                r.underlying_amount, r.strike_amount, tuple(pos[r.id])))
            for r in rows]


def _track(tx: Tx, movement_id: int, from_state: str | None, to_state: str, now_ms: int,
           tx_hash: str | None, detail: str) -> None:
    tx.conn.execute(insert(t.cash_movement_trackings).values(
        movement_id=movement_id, from_state=from_state, to_state=to_state, tx_hash=tx_hash,
        detail=detail[:2000], at_ms=now_ms))


def settle_off_chain(tx: Tx, movement_id: int, state: SettleStatus, detail: str,
                     now_ms: int) -> None:
    """A movement that never goes on chain: nothing to settle (CONFIRMED), or it cannot be
    (FAILED, with the reason, and an alert)."""
    res = tx.conn.execute(update(t.cash_movements).where(and_(
        t.cash_movements.c.id == movement_id, t.cash_movements.c.state == str(S.PENDING)))
        .values(state=str(state)))
    if res.rowcount != 1:
        raise Conflict(f"cash movement {movement_id} is no longer {S.PENDING}")
    _track(tx, movement_id, str(S.PENDING), str(state), now_ms, None, detail)
    if state is S.FAILED:
        tx.append_events([Event(EventKind.ALERT, {
            "source": "settlement", "movementId": movement_id, "message": detail})], now_ms)


def _movement_ids(tx: Tx, keys: Iterable[str]) -> dict[str, int]:
    keys = list(set(keys))
    out: dict[str, int] = {}
    for i in range(0, len(keys), 5000):
        out.update(dict(tx.conn.execute(select(t.cash_movements.c.key, t.cash_movements.c.id)
                                        .where(t.cash_movements.c.key.in_(keys[i:i + 5000])))
                        .all()))
    return out


def record_batches(tx: Tx, batches: Sequence[BatchRecord], now_ms: int) -> None:
    ids = _movement_ids(tx, (p.movement_key for b in batches for p in b.parts))
    batch_rows, part_rows, pos_rows = [], [], []
    for b in batches:
        batch_rows.append(dict(backend_id=b.backend_id, pair=b.pair, ledger=b.ledger,
                               gas_limit=b.gas_limit, status=None, reason=None, attempt=0,
                               resubmissions=0, final=False, created_ms=now_ms,
                               updated_ms=now_ms))
        for no, p in enumerate(b.parts):
            if p.movement_key not in ids:
                raise Conflict(f"batch {b.backend_id}: no cash movement {p.movement_key}")
            part_rows.append(dict(backend_id=b.backend_id, part_no=no,
                                  movement_id=ids[p.movement_key], address=p.address,
                                  underlying_amount=p.underlying_amount,
                                  strike_amount=p.strike_amount, status=None))
            pos_rows += [dict(backend_id=b.backend_id, part_no=no, contract_id=pc.contract_id,
                              size=pc.size) for pc in p.positions]
    if batch_rows:
        tx.conn.execute(insert(t.settlement_batches), batch_rows)
    if part_rows:
        tx.conn.execute(insert(t.settlement_parts), part_rows)
    if pos_rows:
        tx.conn.execute(insert(t.settlement_part_positions), pos_rows)


def record_transition(tx: Tx, tr: SettlementTransition, now_ms: int) -> None:
    """One part's status change: the part, its batch, its movement's state (aggregate over
    its parts) and a tracking row. An alert when a batch reverted."""
    mid = _movement_ids(tx, [tr.movement_key]).get(tr.movement_key)
    if mid is None:
        raise Conflict(f"no cash movement {tr.movement_key}")
    part = tx.conn.execute(select(t.settlement_parts).where(and_(
        t.settlement_parts.c.backend_id == tr.backend_id,
        t.settlement_parts.c.movement_id == mid))).first()
    if part is None:
        raise Conflict(f"movement {tr.movement_key} is not in batch {tr.backend_id}")
    prev = None if part.status is None else SettleStatus(part.status)
    if prev != tr.previous:
        raise Conflict(f"movement {tr.movement_key} in batch {tr.backend_id} is {prev}, "
                       f"the transition says {tr.previous}")
    new = str(transition(prev, tr.status))
    tx.conn.execute(update(t.settlement_parts).where(and_(
        t.settlement_parts.c.backend_id == tr.backend_id,
        t.settlement_parts.c.movement_id == mid)).values(status=new))
    tx.conn.execute(update(t.settlement_batches).where(
        t.settlement_batches.c.backend_id == tr.backend_id).values(
        status=new, reason=tr.reason or None, attempt=tr.attempt,
        resubmissions=tr.resubmissions, updated_ms=now_ms))
    states = tx.conn.scalars(select(t.settlement_parts.c.status).where(
        t.settlement_parts.c.movement_id == mid)).all()
    tx.conn.execute(update(t.cash_movements).where(t.cash_movements.c.id == mid)
                    .values(state=aggregate(states)))
    detail = f"backendId={tr.backend_id} attempt={tr.attempt}"
    if tr.block_number is not None:
        detail += f" block={tr.block_number}"
    if tr.reason:
        detail += f": {tr.reason}"
    _track(tx, mid, None if prev is None else str(prev), new, now_ms, tr.tx_hash, detail)
    if tr.status is S.FAILED and tr.reason.startswith("reverted") and part.part_no == 0:
        tx.append_events([Event(EventKind.ALERT, {
            "source": "settlement", "backendId": tr.backend_id, "message": detail})], now_ms)


def record_tx(tx: Tx, backend_id: int, sent: SentTx, now_ms: int) -> None:
    """Idempotent: signing the same transaction again (same nonce and fees) gives the same
    hash — a resend of a transaction recorded but never sent."""
    if tx.conn.scalar(select(t.settlement_txs.c.backend_id).where(
            t.settlement_txs.c.tx_hash == sent.tx_hash)) is not None:
        return
    tx.conn.execute(insert(t.settlement_txs).values(
        tx_hash=sent.tx_hash, backend_id=backend_id, nonce=sent.nonce,
        max_fee_per_gas=sent.max_fee_per_gas,
        max_priority_fee_per_gas=sent.max_priority_fee_per_gas, replacement=sent.replacement,
        sent_ms=now_ms))


def record_final(tx: Tx, backend_id: int, now_ms: int) -> None:
    tx.conn.execute(update(t.settlement_batches).where(
        t.settlement_batches.c.backend_id == backend_id).values(final=True, updated_ms=now_ms))


def _parts_of(tx: Tx, backend_ids: Sequence[int]) -> dict[int, list[tuple[str | None,
                                                                          MovementPart]]]:
    """backendId → [(part status, part)] in part order."""
    if not backend_ids:
        return {}
    q = (select(t.settlement_parts, t.cash_movements.c.key, t.cash_movements.c.client_id)
         .join(t.cash_movements, t.cash_movements.c.id == t.settlement_parts.c.movement_id)
         .where(t.settlement_parts.c.backend_id.in_(backend_ids))
         .order_by(t.settlement_parts.c.backend_id, t.settlement_parts.c.part_no))
    pos: dict[tuple[int, int], list[PositionChange]] = defaultdict(list)
    for r in tx.conn.execute(select(t.settlement_part_positions).where(
            t.settlement_part_positions.c.backend_id.in_(backend_ids)).order_by(
            t.settlement_part_positions.c.backend_id, t.settlement_part_positions.c.part_no,
            t.settlement_part_positions.c.contract_id)):
        pos[(r.backend_id, r.part_no)].append(PositionChange(r.contract_id, r.size))
    out: dict[int, list[tuple[str | None, MovementPart]]] = defaultdict(list)
    for r in tx.conn.execute(q):
        out[r.backend_id].append((r.status, MovementPart(
            r.key, r.client_id, r.address, tuple(pos[(r.backend_id, r.part_no)]),
            r.underlying_amount, r.strike_amount)))
    return out


def open_batches(tx: Tx) -> list[OpenBatch]:
    rows = tx.conn.execute(select(t.settlement_batches).where(
        t.settlement_batches.c.final == False)  # noqa: E712 (SQL)
        .order_by(t.settlement_batches.c.backend_id)).all()
    ids = [r.backend_id for r in rows]
    parts = _parts_of(tx, ids)
    txs: dict[int, list[SentTx]] = defaultdict(list)
    if ids:
        for r in tx.conn.execute(select(t.settlement_txs).where(
                t.settlement_txs.c.backend_id.in_(ids)).order_by(t.settlement_txs.c.sent_ms)):
            txs[r.backend_id].append(SentTx(r.tx_hash, r.nonce, r.max_fee_per_gas,
                                            r.max_priority_fee_per_gas, bool(r.replacement)))
    out = []
    for r in rows:
        ps = parts.get(r.backend_id, [])
        # sent_ms ties (same millisecond): a replacement comes after the first transaction
        sent = sorted(txs[r.backend_id], key=lambda s: s.replacement)
        out.append(OpenBatch(
            BatchRecord(r.backend_id, r.pair, r.ledger, tuple(p for _, p in ps), r.gas_limit),
            None if r.status is None else SettleStatus(r.status), tuple(sent), r.attempt,
            r.resubmissions, r.reason or ""))
    return out


def sync_clearing_house(tx: Tx, now_ms: int) -> int:
    """The clearing house's movements are never sent (its account on chain is the FundLock's
    collateral): each takes the aggregate state of its clients' movements of the same origin
    and pair. Returns how many changed."""
    house = tx.conn.execute(select(t.cash_movements).where(and_(
        t.cash_movements.c.client_id == CLEARING_HOUSE_ID,
        t.cash_movements.c.state != str(S.CONFIRMED)))).all()
    changed = 0
    for h in house:
        states = tx.conn.scalars(select(t.cash_movements.c.state).where(and_(
            t.cash_movements.c.origin == h.origin, t.cash_movements.c.origin_id == h.origin_id,
            t.cash_movements.c.pair == h.pair,
            t.cash_movements.c.client_id != CLEARING_HOUSE_ID))).all()
        new = aggregate(states) if states else str(S.CONFIRMED)
        if new != h.state:
            tx.conn.execute(update(t.cash_movements).where(t.cash_movements.c.id == h.id)
                            .values(state=new))
            _track(tx, h.id, h.state, new, now_ms, None,
                   "clearing house: follows its clients' movements (FundLock collateral)")
            changed += 1
    return changed


# ---- chain events -------------------------------------------------------------------------

def _add_funds(tx: Tx, client_id: int, currency: str, now_ms: int, *,
               fund_lock_value: int | None = None, fund_delta: int = 0,
               settle_delta: int = 0) -> None:
    """Change one (client, currency) row under a row lock (other writers: the coordinator)."""
    key = and_(t.fund_locks.c.client_id == client_id, t.fund_locks.c.currency == currency)
    row = tx.conn.execute(select(t.fund_locks).where(key).with_for_update()).first()
    if row is None:
        tx.ensure_clients([client_id], now_ms)
        tx.conn.execute(insert(t.fund_locks).values(
            client_id=client_id, currency=currency,
            fund_lock_value=(fund_lock_value or 0) + fund_delta, order_value=0,
            settle_value=settle_delta, updated_ms=now_ms))
        return
    value = row.fund_lock_value if fund_lock_value is None else fund_lock_value
    tx.conn.execute(update(t.fund_locks).where(key).values(
        fund_lock_value=value + fund_delta, settle_value=row.settle_value + settle_delta,
        updated_ms=now_ms))


def _funds_event(tx: Tx, client_id: int, currency: str) -> Event:
    r = tx.conn.execute(select(t.fund_locks).where(and_(
        t.fund_locks.c.client_id == client_id, t.fund_locks.c.currency == currency))).first()
    return Event(EventKind.FUNDS_UPDATED, {
        "clientId": client_id, "currency": currency, "fundLockValue": r.fund_lock_value,
        "orderValue": r.order_value, "settleValue": r.settle_value})


def _batch_applied(tx: Tx, ev: BatchApplied, now_ms: int,
                   touched: set[tuple[int, str]]) -> str | None:
    """Release the batch's amounts from settleValue (once). Returns an alert, if any."""
    row = tx.conn.execute(select(t.settlement_batches).where(
        t.settlement_batches.c.backend_id == ev.backend_id)).first()
    if row is None:
        return (f"the Ledger of {ev.pair} applied backendId {ev.backend_id} at block "
                f"{ev.ref.block_number}, which the store never sent")
    if row.applied_block is not None:
        return None  # released already (cannot happen: each log is applied once)
    tx.conn.execute(update(t.settlement_batches).where(
        t.settlement_batches.c.backend_id == ev.backend_id).values(
        applied_block=ev.ref.block_number, updated_ms=now_ms))
    pair = CurrencyPair.parse(row.pair)
    q = (select(t.settlement_parts.c.underlying_amount, t.settlement_parts.c.strike_amount,
                t.cash_movements.c.client_id, t.cash_movements.c.origin,
                t.cash_movements.c.origin_id)
         .join(t.cash_movements, t.cash_movements.c.id == t.settlement_parts.c.movement_id)
         .where(t.settlement_parts.c.backend_id == ev.backend_id))
    house_fund: dict[str, int] = defaultdict(int)
    house_settle: dict[str, int] = defaultdict(int)
    for r in tx.conn.execute(q).all():
        has_house = tx.conn.scalar(select(func.count()).select_from(t.cash_movements).where(
            and_(t.cash_movements.c.origin == r.origin,
                 t.cash_movements.c.origin_id == r.origin_id,
                 t.cash_movements.c.pair == row.pair,
                 t.cash_movements.c.client_id == CLEARING_HOUSE_ID))) > 0
        for cur, amt in ((pair.underlying, r.underlying_amount),
                         (pair.numeraire, r.strike_amount)):
            if not amt:
                continue
            _add_funds(tx, r.client_id, cur, now_ms, settle_delta=amt)
            touched.add((r.client_id, cur))
            house_fund[cur] += amt  # what the clients paid is in the FundLock's collateral
            if has_house:
                house_settle[cur] -= amt
    for cur in sorted(house_fund):
        _add_funds(tx, CLEARING_HOUSE_ID, cur, now_ms, fund_delta=house_fund[cur],
                   settle_delta=house_settle[cur])
        touched.add((CLEARING_HOUSE_ID, cur))
    return None


def _clients_touched(tx: Tx, events: Sequence[ChainEvent]) -> set[int]:
    """The known clients whose fund rows the events change: locked first, in the order every
    other writer locks fund rows (client, currency ascending; the loop, expiry, intake), not
    one by one in chain order — two writers taking the same rows in different orders can
    deadlock. (A client registered by these events has no rows another writer could hold.)"""
    out: set[int] = set()
    for ev in events:
        if isinstance(ev, (ClientRegistered, FundsChanged)):
            cid = client_of_address(tx, ev.address)
            if cid is not None:
                out.add(cid)
        elif isinstance(ev, BatchApplied):
            out.add(CLEARING_HOUSE_ID)
            out.update(tx.conn.scalars(
                select(t.cash_movements.c.client_id)
                .join(t.settlement_parts, t.settlement_parts.c.movement_id == t.cash_movements.c.id)
                .where(t.settlement_parts.c.backend_id == ev.backend_id)))
    return out


def apply_chain_events(tx: Tx, events: Sequence[ChainEvent], edge_name: str, edge: int,
                       scales: Mapping[str, int], now_ms: int) -> list[str]:
    """Apply the monitor's events in chain order and move the edge — in the caller's ONE
    transaction. Returns alerts (also written to the outbox).

    PostgreSQL: under the intake lock EXCLUSIVE (:func:`~coordinator.persistence.intake.lock_intake`):
    the fund rows are changed here in chain order, not in the sorted order in which an
    admission locks its clients' rows, and a first deposit inserts a row an admission may be
    inserting too; holding the intake lock, no admission runs meanwhile (one per block poll:
    a pause of the intake of a few ms). The loop and expiry do not take the intake lock: the
    fund rows of every known client involved are locked first, in their order
    (:func:`_clients_touched`)."""
    lock_intake(tx)
    old = tx.edge(edge_name)
    if old is not None and edge < old:
        raise Conflict(f"the edge {edge_name} would move back from {old} to {edge}")
    tx.fund_locks(_clients_touched(tx, events), for_update=True)
    known = set(tx.currencies())
    touched: set[tuple[int, str]] = set()
    alerts: list[str] = []
    rows = []
    for ev in events:
        if isinstance(ev, PositionChanged):
            continue  # positions are checked by the reconciliation, not copied
        row = dict(block_number=ev.ref.block_number, log_index=ev.ref.log_index,
                   tx_hash=ev.ref.tx_hash, block_hash=ev.ref.block_hash, applied_ms=now_ms)
        match ev:
            case ClientRegistered(address=a):
                cid = register_client(tx, a, now_ms)
                rows.append({**row, "kind": "REGISTERED", "address": a, "client_id": cid})
            case FundsChanged() as f:
                cid = register_client(tx, f.address, now_ms)
                rows.append({**row, "kind": str(f.kind), "address": f.address,
                             "client_id": cid, "currency": f.currency, "amount": str(f.amount),
                             "balance": None if f.balance is None else str(f.balance),
                             "backend_id": f.backend_id})
                if f.balance is not None and f.currency in scales and f.currency in known:
                    _add_funds(tx, cid, f.currency, now_ms,
                               fund_lock_value=f.balance // scales[f.currency])
                    touched.add((cid, f.currency))
            case BatchApplied() as b:
                rows.append({**row, "kind": "BATCH_APPLIED", "backend_id": b.backend_id})
                alert = _batch_applied(tx, b, now_ms, touched)
                if alert:
                    alerts.append(alert)
    if rows:
        tx.conn.execute(insert(t.chain_events), [
            {k: r.get(k) for k in ("block_number", "log_index", "tx_hash", "block_hash", "kind",
                                   "address", "client_id", "currency", "amount", "balance",
                                   "backend_id", "applied_ms")} for r in rows])
    tx.set_edge(edge_name, edge, now_ms)
    out = [_funds_event(tx, c, cur) for c, cur in sorted(touched)]
    out += [Event(EventKind.ALERT, {"source": "chain monitor", "message": a}) for a in alerts]
    tx.append_events(out, now_ms)
    return alerts


# ---- reconciliation -----------------------------------------------------------------------

def expected_positions(tx: Tx) -> dict[tuple[str, int, str], int]:
    """(pair, contract, address) → Σ of the positions of every batch the monitor saw
    applied: what each Ledger holds at the monitor's edge."""
    q = (select(t.settlement_batches.c.pair, t.settlement_part_positions.c.contract_id,
                t.settlement_parts.c.address, func.sum(t.settlement_part_positions.c.size))
         .join(t.settlement_parts, and_(
             t.settlement_parts.c.backend_id == t.settlement_part_positions.c.backend_id,
             t.settlement_parts.c.part_no == t.settlement_part_positions.c.part_no))
         .join(t.settlement_batches,
               t.settlement_batches.c.backend_id == t.settlement_parts.c.backend_id)
         .where(t.settlement_batches.c.applied_block.is_not(None))
         .group_by(t.settlement_batches.c.pair, t.settlement_part_positions.c.contract_id,
                   t.settlement_parts.c.address))
    return {(p, c, a): int(n) for p, c, a, n in tx.conn.execute(q)}


def expected_balances(tx: Tx, currencies: Iterable[str], fund_lock: str
                      ) -> dict[tuple[str, str], int]:
    """(address, currency) → fundLockValue of every client with an address (0 when the store
    has no row), and (FundLock address, currency) → the clearing house's (its collateral)."""
    curs = sorted(currencies)
    values = {(r.client_id, r.currency): r.fund_lock_value
              for r in tx.conn.execute(select(t.fund_locks))}
    out = {}
    for cid, addr in addresses(tx).items():
        for cur in curs:
            out[(addr, cur)] = values.get((cid, cur), 0)
    for cur in curs:
        out[(fund_lock, cur)] = values.get((CLEARING_HOUSE_ID, cur), 0)
    return out


def store_positions(tx: Tx) -> dict[tuple[str, int, str], int]:
    """(pair, contract, address) → the positions table in precision units (lots × lot size)."""
    q = (select(t.contracts.c.pair, t.positions.c.contract_id, t.clients.c.eth_address,
                t.positions.c.lots, t.contracts.c.lot_size)
         .join(t.contracts, t.contracts.c.contract_id == t.positions.c.contract_id)
         .join(t.clients, t.clients.c.client_id == t.positions.c.client_id)
         .where(t.clients.c.eth_address.is_not(None)))
    return {(p, c, a): lots * lot for p, c, a, lots, lot in tx.conn.execute(q)}


@dataclass(frozen=True)
class Backlog:
    """What settlement has not finished (the reconciliation is exact only without it)."""

    unsent: int  # movements in no batch yet
    in_flight: int  # movements sent, not yet seen applied by the monitor
    failed: tuple[str, ...]  # keys of movements in SETTLE_FAILED

    @property
    def caught_up(self) -> bool:
        return not (self.unsent or self.in_flight or self.failed)


def backlog(tx: Tx) -> Backlog:
    part = select(t.settlement_parts.c.movement_id).where(
        t.settlement_parts.c.movement_id == t.cash_movements.c.id).exists()
    unsent = tx.conn.scalar(select(func.count()).select_from(t.cash_movements).where(and_(
        t.cash_movements.c.state == str(S.PENDING),
        t.cash_movements.c.client_id != CLEARING_HOUSE_ID, ~part)))
    in_flight = tx.conn.scalar(
        select(func.count(func.distinct(t.settlement_parts.c.movement_id)))
        .join(t.settlement_batches,
              t.settlement_batches.c.backend_id == t.settlement_parts.c.backend_id)
        .join(t.cash_movements, t.cash_movements.c.id == t.settlement_parts.c.movement_id)
        .where(and_(t.settlement_batches.c.applied_block.is_(None),
                    t.cash_movements.c.state != str(S.FAILED))))
    failed = tuple(tx.conn.scalars(select(t.cash_movements.c.key).where(
        t.cash_movements.c.state == str(S.FAILED)).order_by(t.cash_movements.c.id)))
    return Backlog(int(unsent or 0), int(in_flight or 0), failed)


@dataclass(frozen=True)
class StoreSnapshot:
    """Everything the reconciliation compares, read in ONE snapshot of the store
    (``Store.snapshot()``): the monitor's edge and, as of that edge, the positions of the
    applied batches, the fund values, the backlog and the positions table. Read in separate
    transactions, a batch that the monitor applies in between makes the store look ahead of the
    chain at the edge. Implements ``settlement.port.ReconciliationView``."""

    edge: int | None
    positions: Mapping[tuple[str, int, str], int]
    balances: Mapping[tuple[str, str], int]
    backlog: Backlog
    table: Mapping[tuple[str, int, str], int]  # the positions table; {} unless caught up

    def expected_positions(self) -> Mapping[tuple[str, int, str], int]:
        return self.positions

    def expected_balances(self) -> Mapping[tuple[str, str], int]:
        return self.balances


def reconciliation_snapshot(tx: Tx, deployment) -> StoreSnapshot:
    """The store's side of the reconciliation; ``tx`` must be a ``Store.snapshot()``."""
    edge = tx.edge(monitor_edge_name(deployment.chain_id, deployment.fund_lock))
    b = backlog(tx)
    return StoreSnapshot(edge, expected_positions(tx),
                         expected_balances(tx, deployment.currencies, deployment.fund_lock), b,
                         store_positions(tx) if b.caught_up else {})


# ---- the adapter the settlement package is given ------------------------------------------

class SqlSettlement:
    """``SettlementPort``, ``ChainEventPort`` and ``ReconciliationView`` over the store; each
    call is one transaction."""

    def __init__(self, store: Store, deployment, clock: Clock, *,
                 ensure_currencies: bool = True) -> None:
        self.store = store
        self.dep = deployment
        self.clock = clock
        self.edge_name = monitor_edge_name(deployment.chain_id, deployment.fund_lock)
        self.scales = {s: 10 ** (c.decimals - c.precision)
                       for s, c in deployment.currencies.items()}
        self.last_alerts: list[str] = []
        if ensure_currencies:  # the deployment's currencies, as the store knows them
            with store.write() as tx:
                for c in deployment.currencies.values():
                    tx.put_currency(Currency(c.symbol, c.decimals, c.precision))

    # SettlementPort
    def address_of(self, client_id: int) -> str:
        with self.store.read() as tx:
            a = address_of(tx, client_id)
        if not a:
            raise KeyError(client_id)
        return a

    def next_backend_id(self) -> int:
        with self.store.write() as tx:
            return next_backend_id(tx, self.clock.now_ms())

    def record_batch(self, batch: BatchRecord) -> None:
        self.record_batches([batch])

    def record_batches(self, batches: Sequence[BatchRecord]) -> None:
        with self.store.write() as tx:
            record_batches(tx, batches, self.clock.now_ms())

    def record_transition(self, tr: SettlementTransition) -> None:
        self.record_transitions([tr])

    def record_transitions(self, ts: Sequence[SettlementTransition]) -> None:
        with self.store.write() as tx:
            now = self.clock.now_ms()
            for tr in ts:
                record_transition(tx, tr, now)

    def record_tx(self, backend_id: int, sent: SentTx) -> None:
        with self.store.write() as tx:
            record_tx(tx, backend_id, sent, self.clock.now_ms())

    def record_final(self, backend_id: int) -> None:
        with self.store.write() as tx:
            record_final(tx, backend_id, self.clock.now_ms())

    def open_batches(self) -> list[OpenBatch]:
        with self.store.read() as tx:
            return open_batches(tx)

    # ChainEventPort
    def load_edge(self) -> int | None:
        with self.store.read() as tx:
            return tx.edge(self.edge_name)

    def apply_chain_events(self, events: Sequence[ChainEvent], edge: int) -> None:
        with self.store.write() as tx:
            self.last_alerts = apply_chain_events(tx, events, self.edge_name, edge,
                                                  self.scales, self.clock.now_ms())
        for a in self.last_alerts:
            log.error("chain monitor: %s", a)

    # ReconciliationView (each call its own transaction: for a reconciliation that must be
    # exact while the venue runs, read a ``reconciliation_snapshot`` instead)
    def expected_positions(self) -> Mapping[tuple[str, int, str], int]:
        with self.store.read() as tx:
            return expected_positions(tx)

    def expected_balances(self) -> Mapping[tuple[str, str], int]:
        with self.store.read() as tx:
            return expected_balances(tx, self.dep.currencies, self.dep.fund_lock)
