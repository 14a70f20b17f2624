"""Shared helpers for the settlement tests (in-process EVM and anvil)."""

from __future__ import annotations

from auction.cash import CashMovement, MovementOrigin, PositionChange
from settlement.chain import Chain
from settlement.deploy import Deployment

PAIR = "WETH/USDC"
CALL = 1


def fund(chain: Chain, dep: Deployment, account, sym: str, whole: int) -> None:
    """Mint ``whole`` units of ``sym`` to ``account`` and deposit them into the FundLock."""
    admin = chain.accounts[0]
    tok = chain.contract("TestToken", dep.tokens[sym])
    native = whole * 10 ** dep.currencies[sym].decimals
    fl = chain.contract("FundLock", dep.fund_lock)
    chain.execute(tok.functions.mint(account.address, native), admin)
    chain.execute(tok.functions.approve(dep.fund_lock, 2**256 - 1), account)
    chain.execute(fl.functions.deposit(tok.address, native), account)


def movement(client_id: int, batch: int, underlying: int, strike: int,
             positions: dict[int, int] | None = None, pair: str = PAIR,
             dep: Deployment | None = None) -> CashMovement:
    """A movement in whole units (converted to precision units with the deployment's table)."""
    u, n = pair.split("/")
    pu = 10 ** (dep.currencies[u].precision if dep else 7)
    pn = 10 ** (dep.currencies[n].precision if dep else 4)
    return CashMovement(client_id, pair, MovementOrigin.BATCH, batch, underlying * pu,
                        strike * pn,
                        tuple(PositionChange(c, s * pu) for c, s in (positions or {}).items()))


def setup_movements(batch: int = 1000, dep: Deployment | None = None) -> list[CashMovement]:
    """collateral.md §4 setup: U1 BUY 20 @ 10, U2 SELL 20 (client ids 1 and 2)."""
    return [movement(1, batch, 0, 200, {CALL: 20}, dep=dep),
            movement(2, batch, 20, -200, {CALL: -20}, dep=dep)]
