"""End to end on the production layout: PostgreSQL, anvil, two ``api`` processes, coordinator,
settlement and background as separate OS processes (``ccp serve``).

* a trading day: clients deposit on chain, log in, trade single- and multi-leg orders over HTTP
  through several auctions, get their fills on the WebSocket, see their positions on the Ledger
  and their balances on FundLock, withdraw; ``ccp chain reconcile`` finds no difference;
* the kill test: while a bounded load of orders flows, every role is SIGKILLed at random moments
  and restarted; then every order the API accepted is in the store, nothing was applied twice,
  settlement caught up and the reconciliation is clean.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections import defaultdict
from decimal import ROUND_FLOOR, Decimal

import httpx
import pytest
from websockets.sync.client import connect

from auction.products import Payoff
from tests.venue.procs import api_up, wait_for
from tests.venue.production import CADENCE, ProductionVenue
from venue.client import ApiError, LegSpec, VenueClient
from venue.demo import Spec, specs_from

FUNDS = {"USDC": Decimal("1000000"), "WETH": Decimal("100"), "WBTC": Decimal("5")}


@pytest.fixture
def pg(pg_server):
    return pg_server


@pytest.fixture
def venue(tmp_path, pg):
    v = ProductionVenue(tmp_path, pg).start()
    try:
        yield v
    finally:
        v.stop()


def new_key() -> str:
    return "0x" + secrets.token_hex(32)


def logged_in(v: ProductionVenue, url: str, key: str) -> VenueClient:
    """Deposit first (registration on deposit), then log in once the monitor registered it."""
    v.fund_and_deposit(key, FUNDS)
    c = VenueClient(url, key)

    def login() -> bool:
        try:
            c.login()
            return True
        except ApiError as e:
            if e.code != "UNKNOWN_ETH_ADDRESS":
                raise
            return False

    wait_for(f"{c.address} to be registered by its deposit", login, 60)
    wait_for(f"{c.address}'s deposit in its funds",
             lambda: fund_lock_value(c, "USDC") == FUNDS["USDC"], 60)
    return c


def fund_lock_value(c: VenueClient, sym: str) -> Decimal:
    for row in c.fund_lock_state():
        if row.get("currency") == sym:
            return Decimal(str(row.get("fundLockValue", "0")))
    return Decimal(0)


def chain_specs(c: VenueClient, pair: str = "WETH/USDC") -> list[Spec]:
    prec = {k: int(v) for k, v in (c.system_info().get("currencyPrecision") or {}).items()}
    specs = [s for s in specs_from(c.contracts(), prec) if s.pair == pair]
    first = min(s.expiry for s in specs)
    return sorted((s for s in specs if s.expiry == first),
                  key=lambda s: (s.payoff, s.strike or 0))


def ref_prices(c: VenueClient, pair: str) -> dict[int, Decimal]:
    return {int(r["contractId"]): Decimal(str(r["referencePrice"]))
            for r in c.reference_prices(pair)}


def q(value: Decimal, digits: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-digits), ROUND_FLOOR))


def total(unit: Decimal, s: Spec, size: Decimal, sign: int = 1) -> str:
    """A signed total premium on the tick grid: the unit price floored to the tick, × size."""
    ticks = max((unit / s.tick).to_integral_value(ROUND_FLOOR), 1)
    return q(sign * ticks * s.tick * size, s.price_precision)


def status_of(c: VenueClient, coid: int) -> str:
    st = c.order_status(coid)
    if isinstance(st, list):
        st = st[0] if st else {}
    return str(st.get("orderStatus") or st.get("status"))


class WsListener:
    """A WebSocket session (api.md §5) collecting every message in a thread."""

    def __init__(self, base_url: str, token: str) -> None:
        self.ws = connect(base_url.replace("http://", "ws://") + "/wss", open_timeout=10,
                          legacy=True)
        self.messages: list[dict] = []
        self.ws.send(json.dumps({"action": "VALIDATE_AUTH_TOKEN", "payload": {"authToken": token}}))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                text = raw.decode() if isinstance(raw, bytes) else raw
                self.messages.append(json.loads(text))
        except Exception:  # closed
            pass

    def of(self, kind: str) -> list[dict]:
        return [m for m in self.messages if m.get("responseType") == kind
                or m.get("action") == kind]

    def close(self) -> None:
        self.ws.close()


def test_a_trading_day_on_the_production_layout(venue: ProductionVenue):
    api1, api2 = venue.api_urls
    ka, kb = new_key(), new_key()
    a = logged_in(venue, api1, ka)
    b = logged_in(venue, api2, kb)
    ws = WsListener(api1, a.auth_token or "")
    specs = chain_specs(a)
    calls = [s for s in specs if s.payoff is Payoff.CALL]
    c1, c2 = calls[1], calls[2]  # two adjacent strikes
    refs = ref_prices(a, "WETH/USDC")
    size = c1.lot * 10
    qty = q(size, c1.qty_precision)
    orders: list[tuple[VenueClient, int]] = []
    for rnd in range(3):
        p = refs[c1.contract_id]
        sell = a.new_order([LegSpec(c1.contract_id, "SELL", qty)],
                           total(p * Decimal("0.9"), c1, size, -1))
        buy = b.new_order([LegSpec(c1.contract_id, "BUY", qty)],
                          total(p * Decimal("1.1"), c1, size),
                          time_in_force="IMMEDIATE_OR_CANCEL")
        orders += [(a, sell["clientOrderId"]), (b, buy["clientOrderId"])]
        if rnd > 0:  # a call vertical: a sells it, b buys it
            spread = max(refs[c1.contract_id] - refs[c2.contract_id], c1.tick)
            sv = a.new_order([LegSpec(c1.contract_id, "SELL", qty),
                              LegSpec(c2.contract_id, "BUY", qty)],
                             total(spread * Decimal("0.5"), c1, size, -1))
            bv = b.new_order([LegSpec(c1.contract_id, "BUY", qty),
                              LegSpec(c2.contract_id, "SELL", qty)],
                             total(spread * Decimal("1.5"), c1, size))
            orders += [(a, sv["clientOrderId"]), (b, bv["clientOrderId"])]
        batch = orders[-4:] if rnd > 0 else orders[-2:]
        try:
            wait_for(f"round {rnd + 1} filled",
                     lambda batch=batch: all(status_of(c, o) == "FILLED" for c, o in batch),
                     timeout=CADENCE * 10, every=1)
        except TimeoutError as e:
            raise AssertionError(
                f"{e}: {[c.order_status(o) for c, o in batch]}\n"
                f"{venue.procs['coordinator'].output()[-2000:]}") from None
    # the fills arrived on a's WebSocket (connected to the other api process than b's orders)
    wait_for("a's fills on the WebSocket",
             lambda: {r["payload"]["clientOrderId"] for r in ws.of("EXEC_REPORT")
                      if r["payload"].get("orderStatus") == "FILLED"}
             >= {o for c, o in orders if c is a}, timeout=30, every=0.5)
    ws.close()
    # positions: the API and the Ledger agree once settlement has caught up
    pos_a = {int(p["contractId"]): Decimal(str(p["positionsQty"])) for p in a.positions()}
    assert pos_a[c1.contract_id] == -size * 5  # 3 singles + 2 verticals, all sold by a
    assert pos_a[c2.contract_id] == size * 2
    lots_a = int(pos_a[c1.contract_id] / c1.lot)

    def on_ledger() -> bool:
        got = venue.ledger_position("WETH/USDC", c1.contract_id, a.address)
        return got != 0 and (got < 0) == (lots_a < 0)

    wait_for("a's position on the Ledger", on_ledger, timeout=60, every=1)
    # balances: FundLock on chain equals the API's fundLockValue, to the precision unit
    seen: list = []

    def balances_equal() -> bool:
        seen[:] = [(venue.fund_lock_balance(c.address, "USDC"), fund_lock_value(c, "USDC"),
                    c.fund_lock_state()) for c in (a, b)]
        settled = all(Decimal(str(r.get("settleValue", 0))) == 0 for _, _, st in seen
                      for r in st)
        return settled and all(x == y for x, y, _ in seen)

    try:
        wait_for("settlement caught up (nothing to settle, balances equal)", balances_equal,
                 timeout=90, every=1)
    except TimeoutError as e:
        raise AssertionError(f"{e}: chain vs API {seen}") from None
    assert fund_lock_value(a, "USDC") > FUNDS["USDC"]  # a sold premium
    # withdraw
    before = fund_lock_value(a, "USDC")
    venue.withdraw(ka, "USDC", Decimal("1000"))
    try:
        wait_for("the withdrawal in a's funds",
                 lambda: fund_lock_value(a, "USDC") == before - 1000, timeout=60, every=1)
    except TimeoutError as e:
        raise AssertionError(f"{e}: before {before}, now {a.fund_lock_state()}, on chain "
                             f"{venue.fund_lock_balance(a.address, 'USDC')}") from None
    code, out = venue.reconcile()
    assert code == 0, out[-3000:]
    for c in (a, b):
        c.close()


# ---- the kill test ------------------------------------------------------------------------

class Load:
    """A bounded stream of crossing orders from several traders over both APIs."""

    def __init__(self, venue: ProductionVenue, traders: list[VenueClient], specs: list[Spec],
                 refs: dict[int, Decimal], seed: int) -> None:
        self.venue = venue
        self.traders = traders
        self.specs = [s for s in specs if s.payoff in (Payoff.CALL, Payoff.PUT)]
        self.refs = refs
        self.rng = random.Random(seed)
        self.accepted: list[tuple[str, int]] = []  # (address, clientOrderId)
        self.unknown = 0  # answers lost to a killed api process
        self.sessions: dict[tuple[str, str], VenueClient] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _client(self, t: VenueClient) -> VenueClient:
        """The trader's session on one of the api processes, picked at random."""
        url = self.rng.choice(self.venue.api_urls)
        c = self.sessions.get((t.key, url))
        if c is None:
            c = self.sessions[(t.key, url)] = VenueClient(url, t.key)
        if c.client_id is None:
            c.login()
        return c

    def _order(self, t: VenueClient) -> dict:
        s = self.rng.choice(self.specs)
        ref = self.refs.get(s.contract_id, s.tick * 10)
        size = s.lot * self.rng.randint(1, 5)
        qty = q(size, s.qty_precision)
        if self.rng.random() < 0.25:  # a vertical or a strangle-like pair of the same kind
            others = [o for o in self.specs if o.payoff is s.payoff and o is not s]
            o = self.rng.choice(others)
            unit = ref + self.refs.get(o.contract_id, o.tick * 10)
            side = self.rng.choice(["BUY", "SELL"])
            sign = 1 if side == "BUY" else -1
            limit = total(unit * (Decimal("1.3") if side == "BUY" else Decimal("0.7")), s, size,
                          sign)
            return t.order_body([LegSpec(s.contract_id, side, qty),
                                 LegSpec(o.contract_id, side, qty)], limit)
        side = self.rng.choice(["BUY", "SELL"])
        sign = 1 if side == "BUY" else -1
        limit = total(ref * (Decimal("1.2") if side == "BUY" else Decimal("0.8")), s, size, sign)
        return t.order_body([LegSpec(s.contract_id, side, qty)], limit,
                            time_in_force=self.rng.choice(["GOOD_TILL_CANCEL",
                                                           "IMMEDIATE_OR_CANCEL"]))

    def _run(self) -> None:
        while not self.stop.is_set():
            t = self.rng.choice(self.traders)
            c = t
            try:
                c = self._client(t)
                body = self._order(c)
                c.call("/clientapi/newOrder", body)
                self.accepted.append((c.address.lower(), body["clientOrderId"]))
            except ApiError as e:
                if e.code == "UNAUTHORIZED":
                    c.client_id = None
            except httpx.HTTPError:
                self.unknown += 1  # the api process died under the request: not accepted
            self.stop.wait(0.1)


