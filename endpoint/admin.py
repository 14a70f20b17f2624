"""The admin API (api.md §7, the "webconsole"): ``/api/v1/admin/…``.

Authenticated by ``Authorization: Bearer <api_admin_token>`` only — a client session (cookie
or client token) never reaches it; with an empty ``api_admin_token`` every call is 401.
Reference data (currencies, pairs, contracts: list, create, tick/lot, band, reference price,
delist), the auction schedule (pause/resume/cadence, stored in the ``edges`` table for the
coordinator: ``schedule.paused``, ``schedule.cadence_ms``), batches with their settlement
status, and the operations the venue supplies (expiry fixing, keepers, alerts, spot sources:
``services.operations``; without it those routes answer 412).
"""


import secrets
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from auction.interchange import contract_from_dict, contract_to_dict
from auction.products import Contract, Currency, CurrencyPair
from auction.units import PrecisionError
from coordinator.persistence import clientapi as repo
from coordinator.persistence.intake import lock_intake
from coordinator.persistence.settlement import backlog
from coordinator.persistence.store import to_units
from endpoint import models as m
from endpoint.errors import ApiError
from endpoint.orders import cancel_orders
from endpoint.services import Services
from endpoint.wire import dec, expiry_in


def ok(payload: Any) -> dict[str, Any]:
    return {"result": "OK", "details": "", "payload": payload}


ContractPath = Annotated[int, Path(ge=0, le=2**32 - 1)]
IdPath = Annotated[int, Path(ge=0, le=2**63 - 1)]


