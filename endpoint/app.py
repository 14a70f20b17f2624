"""The client API (api.md §1–§4) and the admin API (§7) as one FastAPI app.

``create_app(services)`` builds it; serve it with uvicorn (``uvicorn.run(create_app(s))``).
Every route has pydantic request and response models (``/openapi.json``, ``/docs``). Errors
have one translation point, :func:`_error_response`: an :class:`ApiError` (and any request the
models refuse) becomes HTTP 412 ``{"result": CODE, "details": …}`` without a ``payload`` key,
``UNAUTHORIZED`` a 401 with the same JSON shape, ``RATE_LIMITED`` carries ``Retry-After``; a
fault is a 500 with a JSON body and never a traceback.

Sessions: the ``ccpsession`` cookie of ``validateAuth`` (attributes sent back are tolerated), or
``Authorization: Bearer <authToken>``. Abuse limits: request bodies above
``api_max_body_bytes``, ``newOrders`` above ``api_max_batch_orders``, and per-client /
per-address token buckets (``endpoint.ratelimit``).
"""


import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auction.orders import Side
from coordinator.persistence import Conflict, NotFound, StoreError, StoreUnavailable
from coordinator.persistence import clientapi as repo
from endpoint import auth, views
from endpoint import models as m
from endpoint import orders as ords
from endpoint.admin import admin_router
from endpoint.errors import ApiError
from endpoint.ratelimit import RateLimiter
from endpoint.services import Services
from endpoint.web import register_web
from endpoint.wire import expiry_in, expiry_out, units
from endpoint.ws import register_ws
from validator.collateral.funds import Balance, FundsState, LiveOrder
from validator.collateral.locks import order_lock
from validator.collateral.lockup import exposures, lockup_of
from validator.collateral.positions import Positions, bucket_of
from validator.collateral.pretrade import LegRequest, TradeRequest, validate_trade

log = logging.getLogger(__name__)

API = "/api/v1"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

_FIELD_CODES = {"side": "INVALID_ORDER_SIDE", "timeInForce": "INVALID_ORDER_TIF",
                "orderType": "INVALID_ORDER_TYPE", "legs": "INVALID_ORDER_LEGS",
                "totalNetPrice": "INVALID_ORDER_PRICE", "quantity": "INVALID_ORDER_QTY",
                "clientOrderId": "INVALID_ORDER_ID", "contractId": "INVALID_CONTRACT_ID"}

ERRORS: dict[int | str, dict[str, Any]] = {
    412: {"model": m.ErrorBody, "description": "rejected: a result code of api.md §1"},
    401: {"model": m.ErrorBody, "description": "not authenticated"},
}


@dataclass(frozen=True)
class Caller:
    client_id: int
    address: str
    token: str


def ok(payload: Any, **top: Any) -> dict[str, Any]:
    return {"result": "OK", "details": "", **top, "payload": payload}


def _error_response(code: str, details: str, status: int = 412,
                    retry_after: float | None = None) -> JSONResponse:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(min(retry_after, 3600))))
    return JSONResponse({"result": code, "details": details}, status_code=status,
                        headers=headers)


def _validation_code(errors: list[dict[str, Any]]) -> str:
    for e in errors:
        for part in reversed([p for p in e.get("loc", ()) if isinstance(p, str)]):
            if part in _FIELD_CODES:
                return _FIELD_CODES[part]
    return "INVALID_REQUEST_DATA"


def _describe(errors: list[dict[str, Any]]) -> str:
    out = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        out.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(out)


