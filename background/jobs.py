"""The background process: spot prices, the expiry job, readiness checks, keeper deliveries.

``BackgroundJobs.run(stop)`` loops until ``stop`` is set; each job has its own period:

* spot prices every ``price_poll_seconds``;
* expiries: every ``expiry_poll_seconds``, each listed (pair, expiry) whose 12:00 UTC +
  ``expiry_delay_minutes`` has passed and is not settled is fixed and settled (a failed
  fixing raises one alert and is retried on the next round until a price is set by hand);
* readiness: every ``expiry_poll_seconds`` (and an ``EXPIRY_APPROACHING`` notice once per
  bucket entering the horizon);
* keeper deliveries every ``keeper_poll_seconds``.

A failing job is logged and retried on its next round; it never stops the others. The
single-step methods (``poll_prices``, ``run_expiries``, ``check_readiness``, ``deliver``) are
what the loop calls, and what tests call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from auction.products import format_expiry
from background import expiry as ex
from background import prices, readiness
from background.aggregate import Aggregate
from background.alerts import raise_alert
from background.keepers import Deliverer
from background.sources import Source, sources_from_settings
from coordinator.clock import Clock
from coordinator.persistence import Store
from coordinator.settings import Settings

log = logging.getLogger(__name__)


class BackgroundJobs:
    def __init__(self, store: Store, settings: Settings, clock: Clock,
                 sources: Sequence[Source] | None = None, *,
                 keeper_transport: httpx.BaseTransport | None = None):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sources = list(sources) if sources is not None else sources_from_settings(
            settings, clock.now_ms)
        self.deliverer = Deliverer(store, clock.now_ms,
                                   timeout_s=settings.keeper_timeout_seconds,
                                   retries=settings.keeper_retries,
                                   backoff_s=settings.keeper_backoff_seconds,
                                   transport=keeper_transport)

    # ---- single steps -------------------------------------------------------------------
    def poll_prices(self) -> dict[str, Aggregate]:
        s = self.settings
        return prices.poll(self.store, self.sources, self.clock.now_ms(),
                           staleness_ms=int(s.price_staleness_seconds * 1000),
                           deviation_percent=Decimal(str(s.price_deviation_percent)),
                           quorum=s.price_quorum)

    def run_expiries(self, actor: str = "expiry-job") -> list[dict[str, Any]]:
        s = self.settings
        out = []
        for pair, d in ex.due(self.store, self.clock.now_ms(),
                              timedelta(minutes=s.expiry_delay_minutes)):
            price = ex.fix(self.store, self.sources, pair, d, now_ms=self.clock.now_ms(),
                           deviation_percent=Decimal(str(s.price_deviation_percent)),
                           quorum=s.price_quorum)
            if price.get("status") == "NO_FIXING":
                log.error("expiry %s %s: no fixing (%s)", pair, format_expiry(d),
                          "; ".join(f"{x['source']} {x['status']}" for x in price["sources"]))
                out.append(price)
                continue
            out.append(ex.settle(self.store, pair, d, actor=actor, now_ms=self.clock.now_ms()))
        return out

    def check_readiness(self) -> list[dict[str, Any]]:
        now = self.clock.now_ms()
        horizon = timedelta(hours=self.settings.expiry_readiness_hours)
        buckets = readiness.horizon_buckets(self.store, now, horizon)
        with self.store.write() as tx:
            for pair, d in buckets:
                raise_alert(tx, f"expiry-due:{pair}:{format_expiry(d)}", "EXPIRY_APPROACHING",
                            now, expiry=d, action="NONE",
                            extra={"pair": pair, "expiryDate": format_expiry(d)})
        return readiness.check(self.store, now, horizon)

    def deliver(self) -> dict[str, Any]:
        return self.deliverer.step()

    def close(self) -> None:
        self.deliverer.close()
        for s in self.sources:
            close = getattr(s, "close", None)
            if close is not None:
                close()

    # ---- the loop -----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        s = self.settings
        jobs = [("prices", s.price_poll_seconds, self.poll_prices),
                ("expiry", s.expiry_poll_seconds, self.run_expiries),
                ("readiness", s.expiry_poll_seconds, self.check_readiness),
                ("keepers", s.keeper_poll_seconds, self.deliver)]
        next_at = {name: 0.0 for name, _, _ in jobs}
        try:
            while not stop.is_set():
                for name, period, fn in jobs:
                    if stop.is_set():
                        break
                    if time.monotonic() < next_at[name]:
                        continue
                    try:
                        fn()
                    except Exception:  # a failing job is retried next round, never fatal
                        log.exception("background job %s failed", name)
                    next_at[name] = time.monotonic() + period
                stop.wait(max(0.05, min(next_at.values()) - time.monotonic()))
        finally:
            self.close()
