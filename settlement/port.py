"""The settlement package's port: what it needs from the store (the coordinator implements it
over SQL; :class:`InMemorySettlementStore` is the reference implementation for tests).

No SQL here: the service and the monitor only call these methods.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from auction.cash import PositionChange
from settlement.events import (
    BatchApplied,
    ChainEvent,
    ClientRegistered,
    EventRef,
    FundsChanged,
    FundsKind,
    PositionChanged,
)
from settlement.status import SettleStatus, transition


@dataclass(frozen=True, slots=True)
class MovementPart:
    """The share of one cash movement carried by one batch (a movement may span batches)."""

    movement_key: str
    client_id: int
    address: str
    positions: tuple[PositionChange, ...]
    underlying_amount: int  # precision units, + the client pays
    strike_amount: int


@dataclass(frozen=True, slots=True)
class BatchRecord:
    backend_id: int
    pair: str
    ledger: str
    parts: tuple[MovementPart, ...]
    gas_limit: int


@dataclass(frozen=True, slots=True)
class SettlementTransition:
    movement_key: str
    backend_id: int
    previous: SettleStatus | None
    status: SettleStatus
    tx_hash: str | None = None
    block_number: int | None = None
    reason: str = ""
    attempt: int = 1
    resubmissions: int = 0


@dataclass(frozen=True, slots=True)
class SentTx:
    """A signed transaction of a batch, recorded before it is sent (write-ahead)."""

    tx_hash: str
    nonce: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    replacement: bool = False


@dataclass(frozen=True, slots=True)
class OpenBatch:
    """A batch not yet final, as the store remembers it (what a restarted service resumes)."""

    record: BatchRecord
    status: SettleStatus | None  # None: recorded, no transition yet (perhaps sent: see txs)
    txs: tuple[SentTx, ...] = ()
    attempt: int = 0
    resubmissions: int = 0
    reason: str = ""


@runtime_checkable
class SettlementPort(Protocol):
    """What the settlement service needs from the store."""

    def address_of(self, client_id: int) -> str:
        """The client's eth address (KeyError when unknown)."""

    def next_backend_id(self) -> int:
        """A fresh backendId, never handed out before (a persisted sequence)."""

    def record_batch(self, batch: BatchRecord) -> None:
        """Persist a batch's composition before it is first sent."""

    def record_batches(self, batches: Sequence[BatchRecord]) -> None:
        """Persist several batches at once (all or none: one submission's batches)."""

    def record_transition(self, t: SettlementTransition) -> None:
        """Persist one status change of a movement part."""

    def record_transitions(self, ts: Sequence[SettlementTransition]) -> None:
        """Persist the same status change of every part of a batch — all or none."""

    def record_tx(self, backend_id: int, tx: SentTx) -> None:
        """Persist a signed transaction of the batch BEFORE it is sent."""

    def record_final(self, backend_id: int) -> None:
        """The batch is past the finality depth: no need to watch it after a restart."""

    def open_batches(self) -> Sequence[OpenBatch]:
        """Every batch not yet final, in backendId order (a restarted service resumes them)."""


@runtime_checkable
class ChainEventPort(Protocol):
    """What the chain monitor needs from the store."""

    def load_edge(self) -> int | None:
        """The last block whose events were applied (None: nothing yet)."""

    def apply_chain_events(self, events: Sequence[ChainEvent], edge: int) -> None:
        """Apply the events and move the edge to ``edge`` — atomically (one transaction)."""


@runtime_checkable
class ReconciliationView(Protocol):
    """The store's view of what the chain should hold (precision units)."""

    def expected_positions(self) -> Mapping[tuple[str, int, str], int]:
        """(pair, contract id, address) → position."""

    def expected_balances(self) -> Mapping[tuple[str, str], int]:
        """(address, currency) → fundLockValue in the currency's precision units."""


