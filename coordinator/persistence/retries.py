"""Operators' retries of reverted settlement batches (``ccp chain retry``), over a ``Tx``.

A batch the Ledger reverted (``SETTLE_FAILED``, reason ``reverted: …``: a client short of funds,
a paused contract) is never resubmitted automatically — its cause must be fixed first. Once it
is, the operator asks for a retry: :func:`request_retry` records the request (asking again while
one is pending is the same request). The settlement process — the only signer — carries each
pending request out once (``coordinator.settling.SettlementRunner``): it resubmits the batch with
the SAME backendId only if the batch is still reverted at that moment (the Ledger refuses a
backendId twice, so the batch can never apply twice) and records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, insert, select, update

from coordinator.persistence import tables as t
from coordinator.persistence.store import Tx
from settlement.status import SettleStatus


class RetryRefused(ValueError):
    """The batch cannot be retried (unknown, not failed, or failed for a reason that settlement
    retries by itself)."""


@dataclass(frozen=True)
class RetryRequest:
    id: int
    backend_id: int
    resubmissions: int  # the batch's resubmission count when it was asked for
    requested_ms: int
    actor: str
    reason: str | None
    done_ms: int | None = None
    outcome: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "backendId": self.backend_id, "resubmissions": self.resubmissions,
                "requestedMs": self.requested_ms, "actor": self.actor, "reason": self.reason,
                "doneMs": self.done_ms, "outcome": self.outcome}


def _request(r) -> RetryRequest:
    return RetryRequest(r.id, r.backend_id, r.resubmissions, r.requested_ms, r.actor, r.reason,
                        r.done_ms, r.outcome)


def reverted_batches(tx: Tx) -> list[dict]:
    """Batches the Ledger reverted and nobody retried since: what an operator may retry."""
    rows = tx.conn.execute(select(t.settlement_batches).where(and_(
        t.settlement_batches.c.status == str(SettleStatus.FAILED),
        t.settlement_batches.c.reason.like("reverted%"))).order_by(
        t.settlement_batches.c.backend_id)).all()
    return [{"backendId": r.backend_id, "pair": r.pair, "reason": r.reason,
             "resubmissions": r.resubmissions} for r in rows]


def request_retry(tx: Tx, backend_id: int, actor: str, reason: str | None,
                  now_ms: int) -> tuple[RetryRequest, bool]:
    """Record the request (one pending per batch); returns it and whether it is new."""
    b = tx.conn.execute(select(t.settlement_batches).where(
        t.settlement_batches.c.backend_id == backend_id)).first()
    if b is None:
        raise RetryRefused(f"no settlement batch {backend_id}")
    if b.status != str(SettleStatus.FAILED):
        raise RetryRefused(f"batch {backend_id} is {b.status or 'not yet sent'}, not "
                           f"{SettleStatus.FAILED}: nothing to retry")
    if not (b.reason or "").startswith("reverted"):
        raise RetryRefused(f"batch {backend_id} failed ({b.reason}); settlement resubmits it by "
                           "itself")
    have = tx.conn.execute(select(t.settlement_retries).where(and_(
        t.settlement_retries.c.backend_id == backend_id,
        t.settlement_retries.c.done_ms.is_(None)))).first()
    if have is not None:
        return _request(have), False
    rid = tx.conn.execute(insert(t.settlement_retries).values(
        backend_id=backend_id, resubmissions=b.resubmissions, requested_ms=now_ms,
        actor=actor[:200], reason=reason[:2000] if reason else None)).inserted_primary_key[0]
    return _request(tx.conn.execute(select(t.settlement_retries).where(
        t.settlement_retries.c.id == rid)).first()), True


def pending_retries(tx: Tx) -> list[RetryRequest]:
    return [_request(r) for r in tx.conn.execute(select(t.settlement_retries).where(
        t.settlement_retries.c.done_ms.is_(None)).order_by(
        t.settlement_retries.c.id))]


def finish_retry(tx: Tx, req: RetryRequest, outcome: str, now_ms: int) -> None:
    tx.conn.execute(update(t.settlement_retries).where(and_(
        t.settlement_retries.c.id == req.id, t.settlement_retries.c.done_ms.is_(None)))
        .values(done_ms=now_ms, outcome=outcome[:2000]))


def retries(tx: Tx, backend_id: int | None = None) -> list[RetryRequest]:
    q = select(t.settlement_retries)
    if backend_id is not None:
        q = q.where(t.settlement_retries.c.backend_id == backend_id)
    return [_request(r) for r in tx.conn.execute(q.order_by(t.settlement_retries.c.id))]
