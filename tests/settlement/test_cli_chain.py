"""``ccp chain deploy`` and ``ccp chain faucet`` (in-process EVM and anvil)."""

from __future__ import annotations

import json

import pytest

from settlement.chain import Chain
from tests.settlement.anvil import Anvil
from venue.cli import main

pytestmark = pytest.mark.chain


def test_deploy_in_process_prints_addresses(capsys):
    assert main(["chain", "deploy", "--pairs", "WETH/USDC"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["ledgers"]) == {"WETH/USDC"}
    assert set(out["tokens"]) == {"WETH", "USDC"}
    assert out["fundLock"].startswith("0x") and out["operator"] != out["admin"]


@pytest.mark.parametrize("argv", [
    ["chain", "deploy", "--pairs", "WETHUSDC"],
    ["chain", "deploy", "--rpc", "ftp://x"],
    ["chain", "deploy", "--token", "USDC"],
    ["chain", "faucet", "0x" + "11" * 20, "5", "USDC"],  # no --rpc
])
def test_bad_input_exits_2(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("ccp chain:")


def test_deploy_and_faucet_on_anvil(tmp_path, capsys):
    with Anvil() as node:
        out = tmp_path / "deployment.json"
        assert main(["chain", "deploy", "--rpc", node.url, "--out", str(out)]) == 0
        dep = json.loads(out.read_text())
        assert json.loads(capsys.readouterr().out) == dep
        assert set(dep["ledgers"]) == {"WETH/USDC", "WBTC/USDC"}
        who = "0x" + "ab" * 20
        assert main(["chain", "faucet", who, "1000.5", "USDC", "--rpc", node.url,
                     "--deployment", str(out)]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["balance"] == 1_000_500_000 and res["decimals"] == 6
        chain = Chain.connect(node.url)
        assert chain.w3.eth.get_balance(chain.w3.to_checksum_address(who)) == 10**19
        fl = chain.contract("FundLock", dep["fundLock"])
        assert chain.call(fl.functions.isLedger(dep["ledgers"]["WETH/USDC"]))
        # too many decimals, unknown token: bad input
        assert main(["chain", "faucet", who, "0.0000001", "USDC", "--rpc", node.url,
                     "--deployment", str(out)]) == 2
        assert main(["chain", "faucet", who, "1", "DOGE", "--rpc", node.url,
                     "--deployment", str(out)]) == 2
