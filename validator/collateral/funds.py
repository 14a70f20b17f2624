"""Funds state per client × currency (collateral.md §1).

Three integers per (client, currency), in the currency's precision units:

* ``fund_lock_value`` — the free balance in the FundLock contract, as last seen on chain;
* ``order_value`` — what the client's live orders lock (the sum of their locks);
* ``settle_value`` — the signed sum of cash movements computed but not yet confirmed on chain,
  **as a credit to the client**: a movement the client pays (positive on chain) lowers it.

``available = fund_lock_value + settle_value − order_value``. Every operation returns a new
state (the state is immutable); a request that needs more than is available raises
:class:`InsufficientFunds` and the old state is untouched, so nothing changes.

Operations: :meth:`FundsState.place` (new order), :meth:`~FundsState.amend`,
:meth:`~FundsState.cancel`, :meth:`~FundsState.fill` (a fill shrinks the order's lock to its
remainder's lock and books the batch's cash movement), :meth:`~FundsState.post` /
:meth:`~FundsState.confirm` (a movement computed / confirmed on chain), :meth:`~FundsState.deposit`
and :meth:`~FundsState.withdraw` (which cancels live orders, newest first, when the rest of the
balance would not cover them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from auction.cash import CashMovement
from auction.products import CurrencyPair
from validator.collateral.errors import (
    CollateralError,
    DuplicateOrder,
    InsufficientFunds,
    UnknownOrder,
)

Amounts = Mapping[str, int]  # currency symbol -> precision units


@dataclass(frozen=True, slots=True)
class Balance:
    fund_lock_value: int = 0
    order_value: int = 0
    settle_value: int = 0

    @property
    def free(self) -> int:
        """What the client owns in this currency, whatever its orders lock."""
        return self.fund_lock_value + self.settle_value

    @property
    def available(self) -> int:
        """What a new order may lock: ``fundLockValue + settleValue − orderValue``, >= 0."""
        return max(0, self.free - self.order_value)


@dataclass(frozen=True, slots=True)
class LiveOrder:
    order_id: int
    client_id: int
    seq: int  # entry sequence: larger = newer
    lock: tuple[tuple[str, int], ...]  # (currency, units), sorted

    def amount(self, currency: str) -> int:
        return dict(self.lock).get(currency, 0)


def _lock(amounts: Amounts) -> tuple[tuple[str, int], ...]:
    for cur, v in amounts.items():
        if v < 0:
            raise CollateralError(f"a lock cannot be negative ({v} {cur})")
    return tuple(sorted((c, v) for c, v in amounts.items() if v))


def movement_amounts(m: CashMovement) -> dict[str, int]:
    """A movement as per-currency amounts the client pays (on-chain sign convention)."""
    pair = CurrencyPair.parse(m.pair)
    out = {pair.underlying: m.underlying_amount}
    out[pair.numeraire] = out.get(pair.numeraire, 0) + m.strike_amount
    return out


@dataclass(frozen=True)
class FundsState:
    balances: Mapping[tuple[int, str], Balance] = field(default_factory=dict)
    orders: Mapping[int, LiveOrder] = field(default_factory=dict)
    next_seq: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "balances", MappingProxyType(dict(sorted(self.balances.items()))))
        object.__setattr__(self, "orders", MappingProxyType(dict(sorted(self.orders.items()))))

    # -- reading -------------------------------------------------------------------------
    def balance(self, client_id: int, currency: str) -> Balance:
        return self.balances.get((client_id, currency), Balance())

    def available(self, client_id: int, currency: str) -> int:
        return self.balance(client_id, currency).available

    def currencies(self, client_id: int) -> list[str]:
        return sorted({c for (cl, c) in self.balances if cl == client_id})

    def live_orders(self, client_id: int) -> list[LiveOrder]:
        """The client's live orders, newest first."""
        return sorted((o for o in self.orders.values() if o.client_id == client_id),
                      key=lambda o: -o.seq)

    # -- helpers -------------------------------------------------------------------------
    def _with(self, changes: Mapping[tuple[int, str], Balance],
              orders: Mapping[int, LiveOrder] | None = None,
              next_seq: int | None = None) -> FundsState:
        b = dict(self.balances)
        b.update(changes)
        return FundsState(b, self.orders if orders is None else orders,
                          self.next_seq if next_seq is None else next_seq)

    @classmethod
    def _sorted(cls, balances: dict[tuple[int, str], Balance], orders: dict[int, LiveOrder],
                next_seq: int) -> FundsState:
        """A state from mappings already in key order (what ``__post_init__`` would sort them
        into), without sorting them again."""
        s = object.__new__(cls)
        object.__setattr__(s, "balances", MappingProxyType(balances))
        object.__setattr__(s, "orders", MappingProxyType(orders))
        object.__setattr__(s, "next_seq", next_seq)
        return s

    def _check(self, client_id: int, extra: Amounts, what: str) -> None:
        for cur, need in sorted(extra.items()):
            if need > 0 and need > self.available(client_id, cur):
                raise InsufficientFunds(client_id, cur, need, self.available(client_id, cur),
                                        what)

    def _order_delta(self, client_id: int, delta: Amounts) -> dict[tuple[int, str], Balance]:
        out = {}
        for cur, d in delta.items():
            if d:
                b = self.balance(client_id, cur)
                out[(client_id, cur)] = Balance(b.fund_lock_value, b.order_value + d,
                                                b.settle_value)
        return out

    def _order(self, order_id: int) -> LiveOrder:
        try:
            return self.orders[order_id]
        except KeyError:
            raise UnknownOrder(f"order {order_id} is not live") from None

    # -- orders --------------------------------------------------------------------------
    def place(self, order_id: int, client_id: int, lock: Amounts) -> FundsState:
        """A new order locking ``lock``; INSUFFICIENT_FUNDS if it needs more than available."""
        if order_id in self.orders:
            raise DuplicateOrder(f"order {order_id} is already live")
        lk = _lock(lock)
        self._check(client_id, dict(lk), f"order {order_id}")
        orders = dict(self.orders)
        orders[order_id] = LiveOrder(order_id, client_id, self.next_seq, lk)
        changes = self._order_delta(client_id, dict(lk))
        # Incremental (admission places every order of a request in turn): when the new keys
        # come after every key (venue ids only grow) the mappings stay in key order without
        # sorting; otherwise the constructor sorts them, as it always did.
        last_order = next(reversed(self.orders), None)
        last_key = next(reversed(self.balances), None)
        fresh = [k for k in changes if k not in self.balances]
        if (last_order is None or order_id > last_order) and len(fresh) <= 1 and (
                not fresh or last_key is None or fresh[0] > last_key):
            balances = dict(self.balances)
            balances.update(changes)
            return FundsState._sorted(balances, orders, self.next_seq + 1)
        return self._with(changes, orders, self.next_seq + 1)

    def amend(self, order_id: int, lock: Amounts) -> FundsState:
        """Replace a live order's lock; only an increase is checked against availability."""
        old = self._order(order_id)
        lk = _lock(lock)
        curs = {c for c, _ in old.lock} | {c for c, _ in lk}
        new = dict(lk)
        delta = {c: new.get(c, 0) - old.amount(c) for c in curs}
        self._check(old.client_id, delta, f"amendment of order {order_id}")
        orders = dict(self.orders)
        orders[order_id] = replace(old, lock=lk)
        return self._with(self._order_delta(old.client_id, delta), orders)

    def cancel(self, order_id: int) -> FundsState:
        """Release a live order's lock."""
        old = self._order(order_id)
        orders = dict(self.orders)
        del orders[order_id]
        return self._with(self._order_delta(old.client_id, {c: -v for c, v in old.lock}),
                          orders)

    def fill(self, order_id: int, remaining_lock: Amounts | None) -> FundsState:
        """An auction filled the order: its lock becomes the lock of its remainder
        (``None`` or empty: fully filled, or the rest cancelled). Book the batch's cash
        movement with :meth:`post`. A fill can only lower a lock."""
        old = self._order(order_id)
        lk = _lock(remaining_lock or {})
        new = dict(lk)
        for cur, v in new.items():
            if v > old.amount(cur):
                raise CollateralError(f"order {order_id}: a fill cannot raise the lock of {cur}")
        if not lk:
            return self.cancel(order_id)
        curs = {c for c, _ in old.lock}
        delta = {c: new.get(c, 0) - old.amount(c) for c in curs}
        orders = dict(self.orders)
        orders[order_id] = replace(old, lock=lk)
        return self._with(self._order_delta(old.client_id, delta), orders)

    # -- cash ----------------------------------------------------------------------------
    def post(self, movements: Iterable[CashMovement]) -> FundsState:
        """Movements computed (batch or expiry), not yet on chain: ``settle_value −= amount``."""
        changes: dict[tuple[int, str], Balance] = {}
        for m in movements:
            for cur, amt in movement_amounts(m).items():
                key = (m.client_id, cur)
                b = changes.get(key, self.balance(*key))
                changes[key] = replace(b, settle_value=b.settle_value - amt)
        return self._with(changes)

    def confirm(self, movements: Iterable[CashMovement]) -> FundsState:
        """Movements confirmed on chain: they leave ``settle_value`` and enter
        ``fund_lock_value`` (available is unchanged)."""
        changes: dict[tuple[int, str], Balance] = {}
        for m in movements:
            for cur, amt in movement_amounts(m).items():
                key = (m.client_id, cur)
                b = changes.get(key, self.balance(*key))
                changes[key] = replace(b, settle_value=b.settle_value + amt,
                                       fund_lock_value=b.fund_lock_value - amt)
        return self._with(changes)

    def deposit(self, client_id: int, currency: str, amount: int) -> FundsState:
        if amount <= 0:
            raise CollateralError(f"deposit of {amount} {currency}: must be positive")
        b = self.balance(client_id, currency)
        return self._with({(client_id, currency):
                           replace(b, fund_lock_value=b.fund_lock_value + amount)})

    def withdraw(self, client_id: int, currency: str,
                 amount: int) -> tuple[FundsState, tuple[int, ...]]:
        """Withdraw ``amount``; returns the new state and the orders cancelled (newest first)
        so that the rest covers the live orders. INSUFFICIENT_FUNDS (nothing changes) when the
        amount exceeds the on-chain balance or the balance net of unconfirmed movements."""
        if amount <= 0:
            raise CollateralError(f"withdrawal of {amount} {currency}: must be positive")
        b = self.balance(client_id, currency)
        limit = min(b.fund_lock_value, b.free)
        if amount > limit:
            raise InsufficientFunds(client_id, currency, amount, max(0, limit), "withdrawal")
        state = self._with({(client_id, currency):
                            replace(b, fund_lock_value=b.fund_lock_value - amount)})
        cancelled: list[int] = []
        for o in self.live_orders(client_id):
            nb = state.balance(client_id, currency)
            if nb.free >= nb.order_value:
                break
            if o.amount(currency):
                state = state.cancel(o.order_id)
                cancelled.append(o.order_id)
        return state, tuple(cancelled)
