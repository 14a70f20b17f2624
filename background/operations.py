"""Operations on prices, expiry, alerts and keepers: what ``ccp expiry|keepers`` and the admin
API call. Bad input raises :class:`OperationsError` (a ``ValueError``) with a clear message and
changes nothing.
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

from auction.products import format_expiry, parse_expiry
from background import expiry as ex
from background.keepers import DEFAULT_EVENTS
from background.sources import Source, sources_from_settings
from coordinator.clock import Clock, to_datetime
from coordinator.events import EventKind
from coordinator.persistence import Store, StoreError
from coordinator.persistence import background as bg
from coordinator.persistence.store import from_units
from coordinator.settings import Settings


class OperationsError(ValueError):
    """Bad input to an operation; nothing changed."""


def _iso(ms: int | None) -> str | None:
    return None if ms is None else to_datetime(ms).isoformat().replace("+00:00", "Z")


class Operations:
    def __init__(self, store: Store, settings: Settings, clock: Clock,
                 sources: Sequence[Source] | None = None):
        self.store = store
        self.settings = settings
        self.clock = clock
        self._sources = None if sources is None else list(sources)

    @property
    def sources(self) -> list[Source]:
        if self._sources is None:
            self._sources = sources_from_settings(self.settings, self.clock.now_ms)
        return self._sources

    # ---- expiry -------------------------------------------------------------------------
    def _buckets(self, expiry: date | None, pair: str | None) -> list[tuple[str, date]]:
        with self.store.read() as tx:
            known = bg.pairs(tx)
            buckets = [(p, parse_expiry(str(e))) for p, e in bg.expiry_buckets(tx)]
        if pair is not None and pair not in known:
            raise OperationsError(f"unknown pair {pair!r} (known: {', '.join(known) or 'none'})")
        out = [(p, d) for p, d in buckets
               if (pair is None or p == pair) and (expiry is None or d == expiry)]
        if expiry is not None and not out:
            raise OperationsError(f"no contract of {pair or 'any pair'} expires on "
                                  f"{format_expiry(expiry)}")
        return out

    def expiry_status(self, expiry: date | None = None,
                      pair: str | None = None) -> list[dict[str, Any]]:
        now = self.clock.now_ms()
        delay = timedelta(minutes=self.settings.expiry_delay_minutes)
        out = []
        buckets = self._buckets(expiry, pair)
        with self.store.read() as tx:
            lockups = tx.lockups()
            positions = tx.positions()
            for p, d in buckets:
                e = ex.expiry_int(d)
                prec = tx.numeraire_precision(p)
                ids = set(bg.bucket_contracts(tx, p, e))
                sp = bg.settlement_price(tx, p, e)
                run = bg.expiry_run(tx, p, e)
                at = ex.expiry_ms(d)
                clients = {c for (c, k), lots in positions.items() if k in ids and lots}
                state = ("SETTLED" if run else "PRICED" if sp
                         else "DUE" if at + int(delay.total_seconds() * 1000) <= now
                         else "EXPIRED" if at <= now else "OPEN")
                out.append({
                    "pair": p, "expiry": format_expiry(d), "expiresAt": _iso(at), "state": state,
                    "contracts": sorted(ids), "clients": len(clients),
                    "lockedUnderlying": sum(lk.underlying_amount for (c, q, x), lk in
                                            lockups.items() if q == p and x == e),
                    "lockedNumeraire": sum(lk.numeraire_amount for (c, q, x), lk in
                                           lockups.items() if q == p and x == e),
                    "settlementPrice": None if sp is None else str(from_units(sp["price"], prec)),
                    "method": None if sp is None else sp["method"],
                    "rule": None if sp is None else sp["rule"],
                    "setBy": None if sp is None else sp["actor"],
                    "reason": None if sp is None else sp["reason"],
                    "settledAt": None if run is None else _iso(run["settled_ms"]),
                    "settledBy": None if run is None else run["actor"],
                    "movements": None if run is None else run["movements"],
                })
        return out

    def run_expiry(self, expiry: date, pair: str | None = None,
                   actor: str = "operator") -> dict[str, Any]:
        """Fix (if no price yet) and settle every pair of ``expiry`` (or one pair). Running it
        again changes nothing."""
        self._actor(actor)
        now = self.clock.now_ms()
        if now < ex.expiry_ms(expiry) + 60_000:
            raise OperationsError(f"{format_expiry(expiry)} has not expired yet: the 12:00 UTC "
                                  f"candle closes at 12:01 UTC")
        results = [self._run_one(p, d, actor) for p, d in self._buckets(expiry, pair)]
        return {"expiry": format_expiry(expiry), "results": results}

    def _run_one(self, pair: str, expiry: date, actor: str) -> dict[str, Any]:
        s = self.settings
        try:
            price = ex.fix(self.store, self.sources, pair, expiry, now_ms=self.clock.now_ms(),
                           deviation_percent=Decimal(str(s.price_deviation_percent)),
                           quorum=s.price_quorum)
            if price.get("status") == "NO_FIXING":
                return price
            return ex.settle(self.store, pair, expiry, actor=actor, now_ms=self.clock.now_ms())
        except StoreError as e:
            raise OperationsError(f"{pair} {format_expiry(expiry)}: {e}") from None

    def set_settlement_price(self, expiry: date, pair: str, price: Decimal | str,
                             actor: str, reason: str) -> dict[str, Any]:
        """Set the settlement price by hand (who and why recorded), then settle."""
        self._actor(actor)
        if not reason or not reason.strip():
            raise OperationsError("a reason is required for a manual settlement price")
        try:
            value = Decimal(str(price))
        except InvalidOperation:
            raise OperationsError(f"price {price!r} is not a number") from None
        if not value.is_finite() or value <= 0:
            raise OperationsError(f"price {price} must be positive")
        self._buckets(expiry, pair)
        now = self.clock.now_ms()
        if now < ex.expiry_ms(expiry):
            raise OperationsError(f"{pair} {format_expiry(expiry)} has not expired yet")
        e = ex.expiry_int(expiry)
        try:
            with self.store.write() as tx:
                prec = tx.numeraire_precision(pair)
                units = value.scaleb(prec)
                if units != units.to_integral_value():
                    raise OperationsError(f"price {value} has more than {prec} decimals")
                have = bg.settlement_price(tx, pair, e)
                if have is not None:
                    raise OperationsError(
                        f"{pair} {format_expiry(expiry)} has a settlement price already: "
                        f"{from_units(have['price'], prec)} ({have['method']} by "
                        f"{have['actor']})")
                bg.put_settlement_price(tx, pair=pair, expiry=e, price=int(units),
                                        method=ex.MANUAL, rule="manual", sources=[],
                                        actor=actor.strip(), reason=reason.strip(), now_ms=now,
                                        observed_ms=ex.expiry_ms(expiry))
                bg.clear_alerts(tx, [f"fixing:{pair}:{e}"], now)
            result = ex.settle(self.store, pair, expiry, actor=actor.strip(), now_ms=now)
        except StoreError as err:
            raise OperationsError(f"{pair} {format_expiry(expiry)}: {err}") from None
        return {"pair": pair, "expiry": format_expiry(expiry), "price": str(value),
                "method": ex.MANUAL, "actor": actor.strip(), "reason": reason.strip(),
                "settlement": result}

    @staticmethod
    def _actor(actor: str) -> None:
        if not actor or not actor.strip() or len(actor) > 80:
            raise OperationsError("actor must name who does it (1-80 characters)")

    # ---- keepers and alerts -------------------------------------------------------------
    def add_keeper(self, url: str, secret: str | None = None,
                   events: Sequence[str] | None = None) -> dict[str, Any]:
        parsed = urlparse(url or "")
        if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 500:
            raise OperationsError(f"keeper URL {url!r} is not an http(s) URL")
        secret = secret or _secrets.token_hex(32)
        if len(secret) < 16 or len(secret) > 200:
            raise OperationsError("keeper secret must be 16-200 characters")
        kinds = list(events) if events else list(DEFAULT_EVENTS)
        known = {str(k) for k in EventKind}
        bad = sorted(set(kinds) - known)
        if bad:
            raise OperationsError(f"unknown event kind(s) {', '.join(bad)} "
                                  f"(known: {', '.join(sorted(known))})")
        with self.store.write() as tx:
            kid = bg.add_keeper(tx, url, secret, sorted(set(kinds)), self.clock.now_ms())
        return {"id": kid, "url": url, "events": sorted(set(kinds)), "secret": secret}

    def list_keepers(self) -> list[dict[str, Any]]:
        with self.store.read() as tx:
            ks = bg.keepers(tx)
            dl = bg.deliveries(tx)
        out = []
        for k in ks:
            mine = [d for d in dl if d["keeper_id"] == k["id"]]
            out.append({"id": k["id"], "url": k["url"], "events": k["events"],
                        "createdAt": _iso(k["created_ms"]),
                        "delivered": sum(d["status"] == bg.DELIVERED for d in mine),
                        "pending": sum(d["status"] == bg.PENDING for d in mine),
                        "failed": sum(d["status"] == bg.FAILED for d in mine)})
        return out

    def remove_keeper(self, keeper_id: int) -> bool:
        with self.store.write() as tx:
            return bg.deactivate_keeper(tx, int(keeper_id))

    def alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        if not 1 <= int(limit) <= 1000:
            raise OperationsError("limit must be 1..1000")
        with self.store.read() as tx:
            rows = bg.list_alerts(tx, int(limit))
        return [{"id": r["id"], "reason": r["reason"], "raisedAt": _iso(r["raised_ms"]),
                 "clearedAt": _iso(r["cleared_ms"]), "active": r["cleared_ms"] is None,
                 **r["payload"]} for r in rows]

    # ---- prices -------------------------------------------------------------------------
    def spot_sources(self) -> list[dict[str, Any]]:
        """Each configured source's health from the recorded aggregations: its last answer,
        when it last gave a price, and its failures among the recent rounds."""
        with self.store.read() as tx:
            recent = bg.aggregations(tx, limit=200)
        out = []
        for name in self.settings.price_source_names:
            rows = [(a, s) for a in recent for s in a["sources"] if s["source"] == name]
            ok = [a["observed_ms"] for a, s in rows if s["status"] == "USED"]
            last = rows[0] if rows else None
            out.append({
                "source": name,
                "baseUrl": getattr(self.settings, f"price_{name}_url", None),
                "lastStatus": None if last is None else last[1]["status"],
                "lastFailure": None if last is None else last[1].get("failure"),
                "lastAnswerAt": None if last is None else _iso(last[0]["observed_ms"]),
                "lastPriceAt": _iso(max(ok)) if ok else None,
                "recentRounds": len(rows),
                "recentFailures": sum(s["status"] == "FAILED" for _, s in rows),
                "healthy": last is not None and last[1]["status"] == "USED",
            })
        return out

    def spot_prices(self) -> list[dict[str, Any]]:
        now = self.clock.now_ms()
        out = []
        with self.store.read() as tx:
            for p in bg.pairs(tx):
                st = bg.spot_status(tx, p, now, int(self.settings.price_staleness_seconds * 1000))
                if st is not None:
                    out.append({"pair": p, "price": str(from_units(st["price"],
                                                                   tx.numeraire_precision(p))),
                                "observedAt": _iso(st["observed_ms"]), "stale": st["stale"]})
        return out
