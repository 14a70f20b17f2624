"""``ccp solve`` never loses part of a book silently: a time limit that leaves orders uncleared
exits 1 and says so on stderr (status, contracts, share of orders), even with --quiet."""

from __future__ import annotations

import json
from pathlib import Path

from venue.cli import main

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "scenarios" / "bench" / "standard" / "orders_2k.yaml"
DEMO = ROOT / "scenarios" / "demo.json"


def test_a_time_limit_that_leaves_orders_uncleared_fails_loudly(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["solve", str(BOOK), "--set", "time_limit=0.000001", "--json", "--out",
                 str(out)])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 1
    assert summary["status"] == "TIME_LIMIT" and summary["unclearedOrders"] > 0
    line = captured.err.strip().splitlines()[-1]
    assert line.startswith("INCOMPLETE: status TIME_LIMIT")
    share = summary["unclearedOrders"] / summary["orders"]
    assert f"{summary['unclearedOrders']:,} of {summary['orders']:,} orders ({share:.1%})" in line
    assert json.loads(out.read_text())["status"] == "TIME_LIMIT"  # the result is still written
    assert main(["solve", str(BOOK), "--set", "time_limit=0.000001", "--quiet", "--out",
                 str(out)]) == 1
    assert "INCOMPLETE" in capsys.readouterr().err


def test_a_complete_solve_says_nothing_and_exits_0(tmp_path, capsys):
    assert main(["solve", str(DEMO), "--quiet", "--out", str(tmp_path / "r.json")]) == 0
    assert capsys.readouterr().err == ""
