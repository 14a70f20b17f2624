"""A brute-force oracle of the clearing rule (auction.md §4) for tiny books.

Every price vector on the tick grid inside the contracts' bands is tried. At each one the orders
are classified against their effective limit (``Book.effective_limit``: π clipped to the band
cap):

* strictly in the money (``a·p < limit``): a divisible order fills completely; an indivisible
  one fills completely or not at all;
* out of the money (``a·p > limit``): no fill;
* at the money (``a·p = limit``): a divisible order fills any whole number of packages
  ``0..q``; an indivisible one ``0`` or ``min_fill..q``. Identical divisible at-the-money orders
  (same contracts and ratios — at the money they share the limit too) are merged into one with
  their total size: the pro-rata split of rule 8 realises any total in whole packages.

The best volume (``Σ packages · lots_per_package``) over integer fills with exact balance per
atomic instrument is found by an exact dynamic programme over the balance vector (integer
arithmetic only; states that the remaining orders can no longer bring back to zero are pruned).
With replication on, only price vectors consistent with the replication identities
(``price(contract) = Σ coefficient·price(atomic) + cash`` for some atomic prices) are tried.

Meant for books of at most ~3 priced contracts with ~25 ticks each and a handful of orders.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import product
from math import lcm

from auction.book import Book
from auction.orders import Order
from auction.replication import Atomic, replicate

MAX_PRICE_VECTORS = 500_000

# classification of one order at one price vector
OUT, ATM, ITM = 0, 1, 2


@dataclass(frozen=True)
class Optimum:
    """The best equilibrium volume and every grid price vector (ticks) that reaches it."""

    volume: int
    prices: tuple[Mapping[int, int], ...]


def max_equilibrium_volume(book: Book, replication: bool = True) -> int | None:
    """The maximum volume of a competitive equilibrium on the tick grid, or None if none exists."""
    best = best_equilibria(book, replication)
    return None if best is None else best.volume


def best_equilibria(book: Book, replication: bool = True) -> Optimum | None:
    """The maximum equilibrium volume and all price vectors reaching it (None: no equilibrium)."""
    oracle = _Oracle(book, replication)
    best: int | None = None
    at: list[dict[int, int]] = []
    for prices in oracle.price_vectors():
        v = oracle.volume_at(prices)
        if v is None:
            continue
        if best is None or v > best:
            best, at = v, [prices]
        elif v == best:
            at.append(prices)
    return None if best is None else Optimum(best, tuple(at))


def equilibrium_volume_at(book: Book, prices: Mapping[int, int],
                          replication: bool = True) -> int | None:
    """The maximum equilibrium volume at the given prices (ticks), None if no allocation there
    satisfies the rule. Prices must cover every contract that an order trades."""
    oracle = _Oracle(book, replication)
    full = {cid: prices[cid] for cid in oracle.priced}
    if replication and not oracle.consistent(full):
        return None
    return oracle.volume_at(full)


def _atomic_key(a: Atomic) -> tuple:
    """A total order on atomics (``Atomic``'s own ordering fails on a missing strike)."""
    return (str(a.kind), a.pair, a.expiry, a.strike is not None, a.strike or 0,
            a.contract_id if a.contract_id is not None else -1)


def _scale(values: Sequence[Fraction]) -> tuple[int, ...]:
    """Multiply by the least common denominator: integers with the same ratios and signs."""
    d = lcm(*(v.denominator for v in values)) if values else 1
    return tuple(int(v * d) for v in values)


def _left_null_space(rows: list[list[Fraction]]) -> list[list[Fraction]]:
    """A basis of {v : vᵀ·M = 0} for the matrix M given by its rows (exact, Fractions)."""
    n = len(rows)
    if n == 0:
        return []
    m = len(rows[0])
    # reduce the augmented matrix [M | I]; rows whose M part becomes zero give the null space
    aug = [list(rows[i]) + [Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    r = 0
    for c in range(m):
        piv = next((i for i in range(r, n) if aug[i][c] != 0), None)
        if piv is None:
            continue
        aug[r], aug[piv] = aug[piv], aug[r]
        for i in range(n):
            if i != r and aug[i][c] != 0:
                f = aug[i][c] / aug[r][c]
                aug[i] = [x - f * y for x, y in zip(aug[i], aug[r], strict=True)]
        r += 1
    return [row[m:] for row in aug[r:]]


class _Oracle:
    def __init__(self, book: Book, replication: bool) -> None:
        self.book = book
        self.orders: tuple[Order, ...] = book.orders
        traded = sorted({leg.contract_id for o in book.orders for leg in o.legs})
        reps = {cid: replicate(c, replication) for cid, c in book.contracts.items()}
        atomics: list[Atomic] = sorted({a for r in reps.values() for a, _ in r.terms},
                                       key=_atomic_key)
        col = {a: i for i, a in enumerate(atomics)}

        # replication identities among contract prices: vᵀ(price − cash) = 0 for v in the
        # left null space of the contract × atomic coefficient matrix
        self.identities: list[tuple[dict[int, int], int]] = []
        if replication:
            cids = sorted(book.contracts)
            matrix = []
            for cid in cids:
                row = [Fraction(0)] * len(atomics)
                for a, coef in reps[cid].terms:
                    row[col[a]] += coef
                matrix.append(row)
            for v in _left_null_space(matrix):
                # Σ_k v_k·tick_k·t_k = Σ_k v_k·cash_k, scaled to integers
                coefs = [v[i] * Fraction(book.contracts[cid].tick_size)
                         for i, cid in enumerate(cids)]
                const = sum((v[i] * Fraction(reps[cid].cash) for i, cid in enumerate(cids)),
                            Fraction(0))
                scaled = _scale([*coefs, const])
                ident = {cid: s for cid, s in zip(cids, scaled[:-1], strict=True) if s}
                if ident:
                    self.identities.append((ident, scaled[-1]))
        # contracts whose price matters: traded ones and those tied to them by an identity
        priced = set(traded)
        changed = True
        while changed:
            changed = False
            for ident, _ in self.identities:
                if priced & ident.keys() and not ident.keys() <= priced:
                    priced |= ident.keys()
                    changed = True
        self.priced: tuple[int, ...] = tuple(sorted(priced))
        # identities involving only contracts whose price is never read need not hold on the
        # grid (those contracts are not traded; any atomic prices serve)
        self.identities = [(i, c) for i, c in self.identities if i.keys() <= priced]

        # money a·p (integer-scaled per order) and effective limits
        self.money: list[tuple[tuple[int, int], ...]] = []
        self.limit: list[int] = []
        for o in self.orders:
            coefs = [Fraction(a) * Fraction(book.contracts[leg.contract_id].lot_size)
                     * Fraction(book.contracts[leg.contract_id].tick_size)
                     for a, leg in zip(o.ratios, o.legs, strict=True)]
            scaled = _scale([*coefs, book.effective_limit(o)])
            self.money.append(tuple((leg.contract_id, s)
                                    for leg, s in zip(o.legs, scaled[:-1], strict=True)))
            self.limit.append(scaled[-1])

        # balance per atomic: units of each atomic per package, integer-scaled per atomic
        raw = []
        for o in self.orders:
            vec = [Fraction(0)] * len(atomics)
            for a, leg in zip(o.ratios, o.legs, strict=True):
                c = book.contracts[leg.contract_id]
                for atom, coef in reps[leg.contract_id].terms:
                    vec[col[atom]] += a * Fraction(c.lot_size) * coef
            raw.append(vec)
        scale = [lcm(*(r[j].denominator for r in raw)) if raw else 1 for j in range(len(atomics))]
        used = [j for j in range(len(atomics)) if any(r[j] for r in raw)]
        self.balance: list[tuple[int, ...]] = [tuple(int(r[j] * scale[j]) for j in used)
                                               for r in raw]
        self.dims = len(used)
        self.key = [(tuple(leg.contract_id for leg in o.legs), o.ratios) for o in self.orders]
        self._memo: dict[tuple[int, ...], int | None] = {}

    # -- prices -----------------------------------------------------------------------------
    def price_vectors(self) -> Iterator[dict[int, int]]:
        ranges = []
        total = 1
        for cid in self.priced:
            lo, hi = self.book.contracts[cid].band_ticks
            ranges.append(range(lo, hi + 1))
            total *= hi - lo + 1
        if total > MAX_PRICE_VECTORS:
            raise ValueError(f"book too large for brute force: {total} price vectors")
        for ticks in product(*ranges):
            prices = dict(zip(self.priced, ticks, strict=True))
            if self.consistent(prices):
                yield prices

    def consistent(self, prices: Mapping[int, int]) -> bool:
        return all(sum(c * prices[cid] for cid, c in ident.items()) == const
                   for ident, const in self.identities)

    # -- allocation -------------------------------------------------------------------------
    def volume_at(self, prices: Mapping[int, int]) -> int | None:
        classes = []
        for money, limit in zip(self.money, self.limit, strict=True):
            m = sum(c * prices[cid] for cid, c in money)
            classes.append(ITM if m < limit else ATM if m == limit else OUT)
        sig = tuple(classes)
        if sig not in self._memo:
            self._memo[sig] = self._best_fill(sig)
        return self._memo[sig]

    def _best_fill(self, classes: tuple[int, ...]) -> int | None:
        base = [0] * self.dims
        base_volume = 0
        items: list[tuple[tuple[int, ...], tuple[int, ...], int]] = []  # choices, vec, lots
        merged: dict[object, int] = {}  # ATM divisible groups: key -> total packages
        merged_at: dict[object, int] = {}  # key -> representative order index
        for i, (o, cls) in enumerate(zip(self.orders, classes, strict=True)):
            q = o.packages
            if cls == OUT:
                continue
            if o.indivisible:
                choices = (0, q) if cls == ITM else (0, *range(o.min_fill, q + 1))
                items.append((choices, self.balance[i], o.lots_per_package))
            elif cls == ITM:
                for d in range(self.dims):
                    base[d] += q * self.balance[i][d]
                base_volume += q * o.lots_per_package
            else:
                k = self.key[i]
                merged[k] = merged.get(k, 0) + q
                merged_at.setdefault(k, i)
        for k, total in merged.items():
            i = merged_at[k]
            items.append((tuple(range(total + 1)), self.balance[i], self.orders[i].lots_per_package))
        return _max_balanced(tuple(base), base_volume, items, self.dims)


def _max_balanced(base: tuple[int, ...], base_volume: int,
                  items: list[tuple[tuple[int, ...], tuple[int, ...], int]],
                  dims: int) -> int | None:
    """max base_volume + Σ c_i·lots_i over c_i ∈ choices_i with base + Σ c_i·vec_i = 0:
    :func:`_best_balanced` with the volume as the second (only) level."""
    best = _best_balanced(base, (Fraction(0), base_volume),
                          [(choices, vec, [(Fraction(0), c * lots) for c in choices])
                           for choices, vec, lots in items], dims)
    return None if best is None else best[1]


def least_loss_at(book: Book, prices: Mapping[int, int], replication: bool = True,
                  keep_full: frozenset[int] = frozenset(),
                  fixed: Mapping[int, int] | None = None, surplus: bool = False
                  ) -> tuple[Fraction, int] | tuple[Fraction, int, int] | None:
    """§4a at fixed prices (contract ticks): over every allocation in whole packages that
    balances there with the rounding allowance — a divisible order in the money by more than
    its ρ (``auction.replication.RoundingAllowance``) or named in ``keep_full`` filled
    completely, one within ρ (``0 <= π − a·p <= ρ``) any ``0..q``, one out of the money none;
    an indivisible one in or at the money none or complete (at the money: none or
    ``min_fill..q``) — the least priority loss ``Σ (unfilled packages)·(π − a·p)`` over the
    divisible orders in the money, then the most volume: ``(loss, volume)``, or None when no
    allocation balances. ``fixed``: order id -> packages, fills taken as given (e.g. the
    indivisible orders as an answer has them). ``surplus``: a third level, rule 5 — the least
    unfilled lots of divisible orders not out of the money that get nothing
    (``scripts/objectives.py``'s measure), counted per group of identical free orders (the
    group's lots when the group gets nothing: how it is split among them is rule 8's):
    ``(loss, volume, surplus)``. Exact (Fractions, integer balance), by the same dynamic
    programme."""
    from auction.replication import RoundingAllowance

    oracle = _Oracle(book, replication)
    rho = RoundingAllowance(book.contracts, replication, book.orders)
    base = [0] * oracle.dims
    base_value = (Fraction(0), 0, 0)  # (−loss, volume, −surplus)
    items: list[tuple[tuple[int, ...], tuple[int, ...], list[tuple[Fraction, int, int]]]] = []
    merged: dict[object, tuple[int, Fraction, int]] = {}  # free group -> (Q, gap, order index)
    for i, o in enumerate(oracle.orders):
        gap = book.effective_limit(o) - book.order_money(o, prices)
        q = o.packages
        if fixed is not None and o.order_id in fixed:
            c = fixed[o.order_id]
            loss = (q - c) * gap if gap > 0 and not o.indivisible else Fraction(0)
            lots = q * o.lots_per_package if c == 0 and gap >= 0 and not o.indivisible else 0
            items.append(((c,), oracle.balance[i], [(-loss, c * o.lots_per_package, -lots)]))
            continue
        if gap < 0:
            continue
        if o.indivisible:
            choices = (0, q) if gap > 0 else (0, *range(o.min_fill, q + 1))
            items.append((choices, oracle.balance[i],
                          [(Fraction(0), c * o.lots_per_package, 0) for c in choices]))
        elif gap > rho(o) or (gap > 0 and o.order_id in keep_full):
            for d in range(oracle.dims):
                base[d] += q * oracle.balance[i][d]
            base_value = (base_value[0], base_value[1] + q * o.lots_per_package, 0)
        else:
            k = (oracle.key[i], book.effective_limit(o))
            total, _, at = merged.get(k, (0, gap, i))
            merged[k] = (total + q, gap, at)
    for total, gap, i in merged.values():
        choices = tuple(range(total + 1))
        lpp = oracle.orders[i].lots_per_package
        items.append((choices, oracle.balance[i],
                      [(-(total - c) * gap, c * lpp, -total * lpp if c == 0 else 0)
                       for c in choices]))
    best = _best_balanced(tuple(base), base_value, items, oracle.dims)
    if best is None:
        return None
    return (-best[0], best[1], -best[2]) if surplus else (-best[0], best[1])


def _best_balanced(base: tuple[int, ...], base_value: tuple,
                   items: list[tuple[tuple[int, ...], tuple[int, ...], list[tuple]]],
                   dims: int) -> tuple | None:
    """The lexicographically largest ``base_value + Σ value_i(c_i)`` (tuples added
    elementwise) over ``c_i ∈ choices_i`` with ``base + Σ c_i·vec_i = 0``; None if none."""
    n = len(items)
    lo = [[0] * dims for _ in range(n + 1)]
    hi = [[0] * dims for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        choices, vec, _ = items[i]
        for d in range(dims):
            vals = (vec[d] * min(choices), vec[d] * max(choices))
            lo[i][d] = lo[i + 1][d] + min(vals)
            hi[i][d] = hi[i + 1][d] + max(vals)

    def reachable(state: tuple[int, ...], i: int) -> bool:
        return all(lo[i][d] <= -state[d] <= hi[i][d] for d in range(dims))

    if not reachable(base, 0):
        return None
    states: dict[tuple[int, ...], tuple] = {base: base_value}
    for i, (choices, vec, values) in enumerate(items):
        nxt: dict[tuple[int, ...], tuple] = {}
        for state, value in states.items():
            for c, value_c in zip(choices, values, strict=True):
                s = tuple(state[d] + c * vec[d] for d in range(dims))
                if not reachable(s, i + 1):
                    continue
                v = tuple(x + y for x, y in zip(value, value_c, strict=True))
                if s not in nxt or nxt[s] < v:
                    nxt[s] = v
        states = nxt
        if not states:
            return None
    return states.get(tuple([0] * dims))
