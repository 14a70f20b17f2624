"""From a book to arrays: the one place where the matcher's numbers are made.

Exact integers on two common scales, fixed per book:

* money at ``10^-D`` numeraire (D = the most decimals of any ``lot_size·tick_size``), so one lot
  at one tick of contract c is the integer ``m_c`` and every order's limit per package (on the
  tick lattice of its legs, which the book guarantees) is an integer;
* atomic quantity at ``10^-E`` units (E = the most decimals of any ``lot_size``), so one lot of
  contract c is ``lot_c`` integer units of each of its atomic instruments (times ±1).

Floats appear only in :meth:`Market.lp_arrays`, for the welfare LP, in natural units
(underlying units, numeraire).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from auction.book import Book, lattice_limit
from auction.orders import Order
from auction.replication import (
    Atomic,
    RoundingAllowance,
    contract_value,
    reference_prices,
    replicate,
)
from auction.units import EXACT, decimal_places


def _scaled(value: Decimal, places: int) -> int:
    scaled = value.scaleb(places, EXACT)
    as_int = int(scaled)
    if as_int != scaled:
        raise ValueError(f"{value} has more than {places} decimal places")
    return as_int


MEMO_MAX = 100_000  # index arrays longer than this are not memoised (Market.memo)


@dataclass(frozen=True)
class Market:
    """Per-book arrays. Orders keep the book's entry order (index i); contracts index k."""

    book: Book
    money_places: int  # D
    qty_places: int  # E
    contract_ids: np.ndarray  # k -> contractId
    m: np.ndarray  # k -> money of one lot at one tick (10^-D)
    lot_units: np.ndarray  # k -> atomic units of one lot (10^-E)
    tick_lo: np.ndarray  # k -> band, ticks (without bands: 0 and far above every limit, _far_caps)
    tick_hi: np.ndarray
    ref_ticks: np.ndarray  # k -> reference price in ticks (float, for distances only): the
    # replication of the atomic instruments' reference prices (rule 10)
    atomics: tuple[Atomic, ...]
    contract_terms: sp.csr_matrix  # contracts × atomics, coefficient (±1)
    contract_cash: list[Decimal]  # k -> replication cash per unit (K for a put, 1 for a BP)
    order_ids: np.ndarray  # i -> orderId
    q: np.ndarray  # packages
    vol: np.ndarray  # lots per package
    aon: np.ndarray  # bool
    min_fill: np.ndarray  # least non-zero fill (packages)
    indivisible: np.ndarray  # bool
    limit: np.ndarray  # effective limit per package, money (10^-D), int64
    allowance: np.ndarray  # rule 2's rounding allowance ρ per package, money (10^-D, floored)
    legs: sp.csr_matrix  # orders × contracts, signed lots per package (a)
    exposure: sp.csr_matrix  # orders × atomics, atomic units per package (10^-E), int64
    cash: np.ndarray  # replication cash per package, numeraire (float: LP objective only)
    # identical orders, found once per book by hashing (no per-stage np.unique over rows):
    signature: np.ndarray  # i -> id of its legs (contracts and ratios), ordered by that key
    group: np.ndarray  # i -> id of (legs, effective limit), ordered by (signature, limit)
    # made once per book for the stages (each calls them many times):
    leg_money: sp.csr_matrix  # orders × contracts, a·m: the money of one tick, exact int64
    tick_value: np.ndarray  # k -> tick size (float, for linking rows)
    cash_value: np.ndarray  # k -> replication cash per unit (float, for linking rows)
    cash_lot_value: np.ndarray  # k -> replication cash per lot (float, for band keepers)
    atomic_ref: dict  # Atomic -> reference price (auction.replication.reference_prices)
    # answers of money / linking / band_keepers per (method, index arrays): a component's
    # stages ask for the same ones many times (every retry, round and route); the callers
    # never change what they get
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_orders(self) -> int:
        return len(self.order_ids)

    def _memo(self, name: str, a: np.ndarray, b: np.ndarray, make):
        a, b = np.asarray(a), np.asarray(b)
        if a.size > MEMO_MAX:  # made each time: its solves dwarf it, its memory would not be
            return make()
        key = (name, a.dtype.str, a.shape, a.tobytes(), b.dtype.str, b.shape, b.tobytes())
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = make()  # two threads may both make it: the same value
        return hit

    def money(self, orders: np.ndarray, contracts: np.ndarray) -> sp.csr_matrix:
        """``a·m`` per order package and contract: the money of one tick, exact int64 (made
        once per orders and contracts; not to be changed in place)."""
        return self._memo("money", orders, contracts,
                          lambda: _submatrix(self.leg_money, orders, contracts))

    def exposure_in(self, orders: np.ndarray, atomics: np.ndarray) -> sp.csr_matrix:
        """``exposure[orders][:, atomics]``: atomic units per package, exact int64."""
        return _submatrix(self.exposure, orders, atomics)

    # -- the one conversion to floats -------------------------------------------------------
    def lp_arrays(self, orders: np.ndarray, atomics: np.ndarray) -> tuple[np.ndarray, sp.csc_matrix]:
        """Objective (π' = limit − cash, numeraire) and balance matrix (atomics × orders, units).

        Rounding: none beyond float representation; the LP's answer is only used to classify
        orders, and every classification is re-checked in exact arithmetic afterwards.
        """
        obj = self.limit[orders].astype(float) * 10.0 ** -self.money_places - self.cash[orders]
        b = self.exposure_in(orders, atomics).T.tocsc().astype(float) * 10.0 ** -self.qty_places
        return obj, b

    def linking(self, contracts: np.ndarray, atomics: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
        """Rows ``tick_k·t_k − Σ_j coef_kj·u_j = cash_k`` tying contract ticks to atomic prices:
        tick sizes, replication cash (numeraire per unit) and the coefficients, as floats
        (made once per contracts and atomics; not to be changed in place)."""
        return self._memo("linking", contracts, atomics, lambda: (
            self.tick_value[contracts], self.cash_value[contracts],
            _submatrix(self.contract_terms, contracts, atomics).astype(float)))

    def band_keepers(self, contracts: np.ndarray, atomics: np.ndarray
                     ) -> tuple[np.ndarray, sp.csc_matrix]:
        """Per contract a buyer at (low − ε) and a seller at (high + ε), one lot per package.

        Objective in numeraire (π' = π − replication cash), exposure in atomic units; ε is a
        hundredth of a tick's money. Floats: LP only. Made once per contracts and atomics (not
        to be changed in place).
        """
        return self._memo("keepers", contracts, atomics,
                          lambda: self._band_keepers(contracts, atomics))

    def _band_keepers(self, contracts: np.ndarray, atomics: np.ndarray
                      ) -> tuple[np.ndarray, sp.csc_matrix]:
        tick_money = self.m[contracts].astype(float) * 10.0 ** -self.money_places
        eps = 0.01 * tick_money
        cash = self.cash_lot_value[contracts]
        buy = self.tick_lo[contracts] * tick_money - eps - cash
        sell = -(self.tick_hi[contracts] * tick_money + eps) + cash
        lots = sp.diags(self.lot_units[contracts].astype(float) * 10.0 ** -self.qty_places)
        exp = (lots @ _submatrix(self.contract_terms, contracts, atomics).astype(float)).T
        return np.concatenate((buy, sell)), sp.hstack([exp, -exp]).tocsc()


def _submatrix(m: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> sp.csr_matrix:
    """``m[rows][:, cols]``, the same matrix, without scipy's column fancy indexing (slow; the
    stages call this for every model) when ``cols`` is increasing and holds every column the
    rows use — always so for a component's orders, instruments and contracts: the row slice
    keeps its data and its columns are renumbered. The rows are gathered with numpy (scipy's
    row indexing costs more than the copy on these sizes)."""
    rows = np.asarray(rows)
    if rows.ndim != 1 or rows.dtype.kind not in "iu" or not m.has_canonical_format:
        return m[rows][:, cols]
    starts = m.indptr[rows]
    lengths = m.indptr[rows + 1] - starts
    indptr = np.zeros(len(rows) + 1, dtype=m.indptr.dtype)
    np.cumsum(lengths, out=indptr[1:])
    take = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
    pos = np.full(m.shape[1], -1, dtype=np.int64)
    pos[cols] = np.arange(len(cols))
    idx = pos[m.indices[take]]
    if (len(cols) > 1 and np.any(np.diff(cols) <= 0)) or np.any(idx < 0):
        return m[rows][:, cols]
    return sp.csr_matrix((m.data[take], idx.astype(m.indices.dtype), indptr),
                         shape=(len(rows), len(cols)))


def build_market(book: Book, replication: bool = True, bands: bool = True) -> Market:
    contracts = sorted(book.contracts.values(), key=lambda c: c.contract_id)
    lot_money = [EXACT.multiply(c.lot_size, c.tick_size) for c in contracts]  # one lot, one tick
    D = max([decimal_places(v) for v in lot_money] + [0])
    E = max([decimal_places(c.lot_size) for c in contracts] + [0])
    m = np.array([_scaled(v, D) for v in lot_money], dtype=np.int64)
    lot_units = np.array([_scaled(c.lot_size, E) for c in contracts], dtype=np.int64)
    if bands:
        lo = np.array([c.band_ticks[0] for c in contracts], dtype=np.int64)
        hi = np.array([c.band_ticks[1] for c in contracts], dtype=np.int64)
    else:  # no bands: prices stay non-negative (the upper bounds follow once limits are known)
        lo = np.zeros(len(contracts), dtype=np.int64)
        hi = np.zeros(len(contracts), dtype=np.int64)
    # rule 10: prices belong to atomic instruments; a contract's reference is the replication
    # of its instruments' reference prices (its own when it is the instrument's anchor)
    atomic_ref = reference_prices(book.contracts, replication)
    ref = np.array([float(contract_value(replicate(c, replication), atomic_ref)
                          / Fraction(c.tick_size)) for c in contracts], dtype=float)

    atomic_index: dict[Atomic, int] = {}
    t_rows, t_cols, t_vals, cash = [], [], [], []
    for k, c in enumerate(contracts):
        rep = replicate(c, replication)
        for atom, coef in rep.terms:
            t_rows.append(k)
            t_cols.append(atomic_index.setdefault(atom, len(atomic_index)))
            t_vals.append(coef)
        cash.append(rep.cash)
    atomics = tuple(atomic_index)
    terms = sp.csr_matrix((np.array(t_vals, dtype=np.int64), (t_rows, t_cols)),
                          shape=(len(contracts), len(atomics)))
    cash_per_lot = [EXACT.multiply(cash[k], c.lot_size) for k, c in enumerate(contracts)]

    orders = book.orders
    n = len(orders)
    # Flatten the legs once; everything else is integer numpy over the flat legs, segment
    # i = indptr[i]:indptr[i+1].
    indptr, leg_cid, leg_lots, leg_sign = _flat_legs(orders)
    n_legs = np.diff(indptr)
    contract_ids = np.array([c.contract_id for c in contracts], dtype=np.int64)
    l_cols = np.searchsorted(contract_ids, leg_cid)  # contracts are sorted by id
    order_ids = np.fromiter((o.order_id for o in orders), dtype=np.int64, count=n)
    aon = np.fromiter((o.all_or_none for o in orders), dtype=bool, count=n)
    min_packages = np.fromiter((o.min_packages for o in orders), dtype=np.int64, count=n)
    q = _segment_sums(leg_lots, indptr, np.gcd)  # packages: the gcd of the leg lots
    l_vals = leg_sign * leg_lots // np.repeat(q, n_legs)  # a: signed lots per package
    vol = _segment_sums(np.abs(l_vals), indptr)
    min_fill = np.where(aon, q, np.maximum(min_packages, 1))
    step = _segment_sums(np.abs(l_vals) * m[l_cols], indptr, np.gcd)  # a·p's lattice step
    limit = _limits(orders, q, step, D,
                    _band_caps(l_vals, l_cols, indptr, m, lo, hi) if bands else None)
    if not bands:
        hi = _far_caps(contracts, ref, limit, l_vals, l_cols, indptr, m)
    order_cash = _order_cash(l_vals, l_cols, indptr, cash, cash_per_lot)
    sig_first, signature = _signatures(l_vals, l_cols, indptr, len(book.contracts))
    allowance = _allowances(book, sig_first, signature, replication, D, l_vals, l_cols,
                            indptr, lot_units, terms)
    group = _limit_groups(signature, limit)
    legs = sp.csr_matrix((l_vals, l_cols, indptr), shape=(n, len(contracts)))
    exposure = (legs @ sp.diags(lot_units, dtype=np.int64) @ terms).tocsr()
    exposure.eliminate_zeros()
    indivisible = aon | (min_packages > 0)
    leg_money = sp.csr_matrix((l_vals * m[l_cols], l_cols, indptr), shape=(n, len(contracts)))
    return Market(book, D, E, contract_ids, m,
                  lot_units, lo, hi, ref, atomics, terms, cash, order_ids, q, vol, aon, min_fill,
                  indivisible, limit, allowance, legs, exposure.astype(np.int64), order_cash,
                  signature, group, leg_money,
                  np.array([float(c.tick_size) for c in contracts], dtype=float),
                  np.array([float(v) for v in cash], dtype=float),
                  np.array([float(cash[k] * c.lot_size) for k, c in enumerate(contracts)],
                           dtype=float), atomic_ref)


def _flat_legs(orders: tuple[Order, ...]) -> tuple[np.ndarray, ...]:
    """Every order's legs flattened: ``indptr`` (order i's legs are ``indptr[i]:indptr[i+1]``)
    and per leg its contract id, lots and side sign (±1), int64. Python reads each distinct
    legs tuple once — the reader shares equal legs (auction.interchange), so a 1M-order book
    has some 70k — and numpy gathers them per order: the same arrays as a walk over every
    order's legs."""
    n = len(orders)
    legs_of = [o.legs for o in orders]
    key = np.fromiter(map(id, legs_of), dtype=np.int64, count=n)  # alive while orders are
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    distinct = [legs_of[i] for i in first.tolist()]
    d_len = np.fromiter(map(len, distinct), dtype=np.int64, count=len(distinct))
    d_ptr = np.zeros(len(distinct) + 1, dtype=np.int64)
    np.cumsum(d_len, out=d_ptr[1:])
    flat = [leg for legs in distinct for leg in legs]
    nnz = len(flat)
    d_cid = np.fromiter((leg.contract_id for leg in flat), dtype=np.int64, count=nnz)
    d_lots = np.fromiter((leg.lots for leg in flat), dtype=np.int64, count=nnz)
    d_sign = np.fromiter((leg.side.sign for leg in flat), dtype=np.int64, count=nnz)
    n_legs = d_len[inverse]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_legs, out=indptr[1:])
    take = np.repeat(d_ptr[inverse] - indptr[:-1], n_legs) + np.arange(indptr[-1])
    return indptr, d_cid[take], d_lots[take], d_sign[take]


def _segment_sums(values: np.ndarray, indptr: np.ndarray, op: np.ufunc = np.add) -> np.ndarray:
    """Per order ``op`` reduced over its legs' ``values`` (every order has a leg, auction.orders,
    so no segment is empty)."""
    if len(indptr) == 1:
        return np.zeros(0, dtype=values.dtype)
    return op.reduceat(values, indptr[:-1])


def _max_abs(values: np.ndarray) -> int:
    return int(np.abs(values).max()) if len(values) else 0


def _band_caps(a: np.ndarray, cols: np.ndarray, indptr: np.ndarray, m: np.ndarray,
               lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``cap_i = Σ_l a_l·m_k·(hi_k if a_l > 0 else lo_k)``: the most one package can cost inside
    the bands, money (10^-D), exact: in int64 when ``legs·max|a|·max m·max|band|`` (a Python
    integer) is below 2^63, else in Python integers (an object array)."""
    band = np.where(a > 0, hi[cols], lo[cols])
    width = int(np.diff(indptr).max()) if len(a) else 0
    if width * _max_abs(a) * _max_abs(m) * _max_abs(band) < 2**63:
        return _segment_sums(a * m[cols] * band, indptr)
    terms = [int(x) * int(y) * int(z) for x, y, z in zip(a, m[cols], band, strict=True)]
    return np.array([sum(terms[s:e]) for s, e in pairwise(indptr)], dtype=object)


def _far_caps(contracts: list, ref: np.ndarray, limit: np.ndarray, a: np.ndarray,
              cols: np.ndarray, indptr: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Upper price bounds (ticks) when bands are ignored: a binary's price is at most 1; any
    other contract's four times the largest of its reference and every limit per lot of an
    order touching it, plus ten ticks — far above any price an order can ask for, yet bounds
    the solver's numbers stay sane with (10^15 ticks made HiGHS stall)."""
    per_lot = np.abs(np.repeat(limit, np.diff(indptr))) // (np.abs(a) * m[cols]) + 1
    top = np.ceil(ref).astype(np.int64)
    np.maximum.at(top, cols, per_lot)
    one = np.array([int(1 / c.tick_size) if c.payoff.is_binary else 0 for c in contracts],
                   dtype=np.int64)  # a binary's ticks at 1, 0 for the others
    return np.where(one > 0, one, 4 * top + 10)


def _limits(orders: tuple[Order, ...], q: np.ndarray, step: np.ndarray, places: int,
            caps: np.ndarray | None) -> np.ndarray:
    """Effective limit per package, money (10^-D), int64: ``π`` floored onto the lattice of
    the order's ``a·p`` (rule 11, :func:`auction.book.lattice_limit`: exact, a limit at
    currency precision off the lattice is read as the nearest lattice price inside it),
    clipped to the band cap when ``caps`` is given (a limit beyond the band counts at the band).
    """
    scale = 10**places
    fast = _lattice_limits(orders, q, step, scale)
    if fast is not None and (caps is None or caps.dtype != object):
        return fast if caps is None else np.minimum(fast, caps.astype(np.int64))
    pi = [lattice_limit(o.total_net_price, g, s, scale)
          for o, g, s in zip(orders, q.tolist(), step.tolist(), strict=True)]
    if caps is not None:
        pi = [min(p, int(c)) for p, c in zip(pi, caps.tolist(), strict=True)]
    return np.asarray(pi, dtype=np.int64)


def _lattice_limits(orders: tuple[Order, ...], q: np.ndarray, step: np.ndarray, scale: int
                    ) -> np.ndarray | None:
    """:func:`auction.book.lattice_limit` for every order at once, ``num·scale // (den·q·step)
    · step`` with ``num / den = totalNetPrice`` (floor division toward minus infinity, as
    Python's), in int64 — or None when a term might not fit (then the caller takes the
    per-order Python integers)."""
    n = len(orders)
    if not n:
        return np.zeros(0, dtype=np.int64)
    ratios = [o.total_net_price.as_integer_ratio() for o in orders]
    try:
        num = np.fromiter((r[0] for r in ratios), dtype=np.int64, count=n)
        den = np.fromiter((r[1] for r in ratios), dtype=np.int64, count=n)
    except OverflowError:
        return None
    if (max(int(num.max()), -int(num.min())) * scale >= 2**63
            or int(den.max()) * int(q.max()) * int(step.max()) >= 2**63):
        return None
    return (num * scale) // (den * q * step) * step


def _order_cash(a: np.ndarray, cols: np.ndarray, indptr: np.ndarray, cash: list[Decimal],
                cash_per_lot: list[Decimal]) -> np.ndarray:
    """Replication cash per package ``Σ_l a_l·cash_k·lot_k``, numeraire, as a float (LP only).

    Summed exactly in int64 at 10^-P (P the most decimals of any cash per lot) and divided once
    by 10^P: when ``legs·max|a|·max|cash per lot|`` is below 2^53 and P ≤ 22 both are exact
    floats, so the quotient is the correctly rounded exact sum, as ``float(Decimal sum)`` gives.
    Otherwise: the Decimal sum per order.
    """
    n = len(indptr) - 1
    nonzero = [v for v in cash_per_lot if v]
    if n == 0 or not nonzero:
        return np.zeros(n, dtype=float)
    places = max(decimal_places(v) for v in nonzero)
    per_lot = [_scaled(v, places) for v in cash_per_lot]
    width = int(np.diff(indptr).max())
    if places <= 22 and width * _max_abs(a) * max(abs(v) for v in per_lot) < 2**53:
        return _segment_sums(a * np.array(per_lot, dtype=np.int64)[cols], indptr) / float(10**places)
    out = np.zeros(n, dtype=float)
    for i in range(n):
        csum = Decimal(0)
        for j in range(indptr[i], indptr[i + 1]):
            k = int(cols[j])
            if cash[k]:
                csum += int(a[j]) * cash_per_lot[k]
        out[i] = float(csum)
    return out


def _limit_groups(signature: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Group id per order: the same legs (``signature``) and the same effective limit, ids
    in the order of (signature, limit) — one sort of two integer keys."""
    n = len(signature)
    if not n:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((limit, signature))
    s, lim = signature[order], limit[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (s[1:] != s[:-1]) | (lim[1:] != lim[:-1])
    out = np.empty(n, dtype=np.int64)
    out[order] = np.cumsum(new) - 1
    return out


def _allowances(book: Book, first: np.ndarray, inverse: np.ndarray, replication: bool,
                places: int, a: np.ndarray, cols: np.ndarray, indptr: np.ndarray,
                lot_units: np.ndarray, terms: sp.csr_matrix) -> np.ndarray:
    """Rule 2's rounding allowance ρ per package (auction.replication.RoundingAllowance),
    floored to money at 10^-D (``places``): ``⌊ρ·10^D⌋``. ρ depends only on the order's legs
    and ratios, so it is computed once per distinct leg signature (``first``: an order per
    signature, ``inverse``: each order's signature); which contracts have orders, and whether
    an instrument sees only one-leg orders on one contract, depend on the signatures alone.

    In integers over the signatures' legs (``a``, ``cols``, ``indptr``: the book's flat legs,
    contract indices sorted by id; ``terms``: contracts × atomics): ``ρ = Σ_j |B_j|·θ_j`` with B
    the net units per package at 10^-E (E the most lot decimals: ``lot_units``) and θ_j the
    largest tick at 10^-T (T the most tick decimals) among the contracts with orders on j, so
    ``⌊ρ·10^D⌋ = ⌊Σ|B_j|θ_j · 10^D / 10^(E+T)⌋``; 0 for a one-leg order whose instruments see
    only one-leg orders on its contract. The same integers as RoundingAllowance (test
    ``test_market_allowance``); its Python walk per signature is the fallback when int64
    could overflow."""
    contracts = sorted(book.contracts.values(), key=lambda c: c.contract_id)
    n_sig = len(first)
    if not n_sig:
        return np.zeros(len(inverse), dtype=np.int64)
    e = max(decimal_places(c.lot_size) for c in contracts)
    t = max(decimal_places(c.tick_size) for c in contracts)
    tick_units = [int(c.tick_size.scaleb(t, EXACT)) for c in contracts]
    starts, ends = indptr[first], indptr[first + 1]
    n_legs = ends - starts
    take = np.repeat(starts - np.cumsum(np.concatenate(([0], n_legs[:-1]))), n_legs) \
        + np.arange(int(n_legs.sum()))
    s_ptr = np.zeros(n_sig + 1, dtype=np.int64)
    np.cumsum(n_legs, out=s_ptr[1:])
    s_cols, s_a = cols[take], a[take]
    n_k = len(contracts)
    sig_legs = sp.csr_matrix((s_a, s_cols, s_ptr), shape=(n_sig, n_k))
    terms = terms.tocsr().astype(np.int64)
    # B: net atomic units per package (10^-E); contract sums in int64 must not overflow
    if (_max_abs(s_a) * int(n_legs.max()) * _max_abs(lot_units) * _max_abs(terms.data)
            * max(tick_units) * max(terms.shape[1], 1) >= 2**62):
        return _allowances_walk(book, first, inverse, replication, 10**places)
    net = (sig_legs @ sp.diags(lot_units, dtype=np.int64) @ terms).tocsr()
    # θ_j: the largest tick among contracts with orders on j (contracts touching j)
    ordered = np.zeros(n_k, dtype=bool)
    ordered[s_cols] = True
    touch = terms[ordered].tocoo()
    k_of = np.flatnonzero(ordered)[touch.row]
    theta = np.zeros(terms.shape[1], dtype=np.int64)
    np.maximum.at(theta, touch.col, np.asarray(tick_units, dtype=np.int64)[k_of])
    rho = np.asarray(abs(net) @ theta).ravel().astype(np.int64)  # 10^-(E+T)
    # exact instruments: every signature on them is one leg on one and the same contract
    single = n_legs == 1
    leg_sig = np.repeat(np.arange(n_sig), n_legs)
    per_leg = terms[s_cols].tocoo()  # legs × atomics: the instruments each leg's contract is on
    j, k, one = per_leg.col, s_cols[per_leg.row], single[leg_sig[per_leg.row]]
    n_at = terms.shape[1]
    multi = np.zeros(n_at, dtype=bool)
    np.logical_or.at(multi, j, ~one)
    k_lo = np.full(n_at, n_k, dtype=np.int64)
    k_hi = np.full(n_at, -1, dtype=np.int64)
    np.minimum.at(k_lo, j, k)
    np.maximum.at(k_hi, j, k)
    exact_at = ~multi & (k_lo == k_hi)
    on = terms[s_cols[s_ptr[:-1]]]  # the single legs' instruments (first leg of each)
    all_exact = np.ones(n_sig, dtype=bool)
    rows = np.repeat(np.arange(n_sig), np.diff(on.indptr))
    np.logical_and.at(all_exact, rows, exact_at[on.indices])
    rho[single & all_exact] = 0
    shift = places - e - t
    if shift >= 0:
        money = [int(r) * 10**shift for r in rho.tolist()]
    else:
        money = [int(r) // 10**-shift for r in rho.tolist()]
    return np.array(money, dtype=np.int64)[inverse]


def _allowances_walk(book: Book, first: np.ndarray, inverse: np.ndarray,
                     replication: bool, money_scale: int) -> np.ndarray:
    """:func:`_allowances` by RoundingAllowance, signature by signature (Fractions)."""
    rho_of = RoundingAllowance(book.contracts, replication,
                               [book.orders[int(i)] for i in first])
    per_signature = []
    for i in first:
        rho = rho_of(book.orders[int(i)])
        per_signature.append(rho.numerator * money_scale // rho.denominator)
    return np.array(per_signature, dtype=np.int64)[inverse]


def _signatures(a: np.ndarray, cols: np.ndarray, indptr: np.ndarray, n_contracts: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Orders grouped by leg signature, the sequence of (contract, a) over their legs: one order
    index per distinct signature and, per order, its signature's position in that list.

    Each leg is the digit ``k·(2A+1) + a + A + 1`` (A = max |a|) in base
    ``B = n_contracts·(2A+1) + 1``, an order the number its legs spell (0 pads), which is one
    int64 when ``B^legs < 2^63``; otherwise rows of (k, a) pairs are compared.
    """
    n = len(indptr) - 1
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_legs = np.diff(indptr)
    width = int(n_legs.max())
    pos = np.arange(len(a)) - np.repeat(indptr[:-1], n_legs)  # leg position inside its order
    span = 2 * int(np.abs(a).max()) + 1
    base = n_contracts * span + 1
    if base**width < 2**63:
        digit = cols * span + a + (span // 2 + 1)
        key = _segment_sums(digit * np.array([base**p for p in range(width)], dtype=np.int64)[pos],
                            indptr)
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    else:
        rows = np.repeat(np.arange(n), n_legs)
        sig = np.zeros((n, 2 * width), dtype=np.int64)  # padding (0, 0): no leg has a = 0
        sig[rows, 2 * pos] = cols
        sig[rows, 2 * pos + 1] = a
        _, first, inverse = np.unique(sig, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


@dataclass(frozen=True)
class Component:
    """An independent part of the book: its orders, atomic instruments and active contracts."""

    orders: np.ndarray  # order indices (entry order)
    atomics: np.ndarray
    contracts: np.ndarray  # contract indices with at least one order leg

    @staticmethod
    def union(parts: list[Component]) -> Component:
        """Independent components as one: their models are block-diagonal, so every stage's
        optimum is the parts' optima side by side (one solver call instead of many)."""
        if len(parts) == 1:
            return parts[0]
        return Component(*(np.sort(np.concatenate([getattr(c, f) for c in parts]))
                           for f in ("orders", "atomics", "contracts")))


def components(market: Market, split: bool = True) -> list[Component]:
    """Connected components of the graph whose nodes are atomic instruments.

    Two instruments are linked when one order, or one traded contract, touches both. Orders
    with no net atomic exposure join through their contracts.
    """
    n_at = len(market.atomics)
    legs = market.legs
    active = np.flatnonzero(np.asarray(abs(legs).sum(axis=0)).ravel() > 0)
    if n_at == 0 or market.n_orders == 0:
        return []
    # order -> atomics through its contracts' terms (covers zero-exposure orders too)
    touch = (abs(legs) @ abs(market.contract_terms)).tocsr()
    touch.data[:] = 1
    if not split:
        atoms = np.flatnonzero(np.asarray(touch.sum(axis=0)).ravel() > 0)
        return [Component(np.arange(market.n_orders), atoms, active)]
    adjacency = (touch.T @ touch).tocsr()
    n_comp, label = connected_components(adjacency, directed=False)
    first_atomic = touch.indices[touch.indptr[:-1]]
    order_label = label[first_atomic]
    contract_first = market.contract_terms.tocsr()
    contract_label = label[contract_first.indices[contract_first.indptr[active]]]
    used = np.asarray(touch.sum(axis=0)).ravel() > 0
    out = []
    order_sort = np.argsort(order_label, kind="stable")
    bounds = np.searchsorted(order_label[order_sort], np.arange(n_comp + 1))
    for c in range(n_comp):
        orders = order_sort[bounds[c]:bounds[c + 1]]
        if len(orders) == 0:
            continue
        out.append(Component(np.sort(orders), np.flatnonzero((label == c) & used),
                             active[contract_label == c]))
    return out
