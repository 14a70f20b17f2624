"""Orders into the store "as if they came through the API": a book file's contracts, funds and
orders, admitted with the same rules and locks (:mod:`coordinator.admission`), in one
transaction.

An import file is the book interchange format (``auction.interchange``) plus, optionally,
``"funds": [{"clientId", "currency", "amount"}]`` — each client's FundLock balance as the chain
would report it (decimal string; it sets ``fundLockValue``). Clients without funds in the file
use what the store holds; ``credit`` gives every client of the file a balance in a currency
where the store has none (for demos and benchmarks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from auction.book import BookError
from auction.interchange import book_from_dict
from auction.orders import Order, OrderStatus
from auction.products import DEFAULT_CURRENCIES, Contract, Currency
from auction.units import MAX_UNITS, PrecisionError, parse_decimal
from coordinator.admission import Admission, Rejection, admit
from coordinator.clock import Clock
from coordinator.events import Event, EventKind
from coordinator.persistence import Store, Tx
from coordinator.persistence.clientapi import client_order_ids_used
from coordinator.persistence.intake import (
    IntakeReads,
    lock_intake,
    self_match_candidates,
    write_fund_values,
)
from coordinator.persistence.records import FundLock
from coordinator.persistence.store import to_units

_FUND_KEYS = {"clientId", "currency", "amount"}


class ImportError_(ValueError):
    """A malformed import file: every problem with its path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class ImportReport:
    contracts_new: int
    contracts_known: int
    admitted: int
    rejections: tuple[Rejection, ...]

    def summary(self) -> dict[str, Any]:
        codes: dict[str, int] = {}
        for r in self.rejections:
            codes[r.code] = codes.get(r.code, 0) + 1
        return {"contractsNew": self.contracts_new, "contractsKnown": self.contracts_known,
                "admitted": self.admitted, "rejected": len(self.rejections),
                "rejectedByCode": codes}


def _parse_funds(raw: Any) -> list[tuple[int, str, Decimal]]:
    problems: list[str] = []
    out = []
    if not isinstance(raw, list):
        raise ImportError_(["funds: expected a list"])
    for i, f in enumerate(raw):
        path = f"funds[{i}]"
        if not isinstance(f, Mapping) or set(f) != _FUND_KEYS:
            problems.append(f"{path}: expected exactly the keys {sorted(_FUND_KEYS)}")
            continue
        try:
            amount = parse_decimal(f["amount"], "amount")
            if amount < 0:
                raise ValueError(f"amount {amount} is negative")
            client = f["clientId"]
            if isinstance(client, bool) or not isinstance(client, int) \
                    or not 0 <= client <= MAX_UNITS:
                raise ValueError(f"clientId: expected an integer in [0, {MAX_UNITS}], "
                                 f"got {client!r}")
            if not isinstance(f["currency"], str):
                raise ValueError(f"currency: expected a symbol, got {f['currency']!r}")
            out.append((client, f["currency"], amount))
        except (ValueError, TypeError) as e:
            problems.append(f"{path}: {e}")
    if problems:
        raise ImportError_(problems)
    return out


