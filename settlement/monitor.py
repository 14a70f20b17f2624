"""The chain monitor: FundLock and Ledger events → the store, from the persisted edge on.

Each ``poll()`` reads the logs of blocks ``edge+1 … head−depth`` (``depth`` = the re-org-safe
depth, so nothing it hands over can be re-orged away), decodes them into ``settlement.events``
and gives them to ``ChainEventPort.apply_chain_events(events, new_edge)`` — which applies them and
moves the edge in one transaction. After a restart it starts from the persisted edge, so no event
is handled twice and none is missed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3._utils.events import get_event_data

from settlement import artifacts
from settlement.chain import Chain
from settlement.deploy import Deployment
from settlement.errors import ChainUnavailable
from settlement.events import (
    BatchApplied,
    ChainEvent,
    ClientRegistered,
    EventRef,
    FundsChanged,
    FundsKind,
    PositionChanged,
)
from settlement.port import ChainEventPort


def _topics(name: str) -> dict[bytes, dict[str, Any]]:
    return {event_abi_to_log_topic(e): e for e in artifacts.load(name).abi
            if e.get("type") == "event"}


class ChainMonitor:
    def __init__(self, chain: Chain, deployment: Deployment, port: ChainEventPort, *,
                 depth: int = 12, max_range: int = 2_000,
                 on_batch_applied: Callable[[int, int], None] | None = None) -> None:
        if depth < 0 or max_range < 1:
            raise ValueError("depth >= 0 and max_range >= 1 required")
        self.chain = chain
        self.dep = deployment
        self.port = port
        self.depth = depth
        self.max_range = max_range
        self.on_batch_applied = on_batch_applied
        self._fund_lock = to_checksum_address(deployment.fund_lock)
        self._ledgers = {to_checksum_address(a): p for p, a in deployment.ledgers.items()}
        self._fl_topics = _topics("FundLock")
        self._ledger_topics = _topics("Ledger")
        self.last_error = ""

    def poll(self) -> int:
        """Handle every new block up to the safe head; returns the number of events handled."""
        try:
            head = self.chain.block_number()
        except ChainUnavailable as e:
            self.last_error = str(e)
            return 0
        safe = head - self.depth
        edge = self.port.load_edge()
        start = self.dep.start_block if edge is None else edge + 1
        handled = 0
        while start <= safe:
            end = min(safe, start + self.max_range - 1)
            try:
                logs = self.chain.get_logs([self._fund_lock, *self._ledgers], start, end)
            except ChainUnavailable as e:
                self.last_error = str(e)
                break
            events = sorted((ev for log in logs if (ev := self._decode(log)) is not None),
                            key=lambda e: (e.ref.block_number, e.ref.log_index))
            self.port.apply_chain_events(events, end)
            for ev in events:
                if isinstance(ev, BatchApplied) and self.on_batch_applied is not None:
                    self.on_batch_applied(ev.backend_id, ev.ref.block_number)
            handled += len(events)
            start = end + 1
        return handled

    def _decode(self, log: Any) -> ChainEvent | None:
        addr = to_checksum_address(log["address"])
        topic0 = bytes(log["topics"][0]) if log["topics"] else b""
        codec = self.chain.w3.codec
        ref = EventRef(int(log["blockNumber"]), int(log["logIndex"]),
                       _hex(log["transactionHash"]), _hex(log["blockHash"]))
        if addr == self._fund_lock:
            abi = self._fl_topics.get(topic0)
            if abi is None:
                return None
            a = get_event_data(codec, abi, log)["args"]
            return self._fund_event(abi["name"], a, ref)
        pair = self._ledgers.get(addr)
        abi = self._ledger_topics.get(topic0)
        if pair is None or abi is None:
            return None
        a = get_event_data(codec, abi, log)["args"]
        if abi["name"] == "PositionUpdated":
            return PositionChanged(ref, pair, int(a["contractId"]), a["client"], int(a["delta"]),
                                   int(a["position"]), int(a["backendId"]))
        if abi["name"] == "PositionsUpdated":
            return BatchApplied(ref, pair, int(a["backendId"]), int(a["positionCount"]),
                                int(a["fundMovementCount"]))
        return None  # role changes: not the store's business

    def _fund_event(self, name: str, a: Any, ref: EventRef) -> ChainEvent | None:
        if name == "ClientRegistered":
            return ClientRegistered(ref, a["client"])
        token = a.get("token")
        if token is None:
            return None  # admin events
        try:
            cur = self.dep.currency_of_token(token)
        except KeyError:
            cur = to_checksum_address(token)  # a token outside the deployment: keep its address
        match name:
            case "Deposit":
                return FundsChanged(ref, FundsKind.DEPOSIT, a["client"], cur, int(a["amount"]),
                                    int(a["balance"]))
            case "Withdraw":
                return FundsChanged(ref, FundsKind.WITHDRAW, a["client"], cur, int(a["amount"]),
                                    int(a["balance"]), slot=int(a["slot"]))
            case "Release":
                return FundsChanged(ref, FundsKind.RELEASE, a["client"], cur, int(a["amount"]),
                                    None, slot=int(a["slot"]))
            case "EscapeWithdrawal":
                return FundsChanged(ref, FundsKind.ESCAPE, a["client"], cur, int(a["amount"]), 0)
            case "BalanceUpdated":
                return FundsChanged(ref, FundsKind.SETTLEMENT, a["client"], cur,
                                    int(a["amount"]), int(a["balance"]),
                                    backend_id=int(a["backendId"]))
            case "WithdrawalDrawn":
                return FundsChanged(ref, FundsKind.DRAWN, a["client"], cur, int(a["amount"]),
                                    None, slot=int(a["slot"]), backend_id=int(a["backendId"]))
        return None


def _hex(b: Any) -> str:
    return b.to_0x_hex() if hasattr(b, "to_0x_hex") else str(b)