def kill_campaign(venue: ProductionVenue, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    traders = [logged_in(venue, venue.api_urls[i % 2], new_key()) for i in range(4)]
    specs = chain_specs(traders[0])
    refs = ref_prices(traders[0], "WETH/USDC")
    load = Load(venue, traders, specs, refs, seed)
    load.thread.start()
    roles = list(venue.procs)
    try:
        for i in range(kills):
            time.sleep(rng.uniform(0.5, 3.0))
            name = roles[i % len(roles)] if i < len(roles) else rng.choice(roles)
            p = venue.procs[name]
            p.kill()
            time.sleep(rng.uniform(0.1, 1.5))
            p.start()
            if name.startswith("api"):
                url = venue.api_urls[int(name.split("-")[1]) - 1]
                wait_for(f"{name} back", lambda u=url: api_up(u), 60, every=0.2)
    finally:
        load.stop.set()
        load.thread.join(30)
    assert len(load.accepted) > kills, "the load should have flowed during the campaign"
    for c in [*traders, *load.sessions.values()]:
        c.close()

    # Settlement catches up: every cash movement confirmed on chain.
    def caught_up() -> bool:
        rows = venue.query("SELECT state, count(*) FROM cash_movements GROUP BY state")
        states = dict(rows)
        return states and set(states) == {"SETTLE_CONFIRMED"}

    wait_for("settlement to catch up", caught_up, timeout=180, every=2)

    # Every order the API accepted is in the store; nothing applied twice: fills add up to
    # each order's filled packages, never beyond it; positions equal the sum of the fills.
    # Read on one state of the store: the coordinator keeps auctioning the resting orders.
    orders, bad, fill_rows, position_rows = venue.queries(
        "SELECT c.eth_address, o.client_order_id FROM "
        "(SELECT client_id, client_order_id FROM orders UNION ALL "
        " SELECT client_id, client_order_id FROM historical_orders) o "
        "JOIN clients c ON c.client_id = o.client_id",
        "SELECT o.order_id, o.filled_packages, o.packages, COALESCE(SUM(f.packages), 0) "
        "FROM (SELECT order_id, filled_packages, packages FROM orders UNION ALL "
        "      SELECT order_id, filled_packages, packages FROM historical_orders) o "
        "LEFT JOIN fills f ON f.order_id = o.order_id GROUP BY o.order_id, o.filled_packages, "
        "o.packages HAVING COALESCE(SUM(f.packages), 0) <> o.filled_packages "
        "OR o.filled_packages > o.packages",
        "SELECT f.client_id, l.contract_id, SUM(l.lots) FROM fill_legs l JOIN fills f "
        "ON f.batch_id = l.batch_id AND f.order_id = l.order_id "
        "GROUP BY f.client_id, l.contract_id",
        "SELECT client_id, contract_id, lots FROM positions")
    stored = {(r[0].lower(), int(r[1])) for r in orders}
    missing = [a for a in load.accepted if a not in stored]
    assert not missing, f"{len(missing)} accepted orders missing, e.g. {missing[:3]}"
    assert not bad, bad[:5]
    fills = defaultdict(int)
    for client, cid, lots in fill_rows:
        fills[(client, cid)] = int(lots)
    positions = {(c, k): int(lots) for c, k, lots in position_rows}
    assert {k: v for k, v in positions.items() if v} == {k: v for k, v in fills.items() if v}
    assert sum(1 for _ in fills) > 0, "the campaign should have traded"
    # The reconciliation is exact at any time (the venue keeps running: the last auctions'
    # batches may be landing now): every run must be clean; it runs until one finds settlement
    # caught up, so that the positions table is compared with the Ledgers as well.
    deadline = time.monotonic() + 90
    while True:
        code, out = venue.reconcile()
        if code != 0:  # name what the store holds for the clients that differ
            funds = venue.query("SELECT c.eth_address, f.currency, f.fund_lock_value, "
                                "f.order_value, f.settle_value FROM fund_locks f JOIN clients c "
                                "ON c.client_id = f.client_id WHERE f.currency = 'USDC'")
            events = venue.query("SELECT block_number, log_index, kind, address, amount, "
                                 "balance, backend_id FROM chain_events WHERE currency = 'USDC' "
                                 "ORDER BY block_number DESC, log_index DESC LIMIT 12")
            raise AssertionError(f"reconciliation: {out[-2500:]}\nfunds: {funds}\n"
                                 f"last USDC events: {events}")
        if json.loads(out[out.index("{"):])["caughtUp"]:
            break
        assert time.monotonic() < deadline, f"settlement never caught up: {out[-1500:]}"
        time.sleep(1)


def test_kill_every_role_during_a_bounded_load(venue: ProductionVenue):
    kill_campaign(venue, kills=8, seed=7)


@pytest.mark.slow
def test_kill_campaign_thirty_kills(request, tmp_path, pg):
    """36 kills (about 8 minutes on 2 shared cores): opt-in with ``-m slow``; the bounded
    campaign above runs by default."""
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("the 36-kill campaign runs with -m slow")
    v = ProductionVenue(tmp_path, pg).start()
    try:
        kill_campaign(v, kills=36, seed=11)
    finally:
        v.stop()
