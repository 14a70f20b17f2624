"""The production layout for the end-to-end tests: PostgreSQL, anvil, and ``ccp serve`` roles as
separate OS processes (two ``api``, ``coordinator``, ``settlement``, ``background``).

Also the client side of the chain (fund, deposit, withdraw) and reads of the store for the
invariants the kill test checks.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import text

from coordinator.clock import SystemClock
from coordinator.persistence import Store
from coordinator.persistence.migrate import upgrade
from settlement.chain import Chain
from settlement.deploy import Deployment, deploy
from tests.pg import PgServer
from tests.venue.procs import CcpProcess, api_up, free_port, wait_for
from venue.localchain import AnvilProcess, anvil_binary
from venue.seed import ensure_listed

CADENCE = 3.0


@dataclass
class ProductionVenue:
    root: Path
    pg: PgServer
    db_url: str = ""
    anvil: AnvilProcess | None = None
    chain: Chain | None = None
    dep: Deployment | None = None
    config: Path | None = None
    procs: dict[str, CcpProcess] = field(default_factory=dict)
    api_ports: list[int] = field(default_factory=list)

    # ---- set-up --------------------------------------------------------------------------

    def start(self, apis: int = 2, extra_settings: dict | None = None) -> ProductionVenue:
        self.db_url = self.pg.create_database("e2e")
        store = Store.open(self.db_url)
        upgrade(store.engine)
        binary = anvil_binary()
        assert binary is not None, "anvil missing: run scripts/install (npm packages)"
        self.anvil = AnvilProcess(binary, log=self.root / "anvil.log").start()
        self.chain = Chain.connect(self.anvil.url)
        self.dep = deploy(self.chain)
        self.anvil.start_interval_mining()
        dep_file = self.root / "deployment.json"
        dep_file.write_text(self.dep.to_json())
        ensure_listed(store, SystemClock().now_ms())
        store.dispose()
        settings = {"database_url": self.db_url, "cadence_seconds": CADENCE,
                    "lease_seconds": 6.0, "chain_rpc_url": self.anvil.url,
                    "chain_deployment": str(dep_file), "chain_confirmations": 1,
                    "chain_monitor_depth": 1, "chain_poll_seconds": 0.5,
                    "price_poll_seconds": 2.0, **(extra_settings or {})}
        self.config = self.root / "ccp.json"
        self.config.write_text(json.dumps(settings, indent=2))
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        self.api_ports = [free_port() for _ in range(apis)]
        for i, port in enumerate(self.api_ports):
            self.procs[f"api-{i + 1}"] = CcpProcess(
                f"api-{i + 1}", ["serve", "api", "--port", str(port), "--config",
                                 str(self.config), "-v"], logs)
        for role in ("coordinator", "settlement", "background"):
            self.procs[role] = CcpProcess(role, ["serve", role, "--config", str(self.config),
                                                 "-v"], logs)
        for p in self.procs.values():
            p.start()
        for url in self.api_urls:
            wait_for(f"the API at {url}", lambda u=url: api_up(u), 60)
        return self

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.api_ports]

    def stop(self) -> None:
        for p in self.procs.values():
            p.stop(timeout=20)
        if self.anvil is not None:
            self.anvil.stop()

    def ccp(self, *args: str, timeout: float = 120) -> tuple[int, str]:
        p = CcpProcess(f"ccp-{args[0]}-{time.monotonic_ns()}", list(args), self.root / "logs")
        p.start()
        code = p.wait(timeout)
        return code, p.output()

    def reconcile(self) -> tuple[int, str]:
        assert self.anvil is not None
        return self.ccp("chain", "reconcile", "--config", str(self.config), "--json")

    # ---- the client side of the chain ----------------------------------------------------

    def fund_and_deposit(self, key: str, amounts: dict[str, Decimal]) -> None:
        """Mint test tokens to the client, give it ETH, and let it deposit them itself."""
        chain, dep = self.chain, self.dep
        assert chain is not None and dep is not None
        acct: LocalAccount = Account.from_key(key)
        chain.rpc("anvil_setBalance", [acct.address, hex(10**20)])
        fl = chain.contract("FundLock", dep.fund_lock)
        for sym, amount in amounts.items():
            native = int(amount.scaleb(dep.currencies[sym].decimals))
            tok = chain.contract("TestToken", dep.tokens[sym])
            chain.execute(tok.functions.mint(acct.address, native), chain.accounts[0])
            chain.execute(tok.functions.approve(dep.fund_lock, native), acct)
            chain.execute(fl.functions.deposit(dep.tokens[sym], native), acct)

    def withdraw(self, key: str, sym: str, amount: Decimal) -> None:
        chain, dep = self.chain, self.dep
        assert chain is not None and dep is not None
        acct = Account.from_key(key)
        fl = chain.contract("FundLock", dep.fund_lock)
        native = int(amount.scaleb(dep.currencies[sym].decimals))
        chain.execute(fl.functions.withdraw(dep.tokens[sym], native), acct)

    def fund_lock_balance(self, address: str, sym: str) -> Decimal:
        chain, dep = self.chain, self.dep
        assert chain is not None and dep is not None
        fl = chain.contract("FundLock", dep.fund_lock)
        native = int(chain.call(fl.functions.balances(address, dep.tokens[sym])))
        return Decimal(native).scaleb(-dep.currencies[sym].decimals)

    def ledger_position(self, pair: str, contract_id: int, address: str) -> int:
        chain, dep = self.chain, self.dep
        assert chain is not None and dep is not None
        led = chain.contract("Ledger", dep.ledgers[pair])
        return int(chain.call(led.functions.positions(contract_id, address)))

    # ---- the store, read directly --------------------------------------------------------

    def query(self, sql: str, **params) -> list:
        return self.queries(sql, **params)[0]

    def queries(self, *sqls: str, **params) -> list[list]:
        """Several queries on ONE state of the store (the venue keeps running: an auction
        committed between two separate reads would make them disagree)."""
        store = Store.open(self.db_url)
        try:
            with store.snapshot() as tx:
                return [list(tx.conn.execute(text(sql), params)) for sql in sqls]
        finally:
            store.dispose()
