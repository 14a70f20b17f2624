"""The book generator: deterministic, realistic, on the tick lattice, fast."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal
from fractions import Fraction

import pytest

from auction.book import Book
from auction.interchange import book_from_dict, book_to_dict
from auction.products import Payoff
from solver_models.generator import Recipe, RecipeError, black76, generate_book


def _unit_limits(book: Book) -> dict[int, tuple[list[Fraction], list[Fraction]]]:
    """Per contract: single-leg buyers' and sellers' limits per unit of underlying."""
    out: dict[int, tuple[list[Fraction], list[Fraction]]] = {}
    for o in book.orders:
        if len(o.legs) != 1:
            continue
        leg = o.legs[0]
        c = book.contracts[leg.contract_id]
        per_unit = abs(Fraction(o.total_net_price)) / Fraction(c.quantity(leg.lots))
        bids, asks = out.setdefault(leg.contract_id, ([], []))
        (bids if leg.side == "BUY" else asks).append(per_unit)
    return out


def test_same_recipe_same_book_other_seed_other_book():
    r = Recipe(seed=7, orders=500)
    assert book_to_dict(generate_book(r)) == book_to_dict(generate_book(Recipe(seed=7, orders=500)))
    assert book_to_dict(generate_book(r)) != book_to_dict(generate_book(Recipe(seed=8, orders=500)))


def test_book_round_trips_through_the_interchange_format():
    book = generate_book(Recipe(seed=1, orders=2000))
    again, params = book_from_dict(book_to_dict(book))
    assert again.orders == book.orders
    assert dict(again.contracts) == dict(book.contracts)
    assert params == {}


def test_every_limit_is_on_the_lattice_of_its_legs():
    book = generate_book(Recipe(seed=2, orders=3000))
    for o in book.orders:
        step = Fraction(book.price_lattice(o))
        assert (o.limit_per_package / step).denominator == 1, o


def test_mix_of_products_combos_and_all_or_none():
    r = Recipe(seed=3, orders=5000, combo_share=0.2, aon_share=0.1)
    book = generate_book(r)
    n = len(book.orders)
    shapes = Counter()
    for o in book.orders:
        if len(o.legs) > 1:
            payoffs = tuple(str(book.contracts[leg.contract_id].payoff) for leg in o.legs)
            expiries = {book.contracts[leg.contract_id].expiry for leg in o.legs}
            ratios = tuple(sorted(abs(a) for a in o.ratios))
            if ratios == (1, 1, 2):
                shapes["butterfly"] += 1
            elif len(expiries) == 2:
                shapes["calendar"] += 1
            elif set(payoffs) == {"Call", "Put"}:
                shapes["straddle_or_risk_reversal"] += 1
            else:
                shapes["vertical"] += 1
    combos = sum(shapes.values())
    assert 0.17 < combos / n < 0.23
    assert all(shapes[k] > combos * 0.1 for k in
               ("butterfly", "calendar", "straddle_or_risk_reversal", "vertical")), shapes
    aon = sum(o.all_or_none for o in book.orders)
    assert 0.08 < aon / n < 0.12
    payoffs = Counter(book.contracts[o.legs[0].contract_id].payoff for o in book.orders)
    assert all(payoffs[p] > 0 for p in Payoff), payoffs
    assert len({o.client_id for o in book.orders}) > 10


def test_without_puts_binaries_forwards():
    r = Recipe(seed=4, orders=800, include_puts=False, include_binaries=False,
               include_forwards=False, expiries=1)
    book = generate_book(r)
    assert {c.payoff for c in book.contracts.values()} == {Payoff.CALL}
    assert len(book.contracts) == r.strikes_per_expiry


def test_black76_satisfies_the_replication_identities():
    f, k, vol, t = 3000.0, 2800.0, 0.7, 0.25
    c, p = black76(Payoff.CALL, f, k, vol, t), black76(Payoff.PUT, f, k, vol, t)
    assert c - p == pytest.approx(f - k)
    bc, bp = black76(Payoff.BINARY_CALL, f, k, vol, t), black76(Payoff.BINARY_PUT, f, k, vol, t)
    assert bc + bp == pytest.approx(1.0)
    assert 0 < bp < bc < 1 and c > f - k > 0


def test_contracts_have_reference_prices_in_generous_bands():
    book = generate_book(Recipe(seed=5, orders=10))
    for c in book.contracts.values():
        assert c.low_range <= c.reference_price <= c.high_range
        assert c.low_range >= 0
        assert c.reference_price % c.tick_size == 0
        if c.payoff.is_binary:
            assert c.high_range <= 1
        else:
            assert c.high_range - c.low_range >= Decimal("0.02") * 3000 * Decimal("0.5")
    strikes = sorted({c.strike for c in book.contracts.values() if c.strike})
    assert strikes[len(strikes) // 2] == 3000


def test_default_book_crosses_partly():
    book = generate_book(Recipe(seed=6, orders=4000))
    crossing, total = 0, 0
    bids_above, bids_n, asks_below, asks_n = 0, 0, 0, 0
    for cid, (bids, asks) in _unit_limits(book).items():
        fair = Fraction(book.contracts[cid].reference_price)
        bids_above += sum(b > fair for b in bids)
        asks_below += sum(a < fair for a in asks)
        bids_n, asks_n = bids_n + len(bids), asks_n + len(asks)
        if bids and asks:
            total += 1
            crossing += max(bids) >= min(asks)
    assert total > 20 and crossing > total / 2
    # partly: buyers mostly bid below fair, sellers mostly ask above it
    assert 0.1 < bids_above / bids_n < 0.5
    assert 0.1 < asks_below / asks_n < 0.5


def test_no_cross_book_has_every_limit_worse_than_fair():
    book = generate_book(Recipe(seed=6, orders=4000, cross=False))
    fair = {c.contract_id: Fraction(c.reference_price) for c in book.contracts.values()}
    for cid, (bids, asks) in _unit_limits(book).items():
        c = book.contracts[cid]
        tick = Fraction(c.tick_size)
        # the reference price is fair rounded to the tick: limits are worse than fair itself
        if bids:
            assert max(bids) < fair[cid] + tick, cid
        if asks:
            assert min(asks) > fair[cid] - tick, cid
        if bids and asks:
            assert max(bids) < min(asks), cid


def test_hundred_thousand_orders_in_a_few_seconds():
    t0 = time.perf_counter()
    book = generate_book(Recipe(seed=9, orders=100_000))
    elapsed = time.perf_counter() - t0
    assert len(book.orders) == 100_000
    assert elapsed < 10, f"generating 100k orders took {elapsed:.1f}s"


def test_recipe_from_dict_is_strict():
    r = Recipe.from_dict({"seed": 3, "orders": 50, "spot": "2500", "combo_types": ["vertical"]})
    assert r.combo_types == ("vertical",) and r.spot == "2500"
    assert Recipe.from_dict(r.to_dict()) == r
    with pytest.raises(RecipeError, match=r"unknown recipe field.*colour"):
        Recipe.from_dict({"colour": "red"})
    with pytest.raises(RecipeError, match="orders: expected a int"):
        Recipe.from_dict({"orders": "many"})
    with pytest.raises(RecipeError, match="combo_share must be in"):
        Recipe.from_dict({"combo_share": 1.5})
    with pytest.raises(RecipeError, match="combo_types"):
        Recipe.from_dict({"combo_types": ["strangle"]})
    with pytest.raises(RecipeError, match="seed"):
        Recipe.from_dict({"seed": True})
    with pytest.raises(RecipeError, match="pair"):
        Recipe(pair="WETH-USDC")
    with pytest.raises(RecipeError, match="pairs"):
        Recipe(pairs=("WETH/USDC",))  # the main pair again
    mixed = Recipe.from_dict({"pairs": ["WBTC/USDC"], "limit_places": 4})
    assert mixed.pairs == ("WBTC/USDC",) and Recipe.from_dict(mixed.to_dict()) == mixed


def _fingerprint(book: Book) -> str:
    import hashlib
    h = hashlib.sha256()
    for cid, c in sorted(book.contracts.items()):
        h.update(repr((cid, str(c.payoff), str(c.strike), str(c.tick_size), str(c.lot_size),
                       str(c.reference_price), str(c.low_range), str(c.high_range))).encode())
    for o in book.orders:
        h.update(repr((o.order_id, o.client_id, str(o.total_net_price),
                       [(leg.contract_id, str(leg.side), leg.lots) for leg in o.legs],
                       o.all_or_none, str(o.time_in_force))).encode())
    return h.hexdigest()[:16]


def test_existing_recipes_keep_their_books_bit_for_bit():
    """The recipes added for mixed books (pairs, new combos, limits at currency precision)
    leave every earlier recipe's book unchanged (fingerprints taken before they were added)."""
    assert _fingerprint(generate_book(Recipe(seed=1, orders=3000))) == "030605b7095e642f"
    assert _fingerprint(generate_book(Recipe(
        seed=3, orders=2000, combo_share=0.5, aon_share=0.3, pair="WBTC/USDC", spot="60000",
        expiries=4))) == "375f846b4be32cf5"


