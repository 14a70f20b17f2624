"""Fuzz: every command that reads a file, fed random bytes, random JSON and random mutations of
valid books, scenarios, results, positions, baselines, deployments and settings files. None may
raise (a traceback) or exit with a code other than 0, 1 or 2 (issue 16, "Done when").

In-process through ``venue.cli.main`` for speed (an exception escaping ``main`` is what a user
would see as a traceback), plus a few runs of the real ``ccp`` script. A bounded campaign runs by
default; ``pytest -m slow tests/venue/test_cli_fuzz.py`` runs a bigger one.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import web3  # noqa: F401  (raises the recursion limit on import: before hypothesis runs)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import venue.cli.sweep as sweep_cli
from venue.cli import main

ROOT = Path(__file__).resolve().parents[2]
CCP = Path(sys.executable).parent / "ccp"
DEMO = json.loads((ROOT / "scenarios" / "demo.json").read_text())
NOW = "2025-01-20T00:00:00Z"
DEFAULT_EXAMPLES = 25
SLOW_EXAMPLES = 400

POSITIONS = {"contracts": [DEMO["contracts"][0], DEMO["contracts"][2]],
             "positions": [{"clientId": 7, "contractId": 1, "quantity": "2",
                            "entryPrice": "2999.5"},
                           {"clientId": 7, "contractId": 3, "quantity": "-1"}]}
SETTINGS = {"cadence_seconds": 60, "end_of_trading_hours": 12, "lease_seconds": 30,
            "lease_wait": False, "apply_retries": 3,
            "solver": {"time_limit": 10, "mip_gap": 1e-6, "threads": 1, "presolve": "choose",
                       "highs_options": {"mip_max_nodes": 1000}}}
DEPLOYMENT = {"chainId": 31337, "startBlock": 1, "fundLock": "0x" + "11" * 20,
              "admin": "0x" + "22" * 20, "operator": "0x" + "33" * 20,
              "tokens": {"USDC": "0x" + "44" * 20}, "ledgers": {"WETH/USDC": "0x" + "55" * 20},
              "currencies": {"USDC": 6}}
SCENARIO_YAML = """\
description: the demo book with an expectation
book: {book}
params: {{time_limit: 10, replication: true}}
expect: {{status: OPTIMAL, check: true}}
bench: {{repeat: 1, reference: false}}
"""


def _solved_demo_result(tmp: Path) -> dict[str, Any]:
    out = tmp / "demo.result.json"
    assert main(["solve", str(ROOT / "scenarios" / "demo.json"), "--quiet", "--out",
                 str(out)]) == 0
    return json.loads(out.read_text())


# ---------------------------------------------------------------- inputs

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, -(10**25), 2**32, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["1e400", "-1e400", "1e-999999999", "NaN", "Infinity", "-0", "0x1234",
                     "3005.00001", "1e15", "-1e20", "", " ", "BUY", "SELL", "Call", "Forward",
                     "WETH/USDC", "FOO/BAR", "20250131", "99999999", "on", "off", "bigm",
                     "9" * 30, "0.000000000000000000000000000001", "\u00e9", "\x00"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: Any, valid: Any) -> Any:
    """``valid`` with 1-3 random edits: a value replaced, a key dropped or added, an entry of a
    list duplicated or removed."""
    data = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        if not path:
            data = draw(JSON)
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "drop", "add", "duplicate"]))
        if action == "replace" or not isinstance(parent, dict | list):
            parent[key] = draw(JSON)
        elif action == "drop":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(JSON)
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = [parent[key], parent[key]]
    return data


@st.composite
def byte_mutated(draw: Any, text: bytes) -> bytes:
    """``text`` with a few bytes flipped, inserted or removed."""
    data = bytearray(text)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=3))
        elif data:
            del data[i]
    return bytes(data)


def contents(valid: Any, dump=json.dumps) -> st.SearchStrategy[bytes]:
    """Random bytes, random JSON, JSON mutations and byte mutations of ``valid``."""
    return st.one_of(
        st.binary(max_size=200),
        JSON.map(lambda d: json.dumps(d).encode()),
        mutated(valid).map(lambda d: dump(d).encode("utf-8", "surrogatepass")),
        byte_mutated(dump(valid).encode()),
    )


def toml_dump(data: Any) -> str:
    """A small TOML writer for the settings shape (scalars and tables of scalars)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float) and v == v and v not in (float("inf"), float("-inf")):
            return repr(v)
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(str(k))} = {value(x)}"
                                   for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))

    if not isinstance(data, dict):
        return value(data)
    return "\n".join(f"{json.dumps(str(k))} = {value(v)}" for k, v in data.items()) + "\n"


