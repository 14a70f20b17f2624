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

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from auction.book import Book
from auction.replication import Atomic, RoundingAllowance, replicate
from auction.units import decimal_places


def _scaled(value: Decimal, places: int) -> int:
    scaled = value.scaleb(places)
    as_int = int(scaled)
    if as_int != scaled:
        raise ValueError(f"{value} has more than {places} decimal places")
    return as_int


@dataclass(frozen=True)
class Market:
    """Per-book arrays. Orders keep the book's entry order (index i); contracts index k."""

    book: Book
    money_places: int  # D
    qty_places: int  # E
    contract_ids: np.ndarray  # k -> contractId
    m: np.ndarray  # k -> money of one lot at one tick (10^-D)
    lot_units: np.ndarray  # k -> atomic units of one lot (10^-E)
    tick_lo: np.ndarray  # k -> band, ticks (without bands: 0 and a huge bound, 1 for binaries)
    tick_hi: np.ndarray
    ref_ticks: np.ndarray  # k -> reference price in ticks (float, for distances only)
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

    @property
    def n_orders(self) -> int:
        return len(self.order_ids)

    # -- the one conversion to floats -------------------------------------------------------
    def lp_arrays(self, orders: np.ndarray, atomics: np.ndarray) -> tuple[np.ndarray, sp.csc_matrix]:
        """Objective (π' = limit − cash, numeraire) and balance matrix (atomics × orders, units).

        Rounding: none beyond float representation; the LP's answer is only used to classify
        orders, and every classification is re-checked in exact arithmetic afterwards.
        """
        obj = self.limit[orders].astype(float) * 10.0 ** -self.money_places - self.cash[orders]
        b = self.exposure[orders][:, atomics].T.tocsc().astype(float) * 10.0 ** -self.qty_places
        return obj, b

    def linking(self, contracts: np.ndarray, atomics: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
        """Rows ``tick_k·t_k − Σ_j coef_kj·u_j = cash_k`` tying contract ticks to atomic prices:
        tick sizes, replication cash (numeraire per unit) and the coefficients, as floats."""
        ticks = np.array([float(self.book.contracts[int(c)].tick_size)
                          for c in self.contract_ids[contracts]])
        cash = np.array([float(self.contract_cash[int(k)]) for k in contracts])
        return ticks, cash, self.contract_terms[contracts][:, atomics].astype(float)

    def band_keepers(self, contracts: np.ndarray, atomics: np.ndarray
                     ) -> tuple[np.ndarray, sp.csc_matrix]:
        """Per contract a buyer at (low − ε) and a seller at (high + ε), one lot per package.

        Objective in numeraire (π' = π − replication cash), exposure in atomic units; ε is a
        hundredth of a tick's money. Floats: LP only.
        """
        tick_money = self.m[contracts].astype(float) * 10.0 ** -self.money_places
        eps = 0.01 * tick_money
        cash = np.array([float(self.contract_cash[int(k)] * self.book.contracts[
            int(self.contract_ids[k])].lot_size) for k in contracts])
        buy = self.tick_lo[contracts] * tick_money - eps - cash
        sell = -(self.tick_hi[contracts] * tick_money + eps) + cash
        lots = sp.diags(self.lot_units[contracts].astype(float) * 10.0 ** -self.qty_places)
        exp = (lots @ self.contract_terms[contracts][:, atomics].astype(float)).T
        return np.concatenate((buy, sell)), sp.hstack([exp, -exp]).tocsc()


def build_market(book: Book, replication: bool = True, bands: bool = True) -> Market:
    contracts = sorted(book.contracts.values(), key=lambda c: c.contract_id)
    D = max([decimal_places(c.lot_size * c.tick_size) for c in contracts] + [0])
    E = max([decimal_places(c.lot_size) for c in contracts] + [0])
    kidx = {c.contract_id: k for k, c in enumerate(contracts)}
    m = np.array([_scaled(c.lot_size * c.tick_size, D) for c in contracts], dtype=np.int64)
    lot_units = np.array([_scaled(c.lot_size, E) for c in contracts], dtype=np.int64)
    huge = 10**15
    if bands:
        lo = np.array([c.band_ticks[0] for c in contracts], dtype=np.int64)
        hi = np.array([c.band_ticks[1] for c in contracts], dtype=np.int64)
    else:  # no bands: prices stay non-negative, a binary's at most 1
        lo = np.zeros(len(contracts), dtype=np.int64)
        hi = np.array([int(1 / c.tick_size) if c.payoff.is_binary else huge for c in contracts],
                      dtype=np.int64)
    ref = np.array([float(c.reference_ticks) for c in contracts], dtype=float)

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
    cash_per_lot = [cash[k] * c.lot_size for k, c in enumerate(contracts)]

    n = len(book.orders)
    order_ids = np.empty(n, dtype=np.int64)
    q = np.empty(n, dtype=np.int64)
    vol = np.empty(n, dtype=np.int64)
    aon = np.zeros(n, dtype=bool)
    min_fill = np.empty(n, dtype=np.int64)
    limit = np.empty(n, dtype=np.int64)
    order_cash = np.zeros(n, dtype=float)
    allowance = np.zeros(n, dtype=np.int64)
    rho_of = RoundingAllowance(book.contracts, replication)
    money_scale = 10**D
    indptr = [0]
    l_cols: list[int] = []
    l_vals: list[int] = []
    for i, o in enumerate(book.orders):
        order_ids[i] = o.order_id
        g = o.packages
        q[i] = g
        aon[i] = o.all_or_none
        min_fill[i] = o.min_fill
        cap = 0
        csum = Decimal(0)
        v = 0
        for leg in o.legs:
            k = kidx[leg.contract_id]
            a = leg.signed_lots // g
            l_cols.append(k)
            l_vals.append(a)
            v += a if a > 0 else -a
            cap += a * int(m[k]) * int(hi[k] if a > 0 else lo[k])
            if cash[k]:
                csum += a * cash_per_lot[k]
        indptr.append(len(l_cols))
        vol[i] = v
        pi = _scaled(o.total_net_price, D) // g  # exact: the limit is on its tick lattice
        limit[i] = min(pi, cap) if bands else pi  # a limit beyond the band counts at the band
        order_cash[i] = float(csum)
        rho = rho_of(o)
        allowance[i] = rho.numerator * money_scale // rho.denominator
    legs = sp.csr_matrix((np.array(l_vals, dtype=np.int64), np.array(l_cols, dtype=np.int64),
                          np.array(indptr, dtype=np.int64)), shape=(n, len(contracts)))
    exposure = (legs @ sp.diags(lot_units, dtype=np.int64) @ terms).tocsr()
    exposure.eliminate_zeros()
    indivisible = aon | np.array([o.min_packages > 0 for o in book.orders], dtype=bool)
    return Market(book, D, E, np.array([c.contract_id for c in contracts], dtype=np.int64), m,
                  lot_units, lo, hi, ref, atomics, terms, cash, order_ids, q, vol, aon, min_fill,
                  indivisible, limit, allowance, legs, exposure.astype(np.int64), order_cash)


@dataclass(frozen=True)
class Component:
    """An independent part of the book: its orders, atomic instruments and active contracts."""

    orders: np.ndarray  # order indices (entry order)
    atomics: np.ndarray
    contracts: np.ndarray  # contract indices with at least one order leg


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
