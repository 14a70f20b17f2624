"""Issue 16: every bad input a clear error — one test (or more) per item, each failing before.

In-process through ``venue.cli.main`` (fast); a subprocess where only a real process shows the
problem (a closed pipe, the console script, a terminal).
"""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from venue.cli import SHOWN_PROBLEMS, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
CCP = Path(sys.executable).parent / "ccp"
DEMO = ROOT / "scenarios" / "demo.json"
DEMO_DATA = json.loads(DEMO.read_text())
NOW = "2025-01-20T00:00:00Z"  # the demo's contracts trade until 2025-01-30 12:00


def demo(changes: dict) -> dict:
    """A copy of the demo book; ``changes`` maps (orderId, field) to a new value."""
    data = copy.deepcopy(DEMO_DATA)
    for (oid, key), value in changes.items():
        order = next(o for o in data["orders"] if o["orderId"] == oid)
        order[key] = value
    return data


def write(tmp_path: Path, name: str, data) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return p


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err


def db(tmp_path: Path) -> list[str]:
    return ["--db", f"sqlite:///{tmp_path / 'ccp.sqlite3'}"]


@pytest.fixture
def store_args(tmp_path, capsys) -> list[str]:
    args = db(tmp_path)
    assert main(["db", "upgrade", *args]) == 0
    capsys.readouterr()
    return args


# ---------------------------------------------------------------- 1. [solver] checked on load

SETTINGS_COMMANDS = [
    ["db", "upgrade"], ["db", "check"], ["auction", "run-once"], ["auction", "loop", "--max", "1"],
    ["batch", "list"], ["batch", "show", "last"], ["batch", "replay", "last"],
    ["orders", "import", str(DEMO)],
]


