"""The independent equilibrium check, on books whose right answer is worked out by hand.

Call contract 1 (K 2000): tick 0.5, lot 0.1, band [50, 150] = [100, 300] ticks; one lot is worth
0.05 per tick. Base book at price 100 (200 ticks):

* buy  10: 0.3 at 110 (3 packages, π 11)  -> in the money, must fill 3
* buy  11: 0.2 at 100 (2 packages, π 10)  -> at the money
* sell 20: 0.4 at  95 (4 packages, π -9.5) -> in the money, must fill 4
* sell 21: 0.2 at 100 (2 packages, π -10) -> at the money

Buys 3 + x11 = sells 4 + x21; the valid clearing used below is x11 = 2, x21 = 1.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from auction.replication import RoundingAllowance
from auction.result import surplus, volume
from tests.validator.eq_books import book, contract, forward, order, result, single
from validator.equilibrium import CheckReport, check

P100 = 200  # 100 in ticks of 0.5


BASE = {10: ("BUY", "0.3", "110"), 11: ("BUY", "0.2", "100"),
        20: ("SELL", "0.4", "95"), 21: ("SELL", "0.2", "100")}


def base_book(extra: list[dict] | None = None, **options: dict):
    """The base book; ``o11={"aon": True}`` passes options to order 11's constructor."""
    orders = [single(oid, *spec, **options.get(f"o{oid}", {})) for oid, spec in BASE.items()]
    return book([contract(1)], orders + (extra or []))


VALID = {10: 3, 11: 2, 20: 4, 21: 1}


def rules(report: CheckReport) -> list[str]:
    return [v.rule for v in report.violations]


# --------------------------------------------------------------------------- valid clearings

def test_valid_single_instrument_clearing_passes_with_summary_numbers():
    b = base_book()
    r = result({1: P100}, VALID)
    rep = check(b, r)
    assert rep.ok, str(rep)
    assert rep.violations == ()
    assert rep.volume == 10 == volume(b, r)
    assert rep.surplus == 1 == surplus(b, r)  # order 21 leaves 1 lot at the money


def test_valid_with_every_switch():
    b, r = base_book(), result({1: P100}, VALID)
    for repl in (True, False):
        for bands in (True, False):
            assert check(b, r, replication=repl, bands=bands, parity=True).ok


def test_empty_book_and_no_trade():
    b = book([contract(1)], [])
    assert check(b, result({1: P100}, {})).ok


# --------------------------------------------------------------------------- rule 1: prices

def test_price_outside_band_reported_and_ignored_without_bands():
    # band [50, 99]: the clearing price 100 lies outside it
    b = book([contract(1, ref="80", low="50", high="99")],
             [single(11, "BUY", "0.2", "100"), single(21, "SELL", "0.2", "100")])
    r = result({1: P100}, {11: 2, 21: 2})
    rep = check(b, r)
    assert "price-band" in rules(rep)
    [v] = rep.by_rule("price-band")
    assert v.message == "price 200 ticks (100) outside the band [100, 198] ticks ([50, 99])"
    assert v.contract_id == 1
    assert check(b, r, bands=False).ok


def test_missing_price_unknown_contract_and_non_integer_price():
    b = book([contract(1), contract(2, strike="2100")], [])
    rep = check(b, result({1: Fraction(401, 2), 7: 200}, {}))
    assert sorted(rules(rep)) == ["price-missing", "price-not-integer", "price-unknown-contract"]
    assert {v.contract_id for v in rep.violations} == {1, 2, 7}


def test_float_price_is_not_a_tick_count():
    b = book([contract(1)], [])
    assert rules(check(b, result({1: 200.0}, {}))) == ["price-not-integer"]


# --------------------------------------------------------------------------- rule 2: fills

def test_fill_above_size():
    rep = check(base_book(), result({1: P100}, {10: 3, 11: 3, 20: 4, 21: 2}))
    assert rules(rep) == ["fill-size"]
    assert rep.violations[0].message == "filled 3 package(s); a fill must be 1..2 (its size)"


