"""Every scenario in scenarios/ is exercised; loading is strict (file, path, reason)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from coordinator.scenarios import ScenarioError, load_scenario, scenario_files
from solver_models.generator import Recipe

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
ALL = scenario_files(SCENARIOS)
GOLDEN = [p for p in ALL if "golden" in p.parts and "books" not in p.parts]
BENCH = [p for p in ALL if "bench" in p.parts]
OTHER = [p for p in ALL if p not in GOLDEN and p not in BENCH]


def _id(p: Path) -> str:
    return str(p.relative_to(SCENARIOS))


def test_the_scenario_directory_has_what_the_docs_promise():
    names = {_id(p) for p in ALL}
    assert "demo.json" in names
    assert len(GOLDEN) >= 8
    standard = {p.stem for p in BENCH if "standard" in p.parts}
    assert standard == {"orders_1k", "orders_2k", "orders_10k", "orders_100k", "replication_heavy",
                        "aon_heavy", "no_cross"}
    for p in GOLDEN + BENCH:
        s = load_scenario(p)
        assert s.description and "\n" not in s.description, p  # documents itself in one line


def test_demo_book_is_what_the_readme_says():
    s = load_scenario(SCENARIOS / "demo.json")
    book = s.book
    assert 20 <= len(book.orders) <= 40
    payoffs = {str(c.payoff) for c in book.contracts.values()}
    assert {"Call", "Put", "Forward", "BinaryCall"} <= payoffs
    assert {str(c.pair) for c in book.contracts.values()} == {"WETH/USDC"}
    assert any(o.all_or_none for o in book.orders)
    spreads = [o for o in book.orders if len(o.legs) == 2
               and {book.contracts[leg.contract_id].payoff for leg in o.legs} == {"Call"}
               and sorted(o.ratios) == [-1, 1]]
    assert spreads, "a vertical spread"


@pytest.mark.parametrize("path", GOLDEN + OTHER, ids=_id)
def test_golden_scenarios_meet_their_expectations(path):
    from solver_models import solve
    from validator.equilibrium import check

    s = load_scenario(path)
    outcome = solve(s.book, s.params)
    report = check(s.book, outcome.result, replication=s.params.replication,
                   bands=s.params.price_band == "clip")
    assert report.ok, [str(v) for v in report.violations]
    if s.expect is not None:
        assert s.expect.compare(s.book, str(outcome.status), outcome.result) == []


@pytest.mark.parametrize("path", BENCH, ids=_id)
def test_benchmark_recipes_load_generate_and_clear_scaled_down(path):
    from solver_models import solve
    from validator.equilibrium import check

    s = load_scenario(path)
    assert s.recipe is not None and s.expect is None
    assert s.size == s.recipe.orders
    if s.recipe.orders <= 100_000:  # generating even the largest book takes ~2 s
        book = s.book
        assert len(book.orders) == s.recipe.orders
    small = s.recipe.scaled(min(s.recipe.orders, 300))
    from solver_models.generator import generate_book

    book = generate_book(small)
    outcome = solve(book, s.params)
    assert check(book, outcome.result, replication=s.params.replication).ok


# ---------------------------------------------------------------- strict loading


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


ONE_CALL = """
contracts:
  - {contractId: 1, payoff: Call, currencyPair: WETH/USDC, expiry: "20250131", strike: 3000,
     tickSize: 0.5, lotSize: 1, referencePrice: 100, lowRange: 50, highRange: 150}
orders:
  - {orderId: 1, clientId: 1, totalNetPrice: 105.5, legs: [{contractId: 1, side: BUY, quantity: 1}]}