class InMemorySettlementStore:
    """Implements all three ports in memory (tests, the embedded demo)."""

    def __init__(self, addresses: Mapping[int, str] = (), *,
                 scales: Mapping[str, int] | None = None, first_backend_id: int = 1) -> None:
        self.addresses: dict[int, str] = dict(addresses)
        self.scales = dict(scales or {})  # currency → 10^(decimals − precision)
        self._next_id = first_backend_id
        self.batches: dict[int, BatchRecord] = {}
        self.transitions: list[SettlementTransition] = []
        self.status: dict[tuple[str, int], SettleStatus] = {}
        self.edge: int | None = None
        self.applied_refs: set[EventRef] = set()
        self.events: list[ChainEvent] = []
        self.fund_lock_value: dict[tuple[str, str], int] = defaultdict(int)
        self.pending_withdrawals: dict[tuple[str, str], int] = defaultdict(int)
        self.final_batches: dict[int, int] = {}  # backendId → block
        self.txs: dict[int, list[SentTx]] = defaultdict(list)
        self.attempts: dict[int, tuple[int, int, str]] = {}  # backendId → attempt, resub, reason
        self.finals: set[int] = set()  # past the service's finality depth
        self.chain_positions: dict[tuple[str, int, str], int] = {}

    @classmethod
    def for_deployment(cls, deployment: Any, addresses: Mapping[int, str] = ()
                       ) -> InMemorySettlementStore:
        return cls(addresses, scales={s: 10 ** (c.decimals - c.precision)
                                      for s, c in deployment.currencies.items()})

    # SettlementPort
    def address_of(self, client_id: int) -> str:
        return self.addresses[client_id]

    def register(self, address: str) -> int:
        for cid, a in self.addresses.items():
            if a.lower() == address.lower():
                return cid
        cid = max(self.addresses, default=0) + 1
        self.addresses[cid] = address
        return cid

    def next_backend_id(self) -> int:
        bid, self._next_id = self._next_id, self._next_id + 1
        return bid

    def record_batch(self, batch: BatchRecord) -> None:
        if batch.backend_id in self.batches:
            raise ValueError(f"batch {batch.backend_id} recorded twice")
        self.batches[batch.backend_id] = batch

    def record_batches(self, batches: Sequence[BatchRecord]) -> None:
        for b in batches:
            if b.backend_id in self.batches:
                raise ValueError(f"batch {b.backend_id} recorded twice")
        for b in batches:
            self.record_batch(b)

    def record_transition(self, t: SettlementTransition) -> None:
        key = (t.movement_key, t.backend_id)
        current = self.status.get(key)
        if current != t.previous:
            raise ValueError(f"{key}: recorded status {current}, transition says {t.previous}")
        self.status[key] = transition(current, t.status)
        self.transitions.append(t)
        self.attempts[t.backend_id] = (t.attempt, t.resubmissions, t.reason)

    def record_transitions(self, ts: Sequence[SettlementTransition]) -> None:
        for t in ts:
            current = self.status.get((t.movement_key, t.backend_id))
            if current != t.previous:
                raise ValueError(f"{t.movement_key}: recorded status {current}, transition "
                                 f"says {t.previous}")
            transition(current, t.status)
        for t in ts:
            self.record_transition(t)

    def record_tx(self, backend_id: int, tx: SentTx) -> None:
        if tx not in self.txs[backend_id]:
            self.txs[backend_id].append(tx)

    def record_final(self, backend_id: int) -> None:
        self.finals.add(backend_id)

    def open_batches(self) -> Sequence[OpenBatch]:
        out = []
        for bid in sorted(self.batches):
            if bid in self.finals:
                continue
            b = self.batches[bid]
            status = self.status.get((b.parts[0].movement_key, bid)) if b.parts else None
            attempt, resub, reason = self.attempts.get(bid, (0, 0, ""))
            out.append(OpenBatch(b, status, tuple(self.txs[bid]), attempt, resub, reason))
        return out

    def movement_status(self, movement_key: str) -> SettleStatus | None:
        """A movement's status over all its parts: CONFIRMED only when every part is."""
        states = [s for (k, _), s in self.status.items() if k == movement_key]
        if not states:
            return None
        for s in (SettleStatus.FAILED, SettleStatus.PENDING, SettleStatus.REPLACED):
            if s in states:
                return s
        return SettleStatus.CONFIRMED

    # ChainEventPort
    def load_edge(self) -> int | None:
        return self.edge

    def apply_chain_events(self, events: Sequence[ChainEvent], edge: int) -> None:
        if self.edge is not None and edge < self.edge:
            raise ValueError(f"edge moves back from {self.edge} to {edge}")
        for ev in events:
            if ev.ref in self.applied_refs:
                raise ValueError(f"event {ev.ref} applied twice")
            self.applied_refs.add(ev.ref)
            self.events.append(ev)
            match ev:
                case ClientRegistered(address=a):
                    self.register(a)
                case FundsChanged() as f:
                    key = (f.address, f.currency)
                    if f.balance is not None:
                        self.fund_lock_value[key] = f.balance // self.scales.get(f.currency, 1)
                    if f.kind is FundsKind.WITHDRAW:
                        self.pending_withdrawals[key] += f.amount
                    elif f.kind in (FundsKind.RELEASE, FundsKind.DRAWN):
                        self.pending_withdrawals[key] -= f.amount
                case PositionChanged() as p:
                    self.chain_positions[(p.pair, p.contract_id, p.address)] = p.position
                case BatchApplied() as b:
                    self.final_batches[b.backend_id] = b.ref.block_number
        self.edge = edge

    # ReconciliationView
    def expected_positions(self) -> Mapping[tuple[str, int, str], int]:
        """Positions from the parts of every batch whose parts are all confirmed."""
        out: dict[tuple[str, int, str], int] = defaultdict(int)
        for bid, b in self.batches.items():
            if all(self.status.get((p.movement_key, bid)) is SettleStatus.CONFIRMED
                   for p in b.parts):
                for part in b.parts:
                    for pc in part.positions:
                        out[(b.pair, pc.contract_id, part.address)] += pc.size
        return dict(out)

    def expected_balances(self) -> Mapping[tuple[str, str], int]:
        return dict(self.fund_lock_value)
