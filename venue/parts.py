"""The venue's parts as things that run until a stop event: the API server, the auction loop,
settlement with the chain monitor, the background jobs. ``ccp run`` runs them as threads of one
process, ``ccp serve ROLE`` one per process; both build them here, from the same settings.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coordinator.clock import Clock
from coordinator.loop import AuctionReport, Coordinator
from coordinator.persistence import LeaseHeld, LeaseLost, Store, StoreError
from coordinator.settings import Settings
from settlement.chain import Chain
from settlement.deploy import Deployment

log = logging.getLogger("venue")


@dataclass(frozen=True)
class ChainInfo:
    """What ``systemInfo`` tells clients about the chain (api.md §4)."""

    chain_id: int
    fundlock_address: str
    tokens: dict[str, tuple[str, int]]  # symbol → (token address, decimals)

    @classmethod
    def of(cls, dep: Deployment) -> ChainInfo:
        return cls(dep.chain_id, dep.fund_lock,
                   {s: (a, dep.currencies[s].decimals) for s, a in dep.tokens.items()})


@dataclass
class Part:
    """A named loop run by a thread: ``target(stop)`` returns when ``stop`` is set."""

    name: str
    target: Callable[[threading.Event], Any]
    on_stop: Callable[[], None] = lambda: None
    thread: threading.Thread | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def start(self, stop: threading.Event) -> None:
        def body() -> None:
            try:
                self.target(stop)
            except BaseException as e:  # reported by the owner, which stops all
                self.error = e
                log.exception("%s stopped on an error", self.name)
                stop.set()
            finally:
                self.done.set()

        self.thread = threading.Thread(target=body, name=self.name, daemon=True)
        self.thread.start()

    def join(self, timeout: float) -> bool:
        if self.thread is None:
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()


# ---- the parts --------------------------------------------------------------------------

_heap_settled = False


def settle_heap() -> None:
    """Once per process: take the objects built so far (modules, the app, its routes and
    models) out of the cyclic garbage collector's generations, and collect the young
    generation every 50,000 allocations instead of 700. With the defaults, the collections of
    an API process under order intake took about a second per 20 s, the full ones 0.1–0.3 s
    each with every request of the process stalled: much of the intake's p99 latency."""
    global _heap_settled
    if _heap_settled:
        return
    _heap_settled = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def api_part(services: Any, host: str, port: int) -> Part:
    """The FastAPI app (REST + WebSocket) under uvicorn."""
    import uvicorn

    from endpoint.app import create_app
    from endpoint.ws import uvicorn_config  # the WebSocket implementation clients need

    app = create_app(services)
    settle_heap()
    server = uvicorn.Server(uvicorn_config(app, host=host, port=port,
                                           timeout_graceful_shutdown=5))
    # Signals belong to the owner (one handler for every part); uvicorn must not take them.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

    def target(stop: threading.Event) -> None:
        # Stopped by ``on_stop`` (the owner stops the API last, after the parts that use it).
        server.run()
        if not stop.is_set() and not server.should_exit:
            raise RuntimeError(f"the API server on {host}:{port} stopped")

    part = Part("api", target, on_stop=lambda: setattr(server, "should_exit", True))
    part.server = server  # type: ignore[attr-defined]
    return part


def coordinator_part(store: Store, settings: Settings, clock: Clock,
                     on_report: Callable[[AuctionReport], None] = lambda r: None) -> Part:
    """The auction loop; waits for the lease when another coordinator holds it (stand-by)."""

    def target(stop: threading.Event) -> None:
        while not stop.is_set():
            co = Coordinator(store, settings, clock)
            try:
                while not stop.is_set():
                    try:
                        co.acquire(wait=False)
                        break
                    except LeaseHeld:
                        stop.wait(min(settings.lease_seconds / 3, 2.0))
                if stop.is_set():
                    return
                log.info("coordinator %s: lease taken; auctions every %g s", co.holder,
                         settings.cadence_seconds)
                co.loop(should_stop=stop.is_set, on_report=on_report)
            except (LeaseLost, LeaseHeld) as e:
                log.warning("coordinator lost the lease (%s); standing by", e)
                stop.wait(1.0)
            except (StoreError, ValueError) as e:
                # An auction that cannot run (a store error, a book the cut refuses) must not
                # take the venue down: logged, and tried again at the next cut-off.
                log.exception("auction failed: %s; trying again in %g s", e,
                              settings.cadence_seconds)
                stop.wait(settings.cadence_seconds)
            finally:
                with contextlib.suppress(Exception):  # the lease may be gone already
                    co.release()

    return Part("coordinator", target)


def settlement_part(store: Store, settings: Settings, chain: Chain, deployment: Deployment,
                    clock: Clock) -> Part:
    """Cash movements to the Ledgers, receipts to confirmations, the chain monitor."""
    from coordinator.settling import SettlementRunner

    runner = SettlementRunner(store, settings, chain, deployment, clock)
    part = Part("settlement", runner.run)
    part.runner = runner  # type: ignore[attr-defined]
    return part


def background_part(store: Store, settings: Settings, clock: Clock, **kw: Any) -> Part:
    """Spot prices, expiry fixing, readiness checks, keepers."""
    from background.jobs import BackgroundJobs

    jobs = BackgroundJobs(store, settings, clock, **kw)
    part = Part("background", jobs.run)
    part.jobs = jobs  # type: ignore[attr-defined]
    return part


def operations_for(store: Store, settings: Settings, clock: Clock) -> Any | None:
    """The admin operations the endpoint delegates to (the background package's)."""
    from background.operations import Operations

    return Operations(store, settings, clock)


def connect_chain(settings: Settings) -> tuple[Chain, Deployment]:
    """The JSON-RPC node and the deployment of the settings (production roles)."""
    import json
    from pathlib import Path

    if not settings.chain_rpc_url:
        raise ValueError("chain_rpc_url is not set (the JSON-RPC node to settle on)")
    if not settings.chain_deployment:
        raise ValueError("chain_deployment is not set (the JSON of `ccp chain deploy --out`)")
    try:
        dep = Deployment.from_dict(json.loads(Path(settings.chain_deployment).read_text()))
    except (OSError, ValueError) as e:
        raise ValueError(f"chain_deployment {settings.chain_deployment}: {e}") from None
    keys = [settings.chain_operator_key] if settings.chain_operator_key else []
    chain = Chain.connect(settings.chain_rpc_url, keys)
    if chain.chain_id != dep.chain_id:
        raise ValueError(f"chain_deployment is for chain {dep.chain_id}, the node at "
                         f"{settings.chain_rpc_url} is chain {chain.chain_id}")
    return chain, dep
