"""The demo traders' quotes: two-sided, on the grid, Decimal (no HTTP here; the ccp run test
runs them against the real API)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from venue.demo import DemoTraders, Spec, specs_from
from venue.seed import DEMO_MARKETS, chain_contracts, next_expiries

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def test_makers_quote_two_sided_on_the_grid_in_decimal():
    contracts = [{"contractId": c.contract_id, "payoff": str(c.payoff),
                  "economics": {"currencyPair": str(c.pair),
                                "expiry": int(c.expiry.strftime("%Y%m%d")),
                                "strike": None if c.strike is None else str(c.strike)},
                  "tradeable": True}
                 for c in chain_contracts(DEMO_MARKETS[0], next_expiries(NOW)[0], NOW, 1)]
    specs = specs_from(contracts, {"USDC": 4, "WETH": 7})
    assert len(specs) == len(contracts)
    demo = DemoTraders("http://127.0.0.1:1", [], 60.0, seed=1)
    for s in specs:
        assert isinstance(s, Spec)
        q = demo._quote(s, Decimal("0.5") if s.payoff.is_binary else Decimal("123.456"),
                        Decimal("0.04"))
        assert q is not None and 0 < q.bid < q.ask
        assert q.bid % s.tick == 0 and q.ask % s.tick == 0 and q.size % s.lot == 0
