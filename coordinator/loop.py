"""The auction loop: cut, expire, re-check locks, solve, check, cash movements, persist.

One auction (:meth:`Coordinator.run_once`):

1. **cut** — read the live book admitted at or before the cut-off (``batchId`` = cut-off, epoch
   ms); cancel DAY/GTD orders past their time and orders on contracts past end of trading;
   re-check locks (a client whose live orders lock more than it owns loses its newest orders);
   the rest, as unfilled remainders, is the cut book;
2. **solve** (``solver_models.solve``) and **check** (``validator.equilibrium.check``, which never
   trusts the solver);
3. **cash movements** (``validator.collateral.movements``) from the cut book, the result and the
   positions before;
4. **persist** — in ONE transaction: the lease is re-checked (fencing), the cut orders must be
   unchanged since the cut (else the auction is cut again), then orders (fills, IOC leftovers
   cancelled, expiries), order history, fills, positions, lockups, fund locks, cash movements,
   reference prices, the batch (cut book, parameters, result, verdict, timings) and its outbox
   events.

A result that fails the check is not applied: the batch is recorded FAILED with its violations
and an alert event; nothing else changes. Steps 1-3 are pure; only step 4 does I/O.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from auction.book import Book
from auction.cash import CashMovement
from auction.interchange import book_to_dict, result_to_dict
from auction.orders import OrderStatus, transition
from auction.products import Contract, Currency
from auction.result import ClearingResult, no_trade, volume
from coordinator.admission import lock_units
from coordinator.clock import Clock
from coordinator.events import Event, EventKind
from coordinator.persistence import Conflict, LeaseHeld, LeaseLost, Store, Tx
from coordinator.persistence.clientapi import schedule
from coordinator.persistence.records import (
    BatchRecord,
    FillRecord,
    FundLock,
    HistoryEntry,
    Lease,
    Lockup,
    StoredOrder,
)
from coordinator.persistence.store import to_units
from coordinator.settings import Settings
from validator.collateral.funds import movement_amounts
from validator.collateral.movements import BatchCash, batch_movements
from validator.collateral.positions import Positions

log = logging.getLogger(__name__)

LEASE_NAME = "coordinator"


class BatchStatus(StrEnum):
    APPLIED = "APPLIED"
    FAILED = "FAILED"


class Reason(StrEnum):
    EXPIRED = "EXPIRED"  # DAY / GTD time passed
    END_OF_TRADING = "END_OF_TRADING"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"  # lock re-check at the cut
    SINGLE_AUCTION = "SINGLE_AUCTION"  # IOC / AT_AUCTION_ONLY leftover
    REDUCE_ONLY_VIOLATION = "REDUCE_ONLY_VIOLATION"  # reduce-only, nothing left to reduce


# ---- the pure steps, replaceable (tests inject faulty solvers) ----------------------------

def default_solve(book: Book, params: Mapping[str, Any]) -> tuple[str, ClearingResult,
                                                                  dict[str, Any]]:
    """(solve status, result, effective parameters)."""
    from solver_models import SolverParams, solve

    outcome = solve(book, SolverParams.from_dict(params))
    return str(outcome.status), outcome.result, outcome.params.to_dict()


def idle_result(book: Book, solver: Mapping[str, Any]) -> ClearingResult:
    """The result of an auction without orders: no fills, every contract at its published price
    of rule 10 (auction.result.no_trade, what the matcher publishes for such a book), with the
    solver's ``replication`` setting."""
    from solver_models import SolverParams

    return no_trade(book, frozenset(), replication=SolverParams.from_dict(solver).replication)


def default_check(book: Book, result: ClearingResult, settings: Settings) -> list[str]:
    """The violations (empty: the result passes)."""
    from validator.equilibrium import check

    report = check(book, result, replication=settings.check_replication,
                   bands=settings.check_bands)
    return [] if report.ok else [str(v) for v in report.violations]