def admin_router(services: Services, next_auction: Callable[[], tuple[int, bool, int]]
                 ) -> APIRouter:
    settings, store, clock = services.settings, services.store, services.clock

    def admin(request: Request) -> str:
        h = request.headers.get("authorization", "")
        token = h[7:].strip() if h.lower().startswith("bearer ") else ""
        want = settings.api_admin_token
        if not want or not token or not secrets.compare_digest(token.encode(), want.encode()):
            raise ApiError("UNAUTHORIZED", "admin routes need Authorization: Bearer <admin "
                                           "token>")
        return "admin"

    r = APIRouter(tags=["admin"], dependencies=[Depends(admin)])

    def ops() -> Any:
        if services.operations is None:
            raise ApiError("INVALID_REQUEST_DATA", "operations (expiry, keepers, alerts, spot "
                                                   "sources) are not available in this venue "
                                                   "process")
        return services.operations

    def call(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except ValueError as e:
            raise ApiError("INVALID_REQUEST_DATA", str(e)) from None

    def contract_row(c: Contract, delisted: set[int]) -> dict[str, Any]:
        d = contract_to_dict(c)
        return {"contractId": c.contract_id, "payoff": d["payoff"],
                "currencyPair": d["currencyPair"], "expiry": int(d["expiry"]),
                "strike": d.get("strike"), "tickSize": d["tickSize"], "lotSize": d["lotSize"],
                "referencePrice": d["referencePrice"], "lowRange": d["lowRange"],
                "highRange": d["highRange"], "listed": c.contract_id not in delisted}

    # ---- currencies and pairs ---------------------------------------------------------------

    @r.get("/currencies", response_model=m.Ok[list[m.CurrencyOut]])
    def currencies() -> Any:
        with store.read() as tx:
            return ok([{"symbol": c.symbol, "decimals": c.decimals, "precision": c.precision}
                       for c in sorted(tx.currencies().values(), key=lambda c: c.symbol)])

    @r.post("/currencies", response_model=m.Ok[m.CurrencyOut])
    def add_currency(body: Annotated[m.CurrencyIn, Body()]) -> Any:
        if not body.symbol.isalnum() or len(body.symbol) > 16:
            raise ApiError("INVALID_REQUEST_DATA", "symbol: 1-16 letters or digits")
        if body.precision > body.decimals:
            raise ApiError("INVALID_REQUEST_DATA", "precision must not exceed decimals")
        with store.write() as tx:
            tx.put_currency(Currency(body.symbol, body.decimals, body.precision))
        return ok({"symbol": body.symbol, "decimals": body.decimals,
                   "precision": body.precision})

    @r.get("/currencyPairs", response_model=m.Ok[list[dict[str, str]]])
    def currency_pairs() -> Any:
        with store.read() as tx:
            return ok([{"pair": p, "underlying": u, "numeraire": n} for p, u, n in repo.pairs(tx)])

    @r.post("/currencyPairs", response_model=m.Ok[dict[str, str]])
    def add_pair(body: Annotated[m.PairIn, Body()]) -> Any:
        try:
            pair = CurrencyPair.parse(f"{body.underlying}/{body.numeraire}")
        except ValueError as e:
            raise ApiError("INVALID_REQUEST_DATA", str(e)) from None
        with store.write() as tx:
            tx.put_pair(pair)
        return ok({"pair": str(pair), "underlying": pair.underlying,
                   "numeraire": pair.numeraire})

    # ---- contracts --------------------------------------------------------------------------

    @r.get("/contracts", response_model=m.Ok[list[m.AdminContractOut]])
    def contracts() -> Any:
        with store.read() as tx:
            gone = repo.delisted(tx)
            return ok([contract_row(c, gone) for c in tx.contracts().values()])

    @r.post("/contracts", response_model=m.Ok[m.AdminContractOut])
    def add_contract(body: Annotated[m.ContractIn, Body()]) -> Any:
        d = body.model_dump(exclude_none=True)
        d = {k: (v if isinstance(v, str | int) else str(dec(v, k))) for k, v in d.items()}
        try:
            c = contract_from_dict(d)
        except (ValueError, KeyError) as e:
            raise ApiError("INVALID_REQUEST_DATA", str(e)) from None
        with store.write() as tx:
            if c.contract_id in tx.contracts():
                raise ApiError("INVALID_CONTRACT_ID", f"contract {c.contract_id} exists")
            tx.put_contract(c, clock.now_ms())
        return ok(contract_row(c, set()))

    def existing(tx, contract_id: int) -> Contract:
        c = tx.contracts().get(contract_id)
        if c is None:
            raise ApiError("INVALID_CONTRACT_ID", f"unknown contract {contract_id}")
        return c

    def num_units(tx, c: Contract, value: Decimal, what: str) -> int:
        try:
            return to_units(value, tx.currencies()[c.pair.numeraire].precision, what)
        except PrecisionError as e:
            raise ApiError("INVALID_ORDER_PRICE_PRECISION", str(e)) from None

    def check(c: Contract, **changes: Any) -> Contract:
        try:
            return replace(c, **changes)
        except ValueError as e:
            raise ApiError("INVALID_REQUEST_DATA", str(e)) from None

    @r.post("/contracts/{contract_id}/tickLot", response_model=m.Ok[m.AdminContractOut])
    def set_tick_lot(contract_id: ContractPath, body: Annotated[m.TickLotIn, Body()]) -> Any:
        tick, lot = dec(body.tickSize, "tickSize"), dec(body.lotSize, "lotSize")
        with store.write() as tx:
            c = existing(tx, contract_id)
            new = check(c, tick_size=tick, lot_size=lot)
            if repo.contract_in_use(tx, contract_id):
                raise ApiError("INVALID_REQUEST_DATA", f"contract {contract_id} has live "
                               "orders or positions: its tick and lot cannot change")
            qc = tx.currencies()[c.pair.numeraire if c.payoff.is_binary
                                 else c.pair.underlying]
            try:
                lot_units = to_units(lot, qc.precision, "lotSize")
            except PrecisionError as e:
                raise ApiError("INVALID_ORDER_QTY_PRECISION", str(e)) from None
            repo.set_tick_lot(tx, contract_id, num_units(tx, c, tick, "tickSize"), lot_units,
                              clock.now_ms())
            gone = repo.delisted(tx)
        return ok(contract_row(new, gone))

    @r.post("/contracts/{contract_id}/band", response_model=m.Ok[m.AdminContractOut])
    def set_band(contract_id: ContractPath, body: Annotated[m.BandIn, Body()]) -> Any:
        lo, hi = dec(body.lowRange, "lowRange"), dec(body.highRange, "highRange")
        with store.write() as tx:
            c = existing(tx, contract_id)
            ref = min(max(c.reference_price, lo), hi)
            new = check(c, low_range=lo, high_range=hi, reference_price=ref)
            repo.set_reference(tx, contract_id, clock.now_ms(),
                               price=num_units(tx, c, ref, "referencePrice"),
                               low=num_units(tx, c, lo, "lowRange"),
                               high=num_units(tx, c, hi, "highRange"))
            gone = repo.delisted(tx)
        return ok(contract_row(new, gone))

    @r.post("/contracts/{contract_id}/referencePrice", response_model=m.Ok[m.AdminContractOut])
    def set_reference_price(contract_id: ContractPath,
                            body: Annotated[m.ReferencePriceIn, Body()]) -> Any:
        price = dec(body.referencePrice, "referencePrice")
        with store.write() as tx:
            c = existing(tx, contract_id)
            new = check(c, reference_price=price)
            repo.set_reference(tx, contract_id, clock.now_ms(),
                               price=num_units(tx, c, price, "referencePrice"))
            gone = repo.delisted(tx)
        return ok(contract_row(new, gone))

    @r.post("/contracts/{contract_id}/delist", response_model=m.Ok[m.AdminContractOut])
    def delist(contract_id: ContractPath) -> Any:
        now = clock.now_ms()
        with store.write() as tx:
            c = existing(tx, contract_id)
            lock_intake(tx)
            repo.delist(tx, contract_id, now)
            live = [so for so in tx.live_orders()
                    if any(leg.contract_id == contract_id for leg in so.order.legs)]
            if live:
                cancel_orders(tx, live, now)
            gone = repo.delisted(tx)
        return ok(contract_row(c, gone))

    # ---- the auction schedule ---------------------------------------------------------------

    def schedule_out() -> dict[str, Any]:
        nxt, paused, cadence = next_auction()
        return {"paused": paused, "cadenceSeconds": cadence / 1000, "nextAuction": nxt}

    @r.get("/schedule", response_model=m.Ok[m.ScheduleOut])
    def schedule() -> Any:
        return ok(schedule_out())

    @r.post("/schedule", response_model=m.Ok[m.ScheduleOut])
    def set_schedule(body: Annotated[m.ScheduleIn | None, Body()] = None) -> Any:
        body = body or m.ScheduleIn()
        cadence = None if body.cadenceSeconds is None else round(body.cadenceSeconds * 1000)
        if cadence is not None and cadence < 1:
            raise ApiError("INVALID_REQUEST_DATA", "cadenceSeconds too small")
        with store.write() as tx:
            repo.set_schedule(tx, clock.now_ms(), paused=body.paused, cadence_ms=cadence)
        return ok(schedule_out())

    @r.post("/schedule/pause", response_model=m.Ok[m.ScheduleOut])
    def pause() -> Any:
        with store.write() as tx:
            repo.set_schedule(tx, clock.now_ms(), paused=True)
        return ok(schedule_out())

    @r.post("/schedule/resume", response_model=m.Ok[m.ScheduleOut])
    def resume() -> Any:
        with store.write() as tx:
            repo.set_schedule(tx, clock.now_ms(), paused=False)
        return ok(schedule_out())

    # ---- batches and settlement -------------------------------------------------------------

    def batch_out(b, settlement: dict[str, int]) -> dict[str, Any]:
        return {"batchId": b.batch_id, "status": b.status, "solveStatus": b.solve_status,
                "orderCount": b.order_count, "fillCount": b.fill_count, "volume": b.volume,
                "checkOk": b.check_ok, "violations": [str(v) for v in b.violations[:20]],
                "timings": {k: float(v) for k, v in b.timings.items()},
                "startedMs": b.started_ms, "finishedMs": b.finished_ms,
                "settlement": settlement}

    @r.get("/batches", response_model=m.Ok[list[m.BatchOut]])
    def batches(limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Any:
        with store.read() as tx:
            ids = tx.batch_ids(limit=limit)
            summary = repo.settlement_summary(tx, ids)
            return ok([batch_out(tx.batch(i), summary.get(i, {})) for i in ids])

    @r.get("/batches/{batch_id}", response_model=m.Ok[m.BatchOut])
    def batch(batch_id: IdPath) -> Any:
        with store.read() as tx:
            if not tx.batch_exists(batch_id):
                raise ApiError("INVALID_REQUEST_DATA", f"no batch {batch_id}")
            summary = repo.settlement_summary(tx, [batch_id])
            return ok(batch_out(tx.batch(batch_id), summary.get(batch_id, {})))

    @r.get("/settlement", response_model=m.Ok[m.SettlementOut])
    def settlement() -> Any:
        """The settlement queue: movements not yet sent, sent but not seen applied on chain,
        and the keys of failed ones (operations resubmits or investigates those)."""
        with store.read() as tx:
            b = backlog(tx)
        return ok({"unsent": b.unsent, "inFlight": b.in_flight, "failed": list(b.failed),
                   "caughtUp": b.caught_up})

    # ---- operations (services.operations) ---------------------------------------------------

    @r.get("/expiries", response_model=m.Ok[list[dict[str, Any]]])
    def expiries(expiry: Annotated[str | None, Query()] = None,
                 pair: Annotated[str | None, Query()] = None) -> Any:
        return ok(call(ops().expiry_status, expiry_in(expiry), pair))

    @r.post("/expiries/run", response_model=m.Ok[dict[str, Any]])
    def run_expiry(body: Annotated[m.ExpiryRunIn, Body()]) -> Any:
        day = expiry_in(body.expiry)
        if day is None:
            raise ApiError("INVALID_REQUEST_DATA", "expiry required")
        return ok(call(ops().run_expiry, day, body.pair, "admin"))

    @r.post("/expiries/settlementPrice", response_model=m.Ok[dict[str, Any]])
    def settlement_price(body: Annotated[m.SettlementPriceIn, Body()]) -> Any:
        day = expiry_in(body.expiry)
        if day is None:
            raise ApiError("INVALID_REQUEST_DATA", "expiry required")
        return ok(call(ops().set_settlement_price, day, body.pair, dec(body.price, "price"),
                       "admin", body.reason))

    @r.get("/keepers", response_model=m.Ok[list[dict[str, Any]]])
    def keepers() -> Any:
        return ok(call(ops().list_keepers))

    @r.post("/keepers", response_model=m.Ok[dict[str, Any]])
    def add_keeper(body: Annotated[m.KeeperIn, Body()]) -> Any:
        return ok(call(ops().add_keeper, body.url, body.secret, list(body.events)))

    @r.delete("/keepers/{keeper_id}", response_model=m.Ok[bool])
    def remove_keeper(keeper_id: IdPath) -> Any:
        if not call(ops().remove_keeper, keeper_id):
            raise ApiError("INVALID_REQUEST_DATA", f"no keeper {keeper_id}")
        return ok(True)

    @r.get("/alerts", response_model=m.Ok[list[dict[str, Any]]])
    def alerts(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
        return ok(call(ops().alerts, limit))

    @r.get("/spotSources", response_model=m.Ok[list[dict[str, Any]]])
    def spot_sources() -> Any:
        return ok(call(ops().spot_sources))

    return r
