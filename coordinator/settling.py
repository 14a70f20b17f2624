"""The settlement process role: cash movements in the store → Ledger batches on chain → tracked
to confirmation; chain events → the funds state. One :class:`SettlementRunner` per venue (the
operator account's nonces must not be shared).

Each :meth:`SettlementRunner.step`:

1. **monitor** — FundLock and Ledger events up to ``head − chain_monitor_depth`` are applied
   with the edge in one transaction: deposits register the client (the first deposit of an
   address creates it) and set ``fundLockValue``; withdrawals, escapes and settlement payments
   set it from the balance on chain; an applied batch gives its amounts back to
   ``settleValue`` (``coordinator.persistence.settlement``);
2. **submit** — cash movements of batches and of expiries still SETTLE_PENDING and in no
   settlement batch are grouped per Ledger under the gas budget, recorded (all batches of the
   round in one transaction) and sent; every signed transaction is recorded before it is sent;
3. **track** — receipts and confirmation depth: SETTLE_CONFIRMED, or SETTLE_FAILED with the
   reason; a dropped or re-orged batch is resubmitted with the same backendId (the Ledger
   refuses a backendId twice); the clearing house's movements follow their clients'. A
   reverted batch waits for an operator's retry (``ccp chain retry``), carried out once.

A restart (:meth:`SettlementRunner.__init__`) resumes every batch not yet final from the store,
and the monitor from its edge: nothing is lost, nothing applied twice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from auction.cash import CashMovement
from coordinator.clock import Clock
from coordinator.persistence import Store
from coordinator.persistence import retries as rt
from coordinator.persistence import settlement as sq
from coordinator.persistence.errors import StoreError
from coordinator.settings import Settings
from settlement.chain import Chain
from settlement.deploy import Deployment
from settlement.errors import SettlementError
from settlement.monitor import ChainMonitor
from settlement.reconcile import Difference, reconcile
from settlement.service import ServiceConfig, SettlementService
from settlement.status import SettleStatus

log = logging.getLogger(__name__)


class SettlementSetupError(ValueError):
    """The settings do not allow settlement to start (no operator key, wrong chain, …)."""


@dataclass(frozen=True)
class StepReport:
    events: int = 0  # chain events applied
    submitted: int = 0  # batches sent this round
    changed: int = 0  # batches whose status changed
    off_chain: int = 0  # movements settled without a transaction (empty, failed)
    error: str = ""

    @property
    def idle(self) -> bool:
        return not (self.events or self.submitted or self.changed or self.off_chain)


def service_config(settings: Settings) -> ServiceConfig:
    return ServiceConfig(confirmations=settings.chain_confirmations,
                         finality_depth=settings.chain_finality_depth,
                         gas_budget=settings.chain_gas_budget,
                         stuck_after_seconds=settings.chain_stuck_after_seconds,
                         fee_bump_percent=settings.chain_fee_bump_percent,
                         max_resubmissions=settings.chain_max_resubmissions)


def operator_account(settings: Settings, chain: Chain, deployment: Deployment) -> LocalAccount:
    """The key that signs batches: ``chain_operator_key``, else (local dev chains) the chain's
    development account that the deployment names operator."""
    if settings.chain_operator_key:
        acct = Account.from_key(settings.chain_operator_key)
    else:
        acct = next((a for a in chain.accounts
                     if a.address.lower() == deployment.operator.lower()), None)
        if acct is None:
            raise SettlementSetupError(
                f"no key for the operator {deployment.operator}: set chain_operator_key "
                "(CCP_CHAIN_OPERATOR_KEY)")
    if acct.address.lower() != deployment.operator.lower():
        raise SettlementSetupError(f"chain_operator_key is {acct.address}, the deployment's "
                                   f"operator is {deployment.operator}")
    return acct


class SettlementRunner:
    def __init__(self, store: Store, settings: Settings, chain: Chain, deployment: Deployment,
                 clock: Clock, *, operator: LocalAccount | None = None) -> None:
        if chain.chain_id != deployment.chain_id:
            raise SettlementSetupError(f"the node is chain {chain.chain_id}, the deployment "
                                       f"is for chain {deployment.chain_id}")
        self.store = store
        self.settings = settings
        self.chain = chain
        self.dep = deployment
        self.clock = clock
        self.port = sq.SqlSettlement(store, deployment, clock)
        self.service = SettlementService(
            chain, deployment, self.port,
            operator or operator_account(settings, chain, deployment),
            service_config(settings))
        self.monitor = ChainMonitor(chain, deployment, self.port,
                                    depth=settings.chain_monitor_depth,
                                    max_range=settings.chain_max_log_range,
                                    on_batch_applied=self.service.on_batch_applied)
        self.restored = self.service.restore()
        log.info("settlement: %d batch(es) resumed from the store, monitor edge %s",
                 self.restored, self.port.load_edge())
        self._last_mine = time.monotonic()
        self.last_error = ""

    # -- one round ----------------------------------------------------------------------------
    def step(self) -> StepReport:
        events = self.monitor.poll()
        off_chain, submitted = self._submit_new()
        submitted += self._retry_requested()
        changed = len(self.service.poll())
        self.service.prune_final()
        with self.store.write() as tx:
            changed += sq.sync_clearing_house(tx, self.clock.now_ms())
        self._mine_if_due()
        error = self.monitor.last_error or self.service.last_error
        self.monitor.last_error = self.service.last_error = ""
        return StepReport(events, submitted, changed, off_chain, error)

    def _submit_new(self) -> tuple[int, int]:
        with self.store.read() as tx:
            todo = sq.unsettled_movements(tx, self.settings.chain_max_movements)
            known = sq.addresses(tx)
        send: list[CashMovement] = []
        off: list[tuple[int, SettleStatus, str]] = []
        for mid, m in todo:
            if m.is_empty:
                off.append((mid, SettleStatus.CONFIRMED, "nothing to settle on chain"))
            elif m.pair not in self.dep.ledgers:
                off.append((mid, SettleStatus.FAILED, f"no Ledger for the pair {m.pair}"))
            elif not known.get(m.client_id):
                off.append((mid, SettleStatus.FAILED,
                            f"client {m.client_id} has no eth address"))
            else:
                send.append(m)
        if off:
            with self.store.write() as tx:
                for mid, state, detail in off:
                    sq.settle_off_chain(tx, mid, state, detail, self.clock.now_ms())
        reports = self.service.submit(send) if send else []
        return len(off), len(reports)

    def _retry_requested(self) -> int:
        """Carry out the operators' pending retries (``ccp chain retry``), each once: a batch
        still reverted is resubmitted with its backendId; any other state (retried already,
        pending, confirmed) is recorded as the outcome without sending anything. Returns how
        many batches were resubmitted."""
        with self.store.read() as tx:
            todo = rt.pending_retries(tx)
        sent = 0
        for req in todo:
            f = self.service.flights.get(req.backend_id)
            if f is None or f.status is not SettleStatus.FAILED \
                    or not f.reason.startswith("reverted"):
                status = "final" if f is None else f.status
                outcome = f"not resubmitted: the batch is {status} now"
            else:
                rep = self.service.retry(req.backend_id)
                sent += 1
                outcome = (f"resubmitted (resubmission {rep.resubmissions}): {rep.status}"
                           + (f", {rep.reason}" if rep.reason else ""))
            with self.store.write() as tx:
                rt.finish_retry(tx, req, outcome, self.clock.now_ms())
            log.info("settlement: retry of batch %d by %s: %s", req.backend_id, req.actor,
                     outcome)
        return sent

    def _mine_if_due(self) -> None:
        every = self.settings.chain_mine_seconds
        if every <= 0 or not self.chain.local:
            return
        if time.monotonic() - self._last_mine >= every:
            self.chain.mine(1)
            self._last_mine = time.monotonic()

    # -- the loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Rounds every ``chain_poll_seconds`` until ``stop`` is set. A node or database that
        does not answer is logged and retried next round; the process never dies of it."""
        while not stop.is_set():
            try:
                rep = self.step()
                if rep.error and rep.error != self.last_error:
                    log.warning("settlement: %s", rep.error)
                self.last_error = rep.error
                if not rep.idle:
                    log.info("settlement: %d event(s), %d batch(es) sent, %d changed, "
                             "%d settled off chain", rep.events, rep.submitted, rep.changed,
                             rep.off_chain)
            except (SettlementError, StoreError) as e:
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("settlement round failed: %s", self.last_error)
            stop.wait(self.settings.chain_poll_seconds)

    def run_until_caught_up(self, timeout: float = 60.0, interval: float = 0.05) -> sq.Backlog:
        """Rounds until nothing is unsent or in flight and the monitor has applied every
        block up to the head as it was at the call (tests, tools). On an idle auto-mining
        chain this needs ``chain_mine_seconds`` (or someone else making blocks)."""
        deadline = time.monotonic() + timeout
        target = self.chain.block_number()
        while True:
            self.step()
            with self.store.read() as tx:
                b = sq.backlog(tx)
                edge = tx.edge(self.port.edge_name)
            if not b.unsent and not b.in_flight and edge is not None and edge >= target:
                return b
            if time.monotonic() > deadline:
                raise TimeoutError(f"settlement not caught up after {timeout} s: {b}")
            time.sleep(interval)


