"""``ccp batch show ID [--json]``, ``ccp batch list``, ``ccp batch replay ID``."""

from __future__ import annotations

import argparse
import json

from auction.units import MAX_UNITS
from coordinator.loop import replay
from coordinator.persistence import NotFound, Store
from coordinator.persistence.records import BatchRecord
from venue.cli import EXIT_OK, EXIT_VIOLATION, UsageError
from venue.wiring import add_settings_options, open_store, settings_from, store_errors


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("batch", help="stored batches: show, list, replay")
    sub = p.add_subparsers(dest="batch_command", required=True, metavar="ACTION")
    show = sub.add_parser("show", help="prices, fills, movements and timings of a batch")
    show.add_argument("batch_id", metavar="ID", help="batch id (cut-off, epoch ms) or 'last'")
    show.add_argument("--json", action="store_true",
                      help="print the whole batch as JSON (every price, fill and movement)")
    add_settings_options(show)
    show.set_defaults(handler=store_errors(_show))
    ls = sub.add_parser("list", help="the most recent batches")
    ls.add_argument("--limit", type=int, default=20, metavar="N",
                    help="how many batches to list, newest first (default 20)")
    add_settings_options(ls)
    ls.set_defaults(handler=store_errors(_list))
    rp = sub.add_parser("replay", help="re-solve a stored cut book; exit 1 unless identical")
    rp.add_argument("batch_id", metavar="ID",
                    help="batch id (cut-off, epoch ms) or 'last'")
    add_settings_options(rp)
    rp.set_defaults(handler=store_errors(_replay))


def _load(store: Store, ident: str) -> tuple[BatchRecord, dict]:
    with store.read() as tx:
        if ident == "last":
            last = tx.last_batch_id()
            if last is None:
                raise UsageError("the store has no batch yet")
            bid = last
        else:
            try:
                bid = int(ident)
                if not 0 <= bid <= MAX_UNITS:
                    raise ValueError
            except ValueError:
                raise UsageError(f"batch id {ident!r} is not 'last' or an integer in "
                                 f"[0, {MAX_UNITS}]") from None
        try:
            rec = tx.batch(bid)
        except NotFound as e:
            raise UsageError(str(e)) from None
        moves = [{"id": mid, "state": state, "clientId": m.client_id, "pair": m.pair,
                  "underlyingAmount": m.underlying_amount, "strikeAmount": m.strike_amount,
                  "positions": [{"contractId": p.contract_id, "size": p.size}
                                for p in m.positions]}
                 for mid, state, m in tx.movements(origin_id=bid)]
    return rec, {"movements": moves}


def _show(args: argparse.Namespace) -> int:
    store = open_store(settings_from(args))
    try:
        rec, extra = _load(store, args.batch_id)
    finally:
        store.dispose()
    result = rec.result or {}
    doc = {"batchId": rec.batch_id, "status": rec.status, "solveStatus": rec.solve_status,
           "orders": rec.order_count, "fills": rec.fill_count, "volume": rec.volume,
           "checkOk": rec.check_ok, "violations": rec.violations, "timings": rec.timings,
           "params": rec.params, "coordinator": rec.coordinator,
           "startedMs": rec.started_ms, "finishedMs": rec.finished_ms,
           "prices": result.get("prices", {}), "fillsDetail": result.get("fills", []),
           "movements": extra["movements"]}
    if args.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    print(f"batch {rec.batch_id}: {rec.status} (solve {rec.solve_status}); {rec.order_count} "
          f"orders, {rec.fill_count} fills, volume {rec.volume} lots; check "
          f"{'ok' if rec.check_ok else 'FAILED' if rec.check_ok is False else 'n/a'}")
    print("timings: " + " ".join(f"{k}={v:.3f}s" for k, v in rec.timings.items()))
    for v in rec.violations[:20]:
        print(f"  violation: {v}")
    if doc["prices"]:
        print("prices: " + ", ".join(f"#{c} {p}" for c, p in doc["prices"].items()))
    for f in doc["fillsDetail"][:50]:
        legs = ", ".join(f"{leg['side']} {leg['quantity']} #{leg['contractId']}"
                         for leg in f["legs"])
        print(f"  fill order {f['orderId']}: {legs}")
    if len(doc["fillsDetail"]) > 50:
        print(f"  … {len(doc['fillsDetail']) - 50} more fills (--json for all)")
    for m in doc["movements"][:50]:
        print(f"  movement client {m['clientId']} {m['pair']}: underlying "
              f"{m['underlyingAmount']}, strike {m['strikeAmount']} ({m['state']})")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    store = open_store(settings_from(args))
    try:
        with store.read() as tx:
            for bid in tx.batch_ids(limit=args.limit):
                rec = tx.batch(bid)
                print(f"{bid} {rec.status:8} orders={rec.order_count} fills={rec.fill_count} "
                      f"volume={rec.volume}")
    finally:
        store.dispose()
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    store = open_store(settings_from(args))
    try:
        rec, _ = _load(store, args.batch_id)
    finally:
        store.dispose()
    if rec.result is None:
        raise UsageError(f"batch {rec.batch_id} has no stored result to compare with")
    rep = replay(rec)
    if rep.identical:
        print(f"batch {rec.batch_id}: replay identical ({rep.seconds:.3f} s)")
        return EXIT_OK
    print(f"batch {rec.batch_id}: replay DIFFERS")
    for d in rep.differences:
        print(f"  {d}")
    return EXIT_VIOLATION
