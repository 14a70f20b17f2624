"""``ccp sweep`` on a real Dask cluster: tidy table, Parquet, plots, exit codes."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pandas as pd
import pytest

from coordinator.plots import SIZE
from venue.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "bench" / "smoke"
GOLDEN = ROOT / "scenarios" / "golden"


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_sweep_two_parameters_on_a_local_cluster(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["sweep", str(SMOKE / "no_cross.yaml"), str(SMOKE / "small.yaml"),
                 "--grid", "recipe.orders=40,80", "--grid", "replication=true,false",
                 "--repeat", "2", "--check", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == 2 * 2 * 2 * 2  # scenarios × orders × replication × repeats
    assert set(table["orders"]) == {40, 80}
    assert table.groupby(["scenario", "recipe.orders", "replication"]).size().eq(2).all()
    assert table["error"].isna().all() and table["check_ok"].all()
    assert (table.loc[table["scenario"] == "no_cross", "volume"] == 0).all()
    assert (table["wall_seconds"] > 0).all()
    # the runs ran in worker processes, not in this one
    pids = {int(w.rsplit(":", 1)[1]) for w in table["worker"]}
    assert os.getpid() not in pids
    parquet = pd.read_parquet(out / "runs.parquet")
    assert len(parquet) == len(table) and list(parquet.columns) == list(table.columns)
    for name in ("time_vs_recipe_orders", "volume_vs_recipe_orders", "time_vs_replication",
                 "volume_vs_replication", "time_vs_size"):
        assert png_size(out / f"{name}.png") == SIZE
    assert "16 run(s) of 2 scenario(s)" in printed and "runs.parquet" in printed


@pytest.fixture
def in_process_cluster():
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           dashboard_address=None)
    try:
        yield cluster
    finally:
        cluster.close()


def test_sweep_on_an_existing_scheduler_with_json(tmp_path, capsys, in_process_cluster):
    out = tmp_path / "s"
    code = main(["sweep", str(GOLDEN / "pro_rata.yaml"), "--grid", "presolve=on,off",
                 "--scheduler", in_process_cluster.scheduler_address, "--json",
                 "--no-plots", "-o", str(out)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runs"] == 2 and report["errors"] == 0 and report["plots"] == []
    assert [r["presolve"] for r in report["summary"]] == ["on", "off"]
    assert all(r["volume"] == 20 for r in report["summary"])
    assert len(pd.read_parquet(report["parquet"])) == 2


def test_a_failed_run_is_a_row_and_exit_1(tmp_path, capsys, in_process_cluster, monkeypatch):
    import solver_models

    real = solver_models.solve

    def flaky(book, params=None):
        if params.time_limit == 2:
            raise RuntimeError("solver exploded")
        return real(book, params)

    monkeypatch.setattr(solver_models, "solve", flaky)
    out = tmp_path / "s"
    code = main(["sweep", str(GOLDEN / "pro_rata.yaml"), "--grid", "time_limit=1,2",
                 "--scheduler", in_process_cluster.scheduler_address, "--no-plots",
                 "-o", str(out)])
    assert code == 1
    assert "RuntimeError: solver exploded" in capsys.readouterr().out
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == 2 and table["error"].notna().sum() == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--grid", "speed=1,2"], "unknown solver parameter 'speed'"),
    (["--grid", "time_limit"], "expected KEY=VALUE"),
    (["--grid", "recipe.orders=10"], "recipe.* keys need a generated scenario"),
    (["--grid", "time_limit=-1"], "time_limit must be positive"),
    (["--repeat", "0"], "--repeat must be at least 1"),
])
def test_bad_grids_exit_2_before_any_work(tmp_path, capsys, argv, message):
    code = main(["sweep", str(GOLDEN / "pro_rata.yaml"), *argv, "-o", str(tmp_path / "s")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_unreachable_scheduler_exits_2(tmp_path, capsys):
    code = main(["sweep", str(GOLDEN / "pro_rata.yaml"), "--scheduler", "tcp://127.0.0.1:9",
                 "-o", str(tmp_path / "s")])
    assert code == 2
    assert "cannot connect" in capsys.readouterr().err
