"""Reconciliation: positions and balances on chain against the store's view.

Differences are returned (for an alert); nothing is ever written back — neither to the chain
nor to the store. A balance keyed by the FundLock's own address is the clearing-house account:
the FundLock's ``collateral`` of the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from settlement.chain import Chain
from settlement.deploy import Deployment
from settlement.port import ReconciliationView


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str  # "position" or "balance"
    key: tuple[str | int, ...]  # (pair, contract id, address) or (address, currency)
    chain: int  # precision units (balances: floor of native / 10^(decimals − precision))
    store: int

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: chain {self.chain}, store {self.store}"


def reconcile(chain: Chain, deployment: Deployment, view: ReconciliationView,
              block: int | str = "latest") -> list[Difference]:
    diffs: list[Difference] = []
    for (pair, cid, address), expected in sorted(view.expected_positions().items()):
        ledger = chain.contract("Ledger", deployment.ledgers[pair])
        on_chain = int(chain.call(ledger.functions.positions(cid, address), block))
        if on_chain != expected:
            diffs.append(Difference("position", (pair, cid, address), on_chain, expected))
    fl = chain.contract("FundLock", deployment.fund_lock)
    for (address, cur), expected in sorted(view.expected_balances().items()):
        c = deployment.currencies[cur]
        token = deployment.tokens[cur]
        if address.lower() == deployment.fund_lock.lower():  # the clearing-house account
            native = int(chain.call(fl.functions.collateral(token), block))
        else:
            native = int(chain.call(fl.functions.balances(address, token), block))
        on_chain = native // 10 ** (c.decimals - c.precision)
        if on_chain != expected:
            diffs.append(Difference("balance", (address, cur), on_chain, expected))
    return diffs
