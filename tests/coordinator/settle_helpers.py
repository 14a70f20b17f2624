"""Helpers for the settlement-in-the-store tests: demo clients on chain, runner settings."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from eth_account import Account

from auction.cash import CashMovement, MovementOrigin
from coordinator.persistence import settlement as sq
from coordinator.persistence.records import FundLock
from coordinator.settings import Settings
from settlement.chain import Chain
from settlement.deploy import Deployment
from validator.collateral import CLEARING_HOUSE_ID
from validator.collateral.funds import movement_amounts

PAIR = "WETH/USDC"


def client_account(client_id: int):
    return Account.from_key((0x5E77_0000 + client_id).to_bytes(32, "big"))


def runner_settings(**kw) -> Settings:
    base = dict(database_url="sqlite://", chain_confirmations=2, chain_finality_depth=4,
                chain_monitor_depth=1, chain_poll_seconds=0.05, chain_mine_seconds=0.001)
    return Settings(**{**base, **kw})


def fund_on_chain(chain: Chain, dep: Deployment, accounts, amounts: dict[str, int]) -> None:
    """ETH for gas, then mint, approve and deposit ``amounts`` (whole tokens) per account."""
    admin = chain.accounts[0]
    fl = chain.contract("FundLock", dep.fund_lock)
    for acct in accounts:
        if chain.w3.eth.get_balance(acct.address) < 10**17:
            if chain.kind == "rpc":
                chain.rpc("anvil_setBalance", [acct.address, hex(10**19)])
            else:
                f = chain.fees()
                signed = admin.sign_transaction({
                    "to": acct.address, "value": 10**19, "gas": 21_000,
                    "nonce": chain.nonce(admin.address), "chainId": chain.chain_id,
                    "maxFeePerGas": f.max_fee_per_gas,
                    "maxPriorityFeePerGas": f.max_priority_fee_per_gas})
                chain.wait(chain.send_signed(signed))
        for sym, whole in amounts.items():
            tok = chain.contract("TestToken", dep.tokens[sym])
            native = whole * 10 ** dep.currencies[sym].decimals
            chain.execute(tok.functions.mint(acct.address, native), admin)
            chain.execute(tok.functions.approve(dep.fund_lock, 2**256 - 1), acct)
            chain.execute(fl.functions.deposit(tok.address, native), acct)


def register(store, clock, ids) -> dict[int, object]:
    """Give demo client ids their addresses (as a first login would); returns the accounts."""
    accts = {cid: client_account(cid) for cid in ids}
    with store.write() as tx:
        for cid, a in accts.items():
            sq.register_client(tx, a.address, clock.now_ms(), client_id=cid)
    return accts


def write_movements(store, clock, moves: list[CashMovement]) -> None:
    """Cash movements as the coordinator (or the expiry job) writes them: the movements, the
    clearing house's counterpart per (origin, pair) and settleValue, in one transaction."""
    house: dict[tuple[MovementOrigin, int, str], list[int]] = defaultdict(lambda: [0, 0])
    for m in moves:
        h = house[(m.origin, m.origin_id, m.pair)]
        h[0] -= m.underlying_amount
        h[1] -= m.strike_amount
    allm = moves + [CashMovement(CLEARING_HOUSE_ID, p, o, oid, u, s)
                    for (o, oid, p), (u, s) in house.items()]
    now = clock.now_ms()
    with store.write() as tx:
        tx.ensure_clients({m.client_id for m in allm}, now)
        tx.insert_movements(allm, now)
        cur = tx.fund_locks({m.client_id for m in allm}, for_update=True)
        new = dict(cur)
        for m in allm:
            for c, amt in movement_amounts(m).items():
                old = new.get((m.client_id, c), FundLock(m.client_id, c))
                new[(m.client_id, c)] = replace(old, settle_value=old.settle_value - amt)
        tx.put_fund_locks(new.values(), now)


def fee_movements(origin_id: int, client_ids, fee_units: int = 1,
                  origin: MovementOrigin = MovementOrigin.BATCH) -> list[CashMovement]:
    """Each client pays a small fee (only payments into the FundLock, so batches may land in
    any order; no position changes, so the positions table stays the coordinator's)."""
    return [CashMovement(cid, PAIR, origin, origin_id, 0, fee_units) for cid in client_ids]
