"""``scripts/objectives.py``'s tally: how a change (or another HiGHS seed) moved a set of books,
ranked as auction.md §4a orders the objectives (the priority loss first)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "objectives", Path(__file__).parents[2] / "scripts" / "objectives.py")
objectives = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(objectives)


def _row(volume: int, loss: str, surplus: int = 0, fills: dict | None = None,
         status: str = "OPTIMAL", cpu: float = 1.0) -> dict:
    return {"status": status, "objectives": [volume, loss, surplus, "0"], "prices": {"1": "5"},
            "fills": fills or {"1": volume}, "uncleared": [], "check_ok": True, "cpu": [cpu]}


def test_the_tally_ranks_by_loss_then_volume_then_surplus():
    old = {"a": _row(10, "0"), "b": _row(10, "0"), "c": _row(10, "1/2"), "d": _row(10, "0"),
           "e": _row(10, "0", 3), "only-old": _row(1, "0")}
    new = {"a": _row(10, "0"),                       # identical
           "b": _row(10, "0", fills={"2": 10}),      # another allocation, every objective tied
           "c": _row(8, "1/4", cpu=0.5),             # less loss wins over less volume
           "d": _row(12, "1/100"),                   # any loss is worse, whatever the volume
           "e": _row(10, "0", 5, status="NOT_CLEARED"),  # more surplus; status changed
           "only-new": _row(1, "0")}
    line = objectives.tally(old, new)
    assert line.startswith("5 books: 1 identical, 1 tied, 1 better, 2 worse ")
    assert "BETTER at priority loss 1" in line and "WORSE at priority loss 1" in line
    assert "WORSE at surplus 1" in line
    assert "status or halts changed on 1;" in line
    assert line.endswith("CPU 5.0 -> 4.5 s")
