"""``ccp serve ROLE``: one part of the venue per process, for the production layout.

Every role reads the same settings (PostgreSQL in ``database_url``; ``chain_rpc_url``,
``chain_deployment`` and ``chain_operator_key`` for the roles that touch the chain) and stops
cleanly on SIGINT / SIGTERM. Several ``api`` processes may run side by side (each publishes the
outbox to its own WebSocket clients; PostgreSQL LISTEN/NOTIFY wakes them); ``coordinator`` runs
auctions only while it holds the lease, so a second one is a stand-by; ``settlement`` and
``background`` are single.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, TextIO

from coordinator.clock import SystemClock
from coordinator.loop import AuctionReport
from coordinator.persistence import Store
from coordinator.settings import Settings
from venue.parts import (
    ChainInfo,
    Part,
    api_part,
    background_part,
    connect_chain,
    coordinator_part,
    operations_for,
    settlement_part,
)

ROLES = ("api", "coordinator", "settlement", "background")


def build(role: str, settings: Settings, store: Store, *, port: int | None = None,
          out: TextIO = sys.stdout) -> Part:
    clock = SystemClock()
    if role == "api":
        from endpoint.services import Services

        chain_info = None
        if settings.chain_deployment:
            import json
            from pathlib import Path

            from settlement.deploy import Deployment

            chain_info = ChainInfo.of(Deployment.from_dict(
                json.loads(Path(settings.chain_deployment).read_text())))
        services = Services(settings, store, clock,
                            operations=operations_for(store, settings, clock),
                            registrar=None, chain_info=chain_info)
        return api_part(services, settings.venue_host, port or settings.venue_port)
    if role == "coordinator":
        def report(r: AuctionReport) -> None:
            print(r.line(), file=out, flush=True)

        return coordinator_part(store, settings, clock, on_report=report)
    if role == "settlement":
        chain, dep = connect_chain(settings)
        return settlement_part(store, settings, chain, dep, clock)
    if role == "background":
        return background_part(store, settings, clock)
    raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")


def serve(role: str, settings: Settings, store: Store, *, port: int | None = None,
          out: TextIO = sys.stdout) -> int:
    """Run one role until SIGINT / SIGTERM; exit code 0 on a clean stop, 1 when the part
    failed."""
    part = build(role, settings, store, port=port, out=out)
    stop = threading.Event()

    def on_signal(_sig: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    where = f" on {settings.venue_host}:{port or settings.venue_port}" if role == "api" else ""
    print(f"ccp serve {role}: running{where}", file=out, flush=True)
    part.start(stop)
    while not stop.wait(0.5):
        if part.done.is_set():
            break
    stop.set()
    part.on_stop()
    part.join(60)
    if part.error is not None:
        print(f"ccp serve {role}: {type(part.error).__name__}: {part.error}", file=sys.stderr,
              flush=True)
        return 1
    print(f"ccp serve {role}: stopped", file=out, flush=True)
    return 0
