"""Hand-worked books for auction.md rules 10 (parity of published prices), 11 (limits at
currency precision) and §4a (relaxations only where no exact equilibrium exists), cleared by
the engine and verified by the independent check (parity and the one-step probe on)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from auction.products import Payoff
from auction.replication import RoundingAllowance
from solver_models import SolverParams, SolveStatus, solve
from tests.solver_models.tiny_books import book, contract, order
from tests.validator import eq_books as eq
from validator.equilibrium import check


def cleared(b):
    out = solve(b, SolverParams())
    rep = check(b, out.result)
    assert rep.ok, str(rep)
    return out, out.result.filled(), rep


def binaries(ref_call="0.3", ref_put="0.7", lot_call="1", lot_put="1"):
    return (contract(1, Payoff.BINARY_CALL, lo="0", hi="1", ref=ref_call, tick="0.01",
                     lot=lot_call),
            contract(2, Payoff.BINARY_PUT, lo="0", hi="1", ref=ref_put, tick="0.01",
                     lot=lot_put))


# ---------------------------------------------------------------- rule 11

def test_a_limit_at_currency_precision_clears_at_the_lattice_price_inside_it():
    """BUY 3 lots for 21.9294 is 7.3098 per lot; the lattice (tick 0.1, lot 1) reads it as
    7.3. A seller of 3 lots at 7.3 each: both at the money at 7.3, all 3 lots trade — the
    order is neither refused nor treated as in the money at 7.3."""
    c = contract(1, tick="0.1", lo="0", hi="20", ref="7")
    b = book([c], [order(1, [(1, "B", 3)], "21.9294"), order(2, [(1, "S", 3)], "-21.9")])
    assert b.limit(b.orders[0]) == Fraction(73, 10)
    out, fills, _ = cleared(b)
    assert fills == {1: 3, 2: 3} and out.result.prices[1] == 73
    assert b.orders[0].total_net_price == Decimal("21.9294")  # reported as sent


def test_a_seller_limit_off_the_lattice_receives_at_least_the_next_lattice_price():
    """SELL 1 lot for at least 7.25 (tick 0.1): read as −7.3 (floored signed limit), so it
    does not trade with a buyer at 7.2, and trades at 7.3 with a buyer at 7.3."""
    c = contract(1, tick="0.1", lo="0", hi="20", ref="7")
    b = book([c], [order(1, [(1, "S", 1)], "-7.25"), order(2, [(1, "B", 1)], "7.2")])
    assert b.limit(b.orders[0]) == Fraction(-73, 10)
    _, fills, _ = cleared(b)
    assert fills == {}
    b = book([c], [order(1, [(1, "S", 1)], "-7.25"), order(2, [(1, "B", 1)], "7.3")])
    out, fills, _ = cleared(b)
    assert fills == {1: 1, 2: 1} and out.result.prices[1] == 73


# ---------------------------------------------------------------- rule 10

def test_an_untraded_binary_call_publishes_one_minus_the_traded_put():
    """The binary put trades at 0.78 (a one-contract sweep); the binary call at the same
    strike has no orders: it publishes 1 − 0.78 = 0.22, not its reference 0.3."""
    bc, bp = binaries()
    b = book([bc, bp], [order(1, [(2, "B", 2)], "1.56"), order(2, [(2, "S", 2)], "-1.56")])
    out, fills, _ = cleared(b)
    assert fills == {1: 2, 2: 2}
    assert out.result.prices[2] == 78 and out.result.prices[1] == 22


def test_without_orders_the_pair_keeps_the_instruments_reference_and_sums_to_one():
    """References 0.281 and 0.726 sum to 1.007: the instrument is the binary call, so the call
    keeps 0.281 and the put publishes 0.719."""
    bc = contract(1, Payoff.BINARY_CALL, lo="0", hi="1", ref="0.281", tick="0.001")
    bp = contract(2, Payoff.BINARY_PUT, lo="0", hi="1", ref="0.726", tick="0.001")
    out, fills, _ = cleared(book([bc, bp], []))
    assert fills == {} and dict(out.result.prices) == {1: 281, 2: 719}


def test_an_order_forces_an_untraded_instrument_to_the_nearest_price_out_of_the_money():
    """The reference 0.3 puts a lone binary-put buyer at 0.75 in the money (BP = 0.7): the
    instrument moves to the nearest price keeping it out of the money, BP 0.76 (BC 0.24);
    with a seller at 0.6 they trade and the reference price (0.3/0.7) is an equilibrium."""
    bc, bp = binaries()
    out, fills, _ = cleared(book([bc, bp], [order(1, [(2, "B", 1)], "0.75")]))
    assert fills == {} and dict(out.result.prices) == {1: 24, 2: 76}
    out, fills, _ = cleared(book([bc, bp], [order(1, [(2, "B", 1)], "0.75"),
                                            order(2, [(2, "S", 1)], "-0.6")]))
    assert fills == {1: 1, 2: 1} and dict(out.result.prices) == {1: 30, 2: 70}


def test_put_call_parity_on_every_published_price():
    """A traded call and forward price the listed put without orders: P = C − F + K."""
    b = eq.book([eq.contract(1), eq.contract(2, "Put"), eq.forward(3)],
                [eq.single(1, "BUY", "0.1", "101", cid=1), eq.single(2, "SELL", "0.1", "99",
                                                                      cid=1),
                 eq.single(3, "BUY", "0.1", "2010", cid=3), eq.single(4, "SELL", "0.1", "1990",
                                                                      cid=3)])
    out, fills, _ = cleared(b)
    p = out.result.prices
    c, put, f = (Fraction(b.contracts[k].tick_size) * p[k] for k in (1, 2, 3))
    assert len(fills) == 4 and put == c - f + 2000


# ---------------------------------------------------------------- §4a

def test_rho_counts_only_contracts_with_orders_and_is_zero_for_a_one_leg_market():
    """ρ's step is the largest tick among the contracts WITH ORDERS on the instrument; a
    market where every order is one-leg on one contract gets ρ = 0, whatever else is
    listed."""
    bc = contract(1, Payoff.BINARY_CALL, lo="0", hi="1", tick="0.01")
    bp = contract(2, Payoff.BINARY_PUT, lo="0", hi="1", tick="0.05")  # listed, coarser tick
    one_leg = [order(1, [(1, "B", 1)], "0.5"), order(2, [(1, "S", 1)], "-0.5")]
    rho = RoundingAllowance({1: bc, 2: bp}, True, one_leg)
    assert rho(one_leg[0]) == 0
    both = [*one_leg, order(3, [(2, "B", 1)], "0.5")]
    rho = RoundingAllowance({1: bc, 2: bp}, True, both)
    assert rho(both[0]) == Fraction(5, 100)  # the put has orders now: its tick counts


def test_no_relaxation_where_an_exact_equilibrium_exists_one_step_away():
    """Put buyer 33 at 101.5 would be in the money by 0.15 (its ρ) at C = P = 100; one call
    step up (C = P = 100.5) is an exact equilibrium: the engine returns that one."""
    b = eq.book([eq.contract(1), eq.contract(2, "Put"), eq.forward(3)],
                [eq.single(30, "BUY", "0.1", "100", cid=2),
                 eq.single(31, "SELL", "0.1", "100", cid=1),
                 eq.single(32, "BUY", "0.1", "2000", cid=3),
                 eq.single(33, "BUY", "0.1", "101.5", cid=2)])
    out, fills, rep = cleared(b)
    assert out.relaxations == () and rep.short == () and rep.rounded == ()
    assert fills == {31: 1, 32: 1, 33: 1}
    assert dict(out.result.prices) == {1: 201, 2: 201, 3: 2000}


def test_one_package_short_only_where_no_allocation_balances_and_it_is_listed():
    """Binary call lot 1, binary put lot 3 (3 call units per put package). The call buyer (4
    units at 0.41) is in the money at X = 0.32, where the put buyer (4 packages at 0.68,
    i.e. selling X at 0.32 or more) is the marginal seller of 3-unit packages: 4 units cannot
    be balanced (3x = 4), nor at 0.31 or 0.33 or any other price (worked by hand: between
    0.32 and 0.41 both are in the money, 12 units against 4). So the buyer is one package
    short (3 of 4), listed in the outcome and the check, and the probe finds nothing exact."""
    bc, bp = binaries(lot_put="3")
    b = book([bc, bp], [order(1, [(1, "S", 3)], "-1.47"), order(2, [(2, "B", 4)], "8.16"),
                        order(3, [(1, "B", 4)], "1.64")])
    out, fills, rep = cleared(b)
    assert fills == {2: 1, 3: 3} and out.result.prices[1] == 32
    assert out.relaxations == ((3, "short"),) and rep.short == (3,)
    assert rep.probes_undecided == 0
    assert out.status is SolveStatus.OPTIMAL


def test_the_check_rejects_a_relaxed_one_leg_binary_market_that_clears_exactly_one_tick_up():
    """Call buyer 3 units at 0.50, call seller 1 unit at 0.49, put buyer 1 package of 2 units
    at 0.51 (sells the call instrument at 0.49 or more). At BC = 0.49 the buyer left one
    unit short is within its allowance — but one tick up (BC 0.50, BP 0.50) the seller and
    the put buyer are in the money (3 units) and the call buyer at the money takes them:
    exact, so the relaxed answer fails the probe; the exact one passes; and the engine finds
    an exact one."""
    bc, bp = binaries(lot_put="2")
    b = book([bc, bp], [order(1, [(1, "B", 3)], "1.5"), order(2, [(1, "S", 1)], "-0.49"),
                        order(3, [(2, "B", 1)], "1.02")])
    relaxed = check(b, _result({1: 49, 2: 51}, {1: 2, 3: 1}))
    assert relaxed.rules == {"probe"} and relaxed.rounded == (1,)
    assert "one step up" in relaxed.violations[0].message
    assert check(b, _result({1: 50, 2: 50}, {1: 3, 2: 1, 3: 1})).ok
    out, _, rep = cleared(b)
    assert out.relaxations == () and rep.rounded == () and rep.short == ()


def _result(prices, fills):
    from auction.result import ClearingResult, Fill
    return ClearingResult(prices, tuple(Fill(o, x) for o, x in fills.items()))
