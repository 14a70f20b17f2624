"""Property: on random single-contract books, an equilibrium found by brute force in this test
(every grid price in the band, sort-and-sweep of the effective limits) passes the check, and a
result perturbed by one package fails it.

Each order is one leg of ``lots`` lots, so it is ``lots`` packages of ratio ±1 and its limit is a
whole number of ticks. With bands the effective limit in ticks is ``min(L, hi)`` for a buyer and
``max(L, lo)`` for a seller.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from auction.book import Book
from auction.orders import Leg, Order, Side
from auction.result import ClearingResult, Fill, surplus, volume
from tests.validator.eq_books import book, contract
from validator.equilibrium import check

CID = 1


@st.composite
def books(draw: st.DrawFn) -> tuple[Book, list[tuple[int, int, int, int]]]:
    """A book and its orders as (order id, sign, lots, limit ticks), in entry order."""
    tick = Decimal(draw(st.sampled_from(["0.5", "1", "0.25", "0.01"])))
    lot = Decimal(draw(st.sampled_from(["0.1", "1", "0.01", "2"])))
    lo = draw(st.integers(0, 20))
    hi = lo + draw(st.integers(0, 12))
    c = contract(CID, tick=str(tick), lot=str(lot), ref=str(lo * tick), low=str(lo * tick),
                 high=str(hi * tick))
    n = draw(st.integers(1, 9))
    ids = draw(st.lists(st.integers(1, 500), min_size=n, max_size=n, unique=True))
    specs = []
    for oid in ids:
        sign = draw(st.sampled_from([1, -1]))
        lots = draw(st.integers(1, 6))
        limit = draw(st.integers(max(0, lo - 3), hi + 3))
        specs.append((oid, sign, lots, limit))
    b = book([c], [])
    orders = tuple(
        Order(oid, 1, sign * lots * lot * tick * limit,
              (Leg(CID, Side.BUY if sign > 0 else Side.SELL, lots),))
        for oid, sign, lots, limit in specs)
    return Book(b.contracts, orders), specs


def largest_remainder(total: int, sizes: list[int]) -> list[int]:
    """Split ``total`` by ``sizes``; spare packages to the largest remainders, earlier first."""
    whole = sum(sizes)
    base = [total * s // whole for s in sizes]
    rems = sorted(range(len(sizes)), key=lambda i: (-(total * sizes[i] % whole), i))
    for i in rems[:total - sum(base)]:
        base[i] += 1
    return base


def side_fills(atm: list[tuple[int, int, int]], amount: int) -> dict[int, int]:
    """Share ``amount`` among at-the-money orders (id, lots, raw limit): between groups of one
    limit pro rata by group size, inside a group pro rata by order size."""
    groups: dict[int, list[tuple[int, int]]] = {}
    for oid, lots, limit in atm:
        groups.setdefault(limit, []).append((oid, lots))
    glist = list(groups.values())
    out: dict[int, int] = {}
    for members, share in zip(glist, largest_remainder(amount, [sum(q for _, q in g)
                                                                 for g in glist]), strict=True):
        for (oid, _), x in zip(members, largest_remainder(share, [q for _, q in members]),
                               strict=True):
            out[oid] = x
    return out


def equilibria(b: Book, specs: list[tuple[int, int, int, int]]):
    """Every grid price in the band with a max-volume allocation obeying the rule there."""
    lo, hi = b.contracts[CID].band_ticks
    for t in range(lo, hi + 1):
        fills: dict[int, int] = {}
        strict = {1: 0, -1: 0}
        most = {1: 0, -1: 0}
        atm: dict[int, list[tuple[int, int, int]]] = {1: [], -1: []}
        for oid, sign, lots, limit in specs:
            eff = min(limit, hi) if sign > 0 else max(limit, lo)
            gap = (eff - t) * sign  # > 0: in the money
            if gap > 0:
                strict[sign] += lots
                fills[oid] = lots
            elif gap == 0:
                atm[sign].append((oid, lots, limit))
            most[sign] += lots if gap >= 0 else 0
        v = min(most[1], most[-1])
        if v < max(strict[1], strict[-1]):
            continue  # no balance possible at t
        for sign in (1, -1):
            fills.update(side_fills(atm[sign], v - strict[sign]))
        yield t, {oid: x for oid, x in fills.items() if x}


@settings(max_examples=300, deadline=None)
@given(books())
def test_brute_force_equilibria_pass_and_one_package_moved_fails(case):
    b, specs = case
    sign_of = {oid: sign for oid, sign, _, _ in specs}
    lots_of = {oid: lots for oid, _, lots, _ in specs}
    found = list(equilibria(b, specs))
    assert found, "a single-instrument book always has a grid equilibrium inside the band"
    for t, fills in found:
        r = ClearingResult({CID: t}, tuple(Fill(o, x) for o, x in fills.items()))
        rep = check(b, r)
        assert rep.ok, f"price {t} fills {fills}: {rep}"
        assert (rep.volume, rep.surplus) == (volume(b, r), surplus(b, r))

        # one package fewer for one order: the sides no longer balance
        for oid in fills:
            less = dict(fills)
            less[oid] -= 1
            bad = check(b, _result(t, less))
            assert "balance" in bad.rules, (t, fills, oid)

        # one package moved between two orders on the same side
        status = _status(b, t, specs)
        for src, x in fills.items():
            for dst in lots_of:
                if dst == src or sign_of[dst] != sign_of[src] or fills.get(dst, 0) >= lots_of[dst]:
                    continue
                if status[src] == status[dst] == "atm" and _limit(specs, src) != _limit(
                        specs, dst):
                    continue  # two at-the-money groups: the rule does not rank them
                moved = dict(fills)
                moved[src] = x - 1
                moved[dst] = moved.get(dst, 0) + 1
                bad = check(b, _result(t, moved))
                assert not bad.ok, (t, fills, src, dst)
                assert bad.rules <= {"pro-rata", "priority", "limit", "short-priority",
                                     "probe"}, bad
                assert "balance" not in bad.rules


def _result(t: int, fills: dict[int, int]) -> ClearingResult:
    return ClearingResult({CID: t}, tuple(Fill(o, x) for o, x in fills.items() if x))


def _limit(specs, oid: int) -> int:
    return next(limit for o, _, _, limit in specs if o == oid)


def _status(b: Book, t: int, specs) -> dict[int, str]:
    lo, hi = b.contracts[CID].band_ticks
    out = {}
    for oid, sign, _, limit in specs:
        eff = min(limit, hi) if sign > 0 else max(limit, lo)
        gap = (eff - t) * sign
        out[oid] = "itm" if gap > 0 else "atm" if gap == 0 else "otm"
    return out