def test_mixed_book_has_every_recipe():
    from solver_models.generator import ALL_COMBO_TYPES
    r = Recipe(seed=17, orders=6000, pairs=("WBTC/USDC",), expiries=4, combo_share=0.3,
               combo_types=ALL_COMBO_TYPES, aon_share=0.05, limit_places=4)
    book = generate_book(r)
    assert len(book.orders) == 6000
    pairs = {str(c.pair) for c in book.contracts.values()}
    assert pairs == {"WETH/USDC", "WBTC/USDC"}
    ticks = {(str(c.pair), c.tick_size, c.lot_size) for c in book.contracts.values()
             if c.payoff is Payoff.CALL}
    assert len(ticks) == 2  # different ticks and lots per pair
    assert len({c.expiry for c in book.contracts.values()}) == 4
    shapes = Counter()
    for o in book.orders:
        cs = [book.contracts[leg.contract_id] for leg in o.legs]
        kinds = tuple(sorted(str(c.payoff) for c in cs))
        shapes[(len(o.legs), kinds, tuple(sorted(abs(a) for a in o.ratios)))] += 1
    legs = Counter(n for n, *_ in shapes.elements())
    assert legs[4] > 0 and legs[3] > 0  # condors and boxes; butterflies and conversions
    assert any(k == ("Call", "Forward", "Put") for _, k, _ in shapes)  # conversions
    assert any(k in (("BinaryCall", "BinaryCall"), ("BinaryPut", "BinaryPut"))
               for n, k, _ in shapes if n == 2)  # binary spreads
    assert any(r_ == (1, 2) and n == 2 for n, _, r_ in shapes)  # ratio spreads
    # binaries on both sides of every strike, bought and sold
    for side in ("BUY", "SELL"):
        assert any(len(o.legs) == 1 and o.legs[0].side == side and
                   book.contracts[o.legs[0].contract_id].payoff is Payoff.BINARY_PUT
                   for o in book.orders)
    off = sum((o.limit_per_package / Fraction(book.price_lattice(o))).denominator != 1
              for o in book.orders)
    assert off > len(book.orders) // 2  # limits at USDC precision, off the lattice
    assert all(abs(o.total_net_price.as_tuple().exponent) <= 4 for o in book.orders
               if o.total_net_price.as_tuple().exponent < 0)
    aon = sum(o.all_or_none for o in book.orders) / len(book.orders)
    assert 0.03 < aon < 0.07
