"""``ccp solve``: the README command for real, summaries, outputs, exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from auction.interchange import result_from_dict
from coordinator.scenarios import load_scenario
from venue.cli import main

ROOT = Path(__file__).resolve().parents[2]
CCP = Path(sys.executable).parent / "ccp"
DEMO = ROOT / "scenarios" / "demo.json"
GOLDEN = ROOT / "scenarios" / "golden"


def test_the_readme_command(tmp_path):
    # .venv/bin/ccp solve scenarios/demo.json --check  (run from a scratch copy of the layout)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "demo.json").write_text(DEMO.read_text())
    proc = subprocess.run([str(CCP), "solve", "scenarios/demo.json", "--check"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for needle in ("status     OPTIMAL", "volume", "surplus", "fills", "timings",
                   "most traded contracts", "check      ok"):
        assert needle in out, out
    written = tmp_path / "out" / "demo.result.json"
    data = json.loads(written.read_text())
    book = load_scenario(DEMO).book
    result = result_from_dict(book, data)
    assert result.fills and data["status"] == "OPTIMAL"
    assert f"result     out{Path('/')}demo.result.json" in out


def test_json_output_csv_and_overrides(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["solve", str(DEMO), "--json", "--out", str(out), "--csv", str(tmp_path / "csv"),
                 "--set", "time_limit=7", "--set", "highs.log_to_console=false", "--check"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    data = json.loads(out.read_text())
    assert summary["volume"] == int(data["volume"]) > 0
    assert summary["fills"] == len(data["fills"])
    assert summary["check"] == {"ok": True, "violations": []}
    assert data["params"]["time_limit"] == 7.0
    assert data["params"]["highs_options"] == {"log_to_console": False}
    assert summary["top"] and summary["top"][0]["price"] == data["prices"][
        str(summary["top"][0]["contractId"])]
    with (tmp_path / "csv" / "prices.csv").open() as f:
        prices = list(csv.DictReader(f))
    assert len(prices) == 7 and {p["price"] for p in prices} == set(data["prices"].values())
    with (tmp_path / "csv" / "fills.csv").open() as f:
        fills = list(csv.DictReader(f))
    assert len(fills) == sum(len(f["legs"]) for f in data["fills"])


def test_quiet_prints_nothing(tmp_path, capsys):
    assert main(["solve", str(DEMO), "--quiet", "--out", str(tmp_path / "r.json")]) == 0
    assert capsys.readouterr().out == ""
    assert (tmp_path / "r.json").exists()


def test_unknown_parameter_is_bad_input(tmp_path, capsys):
    code = main(["solve", str(DEMO), "--set", "speed=11", "--out", str(tmp_path / "r.json")])
    assert code == 2
    assert "unknown solver parameter 'speed'" in capsys.readouterr().err
    assert main(["solve", str(DEMO), "--set", "time_limit"]) == 2
    assert not (tmp_path / "r.json").exists()


def test_malformed_book_names_the_order_and_rule_without_traceback(tmp_path):
    book = json.loads(DEMO.read_text())
    book["orders"][4]["totalNetPrice"] = "410.005"  # order 5: off the tick lattice
    book["orders"][6]["legs"][0]["contractId"] = 99  # order 7: unknown contract
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(book))
    proc = subprocess.run([str(CCP), "solve", str(bad)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr
    assert "orders[6].legs[0]: unknown contract 99" in proc.stderr
    book["orders"][6]["legs"][0]["contractId"] = 3
    bad.write_text(json.dumps(book))
    proc = subprocess.run([str(CCP), "solve", str(bad), "--check"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    # rule 11: a limit off the tick lattice is read floored onto it, never refused
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_missing_file_is_bad_input(tmp_path, capsys):
    assert main(["solve", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_check_violations_exit_1_and_are_listed(tmp_path, capsys, monkeypatch):
    import solver_models
    from auction.result import no_trade

    real = solver_models.solve

    def lazy(book, params=None):  # a matcher that forgets to trade: the check must catch it
        outcome = real(book, params)
        return type(outcome)(outcome.status, no_trade(book, frozenset()), outcome.params)

    monkeypatch.setattr(solver_models, "solve", lazy)
    code = main(["solve", str(GOLDEN / "single_call_cross.yaml"), "--check",
                 "--out", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "check      FAILED" in out and "order 1" in out
    assert "expected   MISSED" in out and "volume: expected 20, got 0" in out


def test_missed_expectations_exit_1(tmp_path, capsys):
    text = (GOLDEN / "single_call_cross.yaml").read_text().replace("prices: {1: 100}",
                                                                   "prices: {1: 101}")
    scenario = tmp_path / "wrong.yaml"
    scenario.write_text(text)
    assert main(["solve", str(scenario), "--quiet", "--out", str(tmp_path / "r.json")]) == 1
    assert "price of contract 1: expected 101, got 100" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["pro_rata.yaml", "put_replication.yaml"])
def test_golden_scenarios_pass_through_the_command(tmp_path, capsys, name):
    assert main(["solve", str(GOLDEN / name), "--out", str(tmp_path / "r.json")]) == 0
    assert "expected   all met" in capsys.readouterr().out


def test_the_timings_line_never_claims_a_sum_that_does_not_hold(capsys):
    """Batches cleared side by side: their stages' build + solve exceed the wall time, and the
    summary says what they are instead of an equation that does not hold."""
    from venue.cli.solve import print_summary

    base = {"scenario": "s", "orders": 3, "contracts": 1, "description": "", "status": "OPTIMAL",
            "components": 2, "notes": [], "volume": 1, "surplus": 0, "fills": 2, "top": [],
            "result": "r.json"}
    print_summary({**base, "timings": {"welfare_lp": 0.3, "build": 0.1, "solve": 0.2,
                                       "other": 0.05, "total": 0.35}})
    one = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("timings")]
    assert one == ["timings    total 0.350 s = build 0.100 s + solve 0.200 s + other 0.050 s "
                   "(wall clock; other: Python between stages, waiting)"]
    print_summary({**base, "timings": {"welfare_lp": 0.9, "build": 0.3, "solve": 0.6,
                                       "other": 0.0, "total": 0.5}})
    two = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("timings")]
    assert len(two) == 1 and "=" not in two[0] and "side by side" in two[0], two