def import_book(store: Store, data: Any, clock: Clock, *, end_of_trading: timedelta,
                credit: Mapping[str, Decimal] | None = None,
                self_match: str = "reject") -> ImportReport:
    """Admit a book file's orders; everything in one transaction.

    Reduce-only orders are checked against the clients' positions in the store;
    ``self_match`` is the setting of the same name (``coordinator.admission.admit``)."""
    if not isinstance(data, Mapping):
        raise ImportError_(["book: expected an object"])
    data = dict(data)
    funds = _parse_funds(data.pop("funds")) if "funds" in data else []
    try:
        book, _params = book_from_dict(data)
    except BookError as e:
        raise ImportError_(e.problems) from None
    now = clock.now_ms()
    with store.write() as tx:
        currencies = tx.currencies()
        wanted = [(f"contract {c.contract_id}", sym) for c in book.contracts.values()
                  for sym in (c.pair.underlying, c.pair.numeraire)]
        wanted += [("funds", cur) for _, cur, _ in funds]
        wanted += [("credit", cur) for cur in (credit or {})]
        for what, sym in wanted:
            if sym not in currencies:
                if sym not in DEFAULT_CURRENCIES:
                    raise ImportError_([f"{what}: unknown currency {sym}"])
                tx.put_currency(DEFAULT_CURRENCIES[sym])
        new = sum(tx.put_contract(c, now) for c in book.contracts.values())
        currencies = tx.currencies()
        clients = {o.client_id for o in book.orders} | {c for c, _, _ in funds}
        tx.ensure_clients(clients, now)
        balances = tx.fund_locks(clients, for_update=True)  # the monitor writes them too
        given: dict[tuple[int, str], FundLock] = {}
        try:
            for client, cur, amount in funds:
                if cur not in currencies:
                    raise ImportError_([f"funds: unknown currency {cur}"])
                units = to_units(amount, currencies[cur].precision, f"funds {client} {cur}")
                base = balances.get((client, cur), FundLock(client, cur))
                given[(client, cur)] = replace(base, fund_lock_value=units)
            for cur, amount in (credit or {}).items():
                if cur not in currencies:
                    raise ImportError_([f"credit: unknown currency {cur}"])
                units = to_units(amount, currencies[cur].precision, f"credit {cur}")
                for client in clients:
                    if (client, cur) not in balances and (client, cur) not in given:
                        given[(client, cur)] = FundLock(client, cur, units)
        except PrecisionError as e:
            raise ImportError_([str(e)]) from None
        if given:
            tx.put_fund_locks(given.values(), now, existing=balances)
        adm = admit_orders(tx, book.orders, now_ms=now, end_of_trading=end_of_trading,
                           extra_events=[Event(EventKind.FUNDS_UPDATED, _funds_payload(f))
                                         for f in given.values()],
                           keep_rejected=True, self_match=self_match)
    return ImportReport(new, len(book.contracts) - new, len(adm.admitted), adm.rejections)


