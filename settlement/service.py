"""The settlement service: cash movements → Ledger batches on chain → tracked to confirmation.

* ``submit(movements)`` groups the movements per Ledger (currency pair) into batches under a gas
  budget, takes a fresh backendId for each from the port, records the batch and sends it.
* ``poll()`` follows every batch in flight: ``SETTLE_PENDING → SETTLE_CONFIRMED`` after
  ``confirmations`` blocks; ``SETTLE_FAILED`` on a revert (with its decoded reason), when the
  transaction was dropped (node restart) or when a re-org removed its block; a dropped or
  re-orged batch is resubmitted with the **same** backendId (the Ledger refuses a backendId
  twice, so a batch can never apply twice); a transaction pending longer than
  ``stuck_after_seconds`` is re-priced with the same nonce (``SETTLE_REPLACED``).
* Confirmed batches stay watched for re-orgs until ``finality_depth`` blocks deep.

Every status change of a batch goes, for all its movement parts at once, through
``SettlementPort.record_transitions``; every signed transaction is recorded (``record_tx``)
before it is sent, and ``restore()`` resumes the batches the port remembers as not final.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic, to_checksum_address

from auction.cash import CashMovement
from settlement import artifacts
from settlement.chain import Chain, Fees, Receipt
from settlement.deploy import Deployment
from settlement.errors import (
    BatchTooLarge,
    ChainRejected,
    ChainReverted,
    ChainUnavailable,
    SettlementError,
)
from settlement.port import (
    BatchRecord,
    MovementPart,
    OpenBatch,
    SentTx,
    SettlementPort,
    SettlementTransition,
)
from settlement.status import SettleStatus, transition

# Gas model for packing (upper bounds measured on the contracts; see docs/settlement.md).
GAS_BASE = 90_000  # transaction, calldata head, the FundLock call, PositionsUpdated
GAS_PER_POSITION = 32_000  # a fresh storage slot + PositionUpdated + calldata
GAS_PER_FUND_MOVEMENT = 60_000  # two balance entries, collateral, two events, young-request draws


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    confirmations: int = 3
    finality_depth: int = 64
    gas_budget: int = 10_000_000
    stuck_after_seconds: float = 120.0
    fee_bump_percent: int = 25
    max_resubmissions: int = 5
    gas_margin_percent: int = 20

    def __post_init__(self) -> None:
        if self.confirmations < 1 or self.finality_depth < self.confirmations:
            raise ValueError("need 1 <= confirmations <= finality_depth")
        if self.gas_budget < GAS_BASE + GAS_PER_FUND_MOVEMENT:
            raise ValueError(f"gas_budget below one movement ({GAS_BASE + GAS_PER_FUND_MOVEMENT})")


def estimate_gas(parts: Sequence[MovementPart]) -> int:
    n_pos = sum(len(p.positions) for p in parts)
    n_fund = sum(1 for p in parts if p.underlying_amount or p.strike_amount)
    return GAS_BASE + n_pos * GAS_PER_POSITION + n_fund * GAS_PER_FUND_MOVEMENT


@dataclass
class _Flight:
    """A batch in flight (mutable, private to the service; the port keeps the record)."""

    record: BatchRecord
    status: SettleStatus | None = None
    tx_hashes: list[str] = field(default_factory=list)  # every tx sent for this batch
    nonce: int | None = None
    fees: Fees | None = None
    sent_at: float = 0.0
    receipt: Receipt | None = None
    resubmissions: int = 0
    attempt: int = 0
    reason: str = ""
    final: bool = False

    @property
    def backend_id(self) -> int:
        return self.record.backend_id


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What happened to a batch — the service's answer to the caller."""

    backend_id: int
    pair: str
    status: SettleStatus | None
    tx_hash: str | None
    block_number: int | None
    reason: str
    resubmissions: int
    movement_keys: tuple[str, ...]