def test_zero_fill_unknown_and_duplicate_orders():
    rep = check(base_book(), result({1: P100}, [(10, 3), (11, 2), (20, 4), (21, 1), (99, 1),
                                                 (21, 0)]))
    assert sorted(rules(rep)) == ["fill-duplicate", "fill-unknown-order"]
    rep = check(base_book(), result({1: P100}, {10: 3, 11: 1, 20: 4, 21: 0}))
    assert "fill-size" in rules(rep)


def test_non_integer_fill():
    rep = check(base_book(), result({1: P100}, {10: 3, 11: 2, 20: 4, 21: 1.0}))
    assert "fill-not-integer" in rules(rep)


def test_partial_all_or_none():
    b = base_book(o11={"aon": True})
    assert check(b, result({1: P100}, {10: 3, 11: 2, 20: 4})).ok is False  # imbalance 1
    assert check(b, result({1: P100}, {10: 3, 11: 2, 20: 4, 21: 1})).ok
    rep = check(b, result({1: P100}, {10: 3, 11: 1, 20: 4}))
    assert rules(rep) == ["all-or-none"]
    assert rep.violations[0].order_id == 11


def test_min_quantity():
    b = base_book(o11={"min_qty": "0.2"})
    rep = check(b, result({1: P100}, {10: 3, 11: 1, 20: 4}))
    assert rules(rep) == ["min-quantity"]


# --------------------------------------------------------------------------- rules 3-4

def test_limit_violated_by_filled_out_of_the_money_seller():
    b = base_book(extra=[single(22, "SELL", "0.1", "105")])
    rep = check(b, result({1: P100}, {10: 3, 11: 2, 20: 4, 22: 1}))
    assert rules(rep) == ["limit"]
    assert str(rep.violations[0]) == (
        "[limit] order 22: filled 1 package(s) out of the money: a·p = -10 > limit -10.5 "
        "(π = -10.5, band cap -5)")


def test_out_of_the_money_buyer_filled():
    b = base_book(extra=[single(12, "BUY", "0.1", "90")])
    rep = check(b, result({1: P100}, {10: 3, 11: 1, 12: 1, 20: 4, 21: 1}))
    assert rules(rep) == ["limit"]
    assert rep.violations[0].order_id == 12


def test_in_the_money_order_left_partly_filled():
    rep = check(base_book(), result({1: P100}, {10: 1, 11: 2, 20: 3}))
    assert rules(rep) == ["priority"] and rep.short == (20,)  # 20 one short: allowed
    assert rep.violations[0].message == (
        "in the money (a·p = 10 < limit 11 (π = 11, band cap 15)) but filled 1 of 3 package(s)"
        " (at most one package short, never unfilled)")


def test_one_package_short_is_allowed_only_when_no_marginal_order_gives_way():
    # 10 (3 packages, in the money) one short while 11 at the money (the same legs, a lower
    # limit) trades 2: 11 should give the package up — the allowance is not needed here.
    rep = check(base_book(), result({1: P100}, {10: 2, 11: 2, 20: 4}))
    assert rules(rep) == ["short-priority"]
    assert rep.short == (10,)
    assert "lower limit 10 per package" in rep.violations[0].message
    # a buyer of 3 and a seller of 2, both in the money, and no one at the money: balance needs
    # the buyer one package short, which the allowance permits (listed for audit) — not two
    b = book([contract(1)], [single(10, "BUY", "0.3", "110"), single(20, "SELL", "0.2", "95")])
    rep = check(b, result({1: P100}, {10: 2, 20: 2}))
    assert rep.ok and rep.short == (10,)
    assert "1 order(s) one package short" in str(rep)
    rep = check(b, result({1: P100}, {10: 1, 20: 1}))
    assert rules(rep) == ["priority"] and rep.violations[0].order_id == 10
    assert rep.short == (20,)


