"""Request and response models of the client and admin API (the OpenAPI document).

Requests follow api.md §0: unknown fields are ignored, prices and quantities are decimal
strings **or** JSON numbers, a call without arguments may have no body, an empty body or
``null``. Responses use JSON numbers where the original venue did (``WireNumber``): the venue
computes in integers and exact decimals and writes a number only at this edge (every amount
it writes has at most 15 significant digits, so the JSON text is the exact decimal).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

#: Integers the store can hold (64-bit signed) and contract ids (uint32, as signed).
I64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
U32 = Annotated[int, Field(ge=0, le=2**32 - 1)]

#: A decimal amount on the wire: a string or a JSON number.
WireDecimal = str | int | float
#: A number the venue writes (exact decimal, at most 15 significant digits).
WireNumber = float


class In(BaseModel):
    """Base of every request body: unknown fields ignored."""

    model_config = ConfigDict(extra="ignore")


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Out):
    """Every error: HTTP 412 (401 for ``UNAUTHORIZED``), never a ``payload`` key."""

    result: str = Field(description="a result code of api.md §1")
    details: str = ""


class Ok(Out, Generic[T]):
    result: str = "OK"
    details: str = ""
    payload: T


# ---- auth ----------------------------------------------------------------------------------

class RequestAuthIn(In):
    ethAddress: str = Field(description="0x… address, any letter case")


class NoncePayload(Out):
    nonce: str


class RequestAuthOut(Out):
    result: str = "OK"
    details: str = ""
    nonce: str = Field(description="the nonce, at the top level (the deployed SDKs read it here)")
    payload: NoncePayload


class ValidateAuthIn(In):
    nonce: str
    signature: str = Field(description="V.R.S: hex fields joined by dots")


class SessionPayload(Out):
    authToken: str
    clientId: int


class SessionInfoPayload(Out):
    clientId: str
    ethAddress: str


class SessionInfoOut(Out):
    result: str = "OK"
    details: str = ""
    clientId: str
    payload: SessionInfoPayload


# ---- orders --------------------------------------------------------------------------------

class LegIn(In):
    contractId: U32
    side: str = Field(description="BUY or SELL")
    quantity: WireDecimal


class OrderIn(In):
    """A signed order (newOrder) or, unsigned, a what-if order (estimate…, validateTrade)."""

    clientOrderId: I64 = Field(description="positive, below 2^63, unique per client")
    orderType: str = "LIMIT"
    timeInForce: str = "GOOD_TILL_CANCEL"
    clientEthAddress: str | None = None
    totalNetPrice: WireDecimal = Field(description="signed total premium: buy +, sell −")
    legs: list[LegIn]
    requestSinglePrice: bool | None = None
    iocAuctionTime: I64 | str | None = Field(None, description="epoch ms (GOOD_TILL_DATE)")
    allOrNone: bool | None = None
    minQuantity: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = Field(
        None, description="packages")
    reduceOnly: bool | None = None
    signature: str | None = None


class ClientOrderIdIn(In):
    clientOrderId: I64


class OrderLegOut(Out):
    contractId: int
    side: str
    originalQty: WireNumber
    remainingQty: WireNumber
    filledQty: WireNumber


class OrderOut(Out):
    clientOrderId: int | None
    orderId: int
    orderStatus: str
    ordRejReason: str | None = None
    orderType: str = "LIMIT"
    timeInForce: str
    totalNetPrice: WireNumber
    currencyPair: str
    packages: int
    filledPackages: int
    allOrNone: bool
    minQuantity: int
    createdAt: int
    expireAt: int | None = None
    legs: list[OrderLegOut]
    underlierLock: WireNumber | None = None
    numeraireLock: WireNumber | None = None


class NewOrderPayload(Out):
    clientOrderId: int
    orderId: int
    orderStatus: str


class NewOrderOut(Out):
    result: str = "OK"
    details: str = ""
    clientOrderId: int = Field(description="also at the top level, as the SDKs return it")
    payload: NewOrderPayload


class FilterIn(In):
    filter: str | None = None


class ContractIdIn(In):
    contractId: U32
    filter: str | None = None


class ExpiryIn(In):
    expiry: I64 | str | None = None
    filter: str | None = None
    currencyPair: str | None = None


class PeriodIn(In):
    from_: I64 | None = Field(None, alias="from")
    to: I64 | None = None


class TradeHistoryIn(In):
    from_: I64 | None = Field(None, alias="from")
    to: I64 | None = None
    offset: I64 | None = None
    limit: I64 | None = None
    status: str | None = None
    expiry: I64 | str | None = None
    currencyPair: str | None = None


class PositionOut(Out):
    contractId: int
    positionsQty: WireNumber
    positionsAvgPrice: WireNumber
    payoff: str
    currencyPair: str
    expiry: int
    strike: WireNumber | None = None


class HistoricalPositionsOut(Out):
    positions: list[PositionOut]
    expiryPrices: dict[str, WireNumber]
    payoff: dict[str, WireNumber]
    totalCollateral: dict[str, WireNumber]


class TradeOut(Out):
    batchId: int
    orderId: int
    clientOrderId: int | None
    contractId: int
    side: str
    quantity: WireNumber
    price: WireNumber
    time: int


class FundLockStateOut(Out):
    currency: str
    orderValue: WireNumber
    fundLockValue: WireNumber
    settleValue: WireNumber


class LockedCollateralOut(Out):
    currencyPair: str
    expiry: int
    underlierAmount: WireNumber
    numeraireAmount: WireNumber


class NetAssetValueOut(Out):
    cash: dict[str, WireNumber]
    positionsValue: dict[str, WireNumber]
    total: dict[str, WireNumber]


class LockOut(Out):
    currencyPair: str
    underlierAmount: WireNumber
    numeraireAmount: WireNumber


class FeeOut(Out):
    currency: str
    numeraireAmount: WireNumber
    details: str


class CurrencyStateOut(Out):
    currency: str
    locked: WireNumber
    available: WireNumber


class FailureOut(Out):
    code: str
    details: str


class ValidateTradeOut(Out):
    isValid: bool
    before: list[CurrencyStateOut]
    after: list[CurrencyStateOut]
    failures: list[FailureOut]


# ---- market data ---------------------------------------------------------------------------

class SystemInfoOut(Out):
    chainId: int
    fundlockAddress: str
    tokenAddress: dict[str, str]
    tokenDecimals: dict[str, int]
    currencyPrecision: dict[str, int]


class EconomicsOut(Out):
    currencyPair: str
    expiry: int
    strike: WireNumber | None = None
    priceCurrency: str
    qtyCurrency: str


class ContractOut(Out):
    contractId: int
    payoff: str
    economics: EconomicsOut
    tradeable: bool
    tickSize: WireNumber
    lotSize: WireNumber


class IdsIn(In):
    ids: list[U32] = Field(default_factory=list, max_length=10_000)


class ReferencePricesIn(In):
    currencyPair: str | None = None
    expiry: I64 | str | None = None


class ReferencePriceOut(Out):
    contractId: int
    referencePrice: WireNumber
    lowRange: WireNumber
    highRange: WireNumber
    lastPrice: WireNumber | None
    updateAt: int


class LevelOut(Out):
    price: WireNumber
    size: WireNumber


class BookOut(Out):
    contractId: int
    asks: list[LevelOut]
    bids: list[LevelOut]
    conditionalAskQty: WireNumber
    conditionalBidQty: WireNumber


class BestBidAskIn(In):
    contractId: U32 | None = None


class BestBidAskOut(Out):
    contractId: int
    bestBid: WireNumber | None
    bidSize: WireNumber | None
    bestAsk: WireNumber | None
    askSize: WireNumber | None


# ---- admin ---------------------------------------------------------------------------------

class CurrencyIn(In):
    symbol: str
    decimals: int = Field(ge=0, le=36)
    precision: int = Field(ge=0, le=18)


class CurrencyOut(Out):
    symbol: str
    decimals: int
    precision: int


class PairIn(In):
    underlying: str
    numeraire: str


class ContractIn(In):
    """A contract in the interchange format (``auction.interchange``)."""

    contractId: U32
    payoff: str
    currencyPair: str
    expiry: I64 | str
    strike: WireDecimal | None = None
    tickSize: WireDecimal
    lotSize: WireDecimal
    referencePrice: WireDecimal
    lowRange: WireDecimal
    highRange: WireDecimal


class TickLotIn(In):
    tickSize: WireDecimal
    lotSize: WireDecimal


class BandIn(In):
    lowRange: WireDecimal
    highRange: WireDecimal


class ReferencePriceIn(In):
    referencePrice: WireDecimal


class AdminContractOut(Out):
    contractId: int
    payoff: str
    currencyPair: str
    expiry: int
    strike: str | None
    tickSize: str
    lotSize: str
    referencePrice: str
    lowRange: str
    highRange: str
    listed: bool


class ScheduleIn(In):
    paused: bool | None = None
    cadenceSeconds: float | None = Field(None, gt=0, le=86400)


class ScheduleOut(Out):
    paused: bool
    cadenceSeconds: float
    nextAuction: int


class BatchOut(Out):
    batchId: int
    status: str
    solveStatus: str | None
    orderCount: int
    fillCount: int
    volume: int
    checkOk: bool | None
    violations: list[str]  # the check's first violations (empty when it passed)
    timings: dict[str, float]  # seconds per step (cut, solve, check, movements, persist, total)
    startedMs: int
    finishedMs: int
    settlement: dict[str, int]


class SettlementOut(Out):
    unsent: int
    inFlight: int
    failed: list[str]
    caughtUp: bool


class ExpiryRunIn(In):
    expiry: I64 | str
    pair: str | None = None


class SettlementPriceIn(In):
    expiry: I64 | str
    pair: str
    price: WireDecimal
    reason: str = ""


class KeeperIn(In):
    url: str
    secret: str
    events: list[str] = Field(default_factory=list)


Json = dict[str, Any]
