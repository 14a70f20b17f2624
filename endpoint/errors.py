"""The API's typed error: a result code of api.md §1 and a human text; one translation point
(``endpoint.app``) turns it into the 412 envelope (401 for ``UNAUTHORIZED``, 429 never: the
original clients read ``RATE_LIMITED`` from a 412 body, with ``Retry-After``)."""

from __future__ import annotations

CODES = (
    "OK", "INVALID_NONCE", "INVALID_SIGNATURE", "UNKNOWN_ETH_ADDRESS", "INVALID_REQUEST_DATA",
    "INVALID_ORDER_CLASS", "TRADING_IS_NOT_STARTED_YET", "INVALID_ORDER_SIDE",
    "INVALID_ORDER_TYPE", "INVALID_ORDER_TIF", "INVALID_ACCOUNT", "INVALID_CONTRACT_ID",
    "INVALID_ORDER_PRICE_PRECISION", "INVALID_ORDER_PRICE", "INVALID_ORDER_QTY_PRECISION",
    "INVALID_ORDER_QTY", "INVALID_ORDER_ID", "INVALID_ORDER_LEGS", "INSUFFICIENT_FUNDS",
    "TRADING_CLOSED", "PRICE_OUTSIDE_BAND", "DUPLICATE_ORDER_ID", "RATE_LIMITED",
    "UNAUTHORIZED", "SELF_MATCH", "REDUCE_ONLY_VIOLATION", "CANCEL_REJECTED",
)


class ApiError(Exception):
    def __init__(self, code: str, details: str = "", *, retry_after: float | None = None):
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return 401 if self.code == "UNAUTHORIZED" else 412


def unauthorized(details: str = "not authenticated") -> ApiError:
    return ApiError("UNAUTHORIZED", details)


def bad_request(details: str) -> ApiError:
    return ApiError("INVALID_REQUEST_DATA", details)
