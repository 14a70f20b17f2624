"""Settlement figures (opt-in; not collected by pytest): gas per position update and per fund
movement in batches of 1, 10 and 100 movements, and movements per second settled on anvil.

    .venv/bin/python -m tests.settlement.bench_settlement [--movements 1000]

Every client is a fresh account that deposited (cold balance slots); every position update
writes a fresh storage slot (a new contract id per run) — the expensive case.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

from eth_account import Account

from auction.cash import CashMovement, MovementOrigin, PositionChange
from settlement.chain import Chain
from settlement.deploy import deploy
from settlement.port import InMemorySettlementStore
from settlement.service import ServiceConfig, SettlementService
from tests.settlement.anvil import Anvil

PAIR = "WETH/USDC"


def _clients(chain, dep, n):
    admin = chain.accounts[0]
    fl = chain.contract("FundLock", dep.fund_lock)
    toks = {s: chain.contract("TestToken", dep.tokens[s]) for s in ("WETH", "USDC")}
    accts = [Account.create() for _ in range(n)]
    for a in accts:
        chain.rpc("anvil_setBalance", [a.address, hex(10**20)])
        for s, tok in toks.items():
            amt = 10**6 * 10 ** dep.currencies[s].decimals
            chain.execute(tok.functions.mint(a.address, amt), admin)
            chain.execute(tok.functions.approve(dep.fund_lock, 2**256 - 1), a)
            chain.execute(fl.functions.deposit(tok.address, amt), a)
    return accts


def gas_table(chain, dep, accts):
    ledger = chain.contract("Ledger", dep.ledgers[PAIR])
    op = chain.accounts[1]
    rows, bid, cid = [], 10_000, 1_000
    for n in (1, 10, 100):
        who = accts[:n]
        cid += 1
        pos = [(cid, a.address, 10**7) for a in who]
        funds = [(a.address, 10**7, 10**4) for a in who]
        g = {}
        for kind, p, f in (("positions", pos, []), ("funds", [], funds),
                           ("both", [(cid + 1, a.address, 1) for a in who], funds)):
            bid += 1
            r = chain.execute(ledger.functions.updatePositions(p, f, bid), op)
            g[kind] = r.gas_used
        cid += 1
        rows.append((n, g["positions"], g["funds"], g["both"]))
    return rows


def throughput(chain, dep, accts, total):
    store = InMemorySettlementStore.for_deployment(dep, {i: a.address for i, a in
                                                         enumerate(accts, 1)})
    svc = SettlementService(chain, dep, store, chain.accounts[1],
                            ServiceConfig(confirmations=1, finality_depth=1))
    moves = [CashMovement(1 + i % len(accts), PAIR, MovementOrigin.BATCH, 5_000 + i // len(accts),
                          10**6, 10**3, (PositionChange(50_000 + i, 10**7),))
             for i in range(total)]
    t0 = time.perf_counter()
    reps = svc.submit(moves)
    svc.run_until_settled(timeout=300, interval=0.01)
    dt = time.perf_counter() - t0
    return len(reps), dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--movements", type=int, default=1000)
    args = ap.parse_args()
    with Anvil() as node:
        chain = Chain.connect(node.url)
        dep = deploy(chain, (PAIR,))
        accts = _clients(chain, dep, 100)
        rows = gas_table(chain, dep, accts)
        batches, dt = throughput(chain, dep, accts, args.movements)
    print(f"machine: {platform.machine()} {platform.processor() or ''} "
          f"python {platform.python_version()}; date {datetime.date.today()}")
    print("| movements | positions only | funds only | position + funds | per position | "
          "per fund movement |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, gp, gf, gb in rows:
        print(f"| {n} | {gp:,} | {gf:,} | {gb:,} | {gp // n:,} | {gf // n:,} |")
    (_, p1, f1, _), (n2, p2, f2, _) = rows[0], rows[-1]
    print(f"marginal gas: per position update {(p2 - p1) // (n2 - 1):,}, "
          f"per fund movement {(f2 - f1) // (n2 - 1):,}")
    print(f"throughput: {args.movements} movements in {batches} batches, {dt:.2f} s, "
          f"{args.movements / dt:,.0f} movements/s (anvil automine, 1 confirmation)")


if __name__ == "__main__":
    main()