def default_movements(book: Book, result: ClearingResult, positions: Positions, batch_id: int,
                      currencies: Mapping[str, Currency]) -> BatchCash:
    return batch_movements(book, result, positions, batch_id=batch_id, currencies=currencies)


@dataclass(frozen=True)
class Steps:
    solve: Callable[[Book, Mapping[str, Any]], tuple[str, ClearingResult, dict[str, Any]]] = \
        default_solve
    check: Callable[[Book, ClearingResult, Settings], list[str]] = default_check
    movements: Callable[..., BatchCash] = default_movements


# ---- the cut ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cut:
    batch_id: int
    book: Book
    in_book: tuple[StoredOrder, ...]  # orders of the book, as stored at the cut
    cancels: tuple[tuple[StoredOrder, Reason], ...]  # orders cancelled at the cut
    positions: Positions
    funds: Mapping[tuple[int, str], FundLock]
    currencies: Mapping[str, Currency]
    contracts: Mapping[int, Contract]  # every listed contract (for locks of remainders)


def cut_book(batch_id: int, contracts: Mapping[int, Contract], live: Iterable[StoredOrder],
             funds: Mapping[tuple[int, str], FundLock], positions: Positions,
             currencies: Mapping[str, Currency], end_of_trading: timedelta) -> Cut:
    """Cancel what must go at this cut-off and freeze the rest as the cut book (pure)."""
    eot = {cid: int(c.end_of_trading(end_of_trading).timestamp() * 1000)
           for cid, c in contracts.items()}
    tradable = {cid: c for cid, c in contracts.items() if eot[cid] > batch_id}
    cancels: list[tuple[StoredOrder, Reason]] = []
    keep: list[StoredOrder] = []
    for so in live:
        if any(leg.contract_id not in tradable for leg in so.order.legs):
            cancels.append((so, Reason.END_OF_TRADING))
        elif so.expire_ms is not None and so.expire_ms <= batch_id:
            cancels.append((so, Reason.EXPIRED))
        else:
            keep.append(so)
    # Lock re-check: a client's live orders may lock at most what it owns (fundLock + settle);
    # otherwise its newest orders go until the rest is covered.
    by_client: dict[int, list[StoredOrder]] = defaultdict(list)
    for so in keep:
        by_client[so.client_id].append(so)
    dropped: set[int] = set()
    for client, orders in by_client.items():
        need: dict[str, int] = defaultdict(int)
        for so in orders:
            und, num = so.pair.split("/")
            need[und] += so.lock_underlying
            need[num] += so.lock_numeraire
        free = {cur: funds[(client, cur)].fund_lock_value + funds[(client, cur)].settle_value
                if (client, cur) in funds else 0 for cur in need}
        for so in sorted(orders, key=lambda o: (o.admitted_ms, o.order_id), reverse=True):
            if all(need[c] <= free[c] for c in need):
                break
            und, num = so.pair.split("/")
            need[und] -= so.lock_underlying
            need[num] -= so.lock_numeraire
            dropped.add(so.order_id)
            cancels.append((so, Reason.INSUFFICIENT_FUNDS))
    in_book: list[StoredOrder] = []
    book_orders = []
    caps = reduce_only_caps([so for so in keep if so.order_id not in dropped], positions)
    for so in keep:
        if so.order_id in dropped:
            continue
        cap = caps.get(so.order_id)
        if cap is None or cap >= so.remaining:
            in_book.append(so)
            book_orders.append(so.remaining_order())
        elif cap == 0:
            cancels.append((so, Reason.REDUCE_ONLY_VIOLATION))
        elif not so.order.all_or_none:
            in_book.append(so)
            book_orders.append(so.remaining_order(cap))
        # else: an all-or-none reduce-only order larger than the position waits (stays live)
    book = Book(tradable, tuple(book_orders), batch_id)
    return Cut(batch_id, book, tuple(in_book), tuple(cancels), positions, funds, currencies,
               contracts)