class SettlementService:
    def __init__(self, chain: Chain, deployment: Deployment, port: SettlementPort,
                 operator: LocalAccount, config: ServiceConfig = ServiceConfig(), *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.chain = chain
        self.dep = deployment
        self.port = port
        self.operator = operator
        self.config = config
        self.clock = clock
        self.flights: dict[int, _Flight] = {}
        self.last_error: str = ""

    # ------------------------------------------------------------------ packing

    def _parts(self, m: CashMovement) -> list[MovementPart]:
        """One part, or several when the movement alone exceeds the gas budget."""
        addr = self.port.address_of(m.client_id)
        positions = tuple(p for p in m.positions if p.size)
        whole = MovementPart(m.key, m.client_id, addr, positions, m.underlying_amount,
                             m.strike_amount)
        if estimate_gas([whole]) <= self.config.gas_budget:
            return [whole]
        per = (self.config.gas_budget - GAS_BASE - GAS_PER_FUND_MOVEMENT) // GAS_PER_POSITION
        if per < 1:
            raise BatchTooLarge(f"movement {m.key}: one position does not fit the gas budget")
        chunks = [positions[i:i + per] for i in range(0, len(positions), per)]
        parts = [MovementPart(m.key, m.client_id, addr, c, 0, 0) for c in chunks]
        last = parts[-1]
        parts[-1] = MovementPart(m.key, m.client_id, addr, last.positions, m.underlying_amount,
                                 m.strike_amount)
        return parts

    def plan(self, movements: Iterable[CashMovement]) -> list[tuple[str, list[MovementPart]]]:
        """Group per pair, then greedily into batches whose modelled gas fits the budget."""
        by_pair: dict[str, list[MovementPart]] = defaultdict(list)
        for m in movements:
            if m.is_empty:
                continue
            if m.pair not in self.dep.ledgers:
                raise SettlementError(f"movement {m.key}: no Ledger for pair {m.pair}")
            by_pair[m.pair].extend(self._parts(m))
        batches: list[tuple[str, list[MovementPart]]] = []
        for pair in sorted(by_pair):
            current: list[MovementPart] = []
            for part in by_pair[pair]:
                if current and estimate_gas([*current, part]) > self.config.gas_budget:
                    batches.append((pair, current))
                    current = []
                current.append(part)
            if current:
                batches.append((pair, current))
        return batches

    def _call(self, record: BatchRecord):
        ledger = self.chain.contract("Ledger", record.ledger)
        # Addresses checksummed here: web3 refuses lower-case ones, and a client's address may
        # be stored as it logged in (api.md §0: any letter case).
        positions = [(pc.contract_id, to_checksum_address(p.address), pc.size)
                     for p in record.parts for pc in p.positions]
        funds = [(to_checksum_address(p.address), p.underlying_amount, p.strike_amount)
                 for p in record.parts if p.underlying_amount or p.strike_amount]
        return ledger.functions.updatePositions(positions, funds, record.backend_id)

    # ------------------------------------------------------------------ submitting

    def submit(self, movements: Iterable[CashMovement]) -> list[BatchReport]:
        """Plan, record every batch of the submission in one go (all or none), then send."""
        records = [BatchRecord(self.port.next_backend_id(), pair, self.dep.ledgers[pair],
                               tuple(chunk), estimate_gas(chunk))
                   for pair, parts in self.plan(movements) for chunk in self._fit(pair, parts)]
        if not records:
            return []
        self.port.record_batches(records)
        # Every recorded batch is watched before the first is sent: an error while sending one
        # (the store or the node failing) leaves the others to the next poll(), never to a
        # restart.
        flights = [_Flight(rec) for rec in records]
        for f in flights:
            self.flights[f.backend_id] = f
        for f in flights:
            self._send(f)
        return [self._report(f) for f in flights]

    def restore(self) -> int:
        """Resume the batches the store remembers as not final (after a restart); returns how
        many. A batch recorded but never moved is resent on the next poll unless one of its
        recorded transactions reached the node (or the Ledger shows it applied)."""
        n = 0
        for ob in self.port.open_batches():
            if ob.record.backend_id in self.flights:
                continue
            self.flights[ob.record.backend_id] = self._flight_of(ob)
            n += 1
        return n

    def _flight_of(self, ob: OpenBatch) -> _Flight:
        f = _Flight(ob.record, status=ob.status, tx_hashes=[t.tx_hash for t in ob.txs],
                    resubmissions=ob.resubmissions, attempt=max(ob.attempt, len(ob.txs)),
                    reason=ob.reason)
        if ob.txs:
            last = ob.txs[-1]
            f.nonce = last.nonce
            f.fees = Fees(last.max_fee_per_gas, last.max_priority_fee_per_gas)
            f.sent_at = self.clock()  # the stuck timer starts again
        return f

    def _fit(self, pair: str, parts: list[MovementPart]) -> list[list[MovementPart]]:
        """Check the model against the node's estimate; halve a batch that does not fit."""
        call = self._call(BatchRecord(0, pair, self.dep.ledgers[pair], tuple(parts), 0))
        try:
            gas = self.chain.estimate_gas(call, self.operator)
        except (ChainReverted, SettlementError):
            return [parts]  # the revert is reported when the batch is sent
        if gas * (100 + self.config.gas_margin_percent) // 100 <= self.config.gas_budget \
                or len(parts) == 1:
            return [parts]
        half = len(parts) // 2
        return self._fit(pair, parts[:half]) + self._fit(pair, parts[half:])

    def _send(self, f: _Flight, *, replace: bool = False) -> None:
        """Sign and send (a replacement reuses the nonce with bumped fees)."""
        call = self._call(f.record)
        f.attempt += 1
        try:
            gas = self.chain.estimate_gas(call, self.operator)
            gas = gas * (100 + self.config.gas_margin_percent) // 100
            if replace:
                assert f.fees is not None and f.nonce is not None
                fees, nonce = f.fees.bumped(self.config.fee_bump_percent), f.nonce
            else:
                fees, nonce = self.chain.fees(), self.chain.nonce(self.operator.address)
            signed = self.chain.sign(call, self.operator, nonce=nonce, gas=gas, fees=fees)
            # write-ahead: a crash after sending can never lose sight of the transaction
            self.port.record_tx(f.backend_id, SentTx(
                _hex(signed.hash), nonce, fees.max_fee_per_gas, fees.max_priority_fee_per_gas,
                replace))
            tx_hash = self.chain.send_signed(signed)
        except ChainReverted as e:
            self._not_sent(f, replace, f"reverted: {e.reason}")
            return
        except (ChainRejected, ChainUnavailable) as e:
            # not sent: FAILED (retried by poll()), or a replacement left to the original
            self._not_sent(f, replace, f"not sent: {e}")
            return
        if tx_hash not in f.tx_hashes:
            f.tx_hashes.append(tx_hash)
        f.nonce, f.fees, f.sent_at, f.receipt = nonce, fees, self.clock(), None
        self._move(f, SettleStatus.REPLACED if replace else SettleStatus.PENDING,
                   tx_hash=tx_hash)

    def _not_sent(self, f: _Flight, replace: bool, reason: str) -> None:
        if replace:  # the original transaction is still out there: keep tracking it
            f.sent_at = self.clock()
            f.reason = f"replacement {reason}"
        elif f.status is SettleStatus.FAILED:
            f.reason = reason  # a resubmission that could not be sent: still FAILED
        else:
            self._move(f, SettleStatus.FAILED, reason=reason)

    def _move(self, f: _Flight, new: SettleStatus, *, tx_hash: str | None = None,
              block: int | None = None, reason: str = "") -> None:
        previous = f.status
        transition(previous, new)  # raises on an illegal move, before anything is recorded
        # every part of the batch in one go: a crash never leaves a batch half moved
        self.port.record_transitions([SettlementTransition(
            part.movement_key, f.backend_id, previous, new, tx_hash, block, reason,
            f.attempt, f.resubmissions) for part in f.record.parts])
        f.status, f.reason = new, reason

    # ------------------------------------------------------------------ tracking

    def poll(self) -> list[BatchReport]:
        """One round over every batch not yet final; returns the batches that changed."""
        changed = []
        try:
            head = self.chain.block_number()
        except ChainUnavailable as e:
            self.last_error = str(e)
            return []
        for f in list(self.flights.values()):
            if f.final:
                continue
            before = (f.status, len(f.tx_hashes), f.attempt)
            try:
                self._track(f, head)
            except ChainUnavailable as e:
                self.last_error = str(e)
                break
            if (f.status, len(f.tx_hashes), f.attempt) != before:
                changed.append(self._report(f))
        return changed

    def _track(self, f: _Flight, head: int) -> None:
        st = f.status
        if st is None:
            self._track_unsent(f)
        elif st in (SettleStatus.PENDING, SettleStatus.REPLACED):
            self._track_pending(f, head)
        elif st is SettleStatus.CONFIRMED:
            self._track_confirmed(f, head)
        elif (st is SettleStatus.FAILED and not f.reason.startswith("reverted")
              and f.resubmissions < self.config.max_resubmissions):
            f.resubmissions += 1
            self._send(f)

    def _track_unsent(self, f: _Flight) -> None:
        """Recorded before a crash without a transition: sent after all, or send it now."""
        for h in reversed(f.tx_hashes):
            if self.chain.is_known(h):
                self._move(f, SettleStatus.PENDING, tx_hash=h, reason="found after a restart")
                return
        won = self._applied_receipt(f)
        if won is not None:
            self._move(f, SettleStatus.PENDING, tx_hash=won.tx_hash,
                       reason="found applied after a restart")
            return
        self._send(f)

    def _track_pending(self, f: _Flight, head: int) -> None:
        receipt = None
        for h in reversed(f.tx_hashes):  # the replacement, or the original if it won
            receipt = self.chain.receipt(h)
            if receipt is not None:
                break
        if receipt is not None and receipt.status != 1:
            reason = self.chain.replay_reason(receipt.tx_hash)
            won = self._applied_receipt(f) if reason.startswith("DuplicateBackendId") else None
            if won is None:
                f.receipt = receipt
                self._move(f, SettleStatus.FAILED, tx_hash=receipt.tx_hash,
                           block=receipt.block_number, reason=f"reverted: {reason}")
                return
            receipt = won  # an earlier transaction of this batch applied it: track that one
        if receipt is None and not any(self.chain.is_known(h) for h in f.tx_hashes):
            receipt = self._applied_receipt(f)  # landed through a transaction lost from sight
            if receipt is None:
                self._dropped(f)
                return
        if receipt is not None:
            f.receipt = receipt
            if head - receipt.block_number + 1 >= self.config.confirmations:
                self._move(f, SettleStatus.CONFIRMED, tx_hash=receipt.tx_hash,
                           block=receipt.block_number)
            return
        if self.clock() - f.sent_at >= self.config.stuck_after_seconds:
            self._send(f, replace=True)

    def _dropped(self, f: _Flight) -> None:
        self._move(f, SettleStatus.FAILED, tx_hash=f.tx_hashes[-1] if f.tx_hashes else None,
                   reason="dropped: the node no longer knows the transaction")
        if f.resubmissions < self.config.max_resubmissions:
            f.resubmissions += 1
            self._send(f)

    def _track_confirmed(self, f: _Flight, head: int) -> None:
        r = f.receipt
        if r is None:  # restored after a restart: find the transaction that applied it
            r = f.receipt = self._applied_receipt(f)
        if r is None:
            self._move(f, SettleStatus.FAILED, reason="re-org: the batch is no longer applied")
            if f.resubmissions < self.config.max_resubmissions:
                f.resubmissions += 1
                self._send(f)
            return
        canonical = self.chain.block_hash(r.block_number)
        if canonical != r.block_hash or self.chain.receipt(r.tx_hash) is None:
            self._move(f, SettleStatus.FAILED, tx_hash=r.tx_hash, block=r.block_number,
                       reason=f"re-org: block {r.block_number} is no longer canonical")
            if f.resubmissions < self.config.max_resubmissions:
                f.resubmissions += 1
                self._send(f)
            return
        if head - r.block_number >= self.config.finality_depth:
            self._final(f)

    def _final(self, f: _Flight) -> None:
        f.final = True
        self.port.record_final(f.backend_id)

    def _applied(self, f: _Flight) -> bool:
        ledger = self.chain.contract("Ledger", f.record.ledger)
        return bool(self.chain.call(ledger.functions.applied(f.backend_id)))

    def _applied_receipt(self, f: _Flight) -> Receipt | None:
        """The receipt of the transaction that applied the batch, if the Ledger applied it:
        one of ours that succeeded, else the one whose ``PositionsUpdated(backendId)`` log
        the Ledger emitted (a transaction sent before a crash and never recorded)."""
        if not self._applied(f):
            return None
        for h in f.tx_hashes:
            r = self.chain.receipt(h)
            if r is not None and r.status == 1:
                return r
        topic = "0x" + event_abi_to_log_topic(_positions_updated_abi()).hex()
        logs = self.chain.get_logs([f.record.ledger], self.dep.start_block,
                                   self.chain.block_number(),
                                   topics=[topic, "0x" + f"{f.backend_id:064x}"])
        for log in reversed(logs):
            r = self.chain.receipt(_hex(log["transactionHash"]))
            if r is not None and r.status == 1:
                return r
        return None

    # ------------------------------------------------------------------ other entry points

    def on_batch_applied(self, backend_id: int, block_number: int) -> None:
        """The chain monitor saw ``PositionsUpdated(backendId)`` at a re-org-safe depth."""
        f = self.flights.get(backend_id)
        if f is None or f.final:
            return
        if f.status in (SettleStatus.PENDING, SettleStatus.REPLACED):
            self._move(f, SettleStatus.CONFIRMED, block=block_number,
                       tx_hash=f.receipt.tx_hash if f.receipt is not None else None,
                       reason="seen by the chain monitor")
        if f.status is SettleStatus.CONFIRMED:
            self._final(f)

    def retry(self, backend_id: int) -> BatchReport:
        """Resubmit a reverted batch (same backendId) once its cause has been fixed."""
        f = self.flights[backend_id]
        if f.status is not SettleStatus.FAILED:
            raise SettlementError(f"batch {backend_id} is {f.status}, not failed")
        f.resubmissions += 1
        self._send(f)
        return self._report(f)

    def run_until_settled(self, timeout: float = 30.0, interval: float = 0.05,
                          on_round: Callable[[], None] | None = None) -> list[BatchReport]:
        """Poll until no batch is pending/replaced/auto-retryable (or ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if on_round is not None:
                on_round()
            if not self.in_flight():
                return self.reports()
            if time.monotonic() > deadline:
                raise ChainUnavailable(f"batches still in flight after {timeout} s: "
                                       f"{[r.backend_id for r in self.in_flight()]}")
            time.sleep(interval)

    def in_flight(self) -> list[BatchReport]:
        out = []
        for f in self.flights.values():
            retryable = f.status is SettleStatus.FAILED and not f.reason.startswith(
                "reverted") and f.resubmissions < self.config.max_resubmissions
            if f.status in (None, SettleStatus.PENDING, SettleStatus.REPLACED) or retryable:
                out.append(self._report(f))
        return out

    def prune_final(self) -> int:
        """Forget batches past finality (a long-running process; the store keeps them)."""
        done = [bid for bid, f in self.flights.items() if f.final]
        for bid in done:
            del self.flights[bid]
        return len(done)

    def reports(self) -> list[BatchReport]:
        return [self._report(f) for f in self.flights.values()]

    def _report(self, f: _Flight) -> BatchReport:
        return BatchReport(f.backend_id, f.record.pair, f.status,
                           f.tx_hashes[-1] if f.tx_hashes else None,
                           f.receipt.block_number if f.receipt else None, f.reason,
                           f.resubmissions, tuple(p.movement_key for p in f.record.parts))


def _hex(b) -> str:
    return b.to_0x_hex() if hasattr(b, "to_0x_hex") else str(b)


@cache
def _positions_updated_abi() -> dict:
    return next(e for e in artifacts.load("Ledger").abi
                if e.get("type") == "event" and e["name"] == "PositionsUpdated")
