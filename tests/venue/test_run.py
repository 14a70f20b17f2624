"""``ccp run`` as a user runs it: one OS process on a free port, a temporary data folder, a short
cadence, demo traders on. Two auctions with trades (seen through the API), SIGINT, start again
on the same folder, one more auction with trades, and what traded before is still there."""

from __future__ import annotations

import json
import signal
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from tests.venue.procs import CcpProcess, api_up, free_port, wait_for
from venue.client import VenueClient

CADENCE = 5


def traded_batches(client: VenueClient) -> set[int]:
    """Batch ids of the client's trades, from ``tradeHistory``."""
    hist = client.trade_history()
    rows = hist if isinstance(hist, list) else (hist or {}).get("trades", [])
    out = set()
    for r in rows:
        bid = r.get("batchId") or r.get("auctionId")
        if bid:
            out.add(int(bid))
    return out


def start(data: Path, port: int, log_dir: Path) -> CcpProcess:
    p = CcpProcess("ccp-run", ["run", "--data", str(data), "--port", str(port),
                               "--cadence", str(CADENCE)], log_dir).start()
    p.wait_output("Ctrl-C stops.", timeout=120)
    wait_for("the API", lambda: api_up(f"http://127.0.0.1:{port}"), 30)
    return p


def takers(data: Path, base: str) -> list[VenueClient]:
    accounts = json.loads((data / "demo-accounts.json").read_text())
    return [VenueClient(base, a["key"]) for a in accounts]


def batches_with_trades(clients: list[VenueClient]) -> set[int]:
    out: set[int] = set()
    for c in clients:
        if c.client_id is None:
            c.login()
        out |= traded_batches(c)
    return out


def net_of_trades(client: VenueClient) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """The client's positions and the net quantity per contract of its whole trade history,
    read between two equal reads of the history (no auction in between)."""
    for _ in range(20):
        first = client.trade_history()
        held = {int(p["contractId"]): Decimal(str(p["positionsQty"]))
                for p in client.positions()}
        if client.trade_history() == first:
            break
    else:
        raise AssertionError("the trade history kept moving: no consistent read in 20 tries")
    net: dict[int, Decimal] = defaultdict(Decimal)
    for r in first:
        q = Decimal(str(r["quantity"]))
        net[int(r["contractId"])] += q if r["side"] == "BUY" else -q
    return held, {cid: q for cid, q in net.items() if q}


def test_ccp_run_trades_stops_on_sigint_and_resumes(tmp_path):
    data, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(data, port, logs)
    try:
        out = proc.output()
        assert f"{base}/api/v1" in out and f"{base}/docs" in out
        for name in ("maker-1", "maker-2", "taker-1", "taker-2"):
            assert name in out
        clients = takers(data, base)
        before = wait_for("two auctions with trades",
                          lambda: (b := batches_with_trades(clients)) and len(b) >= 2 and b,
                          timeout=240, every=2)
        for c in clients:  # positions are the net of the trades: nothing lost, none twice
            held, net = net_of_trades(c)
            assert held == net, c.address
        assert any(net_of_trades(c)[0] for c in clients)
        for c in clients:
            c.close()

        proc.signal(signal.SIGINT)
        assert proc.wait(90) == 0, proc.output()[-3000:]
        assert "ccp run: stopped" in proc.output()
        assert (data / "anvil-state.json").exists()
        assert (data / "ccp.sqlite3").exists()

        seen = len(proc.output())
        proc = start(data, port, logs)
        second = proc.output()[seen:]
        assert "ccp run: the venue is up" in second
        assert "listed" not in second  # the same contracts: nothing new to list
        clients = takers(data, base)
        t_restart = max(before)
        after = wait_for("one more auction with trades after the restart",
                         lambda: {b for b in batches_with_trades(clients) if b > t_restart},
                         timeout=240, every=2)
        assert after
        still = batches_with_trades(clients)
        assert before <= still  # the trades before the stop are still there
        for c in clients:  # ... and still after the restart, over the whole history
            held, net = net_of_trades(c)
            assert held == net, c.address
            c.close()
        proc.signal(signal.SIGINT)
        assert proc.wait(90) == 0, proc.output()[-3000:]
    finally:
        proc.stop()
    # the chain kept its state: the same deployment on both starts
    dep = json.loads((data / "deployment.json").read_text())
    assert dep["fundLock"].startswith("0x")