def test_one_package_short_goes_first_to_the_order_least_in_the_money():
    # buyers of 3 (π 11) and 2 (π 10.5) packages, both in the money at 10, and a seller of 4:
    # one buyer is one package short. §4a: the one least in the money per package (12, by
    # 0.5 against 1) — the same legs balance the same, so 10 short instead is a violation
    b = book([contract(1)], [single(10, "BUY", "0.3", "110"), single(12, "BUY", "0.2", "105"),
                             single(20, "SELL", "0.4", "95")])
    rep = check(b, result({1: P100}, {10: 3, 12: 1, 20: 4}))
    assert rep.ok and rep.short == (12,)
    rep = check(b, result({1: P100}, {10: 2, 12: 2, 20: 4}))
    assert rules(rep) == ["short-priority"] and rep.short == (10,)
    assert rep.violations[0].message == (
        "one package short, 1 per package in the money, although an order with the same legs "
        "only 0.5 in the money is filled completely (shortfalls go first to the orders least "
        "in the money)")
    # an order of one package can never be the short one (never unfilled): 10 short is right
    b = book([contract(1)], [single(10, "BUY", "0.3", "110"), single(12, "BUY", "0.1", "105"),
                             single(20, "SELL", "0.3", "95")])
    rep = check(b, result({1: P100}, {10: 2, 12: 1, 20: 3}))
    assert rep.ok and rep.short == (10,)


def test_in_the_money_order_left_unfilled():
    rep = check(base_book(), result({1: P100}, {11: 2, 20: 4, 21: 1}))
    assert "priority" in rules(rep)


def test_indivisible_in_the_money_may_stay_unfilled_but_never_partly():
    b = base_book(o10={"aon": True})
    # 10 unfilled although in the money: allowed for an all-or-none order
    assert check(b, result({1: P100}, {})).ok is False  # 20 is in the money, divisible
    b = book([contract(1)], [single(10, "BUY", "0.3", "110", aon=True),
                             single(21, "SELL", "0.2", "100")])
    assert check(b, result({1: P100}, {})).ok
    b = book([contract(1)], [single(10, "BUY", "0.3", "110", min_qty="0.2"),
                             single(21, "SELL", "0.2", "100"), single(22, "SELL", "0.1", "100")])
    assert check(b, result({1: P100}, {})).ok
    assert check(b, result({1: P100}, {10: 3, 21: 2, 22: 1})).ok
    rep = check(b, result({1: P100}, {10: 2, 21: 1, 22: 1}))
    assert rules(rep) == ["priority"]
    assert "indivisible" in rep.violations[0].message


def test_effective_limit_at_the_band_edge():
    # buyer's limit 200 lies above the band (cap 150): at price 150 it is at the money with bands,
    # strictly in the money without them
    b = book([contract(1)], [single(10, "BUY", "0.3", "200"), single(20, "SELL", "0.1", "150")])
    r = result({1: 300}, {10: 1, 20: 1})
    assert check(b, r).ok
    assert rules(check(b, r, bands=False)) == ["priority"]


# --------------------------------------------------------------------------- rule 5: balance

def test_imbalance_on_a_call():
    rep = check(base_book(), result({1: P100}, {10: 3, 11: 2, 20: 4, 21: 2}))
    assert rules(rep) == ["balance"]
    v = rep.violations[0]
    assert v.subject == "Call(WETH/USDC 20250328 K=2000)"
    assert v.message == "bought 0.5 but sold 0.6 unit(s): imbalance -0.1"


def _put_book():
    # Call 1 and Put 2 at K 2000, Forward 3; prices C 100, P 100, F 2000 (P = C − F + K)
    return book([contract(1), contract(2, "Put"), forward(3)],
                [single(30, "BUY", "0.1", "100", cid=2), single(31, "SELL", "0.1", "100", cid=1),
                 single(32, "BUY", "0.1", "2000", cid=3)])


PUT_PRICES = {1: 200, 2: 200, 3: 2000}


def test_put_against_call_seller_and_forward_buyer_balances_only_with_replication():
    b, r = _put_book(), result(PUT_PRICES, {30: 1, 31: 1, 32: 1})
    assert check(b, r).ok
    assert check(b, r, parity=True).ok
    off = check(b, r, replication=False)
    assert rules(off) == ["balance"] * 3
    assert [v.subject for v in off.violations] == ["Contract#1", "Contract#2", "Contract#3"]


def test_put_against_call_seller_alone_is_imbalanced_on_the_forward():
    b, r = _put_book(), result(PUT_PRICES, {30: 1, 31: 1})
    rep = check(b, r)
    assert rules(rep) == ["balance"]
    assert rep.violations[0].subject == "Forward(WETH/USDC 20250328)"
    assert rep.violations[0].message == "bought 0 but sold 0.1 unit(s): imbalance -0.1"
    # without replication the put and the call are separate books, each one-sided
    assert [v.subject for v in check(b, r, replication=False).violations] == [
        "Contract#1", "Contract#2"]