# ---- reconciliation -----------------------------------------------------------------------

@dataclass(frozen=True)
class Reconciliation:
    block: int  # the monitor's edge: the block at which chain and store are compared
    differences: tuple[Difference, ...]
    backlog: sq.Backlog

    @property
    def clean(self) -> bool:
        return not self.differences and not self.backlog.failed

    def to_dict(self) -> dict[str, Any]:
        return {"block": self.block, "clean": self.clean,
                "differences": [{"kind": d.kind, "key": list(d.key), "chain": d.chain,
                                 "store": d.store} for d in self.differences],
                "failedMovements": list(self.backlog.failed),
                "unsentMovements": self.backlog.unsent,
                "inFlightMovements": self.backlog.in_flight,
                "caughtUp": self.backlog.caught_up}


def reconcile_store(store: Store, chain: Chain, deployment: Deployment) -> Reconciliation:
    """The chain at the monitor's edge against the store — exact at any time, also while the
    venue runs: the store is read in ONE snapshot (the edge, the batches applied up to it, the
    funds, the backlog, the positions table), then every client's FundLock balance (and the
    clearing house's collateral) is compared with ``fundLockValue`` and every Ledger position
    with the batches the monitor saw applied, at that edge; once settlement has caught up (in
    that snapshot), the positions table as well. Reads only; nothing is written anywhere."""
    with store.snapshot() as tx:
        snap = sq.reconciliation_snapshot(tx, deployment)
    if snap.edge is None:
        raise SettlementSetupError("the chain monitor has not run on this store yet")
    edge = snap.edge
    diffs = list(reconcile(chain, deployment, snap, block=edge))
    seen = {d.key for d in diffs}
    for (pair, cid, address), expected in sorted(snap.table.items()):
        if pair not in deployment.ledgers or (pair, cid, address) in seen:
            continue
        ledger = chain.contract("Ledger", deployment.ledgers[pair])
        on_chain = int(chain.call(ledger.functions.positions(cid, address), edge))
        if on_chain != expected:
            diffs.append(Difference("position (positions table)", (pair, cid, address),
                                    on_chain, expected))
    return Reconciliation(edge, tuple(diffs), snap.backlog)
