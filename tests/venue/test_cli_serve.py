"""``ccp run`` / ``ccp serve``: bad input is one line on stderr and exit 2, nothing started."""

from __future__ import annotations

import json

import pytest

from venue.cli import main


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    return url


@pytest.mark.parametrize("argv, message", [
    (["serve", "settlement"], "chain_rpc_url is not set"),
    (["serve", "settlement", "--rpc", "http://127.0.0.1:1", "--deployment", "/nonexistent"],
     "chain_deployment /nonexistent"),
    (["serve", "api", "--port", "0"], "--port 0: not a TCP port"),
    (["serve", "settlement", "--rpc", "ftp://x"], "chain_rpc_url must be an http(s):// URL"),
])
def test_serve_refuses_bad_settings(db, capsys, argv, message):
    assert main([*argv, "--db", db]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_serve_settlement_without_a_node(db, tmp_path, capsys):
    dep = tmp_path / "dep.json"
    dep.write_text(json.dumps({"chainId": 31337, "startBlock": 1, "fundLock": "0x" + "00" * 19 + "01",
                               "admin": "0x" + "00" * 19 + "01", "operator": "0x" + "00" * 19 + "01",
                               "tokens": {}, "ledgers": {}}))
    assert main(["serve", "settlement", "--db", db, "--rpc", "http://127.0.0.1:1",
                 "--deployment", str(dep)]) == 2
    assert "node unavailable" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["run", "--cadence", "-1"], "--cadence -1.0: must be positive"),
    (["run", "--port", "70000"], "--port 70000: not a TCP port"),
])
def test_run_refuses_bad_options(tmp_path, capsys, argv, message):
    assert main([*argv, "--data", str(tmp_path / "d")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_run_refuses_a_file_as_data_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["run", "--data", str(f)]) == 2
    assert "not a folder" in capsys.readouterr().err
