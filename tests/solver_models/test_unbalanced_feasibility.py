"""``pipeline._unbalanced`` needs only whether each part of a batch balances (which parts drop
their indivisible orders at the money), never the part's optimum: its allocation MIPs are
feasibility solves (HiGHS stops at the first allocation; aon_heavy: a 280-column part that
balances, 0.06 → 0.05 s)."""

from __future__ import annotations

from auction.book import Book
from solver_models import SolverParams, pipeline, solve
from tests.solver_models.test_pipeline_properties import CONTRACTS, _shifted
from tests.solver_models.tiny_books import book, order
from validator.equilibrium import check


def _batch() -> Book:
    """Two independent parts; the second's all-or-none seller at the money cannot balance
    (test_pipeline_properties' all-or-none counterexample): the batch asks each part."""
    first = book([c for c in CONTRACTS if c.contract_id in (1, 3, 4)],
                 [order(1, [(1, "B", 1)], "0"), order(2, [(1, "B", 1)], "0"),
                  order(3, [(3, "S", 1)], "-6", aon=True), order(4, [(4, "S", 1)], "-94")])
    second = _shifted(book([c for c in CONTRACTS if c.contract_id in (1, 3, 4)],
                           [order(1, [(1, "S", 3)], "0", aon=True), order(2, [(1, "B", 1)], "0"),
                            order(3, [(1, "B", 1)], "1"), order(4, [(3, "B", 1)], "0")]), 10)
    return Book({**first.contracts, **second.contracts}, first.orders + second.orders)


def test_unbalanced_asks_each_part_only_whether_it_balances(monkeypatch):
    asked = []
    real_mip, real_unbalanced = pipeline.allocation_mip, pipeline._unbalanced
    inside = []

    def mip(*args, **kwargs):
        if inside:
            asked.append(kwargs.get("feasibility", False))
        return real_mip(*args, **kwargs)

    def unbalanced(*args, **kwargs):
        inside.append(True)
        try:
            return real_unbalanced(*args, **kwargs)
        finally:
            inside.pop()

    monkeypatch.setattr(pipeline, "allocation_mip", mip)
    monkeypatch.setattr(pipeline, "_unbalanced", unbalanced)
    b = _batch()
    out = solve(b, SolverParams())
    assert asked and all(asked)  # every part's MIP a feasibility solve
    assert check(b, out.result).ok
