"""``ccp expiry`` and ``ccp keepers`` as thin adapters: output, exit codes, bad input."""

from __future__ import annotations

import json

import pytest

from coordinator.clock import ManualClock
from coordinator.persistence import Store
from coordinator.persistence.migrate import upgrade
from tests.background.conftest import FIX, trade
from venue.cli import main

AFTER = str(FIX + 11 * 60_000)


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'ccp.sqlite3'}"
    store = Store.open(url)
    upgrade(store.engine)
    trade(store, ManualClock(0))
    store.dispose()
    replay = tmp_path / "replay.json"
    replay.write_text(json.dumps({"WETH/USDC": [[FIX, "3500"]]}))
    monkeypatch.setenv("CCP_PRICE_REPLAY_FILE", str(replay))
    return url


def test_status_run_and_run_again(db, capsys):
    assert main(["expiry", "status", "--db", db, "--now", AFTER]) == 0
    out = capsys.readouterr().out
    assert "WETH/USDC" in out and "DUE" in out
    assert main(["expiry", "run", "--date", "20250131", "--db", db, "--now", AFTER,
                 "--actor", "alice"]) == 0
    assert "SETTLED at 3500.0000 (4 movements)" in capsys.readouterr().out
    assert main(["expiry", "run", "--date", "20250131", "--db", db, "--now", AFTER]) == 0
    assert "ALREADY_SETTLED" in capsys.readouterr().out
    assert main(["expiry", "status", "--json", "--db", db, "--now", AFTER]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["state"], row["settledBy"], row["method"]) == ("SETTLED", "alice", "FIXING")


def test_no_fixing_exit_1_then_set_price(db, capsys, tmp_path, monkeypatch):
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    monkeypatch.setenv("CCP_PRICE_REPLAY_FILE", str(empty))
    assert main(["expiry", "run", "--date", "20250131", "--db", db, "--now", AFTER]) == 1
    assert "NO FIXING" in capsys.readouterr().out
    assert main(["expiry", "set-price", "--date", "20250131", "--pair", "WETH/USDC",
                 "--price", "3400", "--actor", "bob", "--reason", "feeds down", "--db", db,
                 "--now", AFTER]) == 0
    assert "price 3400 set by bob (feeds down); SETTLED" in capsys.readouterr().out


@pytest.mark.parametrize("argv, msg", [
    (["expiry", "run", "--date", "2025-01-31"], "--date"),
    (["expiry", "run", "--date", "20250130"], "no contract"),
    (["expiry", "run", "--date", "20250131", "--pair", "X/Y"], "unknown pair"),
    (["expiry", "set-price", "--date", "20250131", "--pair", "WETH/USDC", "--price", "x",
      "--actor", "a", "--reason", "r"], "not a number"),
    (["keepers", "add", "not-a-url"], "not an http"),
    (["keepers", "add", "http://127.0.0.1:9/h", "--event", "NOPE"], "unknown event"),
])
def test_bad_input_is_one_line_exit_2(db, capsys, argv, msg):
    assert main([*argv, "--db", db, *(["--now", AFTER] if argv[0] == "expiry" else [])]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_keepers_add_list_remove(db, capsys):
    assert main(["keepers", "add", "http://127.0.0.1:9/hook", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "keeper 1:" in out and "secret (shown once):" in out
    assert main(["keepers", "list", "--json", "--db", db]) == 0
    (k,) = json.loads(capsys.readouterr().out)
    assert k["events"] == ["ALERT", "EXPIRY_SETTLED"] and "secret" not in k
    assert main(["keepers", "remove", "1", "--db", db]) == 0
    assert main(["keepers", "remove", "1", "--db", db]) == 1
    assert main(["keepers", "list", "--db", db]) == 0
    assert "no keepers" in capsys.readouterr().out
