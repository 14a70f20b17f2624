"""``ccp run``: the whole venue in one process, on embedded defaults.

* the store: a SQLite file in the data folder (schema created or upgraded at start);
* the chain: anvil from the project's npm packages, its state kept in the data folder (a restart
  keeps the chain), contracts deployed on first start; without anvil an in-process py-evm chain
  whose state is NOT kept (said at start);
* listed on first start (and kept listed): WETH/USDC and WBTC/USDC option chains
  (:mod:`venue.seed`);
* threads: the API and WebSocket (uvicorn), the auction loop, settlement and the chain monitor,
  the background jobs (simulated spot prices), the demo traders (:mod:`venue.demo`);
* SIGINT / SIGTERM stop every part cleanly — an auction in progress finishes (a batch is one
  transaction), then the loop stops; running it again resumes from the same folder.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from coordinator.clock import SystemClock
from coordinator.loop import AuctionReport
from coordinator.persistence import Store
from coordinator.persistence.migrate import upgrade
from coordinator.settings import Settings
from settlement.chain import Chain
from settlement.deploy import Deployment
from venue import localchain
from venue.demo import DemoAccount, DemoTraders, demo_accounts
from venue.parts import (
    ChainInfo,
    Part,
    api_part,
    background_part,
    coordinator_part,
    operations_for,
    settlement_part,
)
from venue.registrar import DemoRegistrar
from venue.seed import ensure_listed, latest_spots

log = logging.getLogger("venue")

DB_FILE = "ccp.sqlite3"
LIST_EVERY_S = 600.0  # how often the run loop lists the next expiries
MINE_EVERY_S = 1.0  # the in-process chain mines a block this often (confirmations)


@dataclass(frozen=True)
class RunOptions:
    data_dir: Path = Path("ccp-data")
    host: str = "127.0.0.1"
    port: int = 8078
    cadence_seconds: float | None = None
    demo_traders: bool = True
    use_anvil: bool = True  # False: the in-process EVM even when anvil is installed


@dataclass
class LocalChain:
    chain: Chain
    deployment: Deployment
    anvil: localchain.AnvilProcess | None
    kept: bool  # its state survives a restart
    lock: threading.RLock = field(default_factory=threading.RLock)

    def stop(self) -> None:
        if self.anvil is not None:
            self.anvil.stop()


def start_chain(data_dir: Path, use_anvil: bool = True, out: TextIO = sys.stdout) -> LocalChain:
    binary = localchain.anvil_binary() if use_anvil else None
    if binary is not None:
        anvil = localchain.AnvilProcess(binary, state=data_dir / localchain.ANVIL_STATE_FILE,
                                        log=data_dir / "anvil.log").start()
        try:
            chain = Chain.connect(anvil.url)
            dep, _ = localchain.open_deployment(chain, data_dir)
            anvil.start_interval_mining()
        except BaseException:
            anvil.stop()
            raise
        return LocalChain(chain, dep, anvil, kept=True)
    print("ccp run: using an in-process EVM (anvil not installed, or --in-process-chain): its "
          "state is NOT kept — the chain and the store (ccp-ephemeral.sqlite3) start empty at "
          "every start", file=out, flush=True)
    chain = Chain.in_process()
    lock = serialise(chain)
    dep, _ = localchain.open_deployment(chain, data_dir, fresh_chain=True)
    return LocalChain(chain, dep, None, kept=False, lock=lock)


def serialise(chain: Chain) -> threading.RLock:
    """The in-process EVM is not thread-safe: every request to it (settlement and its mining,
    the registrar) takes one lock."""
    lock = threading.RLock()
    provider = chain.w3.provider
    inner = provider.make_request

    def make_request(method, params):
        with lock:
            return inner(method, params)

    provider.make_request = make_request
    tester = provider.ethereum_tester  # mining goes to the tester directly, not the provider
    for name in ("mine_blocks", "time_travel"):
        direct = getattr(tester, name)

        def locked(*args, _direct=direct, **kw):
            with lock:
                return _direct(*args, **kw)

        setattr(tester, name, locked)
    return lock


@dataclass
class Venue:
    """Everything ``ccp run`` starts; ``start()`` then ``wait()``; ``stop()`` from anywhere."""

    options: RunOptions
    settings: Settings
    out: TextIO = sys.stdout
    stop_event: threading.Event = field(default_factory=threading.Event)
    parts: list[Part] = field(default_factory=list)
    store: Store | None = None
    local: LocalChain | None = None
    accounts: list[DemoAccount] = field(default_factory=list)
    demo: DemoTraders | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.options.port}"

    def start(self) -> None:
        o = self.options
        clock = SystemClock()
        o.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store.open(self.settings.database_url)
        upgrade(self.store.engine)
        self.local = start_chain(o.data_dir, o.use_anvil, self.out)
        if self.local.anvil is None and self.settings.chain_mine_seconds <= 0:
            # No interval mining in the in-process EVM: settlement mines a block a second
            # itself, so that confirmations come without new transactions.
            self.settings = replace(self.settings, chain_mine_seconds=MINE_EVERY_S)
        s = self.settings
        chain, dep = self.local.chain, self.local.deployment
        listed = ensure_listed(self.store, clock.now_ms(), spots=self._spots())
        chain_lock = self.local.lock
        funder = chain.accounts[0]  # the deployer: the test tokens' minter
        registrar = DemoRegistrar(self.store, chain, dep, clock, funder, chain_lock=chain_lock)
        from endpoint.services import Services

        services = Services(s, self.store, clock, operations=operations_for(self.store, s, clock),
                            registrar=registrar, chain_info=ChainInfo.of(dep))
        self.parts = [api_part(services, o.host, o.port),
                      coordinator_part(self.store, s, clock, on_report=self._report),
                      settlement_part(self.store, s, chain, dep, clock),
                      background_part(self.store, s, clock)]
        if o.demo_traders:
            self.accounts = demo_accounts(o.data_dir)
            self.demo = DemoTraders(self.base_url, self.accounts, s.cadence_seconds)
            self.parts.append(Part("demo-traders", self._run_demo))
        for p in self.parts:
            p.start(self.stop_event)
        self._banner(listed)

    def _spots(self) -> dict[str, Decimal]:
        """Spot prices for fair values of new listings: the latest stored, else where the
        simulated source starts."""
        assert self.store is not None
        start = {p: Decimal(v) for p, v in self.settings.price_simulated_start.items()}
        return {**start, **latest_spots(self.store)}

    def _run_demo(self, stop: threading.Event) -> None:
        assert self.demo is not None
        _wait_http(self.base_url, stop)
        try:
            self.demo.run(stop)
        finally:
            self.demo.close()

    def _report(self, r: AuctionReport) -> None:
        print(f"auction {r.line()}", file=self.out, flush=True)

    def _banner(self, listed: list) -> None:
        o, loc = self.options, self.local
        assert loc is not None
        lines = [
            f"ccp run: the venue is up (data in {o.data_dir.resolve()})",
            f"  API        {self.base_url}/api/v1",
            f"  WebSocket  ws://{o.host}:{o.port}/wss",
            f"  page       {self.base_url}/",
            f"  docs       {self.base_url}/docs",
            f"  store      {self.settings.database_url}",
            f"  chain      {'anvil ' + loc.anvil.url if loc.anvil else 'in-process EVM'} (chain "
            f"id {loc.chain.chain_id}; state {'kept in the data folder' if loc.kept else 'NOT kept'}"
            f"); FundLock {loc.deployment.fund_lock}",
            f"  auctions   every {self.settings.cadence_seconds:g} s"
            + (f"; listed {len(listed)} contracts" if listed else ""),
        ]
        if self.accounts:
            lines.append("  demo traders (keys to import into a wallet or an SDK):")
            lines += [f"    {a.name:8} {a.address} {a.key}" for a in self.accounts]
        else:
            lines.append("  demo traders off")
        lines.append("  any other address that logs in is registered and funded with demo tokens")
        lines.append("Ctrl-C stops.")
        print("\n".join(lines), file=self.out, flush=True)

    def wait(self) -> None:
        """Until stopped (a signal, ``stop()`` or a part that failed); lists expiries meanwhile."""
        last_list = time.monotonic()
        while not self.stop_event.wait(1.0):
            if time.monotonic() - last_list > LIST_EVERY_S and self.store is not None:
                last_list = time.monotonic()
                try:
                    ensure_listed(self.store, SystemClock().now_ms(), spots=self._spots())
                except Exception:  # retried at the next round
                    log.exception("listing the next expiries failed")

    def stop(self) -> None:
        self.stop_event.set()

    def shutdown(self, timeout: float = 60.0) -> list[str]:
        """Stop every part (the auction loop finishes its batch), then the chain and the store.
        Returns the names of parts that failed or did not stop in time."""
        self.stop_event.set()
        problems = []
        order = ["demo-traders", "coordinator", "background", "settlement", "api"]
        deadline = time.monotonic() + timeout
        for name in order:
            for p in (p for p in self.parts if p.name == name):
                p.on_stop()
                if not p.join(max(0.1, deadline - time.monotonic())):
                    problems.append(f"{p.name} did not stop")
                elif p.error is not None:
                    problems.append(f"{p.name}: {type(p.error).__name__}: {p.error}")
        if self.local is not None:
            self.local.stop()
        if self.store is not None:
            self.store.dispose()
        return problems


def _wait_http(base_url: str, stop: threading.Event, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            httpx.post(base_url + "/api/v1/clientapi/nextAuction", timeout=2)
            return
        except httpx.HTTPError:
            stop.wait(0.2)


def run(options: RunOptions, settings: Settings, out: TextIO = sys.stdout) -> int:
    """The ``ccp run`` process: start, wait for SIGINT/SIGTERM, stop cleanly. Exit code."""
    venue = Venue(options, settings, out)

    def on_signal(_sig: int, _frame: Any) -> None:
        venue.stop()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            venue.start()
        except BaseException:
            venue.shutdown(timeout=20)
            raise
        venue.wait()
        print("ccp run: stopping (the auction in progress finishes)…", file=out, flush=True)
        problems = venue.shutdown()
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    for p in problems:
        print(f"ccp run: {p}", file=sys.stderr, flush=True)
    print("ccp run: stopped", file=out, flush=True)
    return 1 if problems else 0
