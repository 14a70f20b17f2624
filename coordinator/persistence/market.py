"""Public market history for the web page: the auction timeline and each contract's prices.

Reads only. Amounts stay integers (numeraire precision units, lots); the endpoint formats them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from coordinator.persistence import tables as t
from coordinator.persistence.store import Tx


def auction_timeline(tx: Tx, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` batches, newest first: what the timeline shows of each.

    ``halted`` lists the contracts the result left uncleared (circuit breaker or no
    equilibrium); ``contracts_traded`` counts contracts with a fill.
    """
    b = t.batches
    rows = tx.conn.execute(
        select(b.c.batch_id, b.c.status, b.c.solve_status, b.c.order_count, b.c.fill_count,
               b.c.volume, b.c.check_ok, b.c.violations, b.c.timings, b.c.started_ms,
               b.c.finished_ms, b.c.result)
        .order_by(b.c.batch_id.desc()).limit(limit)).all()
    if not rows:
        return []
    ids = [r.batch_id for r in rows]
    fl = t.fill_legs
    traded = dict(tx.conn.execute(
        select(fl.c.batch_id, func.count(func.distinct(fl.c.contract_id)))
        .where(fl.c.batch_id.in_(ids)).group_by(fl.c.batch_id)).all())
    out = []
    for r in rows:
        result = r.result or {}
        halted = sorted(int(c) for c in (result.get("uncleared") or []))
        out.append({
            "batch_id": r.batch_id, "status": r.status, "solve_status": r.solve_status,
            "order_count": r.order_count, "fill_count": r.fill_count, "volume": r.volume,
            "contracts_traded": int(traded.get(r.batch_id, 0)), "check_ok": r.check_ok,
            "violations": list(r.violations or [])[:20], "timings": dict(r.timings or {}),
            "started_ms": r.started_ms, "finished_ms": r.finished_ms, "halted": halted,
        })
    return out


def price_history(tx: Tx, contract_id: int, limit: int = 200) -> list[tuple[int, int, int]]:
    """``(batch_id, price, lots traded)`` of one contract's last ``limit`` auctions, oldest
    first. The price is the auction's uniform price (numeraire units per unit); lots are the
    bought side's total."""
    fl = t.fill_legs
    rows = tx.conn.execute(
        select(fl.c.batch_id, func.max(fl.c.price),
               func.sum(func.abs(fl.c.lots)))
        .where(fl.c.contract_id == contract_id)
        .group_by(fl.c.batch_id).order_by(fl.c.batch_id.desc()).limit(limit)).all()
    return [(int(b), int(p), int(v) // 2) for b, p, v in reversed(rows)]
