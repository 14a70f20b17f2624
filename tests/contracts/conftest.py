"""In-process EVM fixtures: one deployment per module, a snapshot reverted after every test."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from settlement.chain import Chain
from settlement.deploy import Deployment, Locks, deploy
from settlement.errors import ChainReverted

LOCKS = Locks(trade_lock=1200, release_lock=2400, escape_delay=7 * 24 * 3600)


@dataclass
class Env:
    chain: Chain
    dep: Deployment
    admin: LocalAccount
    operator: LocalAccount
    clients: tuple[LocalAccount, ...]

    @property
    def fl(self):
        return self.chain.contract("FundLock", self.dep.fund_lock)

    def token(self, sym: str):
        return self.chain.contract("TestToken", self.dep.tokens[sym])

    def ledger(self, pair: str):
        return self.chain.contract("Ledger", self.dep.ledgers[pair])

    def tx(self, fn, sender: LocalAccount):
        return self.chain.execute(fn, sender)

    def reverts(self, fn, sender: LocalAccount) -> str:
        """Send and expect a revert; returns the decoded reason."""
        with pytest.raises(ChainReverted) as info:
            self.chain.execute(fn, sender)
        return info.value.reason

    def fund(self, client: LocalAccount, sym: str, native: int, deposit: bool = True) -> None:
        tok = self.token(sym)
        self.tx(tok.functions.mint(client.address, native), self.admin)
        self.tx(tok.functions.approve(self.dep.fund_lock, 2**256 - 1), client)
        if deposit:
            self.tx(self.fl.functions.deposit(tok.address, native), client)

    def balance(self, client: LocalAccount, sym: str) -> int:
        return self.chain.call(self.fl.functions.balances(client.address, self.dep.tokens[sym]))

    def requests(self, client: LocalAccount, sym: str) -> list[int]:
        amounts, _ = self.chain.call(
            self.fl.functions.withdrawals(client.address, self.dep.tokens[sym]))
        return list(amounts)

    def events(self, receipt, contract, name: str) -> list[dict]:
        raw = self.chain.w3.eth.get_transaction_receipt(receipt.tx_hash)
        ev = getattr(contract.events, name)()
        return [dict(e["args"]) for e in ev.process_receipt(raw, errors=_DISCARD)]


from web3.logs import DISCARD as _DISCARD  # noqa: E402


@pytest.fixture(scope="module")
def _deployed():
    chain = Chain.in_process()
    dep = deploy(chain, ("WETH/USDC", "WBTC/USDC"), locks=LOCKS)
    admin, operator = chain.accounts[0], chain.accounts[1]
    return Env(chain, dep, admin, operator, chain.accounts[2:8])


@pytest.fixture
def env(_deployed):
    tester = _deployed.chain.w3.provider.ethereum_tester
    snap = tester.take_snapshot()
    yield _deployed
    tester.revert_to_snapshot(snap)
