"""``ccp plot``: valid PNGs of the expected size; bad input exits 2."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from coordinator.plots import SIZE
from venue.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scenarios" / "demo.json"
GOLDEN = ROOT / "scenarios" / "golden"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    return struct.unpack(">II", head[16:24])


def test_plot_the_demo_result(tmp_path, capsys):
    result = tmp_path / "demo.result.json"
    assert main(["solve", str(DEMO), "--quiet", "--out", str(result)]) == 0
    assert main(["plot", str(DEMO), str(result), "-o", str(tmp_path / "plots"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cid = report["contract"]
    files = [Path(f) for f in report["files"]]
    assert [f.name for f in files] == [f"supply_demand_{cid}.png", f"fills_by_price_{cid}.png"]
    for f in files:
        assert png_size(f) == SIZE
        assert f.stat().st_size > 10_000  # drawn, not blank
    # the default contract is the most traded one (the binary call: 300 units each way)
    assert cid == 7


def test_plot_a_chosen_contract_with_no_trade(tmp_path, capsys):
    scenario = GOLDEN / "no_cross.yaml"
    result = tmp_path / "r.json"
    assert main(["solve", str(scenario), "--quiet", "--out", str(result)]) == 0
    assert main(["plot", str(scenario), str(result), "--contract", "1",
                 "-o", str(tmp_path)]) == 0
    assert "supply_demand_1.png" in capsys.readouterr().out
    assert png_size(tmp_path / "fills_by_price_1.png") == SIZE


def test_bad_input_exits_2(tmp_path, capsys):
    result = tmp_path / "r.json"
    assert main(["solve", str(DEMO), "--quiet", "--out", str(result)]) == 0
    assert main(["plot", str(DEMO), str(result), "--contract", "99", "-o", str(tmp_path)]) == 2
    assert "--contract 99: no such contract" in capsys.readouterr().err
    other = GOLDEN / "single_call_cross.yaml"  # a result that does not belong to this book
    assert main(["plot", str(other), str(result), "-o", str(tmp_path)]) == 2
    assert "the result does not belong to the book" in capsys.readouterr().err
    assert main(["plot", str(DEMO), str(tmp_path / "missing.json")]) == 2
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["plot", str(DEMO), str(tmp_path / "junk.json")]) == 2
    assert "invalid JSON" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))
