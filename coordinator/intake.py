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

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from auction.book import BookError
from auction.interchange import book_from_dict
from auction.orders import Order
from auction.products import DEFAULT_CURRENCIES
from auction.units import PrecisionError, parse_decimal
from coordinator.admission import Admission, Rejection, admit
from coordinator.clock import Clock
from coordinator.events import Event, EventKind
from coordinator.persistence import Store
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
            out.append((int(f["clientId"]), str(f["currency"]), amount))
        except (ValueError, TypeError) as e:
            problems.append(f"{path}: {e}")
    if problems:
        raise ImportError_(problems)
    return out


def import_book(store: Store, data: Any, clock: Clock, *, end_of_trading: timedelta,
                credit: Mapping[str, Decimal] | None = None) -> ImportReport:
    """Admit a book file's orders; everything in one transaction."""
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
            tx.put_fund_locks(given.values(), now)
            balances = {**balances, **given}
        contracts = tx.contracts()
        existing = tx.order_exists(o.order_id for o in book.orders)
        live = tx.live_orders(client_ids=clients)
        adm = admit(book.orders, contracts=contracts, currencies=currencies, balances=balances,
                    live=live, existing_ids=existing, now_ms=now,
                    end_of_trading=end_of_trading)
        tx.insert_orders(adm.orders, adm.history)
        tx.put_fund_locks(adm.funds, now)
        events = admission_events(adm) + [
            Event(EventKind.FUNDS_UPDATED, _funds_payload(f)) for f in given.values()
            if (f.client_id, f.currency) not in {(a.client_id, a.currency) for a in adm.funds}]
        tx.append_events(events, now)
    return ImportReport(new, len(book.contracts) - new, len(adm.admitted), adm.rejections)


def _funds_payload(f: FundLock) -> dict[str, Any]:
    return {"clientId": f.client_id, "currency": f.currency, "fundLockValue": f.fund_lock_value,
            "orderValue": f.order_value, "settleValue": f.settle_value}


def admission_events(adm: Admission) -> list[Event]:
    events = [Event(EventKind.EXEC_REPORT, {
        "orderId": so.order_id, "clientId": so.client_id, "status": str(so.status),
        "filledPackages": 0, "reason": so.reject_reason}) for so in adm.orders]
    events += [Event(EventKind.FUNDS_UPDATED, _funds_payload(f)) for f in adm.funds]
    return events


def orders_of(data: Any) -> list[Order]:
    """The orders of a book file (for tests and tools)."""
    d = dict(data)
    d.pop("funds", None)
    return list(book_from_dict(d)[0].orders)