def test_binary_put_against_binary_call_buyer():
    # BP = 1 − BC: buying a binary put sells a binary call, so two buyers balance
    c = [contract(1, "BinaryCall", tick="0.01", lot="1", ref="0.4", low="0", high="1"),
         contract(2, "BinaryPut", tick="0.01", lot="1", ref="0.6", low="0", high="1")]
    b = book(c, [single(1, "BUY", "5", "0.4", cid=1), single(2, "BUY", "5", "0.6", cid=2)])
    r = result({1: 40, 2: 60}, {1: 5, 2: 5})
    assert check(b, r, parity=True).ok
    assert rules(check(b, r, replication=False)) == ["balance", "balance"]
    assert rules(check(b, result({1: 40, 2: 61}, {}), parity=True)) == ["parity"]


def test_different_lot_sizes_share_an_instrument():
    # two listings of one call: lot 0.1 and lot 1; 10 small lots balance 1 big lot
    c = [contract(1), contract(2, lot="1")]
    b = book(c, [single(1, "BUY", "1", "100", cid=1), single(2, "SELL", "1", "100", cid=2)])
    assert check(b, result({1: 200, 2: 200}, {1: 10, 2: 1})).ok


def test_parity_of_put_call_forward_prices():
    b = book([contract(1), contract(2, "Put"), forward(3)], [])
    assert check(b, result(PUT_PRICES, {}), parity=True).ok
    rep = check(b, result({1: 200, 2: 202, 3: 2000}, {}), parity=True)
    assert rules(rep) == ["parity"]
    # the put is named: it disagrees with its instruments' own prices (the call and the
    # forward are read first, whatever the ids), not the contract that came last by id
    assert rep.violations[0].contract_id == 2
    b2 = book([forward(1), contract(2), contract(3, "Put")], [])  # other ids, the same blame
    rep2 = check(b2, result({1: 2000, 2: 200, 3: 202}, {}), parity=True)
    assert [v.contract_id for v in rep2.violations] == [3]
    assert rules(check(b, result({1: 200, 2: 202, 3: 2000}, {}))) == ["parity"]  # by default
    assert check(b, result({1: 200, 2: 202, 3: 2000}, {}), parity=False).ok  # opt-out
    # an uncleared contract keeps its reference price and is exempt from parity; the others
    # give it a price, though: listing it uncleared needs a cause (next test)
    uncleared_put = check(b, result({1: 200, 2: 202, 3: 2000}, {}, frozenset({2})))
    assert rules(uncleared_put) == ["uncleared-priceable"]
    assert check(b, result({1: 200, 2: 202, 3: 2000}, {}, frozenset({1, 2}))).ok


def test_an_untraded_contract_is_listed_uncleared_only_when_its_replication_cannot_be_published():
    """Rule 10: a contract without orders publishes the replication of the cleared prices; the
    engine lists it uncleared only when that is off its grid or outside its band. Call (K 2000,
    band [50, 150]) and forward priced, the put (no orders) listed uncleared at its reference."""
    b = book([contract(1), contract(2, "Put"), forward(3)],
             [single(1, "BUY", "0.1", "100", cid=1), single(2, "SELL", "0.1", "100", cid=1)])
    fills = {1: 1, 2: 1}
    # P = C − F + K = 100 − 2000 + 2000 = 100: on the grid, inside the band — must be published
    rep = check(b, result({1: 200, 2: 202, 3: 2000}, fills, frozenset({2})))
    assert rules(rep) == ["uncleared-priceable"] and rep.violations[0].contract_id == 2
    assert check(b, result({1: 200, 2: 200, 3: 2000}, fills)).ok  # published: fine
    # F = 2060: P = 100 − 2060 + 2000 = 40, below the put's band: listed uncleared, fine
    assert check(b, result({1: 200, 2: 202, 3: 2060}, fills, frozenset({2}))).ok
    assert rules(check(b, result({1: 200, 2: 202, 3: 2060}, fills, frozenset({2})),
                       bands=False)) == ["uncleared-priceable"]  # no band: it had a price
    # a contract with orders may be listed uncleared (halted: its orders are exempt instead)
    assert check(b, result({1: 200, 2: 200, 3: 2000}, {}, frozenset({1}))).ok


