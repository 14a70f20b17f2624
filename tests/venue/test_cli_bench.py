"""``ccp bench``: the suite runs, reports, writes a baseline, and catches regressions."""

from __future__ import annotations

import json
from pathlib import Path

from venue.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "scenarios" / "golden"


def _bench(tmp_path: Path, *extra: str) -> int:
    return main(["bench", "--suite", "smoke", "--repeat", "1", "--quiet", *extra])


def test_smoke_suite_report_and_baseline(tmp_path, capsys):
    report_path, base_path = tmp_path / "report.json", tmp_path / "baseline.json"
    code = main(["bench", "--suite", "smoke", "--repeat", "2", "--json", str(report_path),
                 "--write-baseline", str(base_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(report_path.read_text())
    books = {b["book"]: b for b in report["books"]}
    assert set(books) == {"small", "aon", "no_cross"}
    for b in books.values():
        assert b["repeat"] == 2 and len(b["wall_runs"]) == 2
        assert b["wall_median"] > 0 and b["build_median"] >= 0 and b["solve_median"] >= 0
        assert b["check_ok"] and b["deterministic"]
        assert "reference" not in b  # the smoke scenarios switch the reference model off
    assert books["no_cross"]["volume"] == 0 and books["aon"]["volume"] > 0
    assert books["small"]["orders"] == 150
    baseline = json.loads(base_path.read_text())
    assert baseline["books"] == report["books"]
    assert baseline["machine"]["cpus"] and baseline["date"] and "ccp bench" in baseline["how"]
    for name in books:
        assert name in out
    assert "wall med" in out and "bigm wall" in out


def test_regressions_against_a_baseline_exit_1(tmp_path, capsys):
    mine = tmp_path / "mine.json"
    assert _bench(tmp_path, "--json", str(mine)) == 0
    report = json.loads(mine.read_text())
    faster = {**report, "books": [dict(b) for b in report["books"]]}
    by_name = {b["book"]: b for b in faster["books"]}
    # The untouched book's baseline is made far slower so that timing noise of a loaded
    # machine cannot turn it into a regression; only the doctored books may be reported.
    by_name["no_cross"]["wall_median"] = by_name["no_cross"]["wall_median"] * 100
    by_name["aon"]["wall_median"] = by_name["aon"]["wall_median"] * 100
    by_name["small"]["wall_median"] = by_name["small"]["wall_median"] / 100  # "was" faster
    by_name["aon"]["volume"] = by_name["aon"]["volume"] + 50  # "had" more volume
    doctored = tmp_path / "doctored.json"
    doctored.write_text(json.dumps(faster))
    capsys.readouterr()
    code = _bench(tmp_path, "--baseline", str(doctored), "--min-slowdown", "0")
    err = capsys.readouterr().err
    assert code == 1
    assert "REGRESSION small: slower" in err and "tolerance 25 %" in err
    assert "REGRESSION aon: lost volume" in err and "(−50 lots" in err
    assert "no_cross" not in err


def test_no_regression_within_tolerance(tmp_path, capsys):
    mine = tmp_path / "mine.json"
    assert _bench(tmp_path, "--json", str(mine)) == 0
    code = main(["bench", "--suite", "smoke", "--repeat", "1", "--baseline", str(mine),
                 "--tolerance", "10", "--min-slowdown", "5"])
    assert code == 0
    assert "no regressions against" in capsys.readouterr().out


def test_reference_model_side_by_side(tmp_path, capsys):
    suite = tmp_path / "tiny"
    suite.mkdir()
    (suite / "cross.yaml").write_text(
        f"description: one crossing pair\nbook: {GOLDEN / 'books' / 'put_call_forward.yaml'}\n")
    out = tmp_path / "r.json"
    assert main(["bench", "--suite", str(suite), "--repeat", "1", "--json", str(out)]) == 0
    book = json.loads(out.read_text())["books"][0]
    assert book["volume"] == 3
    assert book["reference"]["error"] == "", book["reference"]
    assert book["reference"]["volume"] == 3 and book["reference"]["wall"] > 0
    assert main(["bench", "--suite", str(suite), "--repeat", "1", "--reference", "off",
                 "--json", str(out)]) == 0
    assert "reference" not in json.loads(out.read_text())["books"][0]


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["bench", "--suite", "nonesuch"]) == 2
    assert "no such suite" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("[1, 2]")
    assert main(["bench", "--suite", "smoke", "--baseline", str(tmp_path / "junk.json")]) == 2
    assert "not a bench report" in capsys.readouterr().err
    assert main(["bench", "--suite", "smoke", "--only", "huge"]) == 2
    assert "--only huge: not in the suite" in capsys.readouterr().err
