"""Drives the published Python SDK (``ithaca-py`` 0.4.0), unchanged, for the compatibility test.

Runs under ``.venv-sdk/bin/python`` (the SDK pins web3 < 8; it never shares the project's
venv), so it imports nothing of the project. Protocol: one JSON command per stdin line
``{"id", "who", "call", "args"}``, one JSON answer per stdout line ``{"id", "ok", "result"}``
or ``{"id", "ok": false, "error"}``. ``who`` names an SDK instance (made by ``new``).

Calls: ``new {key, api, ws}``, ``login``, ``system_info``, ``contract_list``,
``reference_prices {pair, expiry?}``, ``new_order {legs, price, client_order_id, tif?}``,
``order_status {id}``, ``open_orders``, ``order_cancel {id}``, ``current_positions``,
``fundlock_state``, ``connect {subscribe}`` (the SDK's socket; on open it subscribes to the
books and trade reports of ``subscribe``), ``messages`` (what the socket received, in order),
``socket_errors`` (what the SDK logged as socket errors and reconnects), ``deposit_broken``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback

from eth_account.datastructures import SignedTransaction
from ithaca import IthacaSDK

SDKS: dict[str, IthacaSDK] = {}
MESSAGES: dict[str, list] = {}
LOCK = threading.Lock()


class Errors(logging.Handler):
    """Collects what the SDK logs at WARNING and above (socket errors, reconnects)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


ERRORS = Errors()
logging.getLogger("ithaca_sdk").addHandler(ERRORS)


def call(who: str, name: str, args: dict):
    if name == "new":
        sdk = IthacaSDK(private_key=args["key"], api_endpoint=args["api"],
                        ws_endpoint=args["ws"], graphql_endpoint="http://127.0.0.1:9/none",
                        rpc_endpoint="http://127.0.0.1:9/none")
        SDKS[who] = sdk
        MESSAGES[who] = []
        return sdk.address
    sdk = SDKS[who]
    match name:
        case "login":
            ok = sdk.auth.login()
            return {"ok": ok, "user": sdk.user}
        case "system_info":
            return sdk.protocol.system_info()
        case "contract_list":
            return sdk.protocol.contract_list()
        case "reference_prices":
            return sdk.market.reference_prices(args["pair"], args.get("expiry"))
        case "new_order":
            legs = [tuple(leg) for leg in args["legs"]]
            return sdk.orders.new_order(legs, args["price"],
                                        client_order_id=args["client_order_id"],
                                        time_in_force=args.get("tif", "GOOD_TILL_CANCEL"))
        case "order_status":
            return sdk.orders.order_status(args["id"])
        case "open_orders":
            return sdk.orders.open_orders()
        case "order_cancel":
            return sdk.orders.order_cancel(args["id"])
        case "current_positions":
            return sdk.client.current_positions()
        case "fundlock_state":
            return sdk.client.fundlock_state()
        case "connect":
            subscribe = args.get("subscribe", [])

            def on_message(_ws, message):
                data = json.loads(message)
                with LOCK:
                    MESSAGES[who].append(data)

            def on_open(ws):
                for cid in subscribe:
                    ws.send(json.dumps({"action": "SUBSCRIBE_ORDER_BOOK",
                                        "payload": {"contractId": cid}}))
                    ws.send(json.dumps({"action": "SUBSCRIBE_TRADE_REPORTS",
                                        "payload": {"contractId": cid}}))

            sdk.socket.connect(on_message=on_message, on_open=on_open)
            return True
        case "messages":
            with LOCK:
                return list(MESSAGES[who])
        case "socket_errors":
            return list(ERRORS.records)
        case "deposit_broken":
            # Fundlock.deposit signs with eth-account and sends ``signed_txn.rawTransaction``;
            # eth-account 0.13 (which the SDK requires) renamed it ``raw_transaction``.
            return {"has_rawTransaction": hasattr(SignedTransaction, "rawTransaction"),
                    "fields": list(SignedTransaction._fields)}
    raise ValueError(f"unknown call {name}")


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            out = {"id": cmd["id"], "ok": True,
                   "result": call(cmd["who"], cmd["call"], cmd.get("args") or {})}
        except Exception as e:
            out = {"id": cmd["id"], "ok": False, "error": f"{type(e).__name__}: {e}",
                   "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(out, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
