"""The chain ``ccp run`` lists: expiries, Black-76 reference prices on the grid, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from auction.products import Payoff, expiry_datetime
from coordinator.persistence import Store
from coordinator.persistence.migrate import upgrade
from venue.seed import DEMO_MARKETS, chain_contracts, ensure_listed, next_expiries

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1)))
@settings(max_examples=200, deadline=None)
def test_next_expiries_trade_long_enough_and_follow_on_fridays(naive):
    now = naive.replace(tzinfo=UTC)
    exp = next_expiries(now)
    assert len(exp) == 3 and exp == sorted(set(exp))
    assert expiry_datetime(exp[0]) - timedelta(hours=12) >= now + timedelta(hours=2)
    assert expiry_datetime(exp[0]) - timedelta(hours=12) < now + timedelta(days=1, hours=2)
    assert all(d.weekday() == 4 for d in exp[1:])


def test_the_chain_is_priced_on_the_grid_inside_its_bands():
    for m in DEMO_MARKETS:
        cs = chain_contracts(m, next_expiries(NOW)[0], NOW, first_id=1)
        assert [c.contract_id for c in cs] == list(range(1, len(cs) + 1))
        kinds = {c.payoff for c in cs}
        assert kinds == {Payoff.CALL, Payoff.PUT, Payoff.BINARY_CALL, Payoff.FORWARD}
        for c in cs:
            assert isinstance(c.reference_price, Decimal)
            assert c.reference_price % c.tick_size == 0
            assert c.low_range <= c.reference_price <= c.high_range
            if c.payoff.is_binary:
                assert 0 < c.reference_price < 1
        by = {(c.payoff, c.strike): c.reference_price for c in cs}
        f = by[(Payoff.FORWARD, None)]
        for (payoff, k), p in by.items():  # parity exactly (rule 10): P = C - F + K
            if payoff is Payoff.PUT:
                assert p == by[(Payoff.CALL, k)] - f + k, (m.pair, k)


@given(st.sampled_from(DEMO_MARKETS), st.decimals("0.5", "2", places=3),
       st.integers(0, 23))
@settings(max_examples=60, deadline=None)
def test_listed_references_obey_parity_so_an_auction_without_orders_prices_every_contract(
        market, move, hour):
    """The seed's references satisfy P = C − F + K on the grid whatever the spot: an auction
    without orders publishes every contract at its reference and names none uncleared (a put
    rounded to its band's floor beside its call used to be a tick off parity)."""
    from dataclasses import replace

    from auction.book import Book
    from auction.result import no_trade
    from validator.equilibrium import check

    m = replace(market, spot=(market.spot * move).quantize(Decimal("0.0001")))
    now = NOW.replace(hour=hour)
    cs = [c for i, e in enumerate(next_expiries(now))
          for c in chain_contracts(m, e, now, first_id=1 + 14 * i)]
    book = Book({c.contract_id: c for c in cs}, ())
    result = no_trade(book, frozenset())
    assert check(book, result).ok, str(check(book, result))
    assert result.uncleared == frozenset()
    assert all(result.prices[c.contract_id] * c.tick_size == c.reference_price for c in cs)


def test_listing_is_idempotent_and_adds_only_missing_expiries(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 's.sqlite3'}")
    upgrade(store.engine)
    now_ms = int(NOW.timestamp() * 1000)
    first = ensure_listed(store, now_ms)
    assert len(first) == 2 * 3 * 14
    assert ensure_listed(store, now_ms) == []
    later = ensure_listed(store, now_ms + 2 * 86_400_000)  # two days on: a new expiry
    assert later and min(c.contract_id for c in later) == len(first) + 1
    with store.read() as tx:
        assert len(tx.contracts()) == len(first) + len(later)
    store.dispose()