def reduce_only_caps(orders: Iterable[StoredOrder], positions: Positions) -> dict[int, int]:
    """Per reduce-only order: the most packages it may fill without increasing any absolute
    position, by the positions at the cut (0: it cannot reduce anything).

    A client's reduce-only orders share its position, in entry order: an earlier order's cap
    is taken off what the later ones may reduce, so that together they never go beyond zero.
    """
    left: dict[tuple[int, int], int] = {}  # signed lots still reducible
    caps: dict[int, int] = {}
    for so in orders:
        o = so.order
        if not o.reduce_only:
            continue
        cap = so.remaining
        for a, leg in zip(o.ratios, o.legs, strict=True):
            key = (o.client_id, leg.contract_id)
            if key not in left:
                p = positions.holdings.get(key)
                left[key] = 0 if p is None else p.lots
            pos = left[key]
            cap = min(cap, abs(pos) // abs(a)) if pos * a < 0 else 0
        caps[o.order_id] = cap
        for a, leg in zip(o.ratios, o.legs, strict=True):
            left[(o.client_id, leg.contract_id)] += a * cap
    return caps


# ---- applying a result (pure planning) ----------------------------------------------------

@dataclass
class Plan:
    orders: list[StoredOrder] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    book_delta: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))


def _cancel(plan: Plan, so: StoredOrder, reason: str, batch_id: int, now: int) -> StoredOrder:
    new = OrderStatus.CANCELED if so.status is OrderStatus.NEW \
        else OrderStatus.PARTIALLY_FILLED_REM_CANCELLED
    done = so.evolve(status=transition(so.status, new), lock_underlying=0, lock_numeraire=0,
                     batch_id=batch_id)
    plan.history.append(HistoryEntry(so.order_id, so.status, new, so.filled_packages, now,
                                     batch_id, reason))
    for a, leg in zip(so.order.ratios, so.order.legs, strict=True):
        plan.book_delta[(leg.contract_id, str(leg.side))] -= abs(a) * so.remaining
    return done


def plan_batch(cut: Cut, result: ClearingResult, now: int) -> Plan:
    """Order changes, fills and their events for an accepted result (pure)."""
    bid = cut.batch_id
    plan = Plan()
    filled = result.filled()
    for so, reason in cut.cancels:
        plan.orders.append(_cancel(plan, so, str(reason), bid, now))
    for so in cut.in_book:
        x = filled.get(so.order_id, 0)
        cur = so
        if x:
            total = so.filled_packages + x
            new = OrderStatus.FILLED if total == so.order.packages \
                else OrderStatus.PARTIALLY_FILLED
            lu = ln = 0
            if new is OrderStatus.PARTIALLY_FILLED:
                _, lu, ln = lock_units(so.order, cut.contracts, cut.currencies,
                                       packages=so.order.packages - total)
            cur = so.evolve(status=transition(so.status, new), filled_packages=total,
                            lock_underlying=lu, lock_numeraire=ln, batch_id=bid)
            plan.history.append(HistoryEntry(so.order_id, so.status, new, total, now, bid))
            legs = []
            for a, leg in zip(so.order.ratios, so.order.legs, strict=True):
                c = cut.book.contracts[leg.contract_id]
                price = to_units(c.price(result.prices[leg.contract_id]),
                                 cut.currencies[c.pair.numeraire].precision, "price")
                legs.append((leg.contract_id, a * x, price))
                plan.book_delta[(leg.contract_id, str(leg.side))] -= abs(a) * x
            plan.fills.append(FillRecord(bid, so.order_id, so.client_id, x, tuple(legs)))
        if so.order.time_in_force.single_auction and not cur.status.is_final:
            cur = _cancel(plan, cur, str(Reason.SINGLE_AUCTION), bid, now)
        if cur is not so:
            plan.orders.append(cur)
    return plan


