"""Typed settlement errors. web3/eth-tester exceptions are translated into these at the edge
(``settlement.chain``); nothing above the edge catches a web3 exception."""

from __future__ import annotations


class SettlementError(Exception):
    """Base of every error the settlement package raises."""


class ArtifactError(SettlementError):
    """A contract artifact is missing or malformed (run ``node contracts/compile.js``)."""


class ChainUnavailable(SettlementError):
    """The node does not answer (connection refused, timeout, node restarting)."""


class ChainReverted(SettlementError):
    """A call or transaction reverted; ``reason`` is the decoded custom error or message."""

    def __init__(self, reason: str, data: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data


class ChainRejected(SettlementError):
    """The node refused a transaction (nonce too low, underpriced, bad signature, ...)."""


class NotLocalChain(SettlementError):
    """An operation reserved to local chains (faucet, test tokens) was asked of another chain."""


class IllegalSettlementTransition(SettlementError, ValueError):
    """A settlement status change that the lifecycle table does not allow."""


class BatchTooLarge(SettlementError):
    """A single batch element does not fit the gas budget even alone."""
