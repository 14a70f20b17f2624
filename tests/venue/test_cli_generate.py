"""``ccp generate``: writes a loadable, deterministic book; bad flags exit 2."""

from __future__ import annotations

import json

from coordinator.scenarios import load_scenario
from venue.cli import main


def test_generate_writes_a_book_that_solves(tmp_path, capsys):
    out = tmp_path / "book.json"
    code = main(["generate", "--orders", "300", "--seed", "4", "--expiries", "2",
                 "--strikes", "5", "-o", str(out)])
    assert code == 0
    assert "wrote 300 orders" in capsys.readouterr().out
    book = load_scenario(out).book
    assert len(book.orders) == 300
    assert len({c.expiry for c in book.contracts.values()}) == 2
    assert main(["solve", str(out), "--json", "--check", "--out", str(tmp_path / "r.json")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["orders"] == 300 and summary["check"]["ok"]


def test_same_seed_same_file_other_seed_other_file(tmp_path):
    paths = [tmp_path / f"{i}.json" for i in range(3)]
    for path, seed in zip(paths, (1, 1, 2), strict=True):
        assert main(["generate", "--orders", "200", "--seed", str(seed), "--quiet",
                     "-o", str(path)]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()


def test_flags_and_set_reach_the_recipe(tmp_path, capsys):
    out = tmp_path / "calls.yaml"
    assert main(["generate", "--orders", "100", "--no-cross", "--combo-share", "0",
                 "--set", "include_puts=false", "--set", "include_binaries=no",
                 "--set", "include_forwards=off", "--quiet", "-o", str(out)]) == 0
    book = load_scenario(out).book
    assert {str(c.payoff) for c in book.contracts.values()} == {"Call"}
    assert all(len(o.legs) == 1 for o in book.orders)
    assert main(["solve", str(out), "--json", "--out", str(tmp_path / "r.json")]) == 0
    assert json.loads(capsys.readouterr().out)["volume"] == 0  # no cross: nothing trades


def test_recipe_output_is_a_scenario_of_the_same_book(tmp_path):
    book_path, recipe_path = tmp_path / "b.json", tmp_path / "r.yaml"
    args = ["generate", "--orders", "120", "--seed", "9", "--aon-share", "0.3", "--quiet"]
    assert main([*args, "-o", str(book_path)]) == 0
    assert main([*args, "--recipe", "-o", str(recipe_path)]) == 0
    scenario = load_scenario(recipe_path)
    assert scenario.recipe is not None and scenario.recipe.aon_share == 0.3
    assert scenario.book.orders == load_scenario(book_path).book.orders


def test_bad_flags_are_bad_input(tmp_path, capsys):
    out = str(tmp_path / "b.json")
    assert main(["generate", "--orders", "0", "-o", out]) == 2
    assert "orders must be between" in capsys.readouterr().err
    assert main(["generate", "--set", "colour=red", "-o", out]) == 2
    assert "not a recipe field" in capsys.readouterr().err
    assert main(["generate", "--set", "cross=perhaps", "-o", out]) == 2
    assert main(["generate", "-o", str(tmp_path / "b.txt")]) == 2
    assert "must end in .json" in capsys.readouterr().err