"""


def test_yaml_book_reads_decimals_exactly(tmp_path):
    s = load_scenario(_write(tmp_path, "b.yaml", ONE_CALL))
    assert s.book.orders[0].total_net_price == Decimal("105.5")
    assert s.book.contracts[1].tick_size == Decimal("0.5")


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("unknown_top.yaml", "description: x\nbook: {contracts: [], orders: []}\ncolour: red\n",
     "unknown key 'colour'"),
    ("both.yaml", "book: {contracts: [], orders: []}\nrecipe: {seed: 1}\n",
     "exactly one of 'book' and 'recipe'"),
    ("order_key.yaml", ONE_CALL.replace("clientId: 1,", "clientId: 1, colour: red,"),
     "orders[0]: unknown key 'colour'"),
    ("missing.yaml", ONE_CALL.replace("clientId: 1, ", ""), "orders[0]: missing field 'clientId'"),
    ("bad_side.yaml", ONE_CALL.replace("side: BUY", "side: HOLD"),
     "orders[0].legs[0]: side 'HOLD' is not BUY or SELL"),
    ("params.yaml", "book: {contracts: [], orders: []}\nparams: {speed: 11}\n",
     "params: unknown solver parameter(s): speed"),
    ("params_value.yaml", "book: {contracts: [], orders: []}\nparams: {formulation: magic}\n",
     "params: formulation must be one of"),
    ("recipe.yaml", "recipe: {seed: 1, flavour: x}\n", "recipe: unknown recipe field(s): flavour"),
    ("recipe_value.yaml", "recipe: {orders: -5}\n", "recipe: orders must be between"),
    ("expect.yaml", "recipe: {seed: 1}\nexpect: {volume: 1}\n", "expectations need a fixed book"),
    ("expect_key.yaml", "book: {contracts: [], orders: []}\nexpect: {volum: 1}\n",
     "expect: unknown key 'volum'"),
    ("bench.yaml", "recipe: {seed: 1}\nbench: {repeat: 0}\n", "bench.repeat"),
    ("syntax.yaml", "book: {contracts: [\n", "line 2 column 1: invalid YAML"),
    ("notes.txt", "", "unknown file type '.txt'"),
    ("book_path.yaml", "book: nowhere.json\n", "book: file 'nowhere.json' not found"),
])
def test_bad_scenarios_are_rejected_with_file_path_and_reason(tmp_path, name, text, expected):
    path = _write(tmp_path, name, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_inline_book_problems_are_prefixed_with_book(tmp_path):
    text = "book:\n" + "\n".join("  " + line for line in
                                 ONE_CALL.replace("side: BUY", "side: HOLD").splitlines())
    with pytest.raises(ScenarioError, match=r"book\.orders\[0\]\.legs\[0\]: side 'HOLD'"):
        load_scenario(_write(tmp_path, "inline.yaml", text))


def test_expectations_name_unknown_orders_and_contracts(tmp_path):
    text = ("book:\n" + "\n".join("  " + line for line in ONE_CALL.splitlines())
            + "\nexpect: {prices: {9: 1}, fills: {7: 1}}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, "e.yaml", text))
    assert "expect.prices.9: no contract 9" in str(err.value)
    assert "expect.fills.7: no order 7" in str(err.value)


def test_json_book_rejects_float_prices_with_the_path(tmp_path):
    book = {"contracts": [], "orders": [{"orderId": 1, "clientId": 1, "totalNetPrice": 1.5,
                                         "legs": []}]}
    with pytest.raises(ScenarioError, match=r"orders\[0\]"):
        load_scenario(_write(tmp_path, "b.json", json.dumps(book)))
    with pytest.raises(ScenarioError, match="line 1 column 2: invalid JSON"):
        load_scenario(_write(tmp_path, "c.json", "{oops"))


def test_recipe_scenario_generates_lazily_and_deterministically(tmp_path):
    path = _write(tmp_path, "r.yaml", "recipe: {seed: 5, orders: 40, price_noise: 0.1}\n")
    s = load_scenario(path)
    assert s.recipe == Recipe(seed=5, orders=40, price_noise=0.1)
    assert not s._book  # not generated yet
    assert s.size == 40 and not s._book
    assert load_scenario(path).book.orders == s.book.orders