def test_parity_with_an_implied_forward_across_strikes():
    # no forward listed: C − P + K must be one forward level for every strike of the expiry
    c = [contract(1), contract(2, "Put"), contract(3, strike="2100"),
         contract(4, "Put", strike="2100", high="200")]
    b = book(c, [])
    # F = 100 − 100 + 2000 = 2000 and 60 − 160 + 2100 = 2000
    assert check(b, result({1: 200, 2: 200, 3: 120, 4: 320}, {}), parity=True).ok
    rep = check(b, result({1: 200, 2: 200, 3: 120, 4: 300}, {}), parity=True)
    assert rules(rep) == ["parity"]


def test_rounding_allowance_sums_the_grid_steps_of_the_net_atomic_exposure():
    # θ_C = 0.5 (call and put ticks), θ_F = 1 (the forward's tick is the coarsest on F)
    b = book([contract(1), contract(2, "Put"), forward(3), contract(4, strike="2100")],
             [single(1, "BUY", "0.1", "100", cid=1), single(2, "BUY", "0.3", "100", cid=2),
              single(3, "SELL", "0.1", "2000", cid=3), single(4, "BUY", "0.1", "100", cid=4),
              order(5, (1, "BUY", "0.1"), (2, "BUY", "0.1"), price="20"),
              order(6, (1, "BUY", "0.1"), (2, "SELL", "0.1"), (3, "SELL", "0.1"), price="-199")])
    rho = RoundingAllowance(b.contracts)
    assert [rho(b.order(i)) for i in range(1, 7)] == [
        Fraction("0.05"),  # call: 0.1·θ_C (its instrument is shared with the put)
        Fraction("0.15"),  # put, per package of 0.1: 0.1·θ_C + 0.1·θ_F
        Fraction("0.1"),  # forward: 0.1·θ_F
        Fraction(0),  # the only contract on its instrument: prices itself exactly
        Fraction("0.2"),  # straddle: C +0.2, F −0.1 → 0.2·0.5 + 0.1·1
        Fraction(0)]  # call − put − forward: no net atomic exposure (pure cash −K)
    assert RoundingAllowance(b.contracts, enabled=False)(b.order(2)) == 0  # a book of its own


def test_rounding_allowance_lets_an_order_stay_unfilled_just_in_the_money():
    # put buyer 33 at 101.5 is in the money by 0.15 per package at P = 100, exactly its
    # allowance ρ = 0.15: it may stay unfilled; at 102 (0.2 in the money) it may not
    def with_put_buyer(limit: str):
        return book([contract(1), contract(2, "Put"), forward(3)],
                    [single(30, "BUY", "0.1", "100", cid=2), single(31, "SELL", "0.1", "100", cid=1),
                     single(32, "BUY", "0.1", "2000", cid=3),
                     single(33, "BUY", "0.1", limit, cid=2)])
    fills = {30: 1, 31: 1, 32: 1}
    within = check(with_put_buyer("101.5"), result(PUT_PRICES, fills), probe=False)
    assert within.ok and within.rounded == (33,)
    # ... but §4a's probe finds the exact equilibrium one call step up (C = P = 100.5: put
    # buyer 30 out, call seller 31 and put buyer 33 in, forward buyer 32 at the money fills 1)
    probed = check(with_put_buyer("101.5"), result(PUT_PRICES, fills))
    assert rules(probed) == ["probe"] and "Call(" in probed.violations[0].subject
    assert "one step up" in probed.violations[0].message
    exact = check(with_put_buyer("101.5"), result({1: 201, 2: 201, 3: 2000},
                                                  {31: 1, 32: 1, 33: 1}))
    assert exact.ok and exact.rounded == ()  # ... which passes
    rep = check(with_put_buyer("102"), result(PUT_PRICES, fills), probe=False)
    assert rules(rep) == ["priority"]
    assert rep.violations[0].message == (
        "in the money (a·p = 10 < limit 10.2 (π = 10.2, band cap 15)) but filled 0 of 1 "
        "package(s) (at most one package short, never unfilled; rounding allowance 0.15)")


