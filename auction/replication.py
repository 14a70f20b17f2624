"""Atomic instruments and replication (auction.md §3).

Orders are matched on atomic instruments so that liquidity flows between books:
``Forward(pair, T)``, ``Call(pair, T, K)``, ``BinaryCall(pair, T, K)``. A put is a call minus a
forward plus cash K (``P = C − F + K``); a binary put is cash 1 minus a binary call
(``BP = 1 − BC``). With replication off every contract is its own instrument.

A contract's price is ``Σ coefficient·price(atomic) + cash``; one lot of it is
``coefficient·lot_size`` units of each atomic. Balance is counted in units of underlying (or of
binary payoff), not in lots, so contracts with different lot sizes share an instrument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from math import ceil

from auction.orders import Order
from auction.products import Contract, Payoff
from auction.units import EXACT, decimal_places


class AtomicKind(StrEnum):
    FORWARD = "Forward"
    CALL = "Call"
    BINARY_CALL = "BinaryCall"
    CONTRACT = "Contract"  # replication off: the contract itself


@dataclass(frozen=True, slots=True)
class Atomic:
    """One atomic instrument, equal and hashed by its fields.

    Sorted by :meth:`sort_key`, a total order in which a missing strike or contract id sorts
    first and is never compared with a number (replication off, a forward contract and a call
    contract of one pair and expiry differ only there).
    """

    kind: AtomicKind
    pair: str
    expiry: date
    strike: Decimal | None = None
    contract_id: int | None = None

    def sort_key(self) -> tuple:
        """(kind, pair, expiry, has strike, strike, has contract id, contract id)."""
        s, c = self.strike, self.contract_id
        return (self.kind, self.pair, self.expiry, s is not None, 0 if s is None else s,
                c is not None, 0 if c is None else c)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Atomic):
            return NotImplemented
        return self.sort_key() < other.sort_key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Atomic):
            return NotImplemented
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Atomic):
            return NotImplemented
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Atomic):
            return NotImplemented
        return self.sort_key() >= other.sort_key()

    def __str__(self) -> str:
        if self.kind is AtomicKind.CONTRACT:
            return f"Contract#{self.contract_id}"
        k = "" if self.strike is None else f" K={self.strike}"
        return f"{self.kind}({self.pair} {self.expiry:%Y%m%d}{k})"


@dataclass(frozen=True, slots=True)
class Replication:
    """price(contract) = Σ coefficient·price(atomic) + cash; positions map by the coefficients."""

    terms: tuple[tuple[Atomic, int], ...]
    cash: Decimal


def replicate(contract: Contract, enabled: bool = True) -> Replication:
    """The atomic decomposition of one unit of ``contract``."""
    pair, t, k = str(contract.pair), contract.expiry, contract.strike
    if not enabled:
        return Replication(((Atomic(AtomicKind.CONTRACT, pair, t, k, contract.contract_id), 1),),
                           Decimal(0))
    match contract.payoff:
        case Payoff.FORWARD:
            return Replication(((Atomic(AtomicKind.FORWARD, pair, t), 1),), Decimal(0))
        case Payoff.CALL:
            return Replication(((Atomic(AtomicKind.CALL, pair, t, k), 1),), Decimal(0))
        case Payoff.PUT:
            return Replication(((Atomic(AtomicKind.CALL, pair, t, k), 1),
                                (Atomic(AtomicKind.FORWARD, pair, t), -1)), k)
        case Payoff.BINARY_CALL:
            return Replication(((Atomic(AtomicKind.BINARY_CALL, pair, t, k), 1),), Decimal(0))
        case Payoff.BINARY_PUT:
            return Replication(((Atomic(AtomicKind.BINARY_CALL, pair, t, k), -1),), Decimal(1))
    raise AssertionError(contract.payoff)



class RoundingAllowance:
    """ρ per package: how far an order may be in the money and still be left partly filled
    because no exact equilibrium lies on the grid (auction.md §4a, *Rounding*).

    ``ρ = Σ_j |B_j|·θ_j``: B the package's net units of each atomic instrument, θ_j the largest
    tick among the contracts *with orders in this auction* on j (``orders``; None: every listed
    contract counts). It is the most ``a·p`` moves when every atomic price moves by less than
    one step. ``ρ = 0`` when every order on the package's instruments is a one-leg order on one
    and the same contract (such a market clears exactly by a sweep).
    """

    def __init__(self, contracts: Mapping[int, Contract], enabled: bool = True,
                 orders: Iterable[Order] | None = None):
        # exact integers: units of 10^-E underlying, steps of 10^-T numeraire
        e = max((decimal_places(c.lot_size) for c in contracts.values()), default=0)
        t = max((decimal_places(c.tick_size) for c in contracts.values()), default=0)
        self._unit = Fraction(1, 10 ** (e + t))
        self._units: dict[int, tuple[tuple[Atomic, int], ...]] = {}  # per lot of a contract
        ticks: dict[int, int] = {}
        for cid, c in contracts.items():
            ticks[cid] = int(c.tick_size.scaleb(t, EXACT))
            lot = int(c.lot_size.scaleb(e, EXACT))
            self._units[cid] = tuple((atom, coef * lot)
                                     for atom, coef in replicate(c, enabled).terms)
        if orders is None:
            ordered = set(contracts)
            # the old reading: a one-leg order on the only contract of its instrument
            users: dict[Atomic, set[int]] = {}
            for cid in contracts:
                for atom, _ in self._units[cid]:
                    users.setdefault(atom, set()).add(cid)
            one_leg_only = {atom: len(u) == 1 for atom, u in users.items()}
        else:
            ordered = set()
            single: dict[Atomic, int | None] = {}  # the one contract, None: another kind seen
            # only which contracts orders combine matters, not how many orders do: each
            # distinct legs tuple once (a large book's readers share equal legs, so this is one
            # dict operation per order)
            distinct = {id(o.legs): o.legs for o in orders}
            for cids in {tuple(leg.contract_id for leg in legs) for legs in distinct.values()}:
                ordered.update(cids)
                for cid in cids:
                    for atom, _ in self._units.get(cid, ()):
                        if len(cids) == 1 and single.get(atom, cid) == cid:
                            single[atom] = cid
                        else:
                            single[atom] = None
            one_leg_only = {atom: cid is not None for atom, cid in single.items()}
        steps: dict[Atomic, int] = {}
        for cid in ordered:
            if cid in self._units:
                for atom, _ in self._units[cid]:
                    steps[atom] = max(steps.get(atom, ticks[cid]), ticks[cid])
        self._steps = steps
        self._exact = one_leg_only
        self._cache: dict[tuple, Fraction] = {}
        self._by_legs: dict[int, tuple[tuple, Fraction]] = {}  # id(legs) -> (legs, ρ)

    def __call__(self, order: Order) -> Fraction:
        legs = order.legs
        hit = self._by_legs.get(id(legs))
        if hit is not None and hit[0] is legs:  # ρ depends on the legs only
            return hit[1]
        key = tuple(zip(order.ratios, (leg.contract_id for leg in legs), strict=True))
        rho = self._cache.get(key)
        if rho is None:
            rho = self._cache[key] = self._compute(key)
        self._by_legs[id(legs)] = (legs, rho)  # the legs kept alive: their id is not reused
        return rho

    def _compute(self, key: tuple[tuple[int, int], ...]) -> Fraction:
        net: dict[Atomic, int] = {}
        for a, cid in key:
            for atom, units in self._units[cid]:
                net[atom] = net.get(atom, 0) + a * units
        if len(key) == 1 and all(self._exact.get(atom, False) for atom in net):
            return Fraction(0)
        steps = self._steps
        return sum(abs(units) * steps.get(atom, 0) for atom, units in net.items()) * self._unit


_ANCHOR = {AtomicKind.FORWARD: Payoff.FORWARD, AtomicKind.CALL: Payoff.CALL,
           AtomicKind.BINARY_CALL: Payoff.BINARY_CALL}


def reference_prices(contracts: Mapping[int, Contract], enabled: bool = True
                     ) -> dict[Atomic, Fraction]:
    """Each atomic instrument's reference price (rule 10), from the contracts' reference
    prices on their grids (``reference_ticks`` rounded into the band, as
    :func:`auction.result.reference_tick`), one source per instrument:

    1. the listed contract *of the instrument's own kind* (forward, call, binary call; the
       lowest contract id);
    2. else a binary put: ``BC = 1 − BP``;
    3. else through a put ``P = C − F + K``: the call from the forward, or the forward from the
       call (the lowest-id put whose other instrument is known; for a forward, the lower
       median over strikes of ``C − P + K``);
    4. else (puts alone on an expiry, no forward and no call listed): the forward at 0, the
       calls from their puts.

    With replication off each contract is its own instrument at its reference. Every
    contract's reference is then its replication of these (``contract_reference``).
    """
    out: dict[Atomic, Fraction] = {}
    ref: dict[int, Fraction] = {}
    for cid, c in contracts.items():
        lo, hi = c.band_ticks
        t = ceil(Fraction(c.reference_price) / Fraction(c.tick_size) - Fraction(1, 2))
        ref[cid] = Fraction(c.tick_size) * min(max(t, lo), hi)
    by_id = sorted(contracts.items())
    reps = {cid: replicate(c, enabled) for cid, c in by_id}
    for cid, c in by_id:  # 1. own kind (or the contract itself)
        (atom, coef), *rest = reps[cid].terms
        if not rest and atom not in out and coef == 1 and (
                atom.kind is AtomicKind.CONTRACT or _ANCHOR.get(atom.kind) is c.payoff):
            out[atom] = ref[cid] - Fraction(reps[cid].cash)
    for cid, _ in by_id:  # 2. single-term contracts of the other sign (binary puts)
        (atom, coef), *rest = reps[cid].terms
        if not rest and atom not in out:
            out[atom] = (ref[cid] - Fraction(reps[cid].cash)) / coef
    puts = [(cid, reps[cid]) for cid, _ in by_id if len(reps[cid].terms) == 2]
    # 3. forwards implied by known calls (lower median over strikes), then calls by forwards
    implied: dict[Atomic, list[Fraction]] = {}
    for cid, rep in puts:
        (call, _), (fwd, _) = rep.terms
        if call in out and fwd not in out:
            implied.setdefault(fwd, []).append(out[call] - ref[cid] + Fraction(rep.cash))
    for fwd, values in implied.items():
        values.sort()
        out[fwd] = values[(len(values) - 1) // 2]
    for cid, rep in puts:
        (call, _), (fwd, _) = rep.terms
        if fwd not in out:  # 4. nothing to anchor the forward: 0
            out[fwd] = Fraction(0)
        if call not in out:
            out[call] = ref[cid] + out[fwd] - Fraction(rep.cash)
    return out


def contract_value(rep: Replication, atomic: Mapping[Atomic, Fraction]) -> Fraction:
    """``Σ coefficient·price(atomic) + cash``: a contract's price from atomic prices."""
    return sum((coef * atomic[atom] for atom, coef in rep.terms), Fraction(rep.cash))