# ---- reports ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuctionReport:
    batch_id: int
    status: BatchStatus | None  # None: the batch existed already (nothing done)
    orders: int = 0
    fills: int = 0
    volume: int = 0
    violations: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)

    def line(self) -> str:
        if self.status is None:
            return f"batch {self.batch_id}: recorded already"
        t = " ".join(f"{k}={v:.3f}s" for k, v in self.timings.items())
        extra = f", {len(self.violations)} violation(s)" if self.violations else ""
        return (f"batch {self.batch_id}: {self.status} — {self.orders} orders, {self.fills} "
                f"fills, volume {self.volume} lots{extra}; {t}")


# ---- the coordinator ----------------------------------------------------------------------

class Coordinator:
    """Runs auctions against one store; holds the store's coordinator lease while it does."""

    def __init__(self, store: Store, settings: Settings, clock: Clock, *,
                 holder: str | None = None, steps: Steps = Steps(),
                 failpoint: Callable[[str], None] | None = None):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.steps = steps
        self.failpoint = failpoint or (lambda name: None)
        self.lease: Lease | None = None

    # -- the lease --------------------------------------------------------------------------
    def acquire(self, wait: bool | None = None, poll_s: float = 0.5,
                deadline_s: float | None = None) -> Lease:
        """Take the lease; wait for it (``lease_wait``) or raise :class:`LeaseHeld`."""
        wait = self.settings.lease_wait if wait is None else wait
        ttl = round(self.settings.lease_seconds * 1000)
        start = time.monotonic()
        while True:
            try:
                with self.store.write() as tx:
                    self.lease = tx.acquire_lease(LEASE_NAME, self.holder, self.clock.now_ms(),
                                                  ttl)
                return self.lease
            except LeaseHeld:
                if not wait or (deadline_s is not None
                                and time.monotonic() - start > deadline_s):
                    raise
                time.sleep(poll_s)

    def release(self) -> None:
        if self.lease is not None:
            with self.store.write() as tx:
                tx.release_lease(self.lease)
            self.lease = None

    def _fence(self, tx: Tx) -> None:
        """Inside the batch transaction: we still hold the lease (renewed), same token."""
        if self.lease is None:
            raise LeaseLost("this coordinator does not hold the lease")
        try:
            renewed = tx.acquire_lease(LEASE_NAME, self.holder, self.clock.now_ms(),
                                       round(self.settings.lease_seconds * 1000))
        except LeaseHeld as e:
            raise LeaseLost(str(e)) from None
        if renewed.token != self.lease.token:
            raise LeaseLost("the lease was held by another coordinator in between")
        self.lease = renewed

    # -- one auction ------------------------------------------------------------------------
    def schedule(self) -> tuple[bool, int]:
        """(paused, cadence ms): the operators' schedule (admin API), else the settings'."""
        with self.store.read() as tx:
            paused, cadence = schedule(tx)
        return paused, cadence or self.settings.cadence_ms

    def next_cutoff(self) -> int:
        """The next cut-off on the cadence grid, after now and after the last batch."""
        cadence = self.schedule()[1]
        now = self.clock.now_ms()
        nxt = (now // cadence + 1) * cadence
        with self.store.read() as tx:
            last = tx.last_batch_id()
        while last is not None and nxt <= last:
            nxt += cadence
        return nxt

    def run_once(self, cutoff_ms: int | None = None) -> AuctionReport:
        """One auction with cut-off ``cutoff_ms`` (default: now, after the last batch)."""
        if self.lease is None:
            self.acquire()
        if cutoff_ms is None:
            cutoff_ms = self.clock.now_ms()
            with self.store.read() as tx:
                last = tx.last_batch_id()
            if last is not None and cutoff_ms <= last:
                cutoff_ms = last + 1
        for attempt in range(self.settings.apply_retries + 1):
            try:
                return self._auction(cutoff_ms)
            except Conflict as e:
                if attempt == self.settings.apply_retries:
                    raise
                log.warning("batch %s: %s; cutting again", cutoff_ms, e)
        raise AssertionError("unreachable")

    def _auction(self, batch_id: int) -> AuctionReport:
        s = self.settings
        t0 = time.perf_counter()
        started = self.clock.now_ms()
        with self.store.read() as tx:
            if tx.batch_exists(batch_id):
                return AuctionReport(batch_id, None)
            contracts = tx.contracts()
            currencies = tx.currencies()
            live = tx.live_orders(admitted_before_ms=batch_id + 1)
            clients = {so.client_id for so in live}
            funds = tx.fund_locks(clients)
            positions = Positions(tx.position_states(clients))
        t_read = time.perf_counter()
        cut = cut_book(batch_id, contracts, live, funds, positions, currencies,
                       timedelta(hours=s.end_of_trading_hours))
        t_cut = time.perf_counter()
        timings = {"read": t_read - t0, "cut": t_cut - t_read}
        self.failpoint("cut")

        violations: list[str] = []
        solve_status, params = "ERROR", {"solver": dict(s.solver)}
        result: ClearingResult | None = None
        cash: BatchCash | None = None
        try:
            if cut.book.orders:
                solve_status, result, eff = self.steps.solve(cut.book, s.solver)
                params = {"solver": eff}
            else:
                solve_status, result = "EMPTY", idle_result(cut.book, s.solver)
            t_solve = time.perf_counter()
            timings["solve"] = t_solve - t_cut
            self.failpoint("solved")
            violations = self.steps.check(cut.book, result, s)
            t_check = time.perf_counter()
            timings["check"] = t_check - t_solve
            if not violations:
                cash = self.steps.movements(cut.book, result, positions, batch_id, currencies)
                timings["movements"] = time.perf_counter() - t_check
        except Exception as e:  # a broken step fails the batch, never the loop
            log.exception("batch %s: a step failed", batch_id)
            violations = [f"[error] {type(e).__name__}: {e}"]
        params.update(check={"replication": s.check_replication, "bands": s.check_bands},
                      end_of_trading_hours=s.end_of_trading_hours)
        self.failpoint("checked")

        t_persist = time.perf_counter()
        now = self.clock.now_ms()
        book_json = book_to_dict(cut.book)
        result_json = None if result is None else result_to_dict(
            cut.book, result, status=solve_status, params=params.get("solver"))
        if violations or result is None or cash is None:
            status = BatchStatus.FAILED
            events = [Event(EventKind.AUCTION_STARTED, {"batchId": batch_id,
                                                        "orders": len(cut.book.orders)}),
                      Event(EventKind.AUCTION_FAILED, {"batchId": batch_id,
                                                       "violations": violations[:20],
                                                       "count": len(violations)})]
            with self.store.write() as tx:
                self._fence(tx)
                self.failpoint("persist-begin")
                timings["persist"] = time.perf_counter() - t_persist
                tx.insert_batch(BatchRecord(
                    batch_id, str(status), solve_status, len(cut.book.orders), 0, 0, book_json,
                    params, result_json, False if result is not None else None, violations,
                    _round(timings), self.holder, started, now))
                tx.append_events([_with_batch(e, batch_id) for e in events], now)
                self.failpoint("persist-end")
            self.failpoint("committed")
            log.error("batch %s FAILED: %d violation(s): %s", batch_id, len(violations),
                      "; ".join(violations[:3]))
            return AuctionReport(batch_id, status, len(cut.book.orders), 0, 0,
                                 tuple(violations), _round(timings))

        plan = plan_batch(cut, result, now)
        vol = volume(cut.book, result)
        traded = sorted(result.traded_contracts(cut.book))
        with self.store.write() as tx:
            self._fence(tx)
            self.failpoint("persist-begin")
            if tx.batch_exists(batch_id):
                raise Conflict(f"batch {batch_id} was recorded meanwhile")
            cut_ids = [so.order_id for so in cut.in_book] + [so.order_id for so, _ in cut.cancels]
            versions = tx.order_versions(cut_ids)
            stale = [oid for oid, so in ((so.order_id, so) for so in
                                         [*cut.in_book, *(c for c, _ in cut.cancels)])
                     if versions.get(oid, (None,))[0] != so.version]
            if stale:
                raise Conflict(f"{len(stale)} order(s) of the cut changed since the cut "
                               f"(e.g. {stale[0]})")
            tx.update_orders(plan.orders, now)
            tx.add_history(plan.history)
            self.failpoint("persist-orders")
            all_moves = list(cash.all_movements())
            tx.ensure_clients({m.client_id for m in all_moves}, now)
            # The batch row first: fills reference it.
            tx.insert_batch(BatchRecord(
                batch_id, str(BatchStatus.APPLIED), solve_status, len(cut.book.orders),
                len(plan.fills), vol, book_json, params, result_json, True, [],
                _round(timings), self.holder, started, now))
            tx.insert_fills(plan.fills)
            touched_pos = {(f.client_id, cid) for f in plan.fills for cid, _, _ in f.legs}
            tx.put_positions({k: cash.positions.get(*k) for k in sorted(touched_pos)},
                             batch_id, now)
            tx.put_lockups([Lockup(k.client_id, k.pair, int(k.expiry.strftime("%Y%m%d")),
                                   v.underlying, v.numeraire) for k, v in cash.lockups.items()],
                           batch_id, now)
            tx.insert_movements(all_moves, now)
            self.failpoint("persist-movements")
            fund_events = self._update_funds(tx, plan, all_moves, now)
            tx.set_reference_prices({cid: cut.book.contracts[cid].price(result.prices[cid])
                                     for cid in traded}, batch_id, now)
            events = self._events(cut, result, plan, traded, vol, fund_events, solve_status)
            tx.append_events([_with_batch(e, batch_id) for e in events], now)
            timings["persist"] = time.perf_counter() - t_persist
            tx.set_batch_timings(batch_id, _round(timings))
            self.failpoint("persist-end")
        self.failpoint("committed")
        # The commit's own time, recorded after the fact (timings only; best effort).
        timings["persist"] = time.perf_counter() - t_persist
        timings["total"] = time.perf_counter() - t0
        with self.store.write() as tx:
            tx.set_batch_timings(batch_id, _round(timings))
        return AuctionReport(batch_id, BatchStatus.APPLIED, len(cut.book.orders),
                             len(plan.fills), vol, (), _round(timings))

    def _update_funds(self, tx: Tx, plan: Plan, moves: list[CashMovement],
                      now: int) -> list[FundLock]:
        clients = {so.client_id for so in plan.orders} | {m.client_id for m in moves}
        if not clients:
            return []
        current = tx.fund_locks(clients, for_update=True)
        order_values = tx.order_values(clients)
        settle: dict[tuple[int, str], int] = defaultdict(int)
        for m in moves:
            for cur, amt in movement_amounts(m).items():
                settle[(m.client_id, cur)] -= amt
        keys = {k for k in current if k[0] in clients} | set(order_values) | set(settle)
        changed = []
        for key in sorted(keys):
            old = current.get(key, FundLock(*key))
            new = FundLock(key[0], key[1], old.fund_lock_value, order_values.get(key, 0),
                           old.settle_value + settle.get(key, 0))
            if new != old:
                changed.append(new)
        tx.put_fund_locks(changed, now, existing=current)
        return changed

    def _events(self, cut: Cut, result: ClearingResult, plan: Plan, traded: list[int],
                vol: int, funds: list[FundLock], solve_status: str) -> list[Event]:
        book = cut.book
        ev = [Event(EventKind.AUCTION_STARTED, {"batchId": cut.batch_id,
                                                "orders": len(book.orders)})]
        last_fill = {f.order_id: f.packages for f in plan.fills}
        ev += [Event(EventKind.EXEC_REPORT, {
            "orderId": so.order_id, "clientId": so.client_id, "status": str(so.status),
            "filledPackages": so.filled_packages, "lastFillPackages": last_fill.get(
                so.order_id, 0)}) for so in plan.orders]
        ev += [Event(EventKind.FILL, {
            "orderId": f.order_id, "clientId": f.client_id, "packages": f.packages,
            "legs": [{"contractId": c, "lots": lots, "price": str(
                book.contracts[c].price(result.prices[c]))} for c, lots, _ in f.legs]})
            for f in plan.fills]
        bought: dict[int, int] = defaultdict(int)
        for f in plan.fills:
            for c, lots, _ in f.legs:
                if lots > 0:
                    bought[c] += lots
        ev += [Event(EventKind.TRADE_REPORT, {
            "contractId": cid, "price": str(book.contracts[cid].price(result.prices[cid])),
            "lots": bought[cid]}) for cid in traded]
        ev += [Event(EventKind.ORDERBOOK_DELTA, {"contractId": cid, "side": side,
                                                 "deltaLots": d})
               for (cid, side), d in sorted(plan.book_delta.items()) if d]
        ev += [Event(EventKind.FUNDS_UPDATED, {
            "clientId": f.client_id, "currency": f.currency,
            "fundLockValue": f.fund_lock_value, "orderValue": f.order_value,
            "settleValue": f.settle_value}) for f in funds]
        ev.append(Event(EventKind.AUCTION_FINISHED, {
            "batchId": cut.batch_id, "status": str(BatchStatus.APPLIED),
            "solveStatus": solve_status, "fills": len(plan.fills), "volume": vol,
            "prices": {str(cid): str(book.contracts[cid].price(t))
                       for cid, t in result.prices.items()}}))
        return ev

    # -- the loop ---------------------------------------------------------------------------
    def loop(self, max_auctions: int | None = None,
             should_stop: Callable[[], bool] = lambda: False,
             on_report: Callable[[AuctionReport], None] = lambda r: None) -> int:
        """Run auctions on the cadence (the operators' schedule: a paused venue skips its
        cut-offs, a cadence set through the admin API replaces the settings'); returns how
        many ran."""
        self.acquire()
        n = 0
        while not should_stop() and (max_auctions is None or n < max_auctions):
            cutoff = self.next_cutoff()
            self._sleep_renewing(cutoff, should_stop)
            if should_stop():
                break
            if self.schedule()[0]:  # paused by operations: no auction, the orders wait
                continue
            report = self.run_once(cutoff)
            on_report(report)
            n += 1
        return n

    def _sleep_renewing(self, until_ms: int, should_stop: Callable[[], bool]) -> None:
        """Sleep until the cut-off, renewing the lease at a third of its time."""
        step = max(1, round(self.settings.lease_seconds * 1000 / 3))
        while not should_stop() and (now := self.clock.now_ms()) < until_ms:
            self.clock.sleep_until(min(until_ms, now + step))
            if self.clock.now_ms() < until_ms:
                with self.store.write() as tx:
                    self._fence(tx)


def _with_batch(e: Event, batch_id: int) -> Event:
    return Event(e.kind, e.payload, batch_id)


def _round(timings: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in timings.items()}


# ---- replay -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReplayReport:
    batch_id: int
    identical: bool
    differences: tuple[str, ...]
    seconds: float


def replay(record: BatchRecord, steps: Steps = Steps()) -> ReplayReport:
    """Re-solve a stored cut book with its stored parameters; compare with the stored result."""
    from auction.interchange import book_from_dict

    book, _ = book_from_dict(record.book)
    t0 = time.perf_counter()
    if book.orders:
        status, result, _ = steps.solve(book, record.params.get("solver", {}))
    else:
        status, result = "EMPTY", idle_result(book, record.params.get("solver", {}))
    seconds = time.perf_counter() - t0
    fresh = result_to_dict(book, result, status=status)
    stored = record.result or {}
    diffs = []
    for key in ("status", "prices", "fills", "uncleared", "volume", "surplus"):
        if fresh.get(key) != stored.get(key):
            diffs.append(f"{key}: stored {_short(stored.get(key))} ≠ replayed "
                         f"{_short(fresh.get(key))}")
    return ReplayReport(record.batch_id, not diffs, tuple(diffs), seconds)


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) < 120 else s[:117] + "..."
