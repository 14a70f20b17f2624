"""Keeper webhooks: outbox events delivered to registered URLs, signed, retried, logged.

* ``enqueue`` reads the outbox after the cursor (edge ``keepers:outbox``) and creates one
  delivery per (keeper, event) of a kind the keeper subscribed to and not older than the
  keeper — in one transaction with the cursor, so no event is queued twice or lost.
* ``deliver_due`` POSTs every due delivery: the body is the event as JSON
  (``{"seq", "kind", "createdMs", "payload"}``, the exact bytes stored with the delivery),
  signed with HMAC-SHA256 under the keeper's secret, hex, in the header
  ``X-CCP-Signature: sha256=<hex>``; ``X-CCP-Delivery`` carries the delivery id (a receiver that
  sees an id twice — a crash between its answer and our record — can drop it). A 2xx answer
  delivers it; anything else (status, timeout, connection error) is retried after
  ``backoff · 2^(attempt−1)``, up to ``retries`` retries, then the delivery is FAILED. Every
  attempt is logged (``keeper_attempts``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from coordinator.events import EventKind
from coordinator.persistence import Store
from coordinator.persistence import background as bg

log = logging.getLogger(__name__)

EDGE = "keepers:outbox"
SIGNATURE_HEADER = "X-CCP-Signature"
DELIVERY_HEADER = "X-CCP-Delivery"
DEFAULT_EVENTS = (str(EventKind.ALERT), str(EventKind.EXPIRY_SETTLED))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign(secret, body), header or "")


class Deliverer:
    def __init__(self, store: Store, now_ms: Callable[[], int], *, timeout_s: float = 5.0,
                 retries: int = 5, backoff_s: float = 1.0,
                 transport: httpx.BaseTransport | None = None):
        self.store = store
        self.now_ms = now_ms
        self.retries = retries
        self.backoff_ms = int(backoff_s * 1000)
        self.client = httpx.Client(timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self.client.close()

    def enqueue(self, chunk: int = 500) -> int:
        """Queue deliveries for the events after the cursor; returns how many were queued."""
        queued = 0
        while True:
            with self.store.write() as tx:
                pos = tx.edge(EDGE) or 0
                events = tx.events_after(pos, chunk)
                if not events:
                    return queued
                keepers = bg.keepers(tx)
                now = self.now_ms()
                for e in events:
                    body = json.dumps({"seq": e.seq, "kind": str(e.kind),
                                       "createdMs": e.created_ms, "payload": e.payload},
                                      sort_keys=True, separators=(",", ":"), default=str)
                    for k in keepers:
                        if str(e.kind) in k["events"] and e.created_ms >= k["created_ms"]:
                            queued += bg.enqueue_delivery(tx, k["id"], e.seq, str(e.kind), body,
                                                          now)
                tx.set_edge(EDGE, events[-1].seq, now)

    def deliver_due(self) -> dict[str, int]:
        """One attempt for every due delivery; counts of the outcomes."""
        with self.store.read() as tx:
            due = bg.due_deliveries(tx, self.now_ms())
        counts = {"delivered": 0, "retry": 0, "failed": 0}
        for d in due:
            body = d["body"].encode()
            attempt = d["attempts"] + 1
            start = time.perf_counter()
            status_code: int | None = None
            error: str | None = None
            try:
                resp = self.client.post(d["url"], content=body, headers={
                    "Content-Type": "application/json", SIGNATURE_HEADER: sign(d["secret"], body),
                    DELIVERY_HEADER: str(d["id"]), "X-CCP-Event": d["kind"]})
                status_code = resp.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}: {resp.text[:200]}"
            except httpx.TimeoutException:
                error = "timeout"
            except httpx.HTTPError as e:
                error = f"{type(e).__name__}: {e}"
            duration = int((time.perf_counter() - start) * 1000)
            now = self.now_ms()
            if error is None:
                status, nxt = bg.DELIVERED, now
                counts["delivered"] += 1
            elif attempt > self.retries:
                status, nxt = bg.FAILED, now
                counts["failed"] += 1
                log.error("keeper %s: delivery %s of event %s FAILED after %d attempts: %s",
                          d["keeper_id"], d["id"], d["event_seq"], attempt, error)
            else:
                status, nxt = bg.PENDING, now + self.backoff_ms * 2 ** (attempt - 1)
                counts["retry"] += 1
                log.warning("keeper %s: delivery %s attempt %d failed: %s", d["keeper_id"],
                            d["id"], attempt, error)
            with self.store.write() as tx:
                bg.record_attempt(tx, d["id"], attempt=attempt, status_code=status_code,
                                  error=error, at_ms=now, duration_ms=duration, status=status,
                                  next_attempt_ms=nxt)
        return counts

    def step(self) -> dict[str, Any]:
        queued = self.enqueue()
        return {"queued": queued, **self.deliver_due()}
