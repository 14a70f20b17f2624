"""The independent equilibrium check (auction.md §4): does a clearing result obey the rule?

It never trusts the matcher and never imports it. Every number is exact: money is carried as
Python integers on one common scale (``10**E`` where ``E`` is the most decimal places of any
contract's ``lot_size`` plus that of its ``tick_size``), limits are compared by cross-multiplication with the exact
integer ratio of ``totalNetPrice``, and balance is counted in integer units of
``10**-F`` underlying (``F`` the most decimal places of any ``lot_size``). No floats, no Decimal
contexts in the inner loops.

Rules (a :class:`Violation` names one of these in ``rule``):

* prices: ``price-missing``, ``price-unknown-contract``, ``price-not-integer``, ``price-band``;
* fills: ``fill-unknown-order``, ``fill-duplicate``, ``fill-not-integer``, ``fill-size``,
  ``all-or-none``, ``min-quantity``;
* ``limit`` (a filled order with ``a·p`` above its limit: out of the money),
  ``priority`` (an order in the money by more than its rounding allowance ρ and more than one
  package short; ρ = Σ_j |B_j|·θ_j, the package's net units of each atomic instrument times
  that instrument's grid step — see :class:`auction.replication.RoundingAllowance`; one
  package short, never unfilled, is the whole-package allowance, for when no allocation in
  whole packages balances: such orders are listed in :attr:`CheckReport.short`),
* ``short-priority`` (an order one package short while a filled order with the same legs at
  a lower limit is at the money or within its rounding allowance: that one gives way first;
  or while a divisible order with the same legs, less in the money beyond its allowance and
  of two packages or more, is filled completely: shortfalls go first to the orders least in
  the money),
* ``balance`` (an atomic instrument whose bought and sold units differ),
* ``pro-rata`` (at-the-money orders of one group not split by largest remainder),
* ``uncleared-filled``, ``uncleared-unknown-contract``, ``uncleared-priceable`` (a contract
  without orders listed uncleared although the cleared prices give it a price on its grid
  inside its band, rule 10),
* ``parity`` (contract prices not consistent with the replication of §3).

The limit in force is the *effective* limit ``min(π, band cap)`` with ``bands=True`` and ``π``
with ``bands=False``. Orders touching an uncleared contract or a contract without a valid price
are exempt from ``limit``, ``priority`` and ``pro-rata`` (the latter case is already reported).
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import gcd, lcm
from numbers import Integral

from auction.book import Book, lattice_limit
from auction.orders import Order, Side
from auction.replication import Atomic, RoundingAllowance, replicate
from auction.result import ClearingResult
from auction.units import PrecisionError, finite_decimal

__all__ = ["CheckReport", "Violation", "check"]

_MAX_LISTED = 10  # pro-rata messages list at most this many mismatching orders


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: ``subject`` is ``order N``, ``contract N`` or an atomic instrument."""

    rule: str
    subject: str
    message: str
    order_id: int | None = None
    contract_id: int | None = None

    def __str__(self) -> str:
        return f"[{self.rule}] {self.subject}: {self.message}"


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The verdict. ``volume`` and ``surplus`` follow :mod:`auction.result` (lots).

    ``volume`` counts fills of known orders; ``surplus`` the unfilled lots of at-the-money orders
    (limit in force as in the check; uncleared and unpriced orders excluded). ``short`` lists
    the divisible orders in the money beyond their rounding allowance, filled, and one package
    short (the whole-package allowance): allowed, shown for audit.
    """

    ok: bool
    violations: tuple[Violation, ...]
    volume: int
    surplus: int
    short: tuple[int, ...] = ()
    rounded: tuple[int, ...] = ()  # in the money within ρ, not filled completely (§4a)
    probes_undecided: int = 0  # §4a probes this check could not decide (see _probe)

    @property
    def rules(self) -> frozenset[str]:
        return frozenset(v.rule for v in self.violations)

    def by_rule(self, rule: str) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.rule == rule)

    def __str__(self) -> str:
        head = (f"equilibrium check {'OK' if self.ok else 'FAILED'}: volume {self.volume}, "
                f"surplus {self.surplus}, {len(self.violations)} violation(s)"
                + (f", {len(self.short)} order(s) one package short" if self.short else "")
                + (f", {len(self.rounded)} order(s) within the rounding allowance"
                   if self.rounded else "")
                + (f", {self.probes_undecided} §4a probe(s) undecided"
                   if self.probes_undecided else ""))
        return "\n".join([head, *(f"  {v}" for v in self.violations)])


# --------------------------------------------------------------------------- exact numbers

def _places(d: Decimal) -> int:
    """Decimal places needed to write ``d`` exactly (0 for integers)."""
    exp = d.as_tuple().exponent
    assert isinstance(exp, int), d  # finite by construction of the domain types
    return max(0, -exp)


def _scaled(d: Decimal, scale: int) -> int:
    """``d·scale`` as an exact int (``scale`` is a power of ten covering d's places)."""
    n, den = d.as_integer_ratio()
    v, rem = divmod(n * scale, den)
    assert rem == 0, (d, scale)
    return v


def _show(value: Fraction | int, scale: int = 1) -> str:
    """An exact readable number ``value / scale``: a finite decimal, else ``n/d``.

    ``scale`` is a power of ten; with an int ``value`` this is pure integer work (fast path).
    """
    if type(value) is int and scale >= 1:
        places = len(str(scale)) - 1
        n = value
    else:
        f = Fraction(value) / scale
        try:
            n, places = finite_decimal(f)
        except PrecisionError:
            return f"{f.numerator}/{f.denominator}"
    sign = "-" if n < 0 else ""
    digits = str(abs(n)).rjust(places + 1, "0")
    if not places:
        return sign + digits
    whole, frac = digits[:-places], digits[-places:].rstrip("0")
    return sign + whole + ("." + frac if frac else "")


def _is_int(v: object) -> bool:
    return type(v) is int or (isinstance(v, Integral) and not isinstance(v, bool))


# --------------------------------------------------------------------------- the check

def check(book: Book, result: ClearingResult, *, replication: bool = True,
          bands: bool = True, parity: bool = True, probe: bool = True) -> CheckReport:
    """Verify ``result`` against ``book`` under the clearing rule; collect every violation.

    ``replication`` chooses the atomic instruments balance is counted on (§3; off: every contract
    is its own instrument). ``bands`` checks prices against the price bands and uses the
    effective limit ``min(π, band cap)``; off, the plain ``π``. ``parity`` (on by default) checks
    that contract prices are consistent with replication (e.g. ``P = C − F + K``).

    The cyclic garbage collector is paused while it runs: the check makes a few tuples per
    order and none of them forms a cycle, but each collection would walk the whole book's
    objects (on a book of a million orders, a third of the check's time).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _check(book, result, replication, bands, parity, probe)
    finally:
        if enabled:
            gc.enable()


def _check(book: Book, result: ClearingResult, replication: bool, bands: bool, parity: bool,
           probe: bool) -> CheckReport:
    out: list[Violation] = []
    contracts = book.contracts
    uncleared = result.uncleared

    # ---- rule 7 (part): uncleared names known contracts
    for cid in sorted(uncleared, key=repr):
        if cid not in contracts:
            out.append(Violation("uncleared-unknown-contract", f"contract {cid}",
                                 "listed as uncleared but not a contract of the book",
                                 contract_id=cid if _is_int(cid) else None))

    # ---- rule 1: a price per contract, whole ticks, inside the band
    scale = 10 ** max((_places(c.lot_size) + _places(c.tick_size) for c in contracts.values()),
                      default=0)
    lot_scale = 10 ** max((_places(c.lot_size) for c in contracts.values()), default=0)
    prices: dict[int, int] = {}
    for cid, t in result.prices.items():
        if cid not in contracts:
            out.append(Violation("price-unknown-contract", f"contract {cid}",
                                 f"price {t!r} for a contract not in the book",
                                 contract_id=cid if _is_int(cid) else None))
        elif not _is_int(t):
            out.append(Violation("price-not-integer", f"contract {cid}",
                                 f"price {t!r} is not a whole number of ticks "
                                 f"(tick size {contracts[cid].tick_size})", contract_id=cid))
        else:
            prices[cid] = int(t)
    lv_p: dict[int, int] = {}  # money of one lot at the clearing price, × scale
    lv_hi: dict[int, int] = {}  # ... at the top of the band
    lv_lo: dict[int, int] = {}  # ... at the bottom of the band
    for cid, c in contracts.items():
        exact = Fraction(c.lot_size) * Fraction(c.tick_size) * scale  # no Decimal context
        assert exact.denominator == 1, c
        lv = int(exact)
        lo, hi = c.band_ticks
        lv_lo[cid], lv_hi[cid] = lv * lo, lv * hi
        if cid not in prices:
            if cid not in result.prices:
                out.append(Violation("price-missing", f"contract {cid}",
                                     "the result has no price for this contract of the book",
                                     contract_id=cid))
            continue
        t = prices[cid]
        lv_p[cid] = lv * t
        if bands and not lo <= t <= hi:
            out.append(Violation(
                "price-band", f"contract {cid}",
                f"price {t} ticks ({_show(Fraction(c.tick_size) * t)}) outside the band "
                f"[{lo}, {hi}] ticks ([{c.low_range}, {c.high_range}])", contract_id=cid))
    skip = set(uncleared) | (set(contracts) - set(lv_p))  # exempt from limit/priority/pro rata

    # ---- rule 2: fills name known orders once, whole packages, indivisibility
    filled: dict[int, int] = {}
    seen: set[int] = set()
    sizes: dict[int, tuple[Order, int]] = {}  # filled orders: the order and its size q
    volume = 0
    for f in result.fills:
        oid, x = f.order_id, f.packages
        try:
            o = book.order(oid)
        except (KeyError, TypeError):
            out.append(Violation("fill-unknown-order", f"order {oid}",
                                 f"fill of {x!r} package(s) for an order not in the book",
                                 order_id=oid if _is_int(oid) else None))
            continue
        if not _is_int(x):
            out.append(Violation("fill-not-integer", f"order {oid}",
                                 f"fill {x!r} is not a whole number of packages", order_id=oid))
            continue
        x = int(x)
        if oid in seen:
            out.append(Violation("fill-duplicate", f"order {oid}",
                                 f"filled more than once (another fill of {x} package(s)); "
                                 "the fills are added up", order_id=oid))
        seen.add(oid)
        filled[oid] = filled.get(oid, 0) + x
        legs = o.legs
        q = legs[0].lots if len(legs) == 1 else gcd(*[leg.lots for leg in legs])
        sizes[oid] = (o, q)
        volume += x * sum(leg.lots for leg in legs) // q
    for oid, x in filled.items():
        o, q = sizes[oid]
        if not 1 <= x <= q:
            out.append(Violation("fill-size", f"order {oid}",
                                 f"filled {x} package(s); a fill must be 1..{q} (its size)",
                                 order_id=oid))
        elif o.all_or_none and x != q:
            out.append(Violation("all-or-none", f"order {oid}",
                                 f"all-or-none order of {q} package(s) filled partly ({x})",
                                 order_id=oid))
        elif o.min_packages and x < o.min_packages:
            out.append(Violation("min-quantity", f"order {oid}",
                                 f"filled {x} package(s), below its minimum of "
                                 f"{o.min_packages} (of {q})", order_id=oid))

    # ---- rules 3, 4, 6 (grouping) and 7: one pass over the book
    groups: dict[tuple, list[tuple[int, int, int, int]]] = defaultdict(list)
    surplus = 0
    short: list[tuple[int, tuple]] = []  # (order, group key): one package short
    gaps: dict[int, int] = {}  # short order -> its in-the-money amount per package (× scale)
    # per legs: the least in-the-money amount of a divisible order beyond its allowance filled
    # completely with two packages or more (it could be the one short instead: §4a)
    full_least: dict[tuple, int] = {}
    rounded: list[int] = []  # orders in the money within ρ left partly filled or unfilled
    buy = Side.BUY
    # per priced, cleared contract: one lot's money at the price, at the band top, at the bottom
    money = {cid: (lv_p[cid], lv_hi[cid], lv_lo[cid]) for cid in lv_p if cid not in skip}
    money_get = money.get
    filled_get = filled.get
    allowance = RoundingAllowance(contracts, replication, book.orders)
    lot_value = book.lot_value  # one lot at one tick, × scale (scale is book.money_scale)
    per_legs: dict[int, tuple] = {}  # id(legs) -> (legs, q, step, ((cid, signed a), …))
    rho_of: dict[int, tuple] = {}  # id(legs) -> (legs, ρ × scale)
    for pos, o in enumerate(book.orders):
        legs = o.legs
        oid = o.order_id
        x = filled_get(oid, 0)
        if len(legs) == 1:  # fast path: one leg is ``lots`` packages of ratio ±1
            leg = legs[0]
            q = leg.lots
            step = lot_value[leg.contract_id]
            v = money_get(leg.contract_id)
            if v is None:
                m = None
            elif leg.side is buy:
                m, cap = v[0], v[1]
            else:
                m, cap = -v[0], -v[2]
        else:
            info = per_legs.get(id(legs))
            if info is None or info[0] is not legs:  # once per distinct legs tuple
                q = gcd(*[leg.lots for leg in legs])
                terms = tuple((leg.contract_id, leg.lots // q if leg.side is buy
                               else -(leg.lots // q)) for leg in legs)
                info = per_legs[id(legs)] = (legs, q, gcd(*[abs(a) * lot_value[cid]
                                                            for cid, a in terms]), terms)
            _, q, step, terms = info
            m = cap = 0  # a·p and band cap, × scale
            for cid, a in terms:  # a signed: a buy's cap at the band's top, a sell's bottom
                v = money_get(cid)
                if v is None:
                    m = None
                    break
                m += v[0] * a
                cap += v[1 if a > 0 else 2] * a
        if m is None:  # touches an uncleared or unpriced contract: exempt
            if x:
                touched = [leg.contract_id for leg in legs if leg.contract_id in uncleared]
                if touched:
                    out.append(Violation(
                        "uncleared-filled", f"order {oid}",
                        f"filled {x} package(s) but touches uncleared contract(s) "
                        f"{', '.join(map(str, touched))}", order_id=oid))
            continue
        # rule 11: π read floored onto the lattice of a·p (× scale, exact)
        lim = lattice_limit(o.total_net_price, q, step, scale)
        vs_limit = m - lim  # sign of a·p − π
        if bands:
            vs_cap = m - cap  # sign of a·p − band cap
            otm = vs_limit > 0 or vs_cap > 0
            itm = vs_limit < 0 and vs_cap < 0
        else:
            otm, itm = vs_limit > 0, vs_limit < 0
        if otm:
            if x:
                out.append(Violation(
                    "limit", f"order {oid}",
                    f"filled {x} package(s) out of the money: a·p = {_show(m, scale)}"
                    f" > limit {_limit_text(o, q, lim, cap, scale, bands)}", order_id=oid))
        elif itm:
            # in the money by ``gap``; within the rounding allowance ρ it may stay partly filled
            gap = lim - m
            if bands:
                gap = min(gap, cap - m)
            hit = rho_of.get(id(legs))  # ρ depends on the legs alone
            if hit is None or hit[0] is not legs:
                hit = rho_of[id(legs)] = (legs, allowance(o) * scale)
            rho = hit[1]
            exempt = o.indivisible and (x == 0 or o.all_or_none)
            if gap <= rho:
                if not o.indivisible:
                    groups[_group_key(legs, q, lim)].append((pos, oid, q, x))
                    if x < q:
                        rounded.append(oid)  # §4a rounding: in the money, not filled
            elif x == q - 1 and x and not o.indivisible:
                short.append((oid, _group_key(legs, q, lim)))  # the whole-package allowance
                gaps[oid] = gap
            elif x == q >= 2 and not o.indivisible:
                key = _group_key(legs, q, lim)[0]
                if gap < full_least.get(key, gap + 1):
                    full_least[key] = gap
            elif x != q and not exempt:
                out.append(Violation(
                    "priority", f"order {oid}",
                    f"in the money (a·p = {_show(m, scale)} < limit "
                    f"{_limit_text(o, q, lim, cap, scale, bands)}) but filled {x} of {q} package(s)"
                    + (" (an indivisible order fills all or nothing when in the money)"
                       if o.indivisible else " (at most one package short, never unfilled"
                       + (f"; rounding allowance {_show(rho, scale)})" if rho else ")")),
                    order_id=oid))
        else:  # at the money
            surplus += (q - x) * (sum(leg.lots for leg in legs) // q)
            if not o.indivisible:
                groups[_group_key(legs, q, lim)].append((pos, oid, q, x))

    # ---- the whole-package allowance only when needed: no marginal order (at the money or
    # within its allowance) with the same legs and a lower limit trades instead
    if short:
        lowest: dict[tuple, int] = {}
        for (legs_key, pi), members in groups.items():
            if any(x for *_, x in members) and pi < lowest.get(legs_key, pi + 1):
                lowest[legs_key] = pi
        for oid, (legs_key, pi) in short:
            if legs_key in lowest and lowest[legs_key] < pi:
                out.append(Violation(
                    "short-priority", f"order {oid}",
                    f"one package short although an order with the same legs at the lower "
                    f"limit {_show(lowest[legs_key], scale)} per package trades at the money (it "
                    "gives way first)", order_id=oid))
            elif full_least.get(legs_key, gaps[oid]) < gaps[oid]:
                # §4a: shortfalls go first to the orders least in the money per package; the
                # same legs balance the same, so that order could be short instead
                out.append(Violation(
                    "short-priority", f"order {oid}",
                    f"one package short, {_show(gaps[oid], scale)} per package in the money, "
                    f"although an order with the same legs only "
                    f"{_show(full_least[legs_key], scale)} in the money is filled completely "
                    "(shortfalls go first to the orders least in the money)", order_id=oid))

    # ---- rule 6: pro rata by remaining size, largest remainder, ties by entry then id
    for key, members in groups.items():
        total = sum(x for _, _, _, x in members)
        size = sum(q for _, _, q, _ in members)
        if len(members) < 2 or not 0 < total <= size:
            continue  # one order, nothing filled, or already reported as fill-size
        expected = _pro_rata(members, total, size)
        wrong = [(oid, expected[oid], x) for _, oid, _, x in members if expected[oid] != x]
        if wrong:
            legs_text = " ".join(f"{'+' if side is buy else '-'}{r}×#{cid}"
                                 for cid, side, r in key[0])
            listed = "; ".join(f"order {oid} expected {e} got {x}"
                               for oid, e, x in wrong[:_MAX_LISTED])
            more = f"; … {len(wrong) - _MAX_LISTED} more" if len(wrong) > _MAX_LISTED else ""
            out.append(Violation(
                "pro-rata", f"order {wrong[0][0]}",
                f"at-the-money group [{legs_text}] at π = {_show(key[1], scale)}: "
                f"{total} of {size} package(s) filled among {len(members)} orders, not split "
                f"pro rata by size (largest remainder, ties by entry): {listed}{more}",
                order_id=wrong[0][0]))

    # ---- rule 5: balance on every atomic instrument
    out.extend(_balance(book, filled, sizes, replication, lot_scale))

    if parity and replication:
        out.extend(_parity(book, prices, uncleared, bands))

    undecided = 0
    if probe and (short or rounded):
        found, undecided = _probe(book, prices, filled, skip, bands, replication, scale,
                                  lot_scale, {oid for oid, _ in short} | set(rounded))
        out.extend(found)

    return CheckReport(not out, tuple(out), volume, surplus, tuple(oid for oid, _ in short),
                       tuple(rounded), undecided)


def _group_key(legs: tuple, q: int, lim: int) -> tuple:
    """Orders sharing pro rata: identical legs (contract, side, ratio) and limit (as read by
    rule 11, × scale)."""
    return (tuple((leg.contract_id, leg.side, leg.lots // q) for leg in legs), lim)


def _limit_text(o: Order, q: int, lim: int, cap: int, scale: int, bands: bool) -> str:
    """The limit in force: the lattice limit ``lim / scale`` (rule 11; the client's π beside
    it when it differs) and, with bands, the band cap ``cap / scale``."""
    pi = _show(lim, scale)
    sent = Fraction(o.total_net_price) / q
    if sent != Fraction(lim, scale):
        pi += f", as sent {_show(sent)}"
    if not bands:
        return f"π = {pi}"
    lower = cap < lim  # the band cap is below π: it is the limit
    return f"{_show(cap, scale) if lower else _show(lim, scale)} (π = {pi}, band cap {_show(cap, scale)})"


def _pro_rata(members: list[tuple[int, int, int, int]], total: int, size: int) -> dict[int, int]:
    """Largest-remainder split of ``total`` packages by size; ties by entry, then order id."""
    fills: dict[int, int] = {}
    rems: list[tuple[int, int, int]] = []
    given = 0
    for pos, oid, q, _ in members:
        base, rem = divmod(total * q, size)
        fills[oid] = base
        given += base
        rems.append((-rem, pos, oid))
    rems.sort()
    for _, _, oid in rems[:total - given]:
        fills[oid] += 1
    return fills


def _balance(book: Book, filled: dict[int, int], sizes: dict[int, tuple[Order, int]],
             replication: bool, lot_scale: int) -> list[Violation]:
    """Σ x·a_l·lot_size·coefficient = 0 per atomic instrument (units of underlying/payoff)."""
    atoms: dict[Atomic, int] = {}
    terms: dict[int, tuple[tuple[int, int], ...]] = {}
    for cid, c in book.contracts.items():
        lot = _scaled(c.lot_size, lot_scale)
        terms[cid] = tuple((atoms.setdefault(atom, len(atoms)), coef * lot)
                           for atom, coef in replicate(c, replication).terms)
    bought = [0] * len(atoms)
    sold = [0] * len(atoms)
    buy = Side.BUY
    per_legs: dict[int, tuple[tuple, tuple[tuple[int, int], ...]]] = {}  # id(legs) -> units
    for oid, x in filled.items():
        o, q = sizes[oid]
        legs = o.legs
        hit = per_legs.get(id(legs))
        if hit is None or hit[0] is not legs:  # per package, each leg's terms (q: legs only)
            hit = per_legs[id(legs)] = (legs, tuple(
                (i, (leg.lots // q if leg.side is buy else -(leg.lots // q)) * w)
                for leg in legs for i, w in terms[leg.contract_id]))
        for i, w in hit[1]:
            u = x * w
            if u > 0:
                bought[i] += u
            else:
                sold[i] -= u
    out = []
    for atom, i in sorted(atoms.items(), key=lambda kv: str(kv[0])):
        b, s = bought[i], sold[i]
        if b != s:
            out.append(Violation(
                "balance", str(atom),
                f"bought {_show(b, lot_scale)} but sold {_show(s, lot_scale)} unit(s): "
                f"imbalance {'+' if b > s else ''}{_show(b - s, lot_scale)}"))
    return out


def _parity(book: Book, prices: dict[int, int], uncleared: frozenset[int],
            bands: bool) -> list[Violation]:
    """Prices per unit must come from one price per atomic instrument (e.g. P = C − F + K).

    Each priced, cleared contract states ``Σ coef·X_atomic = price − cash``. With at most two
    terms (a put: ``X_call − X_fwd``) these are difference constraints; a weighted union-find
    with a virtual zero node finds the contracts that contradict the ones before them (the
    instruments' own contracts first, then binary puts and puts, each by id).

    A contract that no order trades may be listed uncleared only when the cleared contracts
    determine its replication and that is off its tick grid or (with ``bands``) outside its
    band (rule 10: otherwise it publishes that price): ``uncleared-priceable``.
    """
    zero = "zero"
    parent: dict[object, object] = {}
    offset: dict[object, Fraction] = {}  # X_node − X_parent

    def find(n: object) -> tuple[object, Fraction]:
        if n not in parent:
            parent[n], offset[n] = n, Fraction(0)
            return n, Fraction(0)
        total = Fraction(0)
        path = []
        while parent[n] != n:
            path.append(n)
            total += offset[n]
            n = parent[n]
        root, acc = n, total
        for p in path:  # compress
            nxt = acc - offset[p]
            offset[p], parent[p] = acc, root
            acc = nxt
        return root, total

    reps = {cid: replicate(book.contracts[cid], True) for cid in prices
            if cid in book.contracts and cid not in uncleared}
    # the contracts that are an instrument themselves first (forwards, calls, binary calls),
    # then binary puts and puts: a contradiction names the replicated contract whose price
    # disagrees with the instruments' own prices, not whichever came later by id
    out = []
    for cid in sorted(reps, key=lambda k: (len(reps[k].terms), reps[k].terms[0][1] != 1, k)):
        c, rep = book.contracts[cid], reps[cid]
        value = Fraction(c.tick_size) * prices[cid] - Fraction(rep.cash)
        # normalise to a difference X_u − X_v = d
        if len(rep.terms) == 1:
            (atom, coef), = rep.terms
            u, v, d = atom, zero, value / coef
        else:
            (a1, c1), (a2, c2) = rep.terms
            assert c1 == 1 and c2 == -1, rep
            u, v, d = a1, a2, value
        ru, ou = find(u)
        rv, ov = find(v)
        if ru == rv:
            if ou - ov != d:
                out.append(Violation(
                    "parity", f"contract {cid}",
                    f"price {_show(Fraction(c.tick_size) * prices[cid])} per unit implies "
                    f"{u} − {v} = {_show(d)}, but the other contracts' prices give "
                    f"{_show(ou - ov)}", contract_id=cid))
        else:
            parent[ru], offset[ru] = rv, d + ov - ou

    traded = {leg.contract_id for o in book.orders for leg in o.legs}
    zero_root, zero_offset = find(zero)
    for cid in sorted(k for k in uncleared if k in book.contracts and k not in traded):
        c, rep = book.contracts[cid], replicate(book.contracts[cid], True)
        value = Fraction(rep.cash)
        for atom, coef in rep.terms:
            root, x = find(atom)
            if root != zero_root:
                break  # not determined by the cleared contracts: nothing to publish
            value += coef * (x - zero_offset)
        else:
            t = value / Fraction(c.tick_size)
            lo, hi = c.band_ticks
            if t.denominator == 1 and (not bands or lo <= t <= hi):
                out.append(Violation(
                    "uncleared-priceable", f"contract {cid}",
                    f"listed uncleared without orders, but the cleared contracts' prices give "
                    f"it {_show(value)} per unit ({t} ticks), on its grid"
                    + (" and inside its band" if bands else "")
                    + ": rule 10 publishes that price", contract_id=cid))
    return out


_PROBE_STATES = 200_000  # reachable sums per instrument a probe enumerates at most


def _probe(book: Book, prices: dict[int, int], filled: dict[int, int], skip: set,
           bands: bool, replication: bool, scale: int, lot_scale: int, relaxed: set[int]
           ) -> tuple[list[Violation], int]:
    """§4a: a relaxed answer is wrong when moving one instrument's price by one step admits an
    exact equilibrium (no relaxation at all).

    For every connected part of the book (instruments linked by orders) with a relaxed order,
    every instrument j of it and both directions: every contract on j moves by one step of j
    (the least common multiple of the ticks of the contracts with orders on j, so every price
    stays on its grid; a move leaving a band is not a candidate), each order of the part is
    classified there exactly, and the probe asks whether whole packages balance with orders in
    the money filled completely (divisible), out of the money not at all, at the money (and
    indivisible orders in or at the money: none or at least their minimum) free. Decided
    exactly when every free order with an exposure has it on one instrument: per instrument
    the reachable sums are enumerated (at most ``_PROBE_STATES``); otherwise the probe counts
    as undecided (``CheckReport.probes_undecided``), never as a violation.
    """
    contracts = book.contracts
    atoms: dict[Atomic, int] = {}
    terms: dict[int, tuple[tuple[int, int, int], ...]] = {}  # cid -> (atom, coef, coef·lot)
    t_places = max((_places(c.tick_size) for c in contracts.values()), default=0)
    tick_units = {cid: _scaled(c.tick_size, 10**t_places) for cid, c in contracts.items()}
    for cid, c in contracts.items():
        lot = _scaled(c.lot_size, lot_scale)
        terms[cid] = tuple((atoms.setdefault(atom, len(atoms)), coef, coef * lot)
                           for atom, coef in replicate(c, replication).terms)
    parent = list(range(len(atoms)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    # which contracts orders combine depends on their legs alone: each distinct legs tuple
    # once, in the order of first appearance (the same unions, so the same roots, as per order)
    distinct = {id(o.legs): o.legs for o in book.orders}
    live = {k: legs for k, legs in distinct.items()
            if not any(leg.contract_id in skip for leg in legs)}
    ordered_on: dict[int, set[int]] = defaultdict(set)  # atom -> contracts with orders on it
    for legs in live.values():
        first = None
        for leg in legs:
            for a, _, _ in terms[leg.contract_id]:
                ordered_on[a].add(leg.contract_id)
                if first is None:
                    first = find(a)
                else:
                    parent[find(a)] = first
    step = {a: lcm(*(tick_units[cid] for cid in cids)) for a, cids in ordered_on.items()}
    part_of = {k: find(terms[legs[0].contract_id][0][0]) for k, legs in live.items()}
    parts = {part_of[id(book.order(oid).legs)] for oid in relaxed
             if id(book.order(oid).legs) in part_of}
    lv = book.lot_value
    out: list[Violation] = []
    undecided = 0
    by_part: dict[int, list[Order]] = defaultdict(list)
    part_get = part_of.get
    for o in book.orders:
        root = part_get(id(o.legs))
        if root is not None and root in parts:
            by_part[root].append(o)
    band = {cid: c.band_ticks for cid, c in contracts.items()}  # a property: computed once
    per_legs: dict[int, tuple] = {}  # id(legs) -> (legs, q, a·p, lattice step, cap, exposure,
    # a·p change per step of each atom), shared by the orders with these legs (read only)
    for root in sorted(parts):
        members = by_part[root]
        # per order: a·p, effective limit, exposure per atom, a·p change per step of each atom
        rows = []
        for o in members:
            hit = per_legs.get(id(o.legs))
            if hit is None or hit[0] is not o.legs:  # all but the limit: from the legs alone
                hit = per_legs[id(o.legs)] = (o.legs, *_probe_legs(
                    o.legs, prices, lv, band if bands else None, terms, step, tick_units))
            _, q, m, stp, cap, exposure, move = hit
            lim = lattice_limit(o.total_net_price, q, stp, scale)
            if bands:
                lim = min(lim, cap)
            rows.append((o, q, m, lim, exposure, move))
        part_atoms = sorted({a for *_, move in rows for a in move})
        for atom in part_atoms:
            for sign in (1, -1):
                moved = {cid: prices[cid] + sign * coef * (step[atom] // tick_units[cid])
                         for cid in ordered_on[atom] for a, coef, _ in terms[cid] if a == atom}
                if bands and any(not band[cid][0] <= t <= band[cid][1]
                                 for cid, t in moved.items()):
                    continue
                verdict = _exact_at(rows, atom, sign)
                if verdict is None:
                    undecided += 1
                elif verdict:
                    name = next(a for a, i in atoms.items() if i == atom)
                    n = sum(1 for o, *_ in rows if o.order_id in relaxed)
                    out.append(Violation(
                        "probe", str(name),
                        f"moving it one step {'up' if sign > 0 else 'down'} "
                        f"({_show(sign * step[atom], 10**t_places)} per unit) admits an exact "
                        f"equilibrium, yet {n} order(s) of its part of the book use a §4a "
                        "relaxation (in the money, not filled completely)"))
                    break
            else:
                continue
            break
    return out, undecided


def _probe_legs(legs: tuple, prices: dict[int, int], lv: Mapping[int, int],
                band: dict[int, tuple[int, int]] | None, terms: dict, step: dict[int, int],
                tick_units: dict[int, int]) -> tuple:
    """One legs tuple's part of a probe row: packages q, ``a·p``, the lattice step of ``a·p``,
    the band cap (0 without ``band``), the exposure per atom (non-zero only) and the change of
    ``a·p`` per step of each atom (all × the book's scale)."""
    q = gcd(*[leg.lots for leg in legs])
    a_l = [(leg.lots // q) * (1 if leg.side is Side.BUY else -1) for leg in legs]
    m = sum(a * lv[leg.contract_id] * prices[leg.contract_id]
            for a, leg in zip(a_l, legs, strict=True))
    stp = gcd(*[abs(a) * lv[leg.contract_id] for a, leg in zip(a_l, legs, strict=True)])
    cap = 0
    if band is not None:
        for a, leg in zip(a_l, legs, strict=True):
            lo, hi = band[leg.contract_id]
            cap += a * lv[leg.contract_id] * (hi if a > 0 else lo)
    exposure: dict[int, int] = defaultdict(int)
    move: dict[int, int] = defaultdict(int)
    for a, leg in zip(a_l, legs, strict=True):
        cid = leg.contract_id
        for atom, coef, units in terms[cid]:
            exposure[atom] += a * units
            move[atom] += a * lv[cid] * coef * (step[atom] // tick_units[cid])
    return q, m, stp, cap, {k: v for k, v in exposure.items() if v}, move


def _exact_at(rows: list, atom: int, sign: int) -> bool | None:
    """Whether whole packages balance with every order classified after ``atom`` moved one
    step in direction ``sign`` (see :func:`_probe`); None when this check cannot decide."""
    need: dict[int, int] = defaultdict(int)  # −Σ fixed exposure, per atom
    free: dict[int, list[tuple[int, int, int, bool]]] = defaultdict(list)
    for o, q, m, lim, exposure, move in rows:
        gap = lim - (m + sign * move.get(atom, 0))
        if gap < 0:
            continue  # out of the money: unfilled
        if gap > 0 and not o.indivisible:
            for a, u in exposure.items():
                need[a] -= u * q
            continue
        if not exposure:
            continue  # no exposure: any fill balances
        if len(exposure) > 1:
            return None
        (a, u), = exposure.items()
        least = q if o.all_or_none else max(1, o.min_packages) if o.indivisible else 0
        free[a].append((u, least, q, o.indivisible))
    for a in set(need) | set(free):
        target = need.get(a, 0)
        options = free.get(a, [])
        if not options:
            if target:
                return False
            continue
        g = 0
        for u, *_ in options:
            g = gcd(g, u)
        if target % g:
            return False
        if all(not ind and abs(u) == g for u, _, _, ind in options):  # an interval
            lo = sum(u * q for u, _, q, _ in options if u < 0)
            hi = sum(u * q for u, _, q, _ in options if u > 0)
            if not lo <= target <= hi:
                return False
            continue
        reachable = {0}
        for u, least, q, indivisible in options:
            if len(reachable) * (q + 1) > _PROBE_STATES:
                return None
            nxt = set(reachable) if indivisible else set()
            for x in range(least if indivisible else 0, q + 1):
                nxt.update(s0 + u * x for s0 in reachable)
            reachable = nxt
        if target not in reachable:
            return False
    return True
