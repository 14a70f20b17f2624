"""``ccp collateral POSITIONS.json``: lockups per bucket, strict input, exit codes."""

from __future__ import annotations

import json

import pytest

from venue.cli import main


def _contract(cid, payoff, strike=None, pair="WBTC/USDC"):
    d = {"contractId": cid, "payoff": payoff, "currencyPair": pair, "expiry": "20300304",
         "tickSize": "1", "lotSize": "1", "referencePrice": "100", "lowRange": "0",
         "highRange": "10000"}
    if strike is not None:
        d["strike"] = str(strike)
    return d


SPEC = {
    "contracts": [_contract(1, "Call", 8000), _contract(2, "Call", 10000),
                  _contract(3, "Call", 11000), _contract(4, "Put", 6000),
                  _contract(5, "Call", 2200, "WETH/USDC"), _contract(6, "Call", 2300, "WETH/USDC"),
                  _contract(7, "Call", 2400, "WETH/USDC"), _contract(8, "Put", 2000, "WETH/USDC"),
                  _contract(9, "Forward", None, "WETH/USDC")],
    "positions": [{"clientId": 1, "contractId": 1, "quantity": "-1"},
                  {"clientId": 1, "contractId": 2, "quantity": "2"},
                  {"clientId": 1, "contractId": 3, "quantity": "-4"},
                  {"clientId": 2, "contractId": 4, "quantity": "-1"},
                  {"clientId": 1, "contractId": 5, "quantity": "-1"},
                  {"clientId": 1, "contractId": 6, "quantity": "2"},
                  {"clientId": 1, "contractId": 7, "quantity": "-4"},
                  {"clientId": 2, "contractId": 8, "quantity": "-1"},
                  {"clientId": 3, "contractId": 9, "quantity": "2", "entryPrice": "2100.5"}],
}


def _run(tmp_path, data, *extra):
    f = tmp_path / "positions.json"
    f.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return main(["collateral", str(f), *extra])


def test_spec_tables_as_json(tmp_path, capsys):
    assert _run(tmp_path, SPEC, "--json") == 0
    rows = json.loads(capsys.readouterr().out)["lockups"]
    got = {(r["clientId"], r["pair"], r["expiry"]): (r["underlying"], r["numeraire"])
           for r in rows}
    assert got == {(1, "WBTC/USDC", "20300304"): ("3", "0"),
                   (2, "WBTC/USDC", "20300304"): ("0", "6000"),
                   (1, "WETH/USDC", "20300304"): ("3", "0"),
                   (2, "WETH/USDC", "20300304"): ("0", "2000"),
                   (3, "WETH/USDC", "20300304"): ("0", "4201")}


def test_table_output(tmp_path, capsys):
    assert _run(tmp_path, SPEC) == 0
    out = capsys.readouterr().out
    assert "3 WBTC" in out and "6,000 USDC" in out


@pytest.mark.parametrize(("data", "message"), [
    ({**SPEC, "extra": 1}, "unknown key 'extra'"),
    ({**SPEC, "positions": [{"clientId": 1, "contractId": 99, "quantity": "1"}]},
     "positions[0].contractId: unknown contract 99"),
    ({**SPEC, "positions": [{"clientId": 1, "contractId": 1, "quantity": "0.5"}]},
     "positions[0]: contract 1 quantity: 0.5 is not a multiple of 1"),
    ({**SPEC, "positions": [{"clientId": 1, "contractId": 1, "quantity": 1.5}]},
     "positions[0].quantity: expected a decimal string, got float"),
    ({**SPEC, "positions": [{"clientId": 1, "contractId": 1, "quantity": "1", "side": "B"}]},
     "positions[0]: unknown key 'side'"),
    ({**SPEC, "positions": [{"clientId": 1, "contractId": 9, "quantity": "1"}]},
     "positions[0].entryPrice: required for a forward position"),
    ({**SPEC, "positions": [{"clientId": 1, "contractId": 1, "quantity": "1",
                             "entryPrice": "1"}]}, "positions[0].entryPrice: only forward"),
    ({**SPEC, "contracts": [{**_contract(1, "Call", 10), "payoff": "Swap"}]},
     "contracts[0]: payoff 'Swap' is not one of"),
    ({**SPEC, "contracts": [{**_contract(1, "Call", 10), "colour": "red"}]},
     "contracts[0]: unknown key 'colour'"),
    ("{not json", "invalid JSON"),
])
def test_bad_input_exit_2(tmp_path, capsys, data, message):
    assert _run(tmp_path, data) == 2
    assert message in capsys.readouterr().err


def test_missing_file(tmp_path, capsys):
    assert main(["collateral", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
