"""Collateral, funds state and cash movements (``../shared/spec/collateral.md``).

Pure and exact: integers (lots, ticks, currency precision units) and Decimal/Fraction inside;
no I/O, no clock (time is passed in). Modules:

* :mod:`~validator.collateral.lockup` — portfolio collateral per client × pair × expiry (§3);
* :mod:`~validator.collateral.locks` — the lock of an order at entry (§2);
* :mod:`~validator.collateral.funds` — funds state per client × currency (§1);
* :mod:`~validator.collateral.movements` — cash movements of a batch (§4);
* :mod:`~validator.collateral.expiry` — payoffs and lockup release at expiry (§5);
* :mod:`~validator.collateral.pretrade` — the pre-trade check (§6);
* :mod:`~validator.collateral.risk` — the informational Black-76 stress view (§6).
"""

CLEARING_HOUSE_ID = 0
"""The reserved client id of the clearing house account (replication residual, custody, dust)."""