def test_orders_within_the_allowance_still_share_pro_rata():
    # two identical put buyers 0.1 in the money (ρ = 0.15 per package) share 1 of 3 packages:
    # by size (0.2 and 0.1 → the larger gets it), not to the smaller one
    b = book([contract(1), contract(2, "Put"), forward(3)],
             [single(40, "BUY", "0.1", "101", cid=2), single(41, "BUY", "0.2", "101", cid=2),
              single(31, "SELL", "0.1", "100", cid=1), single(32, "BUY", "0.1", "2000", cid=3)])
    assert check(b, result(PUT_PRICES, {41: 1, 31: 1, 32: 1})).ok
    assert rules(check(b, result(PUT_PRICES, {40: 1, 31: 1, 32: 1}))) == ["pro-rata"]


# --------------------------------------------------------------------------- rule 6: pro rata

def _pro_rata_book():
    # buyers A 0.1, B 0.2, C 0.3 at 100 (at the money, Q = 6); seller 0.4 at 90 (in the money)
    return book([contract(1)], [single(1, "BUY", "0.1", "100"), single(2, "BUY", "0.2", "100"),
                                single(3, "BUY", "0.3", "100"), single(9, "SELL", "0.4", "90")])


def test_pro_rata_largest_remainder():
    # X = 4 of Q = 6: 4/6 = 0 r4, 8/6 = 1 r2, 12/6 = 2 r0; the spare package goes to A (r4)
    b = _pro_rata_book()
    assert check(b, result({1: P100}, {1: 1, 2: 1, 3: 2, 9: 4})).ok
    rep = check(b, result({1: P100}, {2: 2, 3: 2, 9: 4}))
    assert rules(rep) == ["pro-rata"]
    assert rep.violations[0].message == (
        "at-the-money group [+1×#1] at π = 10: 4 of 6 package(s) filled among 3 orders, not split"
        " pro rata by size (largest remainder, ties by entry): order 1 expected 1 got 0; "
        "order 2 expected 1 got 2")
    rep = check(b, result({1: P100}, {1: 1, 2: 2, 3: 1, 9: 4}))
    assert rules(rep) == ["pro-rata"]


def test_pro_rata_ties_by_entry_not_by_id():
    # two equal buyers; order 50 entered before order 40: the single package goes to 50
    b = book([contract(1)], [single(50, "BUY", "0.1", "100"), single(40, "BUY", "0.1", "100"),
                             single(9, "SELL", "0.1", "90")])
    assert check(b, result({1: P100}, {50: 1, 9: 1})).ok
    rep = check(b, result({1: P100}, {40: 1, 9: 1}))
    assert rules(rep) == ["pro-rata"]
    assert "order 50 expected 1 got 0; order 40 expected 0 got 1" in rep.violations[0].message


def test_pro_rata_groups_are_separate_by_limit_and_legs():
    # same legs, different π: separate groups, each trivially pro rata;
    # an all-or-none order at the money is outside the groups
    b = book([contract(1)], [single(1, "BUY", "0.2", "100"), single(2, "SELL", "0.2", "100"),
                             single(3, "SELL", "0.2", "100", aon=True)])
    assert check(b, result({1: P100}, {1: 2, 3: 2})).ok
    assert check(b, result({1: P100}, {1: 2, 2: 2})).ok


def test_pro_rata_of_multi_leg_packages():
    # call spread buyers (+1 K2000, −1 K2100) at net 40 per unit; ratio is per package
    c = [contract(1), contract(2, strike="2100", ref="60")]
    spread = [order(i, (1, "BUY", q), (2, "SELL", q), price=str(40 * Decimal(q)))
              for i, q in ((1, "0.1"), (2, "0.2"), (3, "0.3"))]
    sellers = [single(7, "SELL", "0.3", "90", cid=1), single(8, "BUY", "0.3", "70", cid=2)]
    b = book(c, [*spread, *sellers])
    prices = {1: 200, 2: 120}  # 100 − 60 = 40: spreads at the money
    # X = 3 of Q = 6: 0.5 → 0 r3, 1 r0, 1 r3: spare to order 1 (earlier entry)
    assert check(b, result(prices, {1: 1, 2: 1, 3: 1, 7: 3, 8: 3})).ok
    assert rules(check(b, result(prices, {2: 1, 3: 2, 7: 3, 8: 3}))) == ["pro-rata"]