class BodyLimit:
    """Refuse request bodies above ``limit`` bytes (by Content-Length, and while streaming)."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._refuse(scope, receive, send)
                    return
        seen = 0
        limit = self.limit

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = _error_response("INVALID_REQUEST_DATA",
                               f"request body larger than {self.limit} bytes")
        await resp(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(services: Services) -> Any:
    settings = services.settings
    store = services.store
    clock = services.clock
    dialect = settings.api_wire_dialect
    per_client = RateLimiter(settings.api_rate_per_client, settings.api_rate_burst_client)
    per_address = RateLimiter(settings.api_rate_per_address, settings.api_rate_burst_address)

    app = FastAPI(title="CCP venue API", version="1.0",
                  description="The traders' REST API (api.md), wire-compatible with the "
                              "Elektro/Ithaca clients, and the admin API.",
                  responses=ERRORS)
    app.state.services = services

    # ---- the one error translation point ---------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, e: ApiError) -> JSONResponse:
        return _error_response(e.code, e.details, e.status, e.retry_after)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, e: RequestValidationError) -> JSONResponse:
        errors = list(e.errors())
        return _error_response(_validation_code(errors), _describe(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, e: StarletteHTTPException) -> JSONResponse:
        code = "UNAUTHORIZED" if e.status_code == 401 else "INVALID_REQUEST_DATA"
        return _error_response(code, str(e.detail), e.status_code)

    @app.exception_handler(StoreError)
    async def _store(_request: Request, e: StoreError) -> JSONResponse:
        if isinstance(e, Conflict):
            return _error_response("INVALID_REQUEST_DATA", f"changed meanwhile: {e}; retry")
        if isinstance(e, NotFound):
            return _error_response("INVALID_REQUEST_DATA", str(e))
        log.error("store error: %s", e)
        status = 503 if isinstance(e, StoreUnavailable) else 500
        return _error_response("GENERAL", "the venue's store is unavailable", status)

    @app.exception_handler(Exception)
    async def _fault(_request: Request, e: Exception) -> JSONResponse:
        log.exception("fault in the API")
        return _error_response("GENERAL", "internal error", 500)

    # ---- callers and limits ---------------------------------------------------------------

    def now() -> int:
        return clock.now_ms()

    def remote(request: Request) -> str:
        return request.client.host if request.client else "-"

    def limit(limiter: RateLimiter, key: str, cost: float = 1) -> None:
        wait = limiter.take(key, cost)
        if wait is not None:
            if math.isinf(wait):
                raise ApiError("RATE_LIMITED", f"a request of {cost:g} exceeds the burst "
                               f"limit {limiter.burst}", retry_after=3600)
            raise ApiError("RATE_LIMITED", f"too many requests: retry in {wait:.2f} s",
                           retry_after=wait)

    def token_of(request: Request) -> str | None:
        """The session cookie, else a bearer token (a client may also hold an admin token
        in its Authorization header: the cookie wins)."""
        cookie = auth.token_from_cookie_header(request.headers.get("cookie"))
        if cookie:
            return cookie
        h = request.headers.get("authorization", "")
        if h.lower().startswith("bearer "):
            return h[7:].strip() or None
        return None

    def caller(request: Request) -> Caller:
        token = token_of(request)
        found = auth.client_for_token(store, token, now()) if token else None
        if found is None:
            raise ApiError("UNAUTHORIZED", "no valid session: log in (auth/requestAuth, "
                           "auth/validateAuth)")
        limit(per_client, f"client:{found[0]}")
        return Caller(found[0], found[1], token or "")

    def anonymous(request: Request) -> None:
        limit(per_address, f"ip:{remote(request)}")

    async def raw_json(request: Request) -> Any:
        """The JSON body as sent (no body, an empty body and ``null`` are all None)."""
        raw = await request.body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError("INVALID_REQUEST_DATA", f"body is not JSON: {e}") from None

    def committed() -> None:
        """Events were committed in this process: wake the WebSocket hub (no poll delay)."""
        fanout = getattr(app.state, "ws", None)
        hub = getattr(fanout, "hub", None)
        if hub is not None:
            hub.wake()

    Session = Annotated[Caller, Depends(caller)]
    Public = [Depends(anonymous)]

    def body_or_empty(model: type, body: Any) -> Any:
        return body if body is not None else model()

    # ---- §2 authentication ---------------------------------------------------------------

    @app.post(f"{API}/auth/requestAuth", response_model=m.RequestAuthOut, tags=["auth"],
              dependencies=Public)
    def request_auth(body: Annotated[m.RequestAuthIn, Body()]) -> Any:
        address = auth.normalise_address(body.ethAddress)
        limit(per_address, f"eth:{address}")
        nonce = auth.request_nonce(store, settings, address, now())
        return {"result": "OK", "details": "", "nonce": nonce, "payload": {"nonce": nonce}}

    @app.post(f"{API}/auth/validateAuth", response_model=m.Ok[m.SessionPayload], tags=["auth"],
              dependencies=Public)
    def validate_auth(body: Annotated[m.ValidateAuthIn, Body()]) -> Any:
        parts = body.nonce.rsplit("-", 1)[0].rsplit("-", 1)
        if len(parts) == 2:
            limit(per_address, f"eth:{parts[1].lower()}")
        sess = auth.validate(store, settings, body.nonce, body.signature, now(),
                             services.registrar)
        resp = JSONResponse(ok({"authToken": sess.token, "clientId": sess.client_id}))
        resp.headers["set-cookie"] = auth.session_cookie(sess.token, settings,
                                                         settings.api_session_seconds)
        return resp

    def session_info(who: Caller) -> Any:
        return {"result": "OK", "details": "", "clientId": str(who.client_id),
                "payload": {"clientId": str(who.client_id),
                            "ethAddress": _checksum(who.address)}}

    @app.get(f"{API}/auth/getSessionInfo", response_model=m.SessionInfoOut, tags=["auth"])
    def get_session_info(who: Session) -> Any:
        return session_info(who)

    @app.post(f"{API}/auth/getSessionInfo", response_model=m.SessionInfoOut, tags=["auth"],
              include_in_schema=False)
    def post_session_info(who: Session) -> Any:
        return session_info(who)

    @app.post(f"{API}/auth/logout", response_model=m.Ok[None], tags=["auth"])
    def logout(who: Session) -> Any:
        auth.logout(store, who.token)
        resp = JSONResponse(ok(None))
        resp.headers["set-cookie"] = auth.session_cookie("", settings, 0)
        return resp

    # ---- §3 orders -----------------------------------------------------------------------

    cache = ords.ReferenceCache()
    intake = ords.GroupCommit(store, settings, clock, cache)
    # parsing and signature checks take turns with each other and the intake writer
    turns = intake.turns
    app.state.intake = intake
    app.router.on_shutdown.append(intake.stop)

    def reference() -> tuple[dict, dict]:
        with store.read() as tx:
            return cache.get(tx)

    def order_caller(request: Request) -> tuple[Caller, dict, dict]:
        """:func:`caller` and :func:`reference` in one read transaction (new orders: one
        connection checkout and round trips fewer per request)."""
        token = token_of(request)
        found = None
        if token:
            with store.read() as tx:
                found = auth.client_in(tx, token, now())
                if found is not None:
                    contracts, currencies = cache.get(tx)
        if found is None:
            raise ApiError("UNAUTHORIZED", "no valid session: log in (auth/requestAuth, "
                           "auth/validateAuth)")
        limit(per_client, f"client:{found[0]}")
        return Caller(found[0], found[1], token or ""), contracts, currencies

    OrderSession = Annotated[tuple[Caller, dict, dict], Depends(order_caller)]

    def parse(body: m.OrderIn, who: Caller, contracts, currencies, *,
              check_address: bool = True) -> ords.WireOrder:
        return ords.parse_order(body, client_id=who.client_id, address=who.address,
                                contracts=contracts, currencies=currencies,
                                check_address=check_address)

    CL = f"{API}/clientapi"

    @app.post(f"{CL}/newOrder", response_model=m.NewOrderOut, tags=["orders"])
    def new_order(body: Annotated[m.OrderIn, Body()], caller_ref: OrderSession) -> Any:
        who, contracts, currencies = caller_ref
        with turns.turn():
            w = parse(body, who, contracts, currencies)
            ords.verify_signature(settings, w, who.address)
        out = intake.submit([w])[0]
        committed()
        if out.code != "OK":
            raise ApiError(out.code, out.details)
        return ok({"clientOrderId": out.client_order_id, "orderId": out.order_id,
                   "orderStatus": out.status}, clientOrderId=out.client_order_id)

    @app.post(f"{CL}/newOrders", response_model=m.Ok[dict[str, str]], tags=["orders"],
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"type": "array", "items": {"$ref": "#/components/schemas/OrderIn"},
                             "maxItems": settings.api_max_batch_orders}}}}})
    def new_orders(caller_ref: OrderSession, body: Annotated[Any, Depends(raw_json)]) -> Any:
        who, contracts, currencies = caller_ref
        if body is not None and not isinstance(body, list):
            raise ApiError("INVALID_REQUEST_DATA", "newOrders takes an array of orders")
        items = body or []
        if len(items) > settings.api_max_batch_orders:
            raise ApiError("INVALID_REQUEST_DATA", f"{len(items)} orders: at most "
                           f"{settings.api_max_batch_orders} per newOrders")
        if len(items) > 1:
            limit(per_client, f"client:{who.client_id}", len(items) - 1)
        results: dict[str, str] = {}
        good: list[ords.WireOrder] = []
        with turns.turn():
            for i, raw in enumerate(items):
                coid = raw.get("clientOrderId") if isinstance(raw, dict) else None
                key = str(coid) if coid is not None else f"#{i}"
                turns.let_writer()
                try:
                    w = parse(m.OrderIn.model_validate(raw), who, contracts, currencies)
                    ords.verify_signature(settings, w, who.address)
                    good.append(w)
                except ValidationError as e:
                    results.setdefault(key, _validation_code(list(e.errors())))
                except ApiError as e:
                    results.setdefault(key, e.code)
        if good:
            for out in intake.submit(good):
                results.setdefault(str(out.client_order_id), out.code)
            committed()
        return ok(results)

    @app.post(f"{CL}/orderCancel", response_model=m.Ok[m.OrderOut], tags=["orders"])
    def order_cancel(body: Annotated[m.ClientOrderIdIn, Body()], who: Session) -> Any:
        so = ords.cancel(store, who.client_id, body.clientOrderId, now())
        committed()
        contracts, currencies = reference()
        return ok(ords.order_out(so, contracts, currencies))

    @app.post(f"{CL}/allOrdersCancel", response_model=m.Ok[list[m.OrderOut]], tags=["orders"])
    def all_orders_cancel(who: Session, contains: Annotated[str | None, Query()] = None) -> Any:
        contracts, currencies = reference()

        def keep(so) -> bool:
            if not contains:
                return True
            text = " ".join([so.pair, *(str(leg.contract_id) for leg in so.order.legs),
                             *(str(contracts[leg.contract_id].payoff) for leg in so.order.legs
                               if leg.contract_id in contracts)])
            return contains.lower() in text.lower()

        done = ords.cancel_all(store, who.client_id, now(), keep)
        committed()
        return ok([ords.order_out(so, contracts, currencies) for so in done])

    @app.post(f"{CL}/orderStatus", response_model=m.Ok[m.OrderOut], tags=["orders"])
    def order_status(body: Annotated[m.ClientOrderIdIn, Body()], who: Session) -> Any:
        with store.read() as tx:
            so = repo.order_by_client_id(tx, who.client_id, body.clientOrderId)
            contracts, currencies = tx.contracts(), dict(tx.currencies())
        if so is None:
            raise ApiError("INVALID_ORDER_ID", f"no order {body.clientOrderId}")
        return ok(ords.order_out(so, contracts, currencies))

    def open_orders(who: Caller, pair: str | None, with_lock: bool) -> Any:
        with store.read() as tx:
            live = tx.live_orders(client_ids=[who.client_id])
            contracts, currencies = tx.contracts(), dict(tx.currencies())
        return ok([ords.order_out(so, contracts, currencies, with_lock=with_lock) for so in live
                   if pair is None or so.pair == pair])

    @app.post(f"{CL}/clientOpenOrders", response_model=m.Ok[list[m.OrderOut]], tags=["orders"])
    def client_open_orders(who: Session) -> Any:
        return open_orders(who, None, False)

    @app.post(f"{CL}/clientOpenOrdersWithLockInfo", response_model=m.Ok[list[m.OrderOut]],
              tags=["orders"])
    def client_open_orders_lock(who: Session,
                                currencyPair: Annotated[str | None, Query()] = None) -> Any:
        return open_orders(who, currencyPair, True)

    # ---- §3 positions and funds ----------------------------------------------------------

    @app.post(f"{CL}/clientCurrentPositions", response_model=m.Ok[list[m.PositionOut]],
              tags=["positions"])
    def current_positions(who: Session,
                          body: Annotated[m.FilterIn | None, Body()] = None) -> Any:
        with store.read() as tx:
            return ok(views.positions_payload(tx, who.client_id, tx.contracts(), dialect))

    @app.post(f"{CL}/clientCurrentPositionsForContract",
              response_model=m.Ok[list[m.PositionOut]], tags=["positions"])
    def positions_for_contract(who: Session, body: Annotated[m.ContractIdIn, Body()]) -> Any:
        with store.read() as tx:
            return ok(views.positions_payload(tx, who.client_id, tx.contracts(), dialect,
                                              only={body.contractId}))

    def historical(who: Caller, keep: Callable[[Any], bool], since: int, until: int) -> Any:
        with store.read() as tx:
            contracts = tx.contracts()
            chosen = {cid for cid, c in contracts.items() if keep(c)}
            positions = views.positions_payload(tx, who.client_id, contracts, dialect,
                                                only=chosen)
            cur = tx.currencies()
            pairs = {str(contracts[c].pair) for c in chosen}
            prices = {}
            for p in sorted(pairs):
                fx = repo.fixings(tx, p, since, until)
                if fx:
                    prices[p] = units(fx[-1][0], cur[p.split("/")[1]])
            payoff: dict[str, Decimal] = {}
            for pair, expiry, und_amt, num_amt in repo.movements_of(tx, who.client_id,
                                                                     "EXPIRY"):
                ms = _date_ms(expiry)
                if pair in pairs or since <= ms <= until:
                    und, num = pair.split("/")
                    # positive = the client pays: the payoff is its negation
                    payoff[und] = payoff.get(und, Decimal(0)) - units(und_amt, cur[und])
                    payoff[num] = payoff.get(num, Decimal(0)) - units(num_amt, cur[num])
            total: dict[str, Decimal] = {}
            for lk in views.lockups_payload(tx, who.client_id, dialect):
                und, num = lk["currencyPair"].split("/")
                total[und] = total.get(und, Decimal(0)) + lk["underlierAmount"]
                total[num] = total.get(num, Decimal(0)) + lk["numeraireAmount"]
        return ok({"positions": positions, "expiryPrices": prices, "payoff": payoff,
                   "totalCollateral": total})

    @app.post(f"{CL}/clientHistoricalPositions",
              response_model=m.Ok[m.HistoricalPositionsOut], tags=["positions"])
    def historical_positions(who: Session, body: Annotated[m.ExpiryIn, Body()]) -> Any:
        day = expiry_in(body.expiry)
        lo, hi = (0, 2**62) if day is None else (_day_ms(day), _day_ms(day) + 86_400_000)
        return historical(who, lambda c: day is None or c.expiry == day, lo, hi)

    @app.post(f"{CL}/clientHistoricalPositionsByDatePeriod",
              response_model=m.Ok[m.HistoricalPositionsOut], tags=["positions"])
    def historical_by_period(who: Session,
                             body: Annotated[m.PeriodIn | None, Body()] = None) -> Any:
        body = body_or_empty(m.PeriodIn, body)
        until = body.to if body.to is not None else now()
        since = body.from_ if body.from_ is not None else until - 30 * 86_400_000
        since = max(since, until - 90 * 86_400_000)
        if since > until:
            raise ApiError("INVALID_REQUEST_DATA", "from is after to")
        return historical(who, lambda c: since <= _day_ms(c.expiry) + 43_200_000 <= until,
                          since, until)

    @app.post(f"{CL}/tradeHistory", response_model=m.Ok[list[m.TradeOut]], tags=["positions"])
    def trade_history(who: Session,
                      body: Annotated[m.TradeHistoryIn | None, Body()] = None) -> Any:
        body = body_or_empty(m.TradeHistoryIn, body)
        day = expiry_in(body.expiry)
        with store.read() as tx:
            contracts = tx.contracts()
            cur = tx.currencies()
            fills = repo.fills_of(tx, who.client_id, since_ms=body.from_, until_ms=body.to)
            coids = {}
            for f in fills:
                if f["order_id"] not in coids:
                    so = _order_or_none(tx, f["order_id"])
                    coids[f["order_id"]] = so.client_order_id if so else None
        out = []
        for f in fills:
            for cid, lots, price in f["legs"]:
                c = contracts.get(cid)
                if c is None or (day is not None and c.expiry != day) or \
                        (body.currencyPair and str(c.pair) != body.currencyPair):
                    continue
                out.append({"batchId": f["batch_id"], "orderId": f["order_id"],
                            "clientOrderId": coids[f["order_id"]], "contractId": cid,
                            "side": "BUY" if lots > 0 else "SELL",
                            "quantity": c.quantity(abs(lots)),
                            "price": units(price, cur[c.pair.numeraire]),
                            "time": f["batch_id"]})
        offset = max(0, body.offset or 0)
        lim = body.limit if body.limit is not None and body.limit >= 0 else len(out)
        return ok(out[offset:offset + lim])

    @app.post(f"{CL}/clientFundLockState", response_model=m.Ok[list[m.FundLockStateOut]],
              tags=["positions"])
    def fund_lock_state(who: Session) -> Any:
        with store.read() as tx:
            return ok(views.funds_payload(tx, who.client_id))

    @app.post(f"{CL}/getLockedCollateral", response_model=m.Ok[list[m.LockedCollateralOut]],
              tags=["positions"])
    def locked_collateral(who: Session) -> Any:
        with store.read() as tx:
            return ok(views.lockups_payload(tx, who.client_id, dialect))

    @app.post(f"{CL}/netAssetValue", response_model=m.Ok[m.NetAssetValueOut],
              tags=["positions"])
    def net_asset_value(who: Session) -> Any:
        with store.read() as tx:
            cur = tx.currencies()
            contracts = tx.contracts()
            cash: dict[str, Decimal] = {}
            for (_c, sym), f in tx.fund_locks([who.client_id]).items():
                cash[sym] = units(f.fund_lock_value + f.settle_value, cur[sym])
            value: dict[str, Decimal] = {}
            for (_c, cid), pos in tx.position_states([who.client_id]).items():
                c = contracts.get(cid)
                if c is None:
                    continue
                num = c.pair.numeraire
                ref = c.reference_price
                if c.strike is None:  # a forward is worth its distance from the entry price
                    v = c.quantity(pos.lots) * (ref - views.ratio(pos.entry_price)) \
                        + views.ratio(pos.realised)
                else:
                    v = c.quantity(pos.lots) * ref
                value[num] = value.get(num, Decimal(0)) + v
        total = dict(cash)
        for k, v in value.items():
            total[k] = total.get(k, Decimal(0)) + v
        return ok({"cash": cash, "positionsValue": value, "total": total})

    # ---- §3 what-ifs (unsigned orders, no side effects) ---------------------------------

    def what_if(body: m.OrderIn, who: Caller):
        contracts, currencies = reference()
        w = parse(body, who, contracts, currencies, check_address=False)
        return w.order, contracts, currencies

    def lock_of(order, contracts, currencies) -> dict[str, Any]:
        try:
            lk = order_lock(order, contracts)
        except ValueError as e:
            raise ApiError("INVALID_ORDER_PRICE", str(e)) from None
        u = lk.units(currencies)
        und, num = lk.pair.split("/")
        return {"currencyPair": lk.pair,
                "underlierAmount": units(u.get(und, 0) if und != num else 0, currencies[und]),
                "numeraireAmount": units(u.get(num, 0), currencies[num])}

    @app.post(f"{CL}/estimateOrderLock", response_model=m.Ok[m.LockOut], tags=["what-if"])
    def estimate_order_lock(body: Annotated[m.OrderIn, Body()], who: Session) -> Any:
        return ok(lock_of(*what_if(body, who)))

    def positioned_lock(bodies: list[m.OrderIn], who: Caller) -> dict[str, Any]:
        """The collateral the orders would add, filled in full, to the client's positions
        (its lockups after minus before, bucket by bucket) plus the net premium it pays."""
        if not bodies:
            raise ApiError("INVALID_ORDER_LEGS", "no orders")
        contracts, currencies = reference()
        orders = []
        for b in bodies:
            orders.append(parse(b, who, contracts, currencies, check_address=False).order)
        pairs = {str(contracts[o.legs[0].contract_id].pair) for o in orders}
        if len(pairs) != 1:
            raise ApiError("INVALID_ORDER_LEGS", "orders on more than one currency pair")
        pair = pairs.pop()
        mine = any((b.clientEthAddress or "").lower() == who.address for b in bodies)
        with store.read() as tx:
            held = tx.position_states([who.client_id]) if mine else {}
        before = Positions(dict(held))
        trades = [(who.client_id, contracts[leg.contract_id], leg.signed_lots, Decimal(0))
                  for o in orders for leg in o.legs]
        after = before.with_trades(trades)
        keys = {bucket_of(who.client_id, contracts[leg.contract_id])
                for o in orders for leg in o.legs}
        und_amt = num_amt = Decimal(0)
        for key in keys:
            b = lockup_of(exposures(before.bucket(key, contracts)), key.pair, currencies)
            a = lockup_of(exposures(after.bucket(key, contracts)), key.pair, currencies)
            du, dn = (a - b).decimals(key.pair, currencies)
            und_amt += du
            num_amt += dn
        premium = sum((o.total_net_price for o in orders), Decimal(0))
        num_amt += max(Decimal(0), premium)
        return {"currencyPair": pair, "underlierAmount": max(Decimal(0), und_amt),
                "numeraireAmount": max(Decimal(0), num_amt)}

    @app.post(f"{CL}/estimatePositionedOrdersLock", response_model=m.Ok[m.LockOut],
              tags=["what-if"])
    def estimate_positioned_orders_lock(body: Annotated[list[m.OrderIn], Body()],
                                        who: Session) -> Any:
        if len(body) > settings.api_max_batch_orders:
            raise ApiError("INVALID_REQUEST_DATA", "too many orders")
        return ok(positioned_lock(body, who))

    @app.post(f"{CL}/estimatePositionedOrderLock", response_model=m.Ok[m.LockOut],
              tags=["what-if"])
    def estimate_positioned_order_lock(body: Annotated[m.OrderIn, Body()],
                                       who: Session) -> Any:
        return ok(positioned_lock([body], who))

    @app.post(f"{CL}/estimateOrderPayoff", response_model=m.Ok[dict[str, float]],
              tags=["what-if"])
    def estimate_order_payoff(body: Annotated[m.OrderIn, Body()], who: Session) -> Any:
        order, contracts, _ = what_if(body, who)
        return ok(views.order_payoff(order, contracts))

    @app.post(f"{CL}/estimateOrderFees", response_model=m.Ok[m.FeeOut], tags=["what-if"])
    def estimate_order_fees(body: Annotated[m.OrderIn, Body()], who: Session) -> Any:
        order, contracts, _ = what_if(body, who)
        num = contracts[order.legs[0].contract_id].pair.numeraire
        return ok({"currency": num, "numeraireAmount": Decimal(0),
                   "details": "this venue charges no trading fees (no fee schedule "
                              "configured)"})

    @app.post(f"{CL}/calcPortfolioCollateral",
              response_model=m.Ok[list[m.LockedCollateralOut]], tags=["what-if"])
    def calc_portfolio_collateral(who: Session,
                                  currencyPair: Annotated[str | None, Query()] = None) -> Any:
        with store.read() as tx:
            contracts = tx.contracts()
            currencies = dict(tx.currencies())
            held = Positions(dict(tx.position_states([who.client_id])))
        out = []
        for key in sorted(held.buckets(contracts)):
            if currencyPair and key.pair != currencyPair:
                continue
            lk = lockup_of(exposures(held.bucket(key, contracts)), key.pair, currencies)
            u, n = lk.decimals(key.pair, currencies)
            out.append({"currencyPair": key.pair, "expiry": expiry_out(key.expiry, dialect),
                        "underlierAmount": u, "numeraireAmount": n})
        return ok(out)

    @app.post(f"{CL}/validateTrade", response_model=m.Ok[m.ValidateTradeOut], tags=["what-if"])
    def validate_trade_route(body: Annotated[m.OrderIn, Body()], who: Session) -> Any:
        legs = []
        for leg in body.legs:
            if leg.side not in ("BUY", "SELL"):
                raise ApiError("INVALID_ORDER_SIDE", f"side {leg.side!r}: BUY or SELL")
            legs.append(LegRequest(leg.contractId, Side(leg.side),
                                   ords.dec(leg.quantity, "quantity", "INVALID_ORDER_QTY")))
        price = ords.dec(body.totalNetPrice, "totalNetPrice", "INVALID_ORDER_PRICE")
        with store.read() as tx:
            contracts = tx.contracts()
            currencies = dict(tx.currencies())
            bal = {(c, cur): Balance(f.fund_lock_value, f.order_value, f.settle_value)
                   for (c, cur), f in tx.fund_locks([who.client_id]).items()}
            live = tx.live_orders(client_ids=[who.client_id])
        los = {}
        for i, so in enumerate(live):
            und, num = so.pair.split("/")
            lock = tuple(sorted((cur, v) for cur, v in ((und, so.lock_underlying),
                                                         (num, so.lock_numeraire)) if v))
            los[so.order_id] = LiveOrder(so.order_id, who.client_id, i, lock)
        funds = FundsState(bal, los, len(los))
        check = validate_trade(TradeRequest(who.client_id, price, tuple(legs)), contracts,
                               funds, now=datetime.fromtimestamp(now() / 1000, tz=UTC),
                               currencies=currencies,
                               end_of_trading=timedelta(hours=settings.end_of_trading_hours))

        def states(xs):
            return [{"currency": x.currency, "locked": x.locked, "available": x.available}
                    for x in xs]

        return ok({"isValid": check.is_valid, "before": states(check.before),
                   "after": states(check.after),
                   "failures": [{"code": f.code, "details": f.detail} for f in check.failures]})

    # ---- §4 market data (no authentication) ---------------------------------------------

    @app.post(f"{CL}/systemInfo", response_model=m.Ok[m.SystemInfoOut], tags=["market"],
              dependencies=Public)
    def system_info() -> Any:
        with store.read() as tx:
            cur = dict(tx.currencies())
        ci = services.chain_info
        tokens = dict(getattr(ci, "tokens", {}) or {})
        return ok({
            "chainId": int(getattr(ci, "chain_id", settings.api_chain_id)),
            "fundlockAddress": _checksum(getattr(ci, "fundlock_address", ZERO_ADDRESS)),
            "tokenAddress": {sym: _checksum(a) for sym, (a, _d) in sorted(tokens.items())},
            "tokenDecimals": {sym: c.decimals for sym, c in sorted(cur.items())}
            | {sym: int(d) for sym, (_a, d) in tokens.items()},
            "currencyPrecision": {sym: c.precision for sym, c in sorted(cur.items())}})

    def contract_rows(keep: Callable[[Any], bool]) -> list[dict[str, Any]]:
        with store.read() as tx:
            contracts = tx.contracts()
            gone = repo.delisted(tx)
        return views.contracts_payload([c for c in contracts.values() if keep(c)], now(),
                                       settings.end_of_trading_hours, gone, dialect)

    @app.post(f"{CL}/contractList", response_model=m.Ok[list[m.ContractOut]], tags=["market"],
              dependencies=Public)
    def contract_list() -> Any:
        t = now()
        return ok(contract_rows(lambda c: not views.expired(c, t)))

    @app.post(f"{CL}/contractListByIds", response_model=m.Ok[list[m.ContractOut]],
              tags=["market"], dependencies=Public)
    def contract_list_by_ids(body: Annotated[m.IdsIn | None, Body()] = None) -> Any:
        ids = set(body_or_empty(m.IdsIn, body).ids)
        return ok(contract_rows(lambda c: c.contract_id in ids))

    @app.post(f"{CL}/historicalContracts", response_model=m.Ok[list[m.ContractOut]],
              tags=["market"], dependencies=Public)
    def historical_contracts(body: Annotated[m.ExpiryIn | None, Body()] = None) -> Any:
        day = expiry_in(body_or_empty(m.ExpiryIn, body).expiry)
        t = now()
        return ok(contract_rows(lambda c: views.expired(c, t)
                                and (day is None or c.expiry == day)))

    @app.post(f"{CL}/referencePrices", response_model=m.Ok[list[m.ReferencePriceOut]],
              tags=["market"], dependencies=Public)
    def reference_prices(body: Annotated[m.ReferencePricesIn | None, Body()] = None) -> Any:
        body = body_or_empty(m.ReferencePricesIn, body)
        day = expiry_in(body.expiry)
        with store.read() as tx:
            contracts = tx.contracts()
            rows = repo.reference_rows(tx)
        out = []
        for cid, c in contracts.items():
            if body.currencyPair and str(c.pair) != body.currencyPair:
                continue
            if day is not None and c.expiry != day:
                continue
            _p, _lo, _hi, batch, updated = rows[cid]
            out.append({"contractId": cid, "referencePrice": c.reference_price,
                        "lowRange": c.low_range, "highRange": c.high_range,
                        "lastPrice": c.reference_price if batch is not None else None,
                        "updateAt": updated})
        return ok(out)

    @app.post(f"{CL}/spotPrices", response_model=m.Ok[dict[str, float]], tags=["market"],
              dependencies=Public)
    def spot_prices() -> Any:
        with store.read() as tx:
            cur = tx.currencies()
            spots = repo.latest_spots(tx)
        return ok({p: units(v, cur[p.split("/")[1]]) for p, (v, _at) in sorted(spots.items())})

    def next_auction_ms() -> tuple[int, bool, int]:
        with store.read() as tx:
            paused, cadence = repo.schedule(tx)
            last = tx.last_batch_id()
        cadence = cadence or settings.cadence_ms
        t = now()
        nxt = (t // cadence + 1) * cadence
        while last is not None and nxt <= last:
            nxt += cadence
        return nxt, paused, cadence

    @app.post(f"{CL}/nextAuction", response_model=m.Ok[int], tags=["market"],
              dependencies=Public)
    def next_auction() -> Any:
        return ok(next_auction_ms()[0])

    def book(only: int | None) -> dict[int, dict[str, Any]]:
        with store.read() as tx:
            contracts = tx.contracts()
            currencies = dict(tx.currencies())
            return views.book_levels(tx, contracts, currencies, only)

    @app.post(f"{CL}/orderbook", response_model=m.Ok[list[m.BookOut]], tags=["market"],
              dependencies=Public)
    def orderbook(body: Annotated[m.BestBidAskIn | None, Body()] = None) -> Any:
        return ok(list(book(body_or_empty(m.BestBidAskIn, body).contractId).values()))

    @app.post(f"{CL}/bestBidAsk", response_model=m.Ok[list[m.BestBidAskOut]], tags=["market"],
              dependencies=Public)
    def best_bid_ask(body: Annotated[m.BestBidAskIn | None, Body()] = None) -> Any:
        return ok(views.best_bid_ask(book(body_or_empty(m.BestBidAskIn, body).contractId)))

    @app.post(f"{CL}/bestBidAskPrecise", response_model=m.Ok[list[m.BestBidAskOut]],
              tags=["market"], dependencies=Public)
    def best_bid_ask_precise() -> Any:
        return ok(views.best_bid_ask(book(None)))

    # ---- §7 administration ---------------------------------------------------------------

    app.include_router(admin_router(services, next_auction_ms), prefix=f"{API}/admin")

    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)

    def openapi() -> dict[str, Any]:
        """The generated document without FastAPI's 422 (validation errors answer 412)."""
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version,
                              description=app.description, routes=app.routes)
            for path in doc.get("paths", {}).values():
                for op in path.values():
                    op.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                doc.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    register_ws(app, services)  # the WebSocket of api.md §5 (/wss, /ws)
    register_web(app, services)  # the web page at / (market, trader's desk, operator)
    return app


def _checksum(address: str) -> str:
    try:
        return to_checksum_address(address)
    except ValueError:
        return address


def _day_ms(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp() * 1000)


def _date_ms(yyyymmdd: int) -> int:
    return _day_ms(datetime.strptime(str(yyyymmdd), "%Y%m%d").date())


def _order_or_none(tx: Any, order_id: int) -> Any:
    try:
        return tx.order(order_id)
    except NotFound:
        return None
