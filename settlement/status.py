"""Settlement status of one cash movement (part) in one batch — a transition table.

    (new) ──▶ SETTLE_PENDING ──▶ SETTLE_CONFIRMED   (N confirmations)
       │           │  ▲   └────▶ SETTLE_REPLACED ──▶ CONFIRMED / FAILED / REPLACED (re-priced again)
       │           ▼  │ resubmitted, same backendId
       └──────▶ SETTLE_FAILED  (revert, dropped, re-org; or refused before sending)
    SETTLE_CONFIRMED ──▶ SETTLE_FAILED only when a re-org deeper than N drops the batch.
"""

from __future__ import annotations

from enum import StrEnum

from settlement.errors import IllegalSettlementTransition


class SettleStatus(StrEnum):
    PENDING = "SETTLE_PENDING"
    CONFIRMED = "SETTLE_CONFIRMED"
    FAILED = "SETTLE_FAILED"
    REPLACED = "SETTLE_REPLACED"


_S = SettleStatus
_INITIAL = frozenset({_S.PENDING, _S.FAILED})
_TRANSITIONS: dict[SettleStatus, frozenset[SettleStatus]] = {
    _S.PENDING: frozenset({_S.CONFIRMED, _S.FAILED, _S.REPLACED}),
    _S.REPLACED: frozenset({_S.CONFIRMED, _S.FAILED, _S.REPLACED}),
    _S.FAILED: frozenset({_S.PENDING}),
    _S.CONFIRMED: frozenset({_S.FAILED}),
}


def transition(current: SettleStatus | None, new: SettleStatus) -> SettleStatus:
    """Return ``new`` when the table allows ``current → new`` (``None`` = not yet tracked)."""
    allowed = _INITIAL if current is None else _TRANSITIONS[current]
    if new not in allowed:
        raise IllegalSettlementTransition(f"settlement status {current} cannot move to {new}")
    return new


def allowed_transitions(current: SettleStatus | None) -> frozenset[SettleStatus]:
    return _INITIAL if current is None else _TRANSITIONS[current]
