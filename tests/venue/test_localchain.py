"""The embedded chain of ``ccp run``: anvil's state kept in the data folder across a restart, the
deployment reused, a lost chain state refused with a clear message."""

from __future__ import annotations

import json
import time

import pytest

from settlement.chain import Chain
from venue.localchain import (
    ANVIL_STATE_FILE,
    DEPLOYMENT_FILE,
    AnvilProcess,
    ChainStartError,
    anvil_binary,
    open_deployment,
)


def start(tmp_path) -> AnvilProcess:
    binary = anvil_binary()
    assert binary is not None, "anvil missing: run scripts/install (npm packages)"
    return AnvilProcess(binary, state=tmp_path / ANVIL_STATE_FILE,
                        log=tmp_path / "anvil.log").start()


def test_anvil_state_and_deployment_survive_a_restart(tmp_path):
    a = start(tmp_path)
    try:
        chain = Chain.connect(a.url)
        dep, new = open_deployment(chain, tmp_path)
        assert new and (tmp_path / DEPLOYMENT_FILE).exists()
        a.start_interval_mining()
        head = chain.block_number()
        time.sleep(2.5)
        assert chain.block_number() >= head + 1  # a block a second without transactions
        head = chain.block_number()
    finally:
        a.stop()
    assert (tmp_path / ANVIL_STATE_FILE).exists()
    a = start(tmp_path)
    try:
        chain = Chain.connect(a.url)
        again, new = open_deployment(chain, tmp_path)
        assert not new and again == dep
        assert chain.block_number() >= head
        fl = chain.contract("FundLock", dep.fund_lock)
        assert chain.call(fl.functions.isLedger(dep.ledgers["WETH/USDC"]))
    finally:
        a.stop()


def test_a_lost_chain_state_is_refused(tmp_path):
    a = start(tmp_path)
    try:
        open_deployment(Chain.connect(a.url), tmp_path)
    finally:
        a.stop()
    (tmp_path / ANVIL_STATE_FILE).unlink()
    a = start(tmp_path)
    try:
        with pytest.raises(ChainStartError, match="state was lost"):
            open_deployment(Chain.connect(a.url), tmp_path)
    finally:
        a.stop()
    assert json.loads((tmp_path / DEPLOYMENT_FILE).read_text())["fundLock"]
