"""Settlement readiness (expiry_and_prices.md §3): for every bucket expiring within the horizon,
each client's worst-case obligation (the lockup its positions need, collateral.md §3) against
the collateral locked for it (the stored lockup). In a correct venue they always match; a
mismatch raises an alert per (client, pair, expiry, currency) — once while it lasts; it is
cleared when they match again.

Reasons: ``INSUFFICIENT_CASH`` (numeraire locked < needed), ``INSUFFICIENT_UNDERLYING``
(underlying locked < needed), ``EXCESS_LOCKUP`` (more locked than needed: harmless to the
clearing house, but the books disagree). Recommended action: ``RECONCILE_LOCKUP`` (a fully
collateralised venue never liquidates: the stored lockup is wrong and must be investigated).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from auction.products import CurrencyPair, parse_expiry
from background.alerts import raise_alert
from background.expiry import expiry_ms
from coordinator.persistence import Store
from coordinator.persistence import background as bg
from validator.collateral.lockup import bucket_lockup
from validator.collateral.positions import BucketKey, Positions

PREFIX = "readiness:"


def check(store: Store, now_ms: int, horizon: timedelta) -> list[dict[str, Any]]:
    """Run the check once; returns every mismatch found (new or still active)."""
    horizon_ms = int(horizon.total_seconds() * 1000)
    found: list[dict[str, Any]] = []
    with store.write() as tx:
        buckets = [(p, e) for p, e in bg.expiry_buckets(tx)
                   if now_ms < expiry_ms(parse_expiry(str(e))) <= now_ms + horizon_ms
                   and bg.expiry_run(tx, p, e) is None]
        active = bg.active_alert_keys(tx, PREFIX)
        seen: set[str] = set()
        if buckets:
            contracts = tx.contracts()
            currencies = tx.currencies()
            positions = Positions(tx.position_states())
            stored = tx.lockups()
            keys = positions.buckets(contracts)
            for pair, e in buckets:
                expiry = parse_expiry(str(e))
                cp = CurrencyPair.parse(pair)
                clients = {k.client_id for k in keys if k.pair == pair and k.expiry == expiry}
                clients |= {c for (c, p, x), lk in stored.items() if p == pair and x == e
                            and (lk.underlying_amount or lk.numeraire_amount)}
                for client in sorted(clients):
                    need = bucket_lockup(positions, BucketKey(client, pair, expiry), contracts,
                                         currencies)
                    lk = stored.get((client, pair, e))
                    have = (0, 0) if lk is None else (lk.underlying_amount, lk.numeraire_amount)
                    for cur, needed, locked, short in (
                            (cp.underlying, need.underlying, have[0], "INSUFFICIENT_UNDERLYING"),
                            (cp.numeraire, need.numeraire, have[1], "INSUFFICIENT_CASH")):
                        if needed == locked:
                            continue
                        c = currencies[cur]
                        base = 10 ** (c.decimals - c.precision)
                        reason = short if locked < needed else "EXCESS_LOCKUP"
                        key = f"{PREFIX}{client}:{pair}:{e}:{cur}"
                        seen.add(key)
                        raise_alert(tx, key, reason, now_ms, expiry=expiry,
                                    action="RECONCILE_LOCKUP", portfolio_id=client,
                                    obligation=needed * base, cash=locked * base,
                                    extra={"pair": pair, "currency": cur})
                        found.append({"key": key, "reason": reason, "clientId": client,
                                      "pair": pair, "expiry": e, "currency": cur,
                                      "obligation": needed * base, "cash": locked * base})
        bg.clear_alerts(tx, active - seen, now_ms)
    return found


def horizon_buckets(store: Store, now_ms: int, horizon: timedelta) -> list[tuple[str, date]]:
    horizon_ms = int(horizon.total_seconds() * 1000)
    with store.read() as tx:
        return [(p, parse_expiry(str(e))) for p, e in bg.expiry_buckets(tx)
                if now_ms < expiry_ms(parse_expiry(str(e))) <= now_ms + horizon_ms]
