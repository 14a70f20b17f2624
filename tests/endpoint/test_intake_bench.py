"""Opt-in benchmark: order intake over real HTTP with signature verification.

    .venv/bin/python -m pytest tests/endpoint/test_intake_bench.py --benchmark-only -m bench -s

The API runs in a process of its own (``tests.endpoint.api_serve``, uvicorn on 127.0.0.1) over
SQLite or a throwaway PostgreSQL; the load comes from this process (asyncio, httpx, ``CONC``
connections), every order signed beforehand by one of four clients (EIP-712, Ithaca dialect).
Two runs per engine, ``CCP_BENCH_SECONDS`` each (default 20): single ``newOrder`` requests,
and ``newOrders`` batches of ``BATCH`` (counted per order). Reported: orders/s, request
latency p50/p99. Then, in this process over the same store, where the time goes: signature
recovery per order, and the admission transaction (``endpoint.orders.submit``) per order.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from auction.products import DEFAULT_CURRENCIES, Contract, CurrencyPair, Payoff
from coordinator.persistence import Store
from coordinator.persistence import auth as auth_repo
from coordinator.persistence.migrate import upgrade
from coordinator.persistence.records import FundLock
from coordinator.settings import Settings
from endpoint import eip712
from endpoint import orders as ords
from endpoint.models import OrderIn
from tests.endpoint.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("CCP_BENCH_SECONDS", "20"))
CONC = int(os.environ.get("CCP_BENCH_CONC", "16"))
BATCH = int(os.environ.get("CCP_BENCH_BATCH", "50"))
RATE = float(os.environ.get("CCP_BENCH_RATE", "2500"))  # offered load, orders/s
KEYS = [0x51001, 0x51002, 0x51003, 0x51004]


def seed(store: Store) -> None:
    now = int(time.time() * 1000)
    expiry = (datetime.now(UTC) + timedelta(days=40)).date()
    pair = CurrencyPair("WBTC", "USDC")
    with store.write() as tx:
        for sym in ("USDC", "WBTC"):
            tx.put_currency(DEFAULT_CURRENCIES[sym])
        for i in range(20):
            tx.put_contract(Contract(1 + i, Payoff.CALL, pair, expiry,
                                     Decimal(50000 + 1000 * i), Decimal("0.1"),
                                     Decimal("0.01"), Decimal(2000), Decimal(1),
                                     Decimal(10000)), now)
        for cid, key in enumerate(KEYS, 1):
            auth_repo.ensure_client_address(tx, cid, eip712.address_of(key), now)
            tx.put_fund_locks([FundLock(cid, "USDC", 10**9 * 10**4)], now)


def signed(key: int, n: int, start: int) -> list[dict]:
    addr = eip712.address_of(key).lower()
    out = []
    for i in range(n):
        coid = start + i
        cid = 1 + i % 20
        price = f"{20 + i % 7}.0000"
        legs = [(cid, "BUY", "0.0100")]
        typed = eip712.order(eip712.ithaca(), order_type="LIMIT", order_id=coid, price=price,
                             time_in_force="GOOD_TILL_CANCEL", address=addr, legs=legs,
                             single_price=False)
        out.append({"clientOrderId": coid, "orderType": "LIMIT",
                    "timeInForce": "GOOD_TILL_CANCEL", "clientEthAddress": addr,
                    "totalNetPrice": price, "requestSinglePrice": False,
                    "legs": [{"contractId": cid, "side": "BUY", "quantity": "0.0100"}],
                    "signature": eip712.sign(typed, key)})
    return out


def login(base: str, key: int) -> str:
    with httpx.Client(base_url=base) as c:
        nonce = c.post("/api/v1/auth/requestAuth",
                       json={"ethAddress": eip712.address_of(key)}).json()["nonce"]
        sig = eip712.sign(eip712.login(nonce, eip712.ithaca()), key)
        r = c.post("/api/v1/auth/validateAuth", json={"nonce": nonce, "signature": sig})
        return r.json()["payload"]["authToken"]


async def drive(base: str, tokens: list[str], work: list[list[dict]], batch: int,
                seconds: float) -> tuple[int, list[float], int]:
    """Send the pre-signed orders, at most RATE orders/s, CONC requests in flight."""
    sent = 0
    lat: list[float] = []
    errors = 0
    per_request = batch
    interval = per_request / RATE
    t_end = time.perf_counter() + seconds
    queues = [list(w) for w in work]

    async def worker(i: int) -> None:
        nonlocal sent, errors
        k = i % len(tokens)
        async with httpx.AsyncClient(base_url=base, timeout=30,
                                     headers={"Authorization": f"Bearer {tokens[k]}"}) as c:
            nxt = time.perf_counter()
            while time.perf_counter() < t_end and queues[k]:
                chunk = [queues[k].pop() for _ in range(min(batch, len(queues[k])))]
                t0 = time.perf_counter()
                if batch == 1:
                    r = await c.post("/api/v1/clientapi/newOrder", json=chunk[0])
                    good = r.status_code == 200
                else:
                    r = await c.post("/api/v1/clientapi/newOrders", json=chunk)
                    good = r.status_code == 200 and all(v == "OK" for v in
                                                        r.json()["payload"].values())
                lat.append(time.perf_counter() - t0)
                if good:
                    sent += len(chunk)
                else:
                    errors += 1
                nxt += interval * CONC
                await asyncio.sleep(max(0.0, nxt - time.perf_counter()))

    await asyncio.gather(*(worker(i) for i in range(CONC)))
    return sent, lat, errors


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")


def machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f", {os.cpu_count()} cores"
    except OSError:
        pass
    return "unknown"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def bench_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    return request.getfixturevalue("pg_server").create_database()


@pytest.mark.bench
def test_order_intake_over_http(bench_url, benchmark):
    store = Store.open(bench_url)
    upgrade(store.engine)
    seed(store)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CCP_API_RATE_PER_CLIENT": "1e9",
           "CCP_API_RATE_BURST_CLIENT": "1000000000", "CCP_API_RATE_PER_ADDRESS": "1e9",
           "CCP_API_RATE_BURST_ADDRESS": "1000000000"}
    proc = subprocess.Popen([sys.executable, "-m", "tests.endpoint.api_serve", bench_url,
                             str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    report: dict[str, str] = {}
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        base = f"http://127.0.0.1:{port}"
        tokens = [login(base, k) for k in KEYS]
        per_client = int(RATE * SECONDS * 1.2 / len(KEYS)) + BATCH
        t0 = time.perf_counter()
        work = {b: [signed(k, per_client, 10**6 * (b + 1)) for k in KEYS] for b in (1, BATCH)}
        sign_s = time.perf_counter() - t0

        def run() -> None:
            for b in (1, BATCH):
                n, lat, errors = asyncio.run(drive(base, tokens, work[b], b, SECONDS))
                kind = "newOrder" if b == 1 else f"newOrders×{BATCH}"
                report[kind] = (f"{n / SECONDS:,.0f} orders/s, {len(lat) / SECONDS:,.0f} req/s, "
                                f"p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms, "
                                f"{errors} failed requests")
                assert errors == 0
                assert n > 0

        benchmark.pedantic(run, rounds=1, iterations=1)
    finally:
        proc.terminate()
        proc.wait(10)

    # Where the time goes, per order, measured in this process over the same store.
    settings = Settings(database_url=bench_url)
    with store.read() as tx:
        contracts, currencies = tx.contracts(), dict(tx.currencies())
    sample = signed(KEYS[0], 400, 9 * 10**8)
    parsed = []
    t0 = time.perf_counter()
    for body in sample:
        parsed.append(ords.parse_order(OrderIn.model_validate(body), client_id=1,
                                       address=eip712.address_of(KEYS[0]).lower(),
                                       contracts=contracts, currencies=currencies))
    t_parse = (time.perf_counter() - t0) / len(sample)
    t0 = time.perf_counter()
    for w in parsed:
        ords.verify_signature(settings, w, eip712.address_of(KEYS[0]).lower())
    t_sig = (time.perf_counter() - t0) / len(sample)
    t0 = time.perf_counter()
    cache = ords.ReferenceCache()
    for w in parsed[:200]:
        ords.submit(store, settings, [w], int(time.time() * 1000), all_or_nothing=True,
                    cache=cache)
    t_one = (time.perf_counter() - t0) / 200
    t0 = time.perf_counter()
    for i in range(200, 400, BATCH):
        ords.submit(store, settings, parsed[i:i + BATCH], int(time.time() * 1000),
                    all_or_nothing=False, cache=cache)
    t_batch = (time.perf_counter() - t0) / 200
    with store.read() as tx:
        live = tx.count("orders")
    store.dispose()
    report["where (per order, in process)"] = (
        f"parse {t_parse * 1e3:.2f} ms, signature {t_sig * 1e3:.2f} ms, admission tx "
        f"{t_one * 1e3:.2f} ms single / {t_batch * 1e3:.2f} ms in batches of {BATCH} "
        f"(book of {live:,} live orders)")
    report["setup"] = (f"{machine()} (shared with other jobs), "
                       f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {store.dialect}, "
                       f"{SECONDS:g} s per run, {CONC} connections, offered {RATE:g} orders/s, "
                       f"signing {sign_s:.1f} s beforehand")
    benchmark.extra_info.update(report)
    print()
    for k, v in report.items():
        print(f"  {k}: {v}")
