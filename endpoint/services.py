"""What the endpoint needs from the venue: settings, the store, a clock, and three optional
collaborators the composition root (``venue/``) supplies.

* ``operations`` — expiry fixing, keepers, alerts and spot sources (implemented by the
  ``background`` package; the endpoint must not import it, it only calls this protocol).
* ``registrar`` — registers an address on first login (the embedded demo registers and funds a
  new address); ``None``: an unknown address gets ``UNKNOWN_ETH_ADDRESS``.
* ``chain_info`` — chain id, FundLock address and token addresses for ``systemInfo``;
  ``None``: ``systemInfo`` answers from the settings' defaults.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from coordinator.clock import Clock
from coordinator.persistence import Store
from coordinator.settings import Settings


class Operations(Protocol):
    """Operations the admin API delegates to; each raises ``ValueError`` for bad input."""

    def expiry_status(self, expiry: datetime.date | None, pair: str | None) -> list[dict]: ...

    def run_expiry(self, expiry: datetime.date, pair: str | None, actor: str) -> dict: ...

    def set_settlement_price(self, expiry: datetime.date, pair: str, price: Decimal, actor: str,
                             reason: str) -> dict: ...

    def add_keeper(self, url: str, secret: str, events: list[str]) -> dict: ...

    def list_keepers(self) -> list[dict]: ...

    def remove_keeper(self, keeper_id: int) -> bool: ...

    def alerts(self, limit: int) -> list[dict]: ...

    def spot_sources(self) -> list[dict]: ...


class Registrar(Protocol):
    def register(self, address: str) -> int:
        """Register (and, in the demo, fund) ``address``; returns its client id."""
        ...


class ChainInfo(Protocol):
    chain_id: int
    fundlock_address: str
    tokens: dict[str, tuple[str, int]]  # symbol -> (token address, decimals)


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    operations: Any | None = None  # an Operations
    registrar: Any | None = None  # a Registrar
    chain_info: Any | None = None  # a ChainInfo
