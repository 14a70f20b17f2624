"""``surplus`` and ``volume``: exact, and fast on large books (integers on one scale).

The reference here is the definition written out in :class:`~fractions.Fraction` per order,
independent of :mod:`auction.book`'s money helpers: an order not touching an uncleared contract
is at the money when ``a·p == min(π, band cap)``; surplus adds its unfilled lots.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from math import gcd
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.book import Book
from auction.orders import Leg, Order, Side
from auction.products import Contract, CurrencyPair, Payoff
from auction.result import ClearingResult, Fill, reference_tick, surplus
from auction.units import fmt

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "scenarios" / "golden").glob("*.yaml"))
PAIR = CurrencyPair("WETH", "USDC")
EXPIRY = date(2025, 3, 28)


def reference_surplus(book: Book, result: ClearingResult) -> int:
    filled = result.filled()
    total = 0
    for o in book.orders:
        if any(leg.contract_id in result.uncleared for leg in o.legs):
            continue
        money = cap = Fraction(0)
        for a, leg in zip(o.ratios, o.legs, strict=True):
            c = book.contracts[leg.contract_id]
            lv = Fraction(c.lot_size) * Fraction(c.tick_size)
            lo, hi = c.band_ticks
            money += a * lv * result.prices[leg.contract_id]
            cap += a * lv * (hi if a > 0 else lo)
        if money == min(Fraction(o.total_net_price) / o.packages, cap):
            total += (o.packages - filled.get(o.order_id, 0)) * o.lots_per_package
    return total


def contract(cid: int, *, tick: str = "0.5", lot: str = "0.1", low: str = "50",
             high: str = "150", ref: str | None = None, payoff: Payoff = Payoff.CALL,
             strike: str | None = "2000") -> Contract:
    return Contract(cid, payoff, PAIR, EXPIRY, None if strike is None else Decimal(strike),
                    Decimal(tick), Decimal(lot), Decimal(ref or low), Decimal(low), Decimal(high))


def exact(value: Fraction) -> Decimal:
    """A finite-decimal Fraction as a Decimal, without any Decimal context."""
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    return Decimal(f"{int(value * 10**places)}E-{places}")


# --------------------------------------------------------------------------- golden books

def _price_vectors(book: Book):
    """Reference prices, the band edges, and each order's limit per lot where it is a tick."""
    ref = {cid: reference_tick(c) for cid, c in book.contracts.items()}
    yield ref
    yield {cid: c.band_ticks[0] for cid, c in book.contracts.items()}
    yield {cid: c.band_ticks[1] for cid, c in book.contracts.items()}
    for o in book.orders:
        prices = dict(ref)
        for a, leg in zip(o.ratios, o.legs, strict=True):
            c = book.contracts[leg.contract_id]
            t = Fraction(o.total_net_price) / o.packages / a / (
                Fraction(c.lot_size) * Fraction(c.tick_size)) / len(o.legs)
            lo, hi = c.band_ticks
            if t.denominator == 1 and lo <= t <= hi:
                prices[leg.contract_id] = int(t)
        yield prices


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_surplus_agrees_with_the_definition_on_the_golden_books(path):
    from coordinator.scenarios import load_scenario  # the scenario loader reads the YAML

    book = load_scenario(path).book
    atm_seen = 0
    for prices in _price_vectors(book):
        half = tuple(Fill(o.order_id, o.packages // 2) for o in book.orders if o.packages > 1)
        for fills in ((), half):
            for uncleared in (frozenset(), frozenset(list(book.contracts)[:1])):
                r = ClearingResult(prices, fills, uncleared)
                expected = reference_surplus(book, r)
                assert surplus(book, r) == expected
                atm_seen += expected > 0
    assert atm_seen, "some vector puts an order at the money"


# --------------------------------------------------------------------------- random books

TICKS = ["0.5", "1", "0.25", "0.01", "0.001"]
LOTS = ["0.1", "1", "0.01", "2", "0.0001"]


@st.composite
def books_and_results(draw: st.DrawFn) -> tuple[Book, ClearingResult]:
    n_contracts = draw(st.integers(1, 4))
    contracts = {}
    for cid in range(1, n_contracts + 1):
        tick = Fraction(Decimal(draw(st.sampled_from(TICKS))))
        lo = draw(st.integers(0, 30))
        hi = lo + draw(st.integers(0, 10))
        contracts[cid] = contract(cid, tick=fmt(tick), lot=draw(st.sampled_from(LOTS)),
                                  low=fmt(lo * tick), high=fmt(hi * tick))
    prices = {cid: draw(st.integers(c.band_ticks[0] - 1, c.band_ticks[1] + 1))
              for cid, c in contracts.items()}
    orders = []
    for oid in range(1, draw(st.integers(1, 12)) + 1):
        cids = sorted(draw(st.sets(st.sampled_from(sorted(contracts)), min_size=1, max_size=3)))
        q = draw(st.integers(1, 4))
        legs, money, steps = [], Fraction(0), []
        for cid in cids:
            a = draw(st.integers(1, 3)) * draw(st.sampled_from([1, -1]))
            c = contracts[cid]
            lv = Fraction(c.lot_size) * Fraction(c.tick_size)
            legs.append(Leg(cid, Side.BUY if a > 0 else Side.SELL, abs(a) * q))
            money += a * lv * prices[cid]
            steps.append(int(abs(a) * lv * 10**8))  # 10**8 covers every place of lot × tick
        step = Fraction(gcd(*steps), 10**8)  # the order's price lattice
        limit = money + step * draw(st.sampled_from([0, 0, 0, -1, 1, -1000, 1000]))
        orders.append(Order(oid, 1, exact(limit * q), tuple(legs),
                            all_or_none=draw(st.booleans())))
    book = Book(contracts, tuple(orders))
    fills = tuple(Fill(o.order_id, draw(st.integers(1, o.packages))) for o in orders
                  if draw(st.booleans()))
    uncleared = frozenset(draw(st.sets(st.sampled_from(sorted(contracts)), max_size=1)))
    return book, ClearingResult(prices, fills, uncleared)


@settings(max_examples=300, deadline=None)
@given(books_and_results())
def test_surplus_agrees_with_the_definition_on_random_books(case):
    book, result = case
    assert surplus(book, result) == reference_surplus(book, result)


# --------------------------------------------------------------------------- exact, fast

def test_surplus_is_exact_beyond_28_significant_digits():
    # lot × tick × price has 33 significant digits: the default Decimal context rounds it
    c = contract(1, tick="0.0123456789012347", lot="1.23456789012345", low="0",
                 high="1000000")
    t = 12345
    per_lot = Fraction(c.lot_size) * Fraction(c.tick_size) * t
    assert len(str((per_lot * 10**40).numerator).strip("0")) > 28
    buyer = Order(1, 1, exact(3 * per_lot), (Leg(1, Side.BUY, 3),))
    seller = Order(2, 2, exact(-2 * per_lot), (Leg(1, Side.SELL, 2),))
    book = Book({1: c}, (buyer, seller))
    r = ClearingResult({1: t}, (Fill(1, 2), Fill(2, 2)))
    assert reference_surplus(book, r) == 1
    assert surplus(book, r) == 1  # the buyer is at the money with one lot unfilled


def test_surplus_takes_no_per_order_fraction_path(monkeypatch):
    """The per-order Fraction helpers made surplus take seconds on 100,000 orders."""
    c = contract(1)
    orders = tuple(Order(i, 1, Decimal("10"), (Leg(1, Side.BUY, 1),)) for i in range(1, 50))
    book = Book({1: c}, orders)
    r = ClearingResult({1: 200}, ())

    def slow(*_a, **_k):
        raise AssertionError("surplus called a per-order Fraction helper")

    for name in ("order_money", "band_cap", "effective_limit"):
        monkeypatch.setattr(Book, name, slow)
    assert surplus(book, r) == 49


def test_surplus_names_a_contract_without_a_price():
    book = Book({1: contract(1), 2: contract(2)},
                (Order(1, 1, Decimal("10"), (Leg(1, Side.BUY, 1), Leg(2, Side.SELL, 1))),))
    with pytest.raises(KeyError):
        surplus(book, ClearingResult({1: 200}, ()))
    # an order touching an uncleared contract is exempt, priced or not
    assert surplus(book, ClearingResult({1: 200}, (), frozenset({2}))) == 0


@pytest.mark.bench
def test_surplus_100k_orders(benchmark):
    from solver_models.generator import Recipe, generate_book  # a test may use the generator

    book = generate_book(Recipe(orders=100_000, seed=3, expiries=6, strikes_per_expiry=15))
    prices = {cid: reference_tick(c) for cid, c in book.contracts.items()}
    r = ClearingResult(prices, ())
    assert benchmark(surplus, book, r) == reference_surplus(book, r)