@pytest.mark.parametrize("argv", SETTINGS_COMMANDS, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("solver, needle", [
    ('bogus = 1', "unknown solver parameter(s): bogus"),
    ('time_limit = "abc"', "time_limit: bad value 'abc'"),
    ('threads = 0', "threads must be in [1,"),
    ('highs_options = {presolve = "maybe"}', "highs.presolve: HiGHS refuses"),
    ('highs_options = {no_such_option = 1}', "HiGHS has no option 'no_such_option'"),
])
def test_solver_settings_are_checked_when_loaded_by_every_command(tmp_path, capsys, argv,
                                                                   solver, needle):
    cfg = tmp_path / "ccp.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path / "x.sqlite3"}"\n[solver]\n{solver}\n')
    code, _, err = run(capsys, *argv, "--config", cfg)
    one_line_error(code, err, str(cfg), "solver:", needle)
    assert not (tmp_path / "x.sqlite3").exists()  # nothing was touched


def test_settings_from_the_environment_are_checked_too(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CCP_SOLVER", '{"mip_gap": 7}')
    code, _, err = run(capsys, "db", "check", *db(tmp_path))
    one_line_error(code, err, "environment: solver: mip_gap must be in [0, 1)")


@pytest.mark.parametrize("text", ["cadence_seconds = 1e400", "end_of_trading_hours = nan",
                                  "apply_retries = 1e400", "lease_seconds = inf"])
def test_settings_out_of_range_numbers_are_bad_input(tmp_path, capsys, text):
    cfg = tmp_path / "ccp.toml"
    cfg.write_text(text + "\n")
    code, _, err = run(capsys, "db", "check", "--config", cfg, *db(tmp_path))
    one_line_error(code, err, str(cfg), text.split()[0])


# ---------------------------------------------------------------- 2. HiGHS options

def test_highs_option_given_as_text_is_applied_with_its_type(tmp_path, capsys):
    out = tmp_path / "r.json"
    code, _, err = run(capsys, "solve", DEMO, "--quiet", "--out", out,
                       "--set", "highs.presolve=off", "--set", "highs.mip_rel_gap=0.001",
                       "--set", "highs.mip_max_nodes=1000")
    assert code == 0, err
    applied = json.loads(out.read_text())["params"]["highs_options"]
    assert applied == {"presolve": "off", "mip_rel_gap": 0.001, "mip_max_nodes": 1000}


@pytest.mark.parametrize("setting, needle", [
    ("highs.nonexistent_option=1", "HiGHS has no option 'nonexistent_option'"),
    ("highs.mip_rel_gap=abc", "highs.mip_rel_gap: bad value 'abc' (expected a finite number)"),
    ("highs.mip_rel_gap=-1", "highs.mip_rel_gap: HiGHS refuses the value '-1'"),
    ("highs.presolve=maybe", "highs.presolve: HiGHS refuses the value 'maybe'"),
    ("highs.threads=1.5", "highs.threads: bad value '1.5' (expected an integer)"),
    ("highs.output_flag=perhaps", "highs.output_flag: bad value 'perhaps' (expected true or"),
    ("random_seed=99999999999", "random_seed must be in [0, 2147483647]"),
    ("time_limit=inf", "time_limit must be positive and finite"),
])
def test_a_highs_option_hiGHS_refuses_is_bad_input(tmp_path, capsys, setting, needle):
    code, _, err = run(capsys, "solve", DEMO, "--quiet", "--out", tmp_path / "r.json",
                       "--set", setting)
    one_line_error(code, err, needle)
    assert not (tmp_path / "r.json").exists()


def test_sweep_grid_checks_highs_options_before_any_work(tmp_path, capsys):
    code, _, err = run(capsys, "sweep", DEMO, "--grid", "highs.bogus=1", "-o", tmp_path / "s")
    one_line_error(code, err, "HiGHS has no option 'bogus'")
    assert not (tmp_path / "s").exists()


def test_highs_backend_reports_a_refused_option_instead_of_ignoring_it():
    import numpy as np
    import scipy.sparse as sp

    from solver_models import highs
    from solver_models.params import SolverParams

    model = highs.ArrayModel(np.array([1.0]), sp.csc_matrix(np.ones((1, 1))), np.array([0.0]),
                             np.array([1.0]), np.array([0.0]), np.array([1.0]))
    sol = highs.solve(model, SolverParams(), 5, options={"presolve": False})
    assert sol.status.startswith("error: HiGHS refused option presolve")
    assert highs.solve(model, SolverParams(), 5).optimal


# ---------------------------------------------------------------- 3. tracebacks → messages

def test_out_of_range_limits_are_bad_input_for_solve(tmp_path, capsys):
    for name, book in (("buy", demo({(1, "totalNetPrice"): "-1e20"})),
                       ("sell", demo({(2, "totalNetPrice"): "-1e400"})),
                       ("tiny", demo({(1, "totalNetPrice"): "1e-999999999"}))):
        code, _, err = run(capsys, "solve", write(tmp_path, f"{name}.json", book), "--quiet",
                           "--out", tmp_path / "r.json")
        one_line_error(code, err, "totalNetPrice", "range of amounts" if name != "tiny"
                       else "more than 30 decimal places")


def test_ids_beyond_64_bits_are_bad_input(tmp_path, capsys, store_args):
    book = demo({(1, "orderId"): 10**30, (2, "clientId"): -(10**25)})
    code, _, err = run(capsys, "orders", "import", write(tmp_path, "ids.json", book),
                       *store_args, "--now", NOW)
    one_line_error(code, err, "orders[0]: orderId: 1000000000000000000000000000000 is beyond "
                   "the range of ids", "orders[1]: clientId")


def test_a_tick_too_fine_for_the_matchers_integers_is_bad_input(tmp_path, capsys):
    book = copy.deepcopy(DEMO_DATA)
    book["contracts"][0]["tickSize"] = "0.000000000000000000000000000001"
    code, _, err = run(capsys, "solve", write(tmp_path, "b.json", book), "--quiet")
    one_line_error(code, err, "beyond the range of amounts on the book's money scale")


def test_orders_import_of_a_price_beyond_the_range_is_bad_input(tmp_path, capsys, store_args):
    f = write(tmp_path, "big.json", demo({(1, "totalNetPrice"): "1e15"}))
    code, _, err = run(capsys, "orders", "import", f, *store_args, "--now", NOW)
    one_line_error(code, err, "orders[0]: totalNetPrice: '1e15' is beyond the range of amounts")


def test_an_order_the_store_cannot_hold_is_rejected_not_stored(tmp_path, capsys, store_args):
    # in the range of a file, but its lock in WETH units (10^-7) is beyond a 64-bit integer
    book = demo({(2, "legs"): [{"contractId": 2, "side": "SELL",
                                  "quantity": "999999999999.9"}],
                   (2, "totalNetPrice"): "-999999999999.9"})
    f = write(tmp_path, "big.json", book)
    code, out, err = run(capsys, "orders", "import", f, *store_args, "--now", NOW, "--json",
                         "--credit", "USDC=1000000", "--credit", "WETH=1000")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["admitted"] == 27
    [rej] = summary["rejections"]
    assert rej["orderId"] == 2 and rej["code"] == "INVALID_ORDER_QTY"
    assert "beyond the range of amounts" in rej["message"]
    code, out, err = run(capsys, "auction", "run-once", *store_args, "--now",
                         "2025-01-20T00:01:00Z")
    assert code == 0 and "APPLIED" in out, err  # the store is fine


@pytest.mark.parametrize("argv", [
    ["solve", "{f}"], ["orders", "import", "{f}"], ["collateral", "{f}"], ["plot", "{f}", "{f}"],
    ["plot", str(DEMO), "{f}"], ["sweep", "{f}"], ["bench", "--suite", "smoke", "--baseline", "{f}"],
    ["db", "check", "--config", "{f}"], ["chain", "faucet", "0x" + "11" * 20, "1", "USDC",
                                         "--rpc", "http://127.0.0.1:9", "--deployment", "{f}"],
], ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_a_file_that_is_not_utf8_is_bad_input_in_every_reader(tmp_path, capsys, argv, suffix,
                                                              store_args):
    f = write(tmp_path, "latin1" + suffix, b'{"contracts": ["caf\xe9"], "orders": []}')
    argv = [a.replace("{f}", str(f)) for a in argv]
    if argv[0] in ("orders",):
        argv += store_args
    code, _, err = run(capsys, *argv)
    one_line_error(code, err, str(f))
    if suffix != ".toml" or argv[0] == "db":
        assert "UTF-8" in err or "unknown file type" in err, err


@pytest.mark.parametrize("argv, needle", [
    (["batch", "show", "99999999999999999999999"], "is not 'last' or an integer in"),
    (["batch", "replay", "-5"], "is not 'last' or an integer in"),
    (["batch", "list", "--limit", "-3"], "--limit must be at least 1"),
    (["auction", "loop", "--max", "0"], "--max must be at least 1"),
    (["orders", "import", str(DEMO), "--now", "99999999999999999999"], "--now"),
    (["orders", "import", str(DEMO), "--credit", "USDC=1e400"], "beyond the range of amounts"),
])
def test_command_line_numbers_out_of_range_are_bad_input(capsys, store_args, argv, needle):
    code, _, err = run(capsys, *argv, *store_args)
    one_line_error(code, err, needle)


def test_chain_deploy_with_a_short_token_address_is_bad_input(capsys):
    code, _, err = run(capsys, "chain", "deploy", "--token", "WETH=0x1234")
    one_line_error(code, err, "'0x1234' is not an Ethereum address")


@pytest.mark.parametrize("amount, needle", [("1e400", "beyond the range of amounts"),
                                            ("-1", "must be positive"),
                                            ("abc", "not a decimal number")])
def test_chain_faucet_amount_out_of_range_is_bad_input(capsys, amount, needle):
    code, _, err = run(capsys, "chain", "faucet", "0x" + "11" * 20, amount, "USDC", "--rpc",
                       "http://127.0.0.1:9")
    one_line_error(code, err, needle)


@pytest.mark.parametrize("quantity", ["-1e400", "1e13", "0.0000000000000000000000000000001"])
def test_collateral_quantity_out_of_range_is_bad_input(tmp_path, capsys, quantity):
    data = {"contracts": [{"contractId": 1, "payoff": "Call", "currencyPair": "WBTC/USDC",
                           "expiry": "20300304", "strike": "8000", "tickSize": "1",
                           "lotSize": "1", "referencePrice": "100", "lowRange": "0",
                           "highRange": "10000"}],
            "positions": [{"clientId": 7, "contractId": 1, "quantity": quantity}]}
    code, out, err = run(capsys, "collateral", write(tmp_path, "p.json", data))
    one_line_error(code, err, "positions[0].quantity")
    assert out == ""


@pytest.mark.parametrize("argv", [["solve", str(DEMO), "--json", "--out", "{tmp}/r.json"],
                                  ["batch", "show", "last", "--json"]],
                         ids=["solve", "batch show"])
def test_a_closed_pipe_is_one_line_not_a_traceback(tmp_path, argv, capsys):
    args = db(tmp_path)
    for step in (["db", "upgrade"], ["orders", "import", str(DEMO), "--now", NOW, "--credit",
                                     "USDC=1000000", "--credit", "WETH=1000"],
                 ["auction", "run-once", "--now", "2025-01-20T00:01:00Z"]):
        assert main([*step, *args]) == 0
    capsys.readouterr()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "batch":
        argv += args
    # the reader goes away before the command writes (``ccp … --json | head`` on a big output)
    proc = subprocess.Popen([str(CCP), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 2, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.strip().splitlines() == [
        f"ccp {argv[0]}: output closed before it was all written (broken pipe)"]


# ---------------------------------------------------------------- 4. rejected ids stay free

def test_a_first_import_at_the_wrong_time_does_not_spoil_the_store(tmp_path, capsys,
                                                                   store_args):
    code, out, _ = run(capsys, "orders", "import", DEMO, *store_args, "--now",
                       "2025-03-01T00:00:00Z")
    assert code == 0
    assert "0 order(s) admitted, 28 rejected {'TRADING_CLOSED': 28}" in out
    assert "--now" in out and "importing the file again admits them" in out
    code, out, _ = run(capsys, "orders", "import", DEMO, *store_args, "--now", NOW, "--json",
                       "--credit", "USDC=1000000", "--credit", "WETH=1000")
    summary = json.loads(out)
    assert code == 0 and summary["admitted"] == 28 and summary["rejected"] == 0, summary
    code, out, _ = run(capsys, "orders", "import", DEMO, *store_args, "--now", NOW, "--json")
    summary = json.loads(out)  # admitted orders do keep their ids
    assert summary["rejectedByCode"] == {"DUPLICATE_ORDER_ID": 28}


# ---------------------------------------------------------------- 5. never a rounded number

def test_limits_off_the_lattice_clear_and_messages_show_exact_numbers(tmp_path, capsys):
    """Item 5 after rule 11: a limit off the tick lattice is no longer an error (it is read
    floored onto the lattice); where a message shows a limit it shows it exactly."""
    from fractions import Fraction

    from auction.book import exact

    three = [{"contractId": 1, "side": "BUY", "quantity": "0.3"}]  # 3 packages
    for price in ("3005.00001", "3005.1", "1000.1"):
        book = demo({(1, "totalNetPrice"): price})
        if price == "1000.1":
            book = demo({(1, "totalNetPrice"): price, (1, "legs"): three})
        code, _, err = run(capsys, "solve", write(tmp_path, "g.json", book), "--quiet")
        assert code == 0, err
    assert exact(Fraction("3005.00001") / 10) == "300.500001"
    assert exact(Fraction("1000.1") / 3) == "10001/30"


# ---------------------------------------------------------------- 6. sweep plots and summary

def test_sweep_plots_draw_one_line_per_value_of_the_other_keys(tmp_path, monkeypatch):
    import pandas as pd

    from coordinator import plots

    drawn: dict[str, list[str]] = {}

    def keep(fig, path):
        ax = fig.axes[0]
        drawn[path.name] = [t.get_text() for t in ax.get_legend().get_texts()] + [
            "ticks:" + ",".join(t.get_text() for t in ax.get_xticklabels())]
        plots.plt.close(fig)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    rows = [{"scenario": "small", "recipe.orders": n, "replication": r, "repeat": i,
             "orders": n, "wall_seconds": 0.1 + i, "volume": n * 7 + i}
            for n in (500, 2000) for r in ("true", "false") for i in (0, 1)]
    plots.sweep_plots(pd.DataFrame(rows), ["recipe.orders", "replication"], tmp_path)
    assert drawn["volume_vs_replication.png"][:2] == ["small, recipe.orders=500",
                                                      "small, recipe.orders=2000"]
    assert drawn["volume_vs_recipe_orders.png"][:2] == ["small, replication=false",
                                                        "small, replication=true"]
    assert drawn["volume_vs_recipe_orders.png"][-1] == "ticks:500,2000"


def test_sweep_summary_prints_integers_as_integers():
    import pandas as pd

    from venue.cli.sweep import summary_text

    table = pd.DataFrame({"scenario": ["a"], "runs": [2], "orders": [2000.0],
                          "median_s": [0.123456], "volume": [13583.0]})
    text = summary_text(table)
    assert "13583" in text and "2000" in text and "e+" not in text and "0.1235" in text


# ---------------------------------------------------------------- 7. docs that work

def test_the_readme_points_only_inside_the_clone():
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme
    for rel in ("docs/spec/", "docs/architecture.md"):
        assert rel in readme and (ROOT / rel).exists()
    for page in ("auction", "api", "collateral", "expiry_and_prices", "settlement"):
        assert (ROOT / "docs" / "spec" / f"{page}.md").stat().st_size > 500
    for doc in (ROOT / "docs").rglob("*.md"):
        assert "../shared" not in doc.read_text(), doc


def test_the_collateral_example_of_the_docs_runs(tmp_path, capsys):
    import re

    text = (ROOT / "docs" / "collateral.md").read_text()
    example = re.search(r"```json\n(.*?)```", text, re.S).group(1)
    code, out, err = run(capsys, "collateral", write(tmp_path, "p.json", json.loads(example)))
    assert code == 0, err
    assert "WBTC/USDC" in out


def test_the_docs_say_the_smoke_books_sizes():
    from coordinator.scenarios import load_scenario

    guide = (ROOT / "docs" / "quant_guide.md").read_text()
    for f in sorted((ROOT / "scenarios" / "bench" / "smoke").glob("*.yaml")):
        s = load_scenario(f)
        assert f"`{s.name}`" in guide
        assert f"{s.size} orders" in guide or f"{s.name}` {s.size}" in guide, s.name


def test_chain_deploy_of_an_unknown_pair_is_bad_input_as_documented(capsys):
    code, _, err = run(capsys, "chain", "deploy", "--pairs", "FOO/BAR")
    one_line_error(code, err, "unknown currency FOO")
    assert "2 bad input" in (ROOT / "docs" / "settlement.md").read_text()


def test_the_default_store_file_is_ignored_by_git():
    for name in ("ccp.sqlite3", "out/x.sqlite3"):
        proc = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT, capture_output=True)
        assert proc.returncode == 0, name


def test_step_5_of_the_quant_guide_says_what_a_new_machine_compares():
    guide = (ROOT / "docs" / "quant_guide.md").read_text()
    step5 = guide[guide.index("# 5. benchmark"):guide.index("## Exit codes")]
    assert "volumes and statuses" in step5 and "machine-bound" in step5


# ---------------------------------------------------------------- 8. timings that add up

def test_timings_add_up_and_speculative_work_is_apart():
    from auction.result import ClearingResult
    from solver_models.outcome import SolveOutcome, SolveStatus, StageReport
    from solver_models.params import SolverParams

    out = SolveOutcome(SolveStatus.OPTIMAL, ClearingResult({}, (), frozenset()), SolverParams(),
                       (StageReport("welfare_lp", 0.1, 0.2),
                        StageReport("local_mip", 0.05, 0.7, parallel=True),
                        StageReport("allocation_mip", 0.1, 0.3)), wall_seconds=1.045)
    t = out.timings()
    assert t["build"] == pytest.approx(0.2) and t["solve"] == pytest.approx(0.5)
    assert t["build"] + t["solve"] + t["other"] == pytest.approx(t["total"])
    assert t["speculative"] == pytest.approx(0.75) and t["local_mip (speculative)"] == 0.75
    assert "local_mip" not in t


def test_the_solve_summary_adds_up_on_a_speculating_book(tmp_path, capsys, monkeypatch):
    from solver_models import pipeline
    from solver_models.generator import Recipe, generate_book
    from solver_models.params import SolverParams
    from solver_models.pipeline import solve_equilibrium

    # one batch at a time (the speculative search still runs on the spare core): stages of
    # batches cleared side by side are summed too and may exceed the wall time (outcome.timings)
    monkeypatch.setattr(pipeline, "WORKERS", 1)
    book = generate_book(Recipe(seed=2, orders=10000, expiries=4, strikes_per_expiry=11))
    out = solve_equilibrium(book, SolverParams(speculate=True))
    t = out.timings()
    main_stages = [v for k, v in t.items()
                   if k not in ("build", "solve", "other", "speculative", "total")
                   and not k.endswith("(speculative)")]
    assert sum(main_stages) == pytest.approx(t["build"] + t["solve"], abs=1e-5)
    assert t["build"] + t["solve"] <= t["total"] + 1e-5
    assert t["build"] + t["solve"] + t["other"] == pytest.approx(t["total"], abs=1e-5)
    assert any(s.parallel for s in out.stages) == ("speculative" in t)


# ---------------------------------------------------------------- 9. readable errors

def test_a_result_of_another_book_says_so_in_a_few_lines(tmp_path, capsys):
    book = tmp_path / "b.json"
    assert main(["generate", "--orders", "300", "--seed", "3", "-o", str(book)]) == 0
    assert main(["solve", str(book), "--quiet", "--out", str(tmp_path / "r.json")]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "plot", DEMO, tmp_path / "r.json", "-o", tmp_path / "p")
    one_line_error(code, err, "the result does not belong to the book", "more problem(s)")
    assert len(err.splitlines()) <= SHOWN_PROBLEMS + 2 and len(err) < 2000, err


def test_one_bad_contract_is_one_problem_not_one_per_order(tmp_path, capsys):
    book = copy.deepcopy(DEMO_DATA)
    book["contracts"][1]["foo"] = 1
    code, _, err = run(capsys, "solve", write(tmp_path, "b.json", book), "--quiet")
    one_line_error(code, err, "contracts[1]: unknown key 'foo'")
    assert "unknown contract" not in err


def test_many_problems_are_the_first_few_and_a_count(tmp_path, capsys):
    book = copy.deepcopy(DEMO_DATA)
    for o in book["orders"]:
        o["timeInForce"] = "SOMETIMES"
    code, _, err = run(capsys, "solve", write(tmp_path, "b.json", book), "--quiet")
    one_line_error(code, err, f"… and {28 - SHOWN_PROBLEMS} more problem(s) (28 in all)")


# ---------------------------------------------------------------- 10. help and progress

def _actions(parser, path=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction):
            yield " ".join(path), action


def test_every_option_and_argument_has_help():
    missing = [f"{cmd}: {a.option_strings or a.dest}" for cmd, a in _actions(build_parser())
               if not a.help]
    assert missing == []


def test_collateral_help_has_no_raw_markup(capsys):
    with pytest.raises(SystemExit):
        main(["collateral", "--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "positions" in out and "entryPrice" in out


def test_solve_shows_progress_on_a_terminal_only():
    from venue.cli.solve import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Terminal(), io.StringIO()
    for stream in (tty, pipe):
        with progress("solve 10 orders", 60, stream=stream):
            time.sleep(1.2)
    assert "solve 10 orders" in tty.getvalue() and "time limit 60" in tty.getvalue()
    assert pipe.getvalue() == ""


# ---------------------------------------------------------------- 11. the benchmark gate

def test_ci_runs_the_benchmark_gate():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "ccp bench --suite standard" in ci and "--baseline scenarios/bench/baseline.json" in ci


def test_bench_compares_volumes_and_statuses_everywhere_timings_only_where_recorded():
    from venue.cli.bench import compare, same_machine

    base = {"books": [{"book": "b", "orders": 10, "status": "OPTIMAL", "volume": 100,
                       "wall_median": 0.1}]}
    slow = [{"book": "b", "orders": 10, "status": "OPTIMAL", "volume": 100, "wall_median": 9.0}]
    assert compare(slow, base, 0.25, 0.05, timings=False)[0] == []
    assert "slower" in compare(slow, base, 0.25, 0.05, timings=True)[0][0]
    other = [{**slow[0], "status": "NOT_CLEARED", "volume": 99}]
    regressions = compare(other, base, 0.25, 0.05, timings=False)[0]
    assert len(regressions) == 2 and "status NOT_CLEARED, OPTIMAL" in regressions[0]
    here = {"host": "h", "platform": "p", "processor": "x", "cpus": 2}
    assert same_machine(dict(here), here) and not same_machine({**here, "cpus": 4}, here)
    assert not same_machine(None, here)
