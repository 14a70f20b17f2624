"""Rule 10 (parity of published prices) at tick granularity, across tick and lot sizes.

A chain of one expiry — forward, calls, puts, binary calls and binary puts — with its own tick
and lot sizes per family (the forward's tick need not be a multiple of the options'), random
references on the grid inside the bands (so in general NOT parity-consistent: ``ccp run``'s
WBTC put floored at one tick beside its call was a tick off). Whatever the ticks, the matcher
and an auction without orders (``auction.result.no_trade``, what the loop publishes then)
publish the same prices, and the independent check, parity on, passes both: every contract is
its replication of one price per atomic instrument, or it keeps its reference and is named
uncleared because its replication is off its grid or outside its band.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.book import Book
from auction.orders import Leg, Order, Side
from auction.products import Contract, CurrencyPair, Payoff
from auction.result import no_trade
from solver_models import SolverParams, solve
from validator.equilibrium import check

PAIR = CurrencyPair("WBTC", "USDC")
EXPIRY = date(2030, 1, 4)
TICKS = [Decimal(t) for t in ("0.01", "0.1", "0.2", "0.5", "1", "5", "10")]
LOTS = [Decimal(t) for t in ("0.01", "0.1", "1", "10")]


@st.composite
def chains(draw, max_orders: int = 0) -> Book:
    option_tick, forward_tick = draw(st.sampled_from(TICKS)), draw(st.sampled_from(TICKS))
    option_lot, binary_lot = draw(st.sampled_from(LOTS)), draw(st.sampled_from(LOTS))
    binary_tick = draw(st.sampled_from([Decimal("0.001"), Decimal("0.01"), Decimal("0.05")]))
    f_ticks = draw(st.integers(20, 60))  # the forward's reference, in its ticks
    spot = forward_tick * f_ticks
    step = draw(st.sampled_from([option_tick, forward_tick, option_tick * 3]))
    strikes = sorted({spot + step * draw(st.integers(-4, 4)) for _ in range(draw(
        st.integers(1, 3)))})
    specs: list[tuple[Payoff, Decimal | None, Decimal, Decimal, Decimal, Decimal]] = [
        (Payoff.FORWARD, None, forward_tick, option_lot, forward_tick, spot * 2)]
    for k in strikes:
        if k <= 0:
            continue
        cap = max(spot, k) * 2 + option_tick * 10
        specs += [(Payoff.CALL, k, option_tick, option_lot, option_tick, cap),
                  (Payoff.PUT, k, option_tick, option_lot, option_tick, cap)]
        if draw(st.booleans()):
            specs += [(p, k, binary_tick, binary_lot, binary_tick, 1 - binary_tick)
                      for p in (Payoff.BINARY_CALL, Payoff.BINARY_PUT)]
    contracts = {}
    for cid, (payoff, k, tick, lot, lo, hi) in enumerate(specs, start=1):
        lo_t, hi_t = int(lo / tick), int(hi / tick)
        if payoff is Payoff.FORWARD:
            ref_t = f_ticks
        else:  # near the band's floor often: where ccp run's put was floored
            ref_t = draw(st.one_of(st.integers(lo_t, min(hi_t, lo_t + 3)),
                                   st.integers(lo_t, hi_t)))
        contracts[cid] = Contract(cid, payoff, PAIR, EXPIRY, k, tick, lot, tick * ref_t,
                                  tick * lo_t, tick * hi_t)
    orders = []
    for oid in range(1, draw(st.integers(0, max_orders)) + 1):
        ids = sorted(draw(st.permutations(sorted(contracts)))[:draw(st.integers(1, 2))])
        legs, total = [], Decimal(0)
        for cid in ids:
            c = contracts[cid]
            side, lots = draw(st.sampled_from([Side.BUY, Side.SELL])), draw(st.integers(1, 3))
            lo_t, hi_t = c.band_ticks
            price = c.tick_size * draw(st.integers(lo_t, hi_t))
            total += (1 if side is Side.BUY else -1) * lots * c.lot_size * price
            legs.append(Leg(cid, side, lots))
        orders.append(Order(2 * oid - 1, 2 * oid - 1, total, tuple(legs)))
        if draw(st.booleans()):  # the other side, crossing it by a few ticks of the first leg
            first = contracts[legs[0].contract_id]
            extra = draw(st.integers(0, 3)) * first.tick_size * first.lot_size
            orders.append(Order(2 * oid, 2 * oid, -total + extra, tuple(
                Leg(leg.contract_id, Side.SELL if leg.side is Side.BUY else Side.BUY, leg.lots)
                for leg in legs)))
    return Book(contracts, tuple(orders))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_an_auction_without_orders_publishes_what_the_matcher_publishes_and_passes(book):
    idle = no_trade(book, frozenset())
    report = check(book, idle)
    assert report.ok, str(report)
    engine = solve(book, SolverParams()).result
    assert (dict(idle.prices), idle.uncleared) == (dict(engine.prices), engine.uncleared)
    for cid, c in book.contracts.items():  # nothing is dropped that parity could price
        if cid not in idle.uncleared:
            assert c.band_ticks[0] <= idle.prices[cid] <= c.band_ticks[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains(max_orders=5))
def test_the_matchers_prices_obey_parity_whatever_the_ticks_and_lots(book):
    out = solve(book, SolverParams())
    report = check(book, out.result)
    assert report.ok, (str(report), out.notes)