# --------------------------------------------------------------------------- rule 7: uncleared

def test_uncleared_contracts_exempt_from_priority_but_not_from_band_or_fills():
    b = base_book()
    assert check(b, result({1: P100}, {}, frozenset({1}))).ok
    rep = check(b, result({1: P100}, {10: 3, 11: 2, 20: 4, 21: 1}, frozenset({1})))
    assert set(rules(rep)) == {"uncleared-filled"}
    assert len(rep.violations) == 4
    rep = check(b, result({1: 400}, {}, frozenset({1, 5})))
    assert sorted(rules(rep)) == ["price-band", "uncleared-unknown-contract"]


def test_only_orders_touching_the_uncleared_contract_are_exempt():
    b = book([contract(1), contract(2, strike="2100")],
             [single(1, "BUY", "0.1", "110", cid=1), single(2, "SELL", "0.1", "90", cid=1),
              single(3, "BUY", "0.1", "110", cid=2), single(4, "SELL", "0.1", "90", cid=2),
              order(5, (1, "BUY", "0.1"), (2, "BUY", "0.1"), price="20")])
    r = result({1: P100, 2: P100}, {3: 1, 4: 1}, frozenset({1}))
    assert check(b, r).ok
    assert rules(check(b, result({1: P100, 2: P100}, {3: 1, 4: 1}))) == ["priority"] * 2


def test_unknown_order_id_does_not_crash():
    rep = check(base_book(), result({1: P100}, [*VALID.items(), (12345, 1)]))
    assert rules(rep) == ["fill-unknown-order"]


def test_price_beyond_the_band_cap_puts_a_filled_order_out_of_the_money():
    # price 155 is above the band [50, 150]: the buyer (π 20) pays 15.5 per package, above its
    # effective limit (band cap 15) although below π
    b = book([contract(1)], [single(10, "BUY", "0.1", "200"), single(20, "SELL", "0.1", "150")])
    r = result({1: 310}, {10: 1, 20: 1})
    rep = check(b, r)
    assert sorted(rules(rep)) == ["limit", "price-band"]
    assert rep.by_rule("limit")[0].message == (
        "filled 1 package(s) out of the money: a·p = 15.5 > limit 15 (π = 20, band cap 15)")
    assert check(b, r, bands=False).ok


def test_shared_and_copied_legs_give_the_same_report():
    """The check, ρ and the book's validation keep per-legs answers by the legs tuple's identity
    (a large book's reader shares equal legs): a book whose orders share legs and the same book
    with every legs tuple a fresh copy give identical reports, and broken books still name the
    order (the fast validation falls back to the full pass)."""
    from dataclasses import replace as evolve
    from pathlib import Path

    from auction.book import Book, BookError, validate
    from auction.orders import Leg, Side
    from coordinator.scenarios import load_scenario
    from solver_models import SolverParams, solve

    root = Path(__file__).resolve().parents[2]
    shared = load_scenario(root / "scenarios" / "mixed" / "mixed_2k.json").book
    assert len({id(o.legs) for o in shared.orders}) < len(shared.orders)  # the reader shares
    copied = Book(shared.contracts, tuple(
        evolve(o, legs=tuple(Leg(leg.contract_id, leg.side, leg.lots) for leg in o.legs))
        for o in shared.orders))
    res = solve(shared, SolverParams()).result
    # a price off by one tick somewhere: violations to compare, not only "ok"
    cid = next(iter(sorted(res.prices)))
    moved = evolve(res, prices={**res.prices, cid: res.prices[cid] + 1})
    for r in (res, moved):
        assert check(shared, r) == check(copied, r)
    first = shared.orders[0]
    dup = (*shared.orders, evolve(first, order_id=first.order_id))
    assert validate(shared.contracts, dup) == [f"order {first.order_id}: duplicate orderId"]
    unknown = evolve(first, order_id=10**9, legs=(Leg(999_999, Side.BUY, 1),))
    with pytest.raises(BookError, match="unknown contract 999999"):
        Book(shared.contracts, (*shared.orders, unknown))
