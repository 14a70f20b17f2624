"""The spot price round: every source's ticker for every pair, aggregated and stored.

A pair with quorum gets a new row in ``spot_prices`` (what ``Tx.latest_spot`` and the API's
``spotPrices`` read) and goes into one ``SPOT_PRICES`` event ``{pair: "decimal"}``; a pair
without quorum keeps its last price, which reads as stale (:func:`spot_status`). Every round of
every pair is recorded with its sources and rule (``price_aggregations``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from background.aggregate import Aggregate, aggregate
from background.sources import Source
from coordinator.events import Event, EventKind
from coordinator.persistence import Store
from coordinator.persistence import background as bg


def poll(store: Store, sources: Sequence[Source], now_ms: int, *, staleness_ms: int,
         deviation_percent: Decimal, quorum: int) -> dict[str, Aggregate]:
    with store.read() as tx:
        pairs = {p: tx.numeraire_precision(p) for p in bg.pairs(tx)}
    results = {}
    for pair, precision in pairs.items():
        outcomes = [s.ticker(pair, now_ms) for s in sources]
        results[pair] = aggregate(outcomes, now_ms=now_ms, staleness_ms=staleness_ms,
                                  deviation_percent=deviation_percent, quorum=quorum,
                                  precision=precision)
    with store.write() as tx:
        published = {}
        for pair, agg in results.items():
            price = None if agg.price is None else int(agg.price.scaleb(pairs[pair]))
            bg.record_aggregation(tx, pair=pair, kind=bg.SPOT,
                                  status=bg.OK if agg.ok else bg.NO_QUORUM, price=price,
                                  observed_ms=now_ms, rule=agg.rule, sources=agg.sources)
            if agg.price is not None:
                published[pair] = str(agg.price)
        if published:
            tx.append_events([Event(EventKind.SPOT_PRICES, published)], now_ms)
    return results
