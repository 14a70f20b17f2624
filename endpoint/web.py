"""The web page (issue 15): one application at ``/`` for the market, a trader's desk and the
operator's console, plus the two public reads only the page needs (the auction timeline and a
contract's price history). Everything else the page shows comes from the client API itself.

The page is plain HTML, CSS and JavaScript in ``endpoint/web/`` (no build step, no CDN: the
venue works offline); charts are drawn as inline SVG. Numbers are shown as the API's exact
decimal strings, never re-rounded through floats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from coordinator.persistence.market import auction_timeline, price_history
from coordinator.persistence.store import from_units

WEB = Path(__file__).with_name("web")


class AuctionRow(BaseModel):
    batchId: int
    status: str
    solveStatus: str | None
    orders: int
    fills: int
    volume: int
    contractsTraded: int
    checkOk: bool | None
    violations: list[Any]
    timings: dict[str, float]
    startedMs: int
    finishedMs: int
    halted: list[int]


class PricePoint(BaseModel):
    batchId: int
    price: str
    lots: int


class Envelope(BaseModel):
    result: str = "OK"
    details: str = ""


class AuctionsResponse(Envelope):
    payload: list[AuctionRow]


class PriceHistoryResponse(Envelope):
    payload: list[PricePoint]


def register_web(app: FastAPI, services: Any) -> None:
    """Serve the page at ``/`` and its assets at ``/static``; add the market history reads."""
    store = services.store

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/api/v1/market/auctions", response_model=AuctionsResponse, tags=["market"])
    def auctions(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        """The auction timeline, newest first: orders in, volume, contracts traded, solve and
        check time, status, the check's verdict and halted contracts."""
        with store.read() as tx:
            rows = auction_timeline(tx, limit)
        return {"result": "OK", "details": "", "payload": [{
            "batchId": r["batch_id"], "status": r["status"], "solveStatus": r["solve_status"],
            "orders": r["order_count"], "fills": r["fill_count"], "volume": r["volume"],
            "contractsTraded": r["contracts_traded"], "checkOk": r["check_ok"],
            "violations": r["violations"], "timings": r["timings"],
            "startedMs": r["started_ms"], "finishedMs": r["finished_ms"],
            "halted": r["halted"]} for r in rows]}

    @app.get("/api/v1/market/priceHistory", response_model=PriceHistoryResponse,
             tags=["market"])
    def prices(contractId: int = Query(..., ge=0, lt=2**32),
               limit: int = Query(200, ge=1, le=2000)) -> dict[str, Any]:
        """A contract's clearing price in each auction it traded in, oldest first."""
        with store.read() as tx:
            contract = tx.contracts().get(contractId)
            if contract is None:
                points, precision = [], 0
            else:
                points = price_history(tx, contractId, limit)
                precision = tx.numeraire_precision(str(contract.pair))
        payload = [{"batchId": b, "price": str(from_units(p, precision)), "lots": v}
                   for b, p, v in points]
        return {"result": "OK", "details": "", "payload": payload}
