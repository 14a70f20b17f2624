"""The settlement status table: every legal move, every illegal one raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.errors import IllegalSettlementTransition
from settlement.status import SettleStatus, allowed_transitions, transition

S = SettleStatus
LEGAL = {
    (None, S.PENDING), (None, S.FAILED),
    (S.PENDING, S.CONFIRMED), (S.PENDING, S.FAILED), (S.PENDING, S.REPLACED),
    (S.REPLACED, S.CONFIRMED), (S.REPLACED, S.FAILED), (S.REPLACED, S.REPLACED),
    (S.FAILED, S.PENDING), (S.CONFIRMED, S.FAILED),
}


def test_values_are_the_api_names():
    assert [s.value for s in S] == ["SETTLE_PENDING", "SETTLE_CONFIRMED", "SETTLE_FAILED",
                                    "SETTLE_REPLACED"]


@pytest.mark.parametrize("current", [None, *S])
@pytest.mark.parametrize("new", list(S))
def test_table(current, new):
    if (current, new) in LEGAL:
        assert transition(current, new) is new
        assert new in allowed_transitions(current)
    else:
        with pytest.raises(IllegalSettlementTransition):
            transition(current, new)


@given(st.lists(st.sampled_from(list(S)), max_size=30))
def test_random_walks_follow_the_table(steps):
    current = None
    for new in steps:
        if (current, new) in LEGAL:
            current = transition(current, new)
        else:
            with pytest.raises(IllegalSettlementTransition):
                transition(current, new)
