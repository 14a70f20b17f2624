"""Typed errors of the collateral arithmetic."""

from __future__ import annotations


class CollateralError(ValueError):
    """Base class: an input the collateral rules cannot process."""


class UnknownCurrency(CollateralError):
    """A currency symbol that is not in the currencies mapping."""


class UnitsError(CollateralError):
    """An amount that must be a whole number of precision units is not (e.g. a lot size)."""


class UnknownOrder(CollateralError):
    """An order id the funds state does not hold."""


class DuplicateOrder(CollateralError):
    """An order id the funds state already holds."""


class FeeError(CollateralError):
    """Fees are enabled but cannot be computed (e.g. no spot price for the pair)."""


class InsufficientFunds(CollateralError):
    """A request needs more than the client has available; nothing was changed.

    ``code`` is the API result code ``INSUFFICIENT_FUNDS``.
    """

    code = "INSUFFICIENT_FUNDS"

    def __init__(self, client_id: int, currency: str, needed: int, available: int,
                 what: str = "order"):
        self.client_id = client_id
        self.currency = currency
        self.needed = needed
        self.available = available
        super().__init__(f"INSUFFICIENT_FUNDS: client {client_id} {what} needs {needed} "
                         f"{currency} units, {available} available")