def admit_orders(tx: Tx, orders: Sequence[Order], *, now_ms: int, end_of_trading: timedelta,
                 client_order_ids: Sequence[int] | None = None,
                 gtd_ms: Sequence[int | None] | None = None, keep_rejected: bool = True,
                 extra_events: Sequence[Event] = (),
                 contracts: Mapping[int, Contract] | None = None,
                 self_match: str = "reject",
                 locks: Mapping[int, tuple[int, int]] | None = None,
                 currencies: Mapping[str, Currency] | None = None,
                 reads: IntakeReads | None = None) -> Admission:
    """The one way orders enter the store (``ccp orders import`` and the client API).

    Inside the caller's write transaction: serialise with every other intake of the same
    clients (PostgreSQL: the locks :func:`~coordinator.persistence.intake.intake_reads` took
    when ``reads`` is given, else the intake lock exclusive,
    :func:`~coordinator.persistence.intake.lock_intake`; SQLite's writer lock already does),
    admit ``orders`` in the given order with :func:`coordinator.admission.admit` against the
    store's contracts, funds and live orders, store what it admits (and, with
    ``keep_rejected``, the REJECTED orders it keeps), the new fund values, and the outbox
    events (``EXEC_REPORT`` per stored order, ``FUNDS_UPDATED`` per touched balance, and
    ``extra_events`` for balances the caller set whose values admission did not touch).

    ``client_order_ids`` (the client API; the orders then carry fresh venue ids: the order id
    sequence on PostgreSQL, :func:`~coordinator.persistence.clientapi.next_order_ids` on
    SQLite): one per order; an id its client
    used before (in the store or earlier in the request) is rejected ``DUPLICATE_ORDER_ID``,
    unstored. ``gtd_ms``: per order, the expiry of a GOOD_TILL_DATE order (epoch ms).
    ``contracts``, ``currencies``: the listed contracts and the currencies when the caller holds
    them current (else read here).
    ``self_match``: the setting of the same name (``coordinator.admission.admit``); reduce-only
    orders are checked against the clients' positions in the store. ``locks``: per order id,
    its lock units computed beforehand with the same ``contracts`` (``admission.admit``).
    ``reads``: what :func:`~coordinator.persistence.intake.intake_reads` read under the intake
    locks of these orders' clients (client API, PostgreSQL), in place of reading it here.
    """
    if reads is None:
        lock_intake(tx)
    orders = list(orders)
    pre: list[Rejection] = []
    coids: dict[int, int] = {}
    gtd: dict[int, int] = {}
    if gtd_ms is not None:
        gtd = {o.order_id: ms for o, ms in zip(orders, gtd_ms, strict=True) if ms is not None}
    if client_order_ids is not None:
        used = set(reads.used) if reads is not None else client_order_ids_used(
            tx, {(o.client_id, c) for o, c in zip(orders, client_order_ids, strict=True)})
        kept = []
        for o, coid in zip(orders, client_order_ids, strict=True):
            if (o.client_id, coid) in used:
                pre.append(Rejection(o.order_id, o.client_id, "DUPLICATE_ORDER_ID",
                                     f"clientOrderId {coid} exists already", False))
                continue
            used.add((o.client_id, coid))
            coids[o.order_id] = coid
            kept.append(o)
        orders = kept
    clients = {o.client_id for o in orders}
    # the monitor writes them too: FOR UPDATE (``reads``: of the request's clients, a
    # superset of ``clients``; only these are looked at)
    balances = reads.balances if reads is not None else tx.fund_locks(clients, for_update=True)
    # Venue ids (client API) are fresh by construction (the sequence; SQLite: max + 1 under
    # the writer lock).
    existing = set() if client_order_ids is not None else tx.order_exists(
        o.order_id for o in orders)
    # The funds check needs the stored fund values only: orderValue already holds the lock of
    # every live order (the sum the full recomputation gives: ``Tx.order_values``). Of the
    # live orders only those self-match prevention would find crossing a new order are read
    # (through an index: the cost does not grow with the book or the client's other orders).
    # (``reads``: candidates for the request's orders, duplicates included: a superset;
    # admission compares each new order with each candidate, exactly)
    live = reads.live if reads is not None else self_match_candidates(tx, orders)
    positions = tx.positions(clients) if any(o.reduce_only for o in orders) else {}
    adm = admit(orders, contracts=tx.contracts() if contracts is None else contracts,
                currencies=tx.currencies() if currencies is None else currencies,
                balances=balances, live=live, existing_ids=existing,
                now_ms=now_ms, end_of_trading=end_of_trading, positions=positions,
                self_match=self_match, locks=locks, client_order_ids=coids, expire_at=gtd)
    stored = adm.orders
    history = adm.history
    if not keep_rejected:
        stored = tuple(so for so in stored if so.status is not OrderStatus.REJECTED)
        history = tuple(h for h in history if h.to_status is not OrderStatus.REJECTED)
    adm = Admission(stored, history, adm.funds, (*pre, *adm.rejections), adm.cancelled)
    tx.update_orders(adm.cancelled, now_ms)
    with tx.deferred_inserts():  # PostgreSQL: the new rows in one round trip
        tx.insert_orders(adm.orders, adm.history, fresh_ids=client_order_ids is not None)
        write_fund_values(tx, adm.funds, balances, now_ms)
        touched = {(a.client_id, a.currency) for a in adm.funds}
        tx.append_events(admission_events(adm) + [
            e for e in extra_events if e.kind is not EventKind.FUNDS_UPDATED
            or (e.payload.get("clientId"), e.payload.get("currency")) not in touched], now_ms)
    return adm


def _funds_payload(f: FundLock) -> dict[str, Any]:
    return {"clientId": f.client_id, "currency": f.currency, "fundLockValue": f.fund_lock_value,
            "orderValue": f.order_value, "settleValue": f.settle_value}


def admission_events(adm: Admission) -> list[Event]:
    events = [Event(EventKind.EXEC_REPORT, {
        "orderId": so.order_id, "clientId": so.client_id, "clientOrderId": so.client_order_id,
        "status": str(so.status), "filledPackages": 0, "reason": so.reject_reason})
        for so in adm.orders]
    events += [Event(EventKind.EXEC_REPORT, {
        "orderId": so.order_id, "clientId": so.client_id, "clientOrderId": so.client_order_id,
        "status": str(so.status), "filledPackages": so.filled_packages, "reason": "SELF_MATCH"})
        for so in adm.cancelled]
    events += [Event(EventKind.FUNDS_UPDATED, _funds_payload(f)) for f in adm.funds]
    return events


def orders_of(data: Any) -> list[Order]:
    """The orders of a book file (for tests and tools)."""
    d = dict(data)
    d.pop("funds", None)
    return list(book_from_dict(d)[0].orders)