# ---------------------------------------------------------------- the harness


def call(argv: list[str]) -> int:
    """Run ``ccp argv`` in-process: the exit code; an escaping exception fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse on a bad command line
            code = e.code if isinstance(e.code, int) else 2
    assert code in (0, 1, 2), (argv, code, err.getvalue()[-2000:])
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "demo.json").write_text(json.dumps(DEMO))
    (tmp / "result.json").write_text(json.dumps(_solved_demo_result(tmp)))
    url = f"sqlite:///{tmp / 'ccp.sqlite3'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    (tmp / "db").write_text(url)
    suite = tmp / "suite"
    suite.mkdir()
    (suite / "demo.json").write_text(json.dumps(DEMO))
    return tmp


@pytest.fixture(autouse=True)
def serial_sweep(monkeypatch):
    """``ccp sweep`` without a Dask cluster: the tasks run here, one after the other (the
    fuzzed part is reading and checking the files, which happens before any task)."""
    def execute(_args, scenarios, tasks):
        from auction.interchange import book_to_dict

        books = {s.name: book_to_dict(s.book) for s in scenarios if s.recipe is None}
        return [sweep_cli.run_one(t, books.get(t["scenario"])) for t in tasks]

    monkeypatch.setattr(sweep_cli, "_execute", execute)


@pytest.fixture(params=[pytest.param(DEFAULT_EXAMPLES, id="bounded"),
                        pytest.param(SLOW_EXAMPLES, id="campaign", marks=pytest.mark.slow)])
def examples(request: pytest.FixtureRequest) -> int:
    """How many inputs per test: a bounded run by default, a campaign with ``-m slow``."""
    if request.param == SLOW_EXAMPLES and "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("the big fuzz campaign runs with -m slow")
    return request.param


def fuzz(examples: int, strategy, check) -> None:
    settings(max_examples=examples, deadline=None,
             suppress_health_check=list(HealthCheck))(given(strategy)(check))()


# ---------------------------------------------------------------- one test per reader


def test_solve_reads_any_book(examples, work):
    def check(data: bytes) -> None:
        for suffix in (".json", ".yaml"):
            f = work / f"solve{suffix}"
            f.write_bytes(data)
            call(["solve", str(f), "--quiet", "--check", "--out", str(work / "r.json"),
                  "--set", "time_limit=10"])

    fuzz(examples, contents(DEMO), check)


def test_solve_reads_any_scenario(examples, work):
    book = work / "demo.json"
    text = SCENARIO_YAML.format(book=book.name).encode()

    def check(data: bytes) -> None:
        f = work / "scenario.yaml"
        f.write_bytes(data)
        call(["solve", str(f), "--quiet", "--out", str(work / "r.json")])

    fuzz(examples, st.one_of(st.binary(max_size=200), byte_mutated(text)), check)


RECIPE = {"description": "a generated book", "params": {"time_limit": 10},
          "recipe": {"seed": 1, "orders": 60, "expiries": 1, "strikes_per_expiry": 5,
                     "spot": "3000", "price_noise": 0.05, "combo_share": 0.2,
                     "combo_types": ["vertical", "straddle"], "start": 20250103,
                     "pair": "WETH/USDC"}}


def test_solve_reads_any_recipe_scenario(examples, work):
    import yaml

    def check(data: Any) -> None:
        recipe = data.get("recipe") if isinstance(data, dict) else None
        orders = recipe.get("orders") if isinstance(recipe, dict) else None
        assume(not (isinstance(orders, int) and orders > 2000))  # generation time, not input
        f = work / "recipe.yaml"
        f.write_text(yaml.safe_dump(data))
        call(["solve", str(f), "--quiet", "--out", str(work / "r.json")])

    fuzz(examples, mutated(RECIPE), check)


def test_orders_import_reads_any_book(examples, work):
    db = ["--db", (work / "db").read_text()]
    valid = {**DEMO, "funds": [{"clientId": 101, "currency": "USDC", "amount": "100000"}]}

    def check(data: bytes) -> None:
        f = work / "import.json"
        f.write_bytes(data)
        call(["orders", "import", str(f), *db, "--now", NOW, "--credit", "WETH=100",
              "--json"])

    fuzz(examples, contents(valid), check)
    assert call(["auction", "run-once", *db, "--now", "2025-01-20T00:01:00Z"]) in (0, 1)


def test_collateral_reads_any_positions(examples, work):
    def check(data: bytes) -> None:
        f = work / "positions.json"
        f.write_bytes(data)
        call(["collateral", str(f), "--json"])

    fuzz(examples, contents(POSITIONS), check)


def test_plot_reads_any_result_and_book(examples, work):
    result = json.loads((work / "result.json").read_text())

    def check(pair: tuple[bytes, bool]) -> None:
        data, as_book = pair
        f = work / ("plot_book.json" if as_book else "plot_result.json")
        f.write_bytes(data)
        book, res = (f, work / "result.json") if as_book else (work / "demo.json", f)
        call(["plot", str(book), str(res), "-o", str(work / "plots"), "--quiet"])

    fuzz(examples, st.one_of(st.tuples(contents(result), st.just(False)),
                            st.tuples(contents(DEMO), st.just(True))), check)


def test_sweep_reads_any_scenario_and_grid(examples, work):
    keys = st.sampled_from(["time_limit", "replication", "highs.presolve", "highs.mip_rel_gap",
                            "recipe.orders", "price_band", "bogus", "threads"])

    def check(case: tuple[bytes, str, str]) -> None:
        data, key, values = case
        f = work / "sweep.json"
        f.write_bytes(data)
        call(["sweep", str(f), "--grid", f"{key}={values}", "--no-plots", "--quiet",
              "-o", str(work / "sweep")])

    fuzz(examples, st.tuples(contents(DEMO), keys, st.text(max_size=10)), check)


def test_bench_reads_any_baseline_and_suite_file(examples, work):
    base = {"books": [{"book": "demo", "orders": 28, "status": "OPTIMAL", "volume": 720,
                       "wall_median": 0.2}], "machine": {"host": "x"}}

    def check(pair: tuple[bytes, bool]) -> None:
        data, as_baseline = pair
        if as_baseline:
            (work / "suite" / "demo.json").write_text(json.dumps(DEMO))
            (work / "baseline.json").write_bytes(data)
        else:
            (work / "suite" / "demo.json").write_bytes(data)
            (work / "baseline.json").write_text(json.dumps(base))
        call(["bench", "--suite", str(work / "suite"), "--repeat", "1", "--reference", "off",
              "--baseline", str(work / "baseline.json"), "--quiet"])

    fuzz(examples, st.one_of(st.tuples(contents(base), st.just(True)),
                            st.tuples(contents(DEMO), st.just(False))), check)


def test_every_settings_command_reads_any_settings_file(examples, work):
    commands = st.sampled_from([["db", "check"], ["batch", "list"], ["batch", "show", "last"],
                                ["auction", "run-once", "--now", NOW]])

    def check(case: tuple[bytes, str, list[str]]) -> None:
        data, suffix, argv = case
        f = work / f"settings{suffix}"
        f.write_bytes(data)
        call([*argv, "--config", str(f), "--db", (work / "db").read_text()])

    toml = st.one_of(st.binary(max_size=200), byte_mutated(toml_dump(SETTINGS).encode()),
                     mutated(SETTINGS).map(lambda d: toml_dump(d).encode("utf-8",
                                                                          "surrogatepass")))
    fuzz(examples, st.one_of(st.tuples(contents(SETTINGS), st.just(".json"), commands),
                            st.tuples(toml, st.just(".toml"), commands)), check)


def test_chain_faucet_reads_any_deployment_file(examples, work):
    def check(data: bytes) -> None:
        f = work / "deployment.json"
        f.write_bytes(data)
        call(["chain", "faucet", "0x" + "66" * 20, "1", "USDC", "--rpc",
              "http://127.0.0.1:9", "--deployment", str(f)])

    fuzz(examples, contents(DEPLOYMENT), check)


# ---------------------------------------------------------------- a few real processes


@pytest.mark.parametrize("data", [b"\xff\xfe\x00garbage", b'{"contracts": 5, "orders": []}',
                                  json.dumps({**DEMO, "orders": [{**DEMO["orders"][0],
                                                                  "totalNetPrice": "-1e400"}]})
                                  .encode()])
@pytest.mark.parametrize("argv", [["solve", "{f}", "--json"], ["collateral", "{f}"],
                                  ["plot", str(ROOT / "scenarios" / "demo.json"), "{f}"]],
                         ids=lambda a: a[0])
def test_the_real_script_answers_in_one_line(tmp_path, data, argv):
    f = tmp_path / "in.json"
    f.write_bytes(data)
    proc = subprocess.run([str(CCP), *[a.replace("{f}", str(f)) for a in argv]],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith(f"ccp {argv[0]}: ")