def atomic_prices(contracts: Mapping[int, Contract], ticks: Mapping[int, int],
                  reference: Mapping[Atomic, Fraction], enabled: bool = True
                  ) -> dict[Atomic, Fraction]:
    """Atomic prices implied by the contracts priced in ``ticks`` (exact), the others at their
    ``reference`` (rule 10: an instrument nothing prices keeps its reference price).

    Each priced contract states ``Σ coef·X = price − cash`` (one or two terms, a put
    ``X_call − X_fwd``): a weighted union-find with a zero node. A set of instruments tied to
    each other but not to a price (a put alone prices ``C − F``) takes the reference of its
    forward (else of its smallest instrument) and the others follow. The first contradiction
    wins silently: the equilibrium check reports parity.
    """
    zero = None
    parent: dict[object, object] = {zero: zero}
    offset: dict[object, Fraction] = {zero: Fraction(0)}  # X_node − X_parent

    def find(n: object) -> tuple[object, Fraction]:
        if n not in parent:
            parent[n], offset[n] = n, Fraction(0)
        total = Fraction(0)
        while parent[n] != n:
            total += offset[n]
            n = parent[n]
        return n, total

    def union(u: object, v: object, d: Fraction) -> None:  # X_u − X_v = d
        ru, ou = find(u)
        rv, ov = find(v)
        if ru != rv:
            if ru is zero:  # keep the zero node a root
                parent[rv], offset[rv] = ru, ou - d - ov
            else:
                parent[ru], offset[ru] = rv, d + ov - ou

    reps = {cid: replicate(c, enabled) for cid, c in contracts.items()}
    for cid in sorted(ticks):
        rep = reps[cid]
        value = Fraction(contracts[cid].tick_size) * ticks[cid] - Fraction(rep.cash)
        if len(rep.terms) == 1:
            (atom, coef), = rep.terms
            union(atom, zero, value / coef)
        else:
            (a1, _), (a2, _) = rep.terms
            union(a1, a2, value)
    atoms = sorted({atom for rep in reps.values() for atom, _ in rep.terms})
    for atom in sorted(atoms, key=lambda a: (a.kind is not AtomicKind.FORWARD, a.sort_key())):
        root, _ = find(atom)
        if root is not zero:  # anchor its set at this instrument's reference
            union(atom, zero, reference[atom])
    return {atom: find(atom)[1] for atom in atoms}
