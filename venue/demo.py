"""Demo traders: market makers and takers that trade through the venue's real HTTP API.

Once per auction (right after the previous one): every market maker cancels its orders and
quotes two-sided, good till cancelled, around the Black-76 fair values (from the spot price the
venue publishes) on the contracts of one pair and expiry picked for the round; then every taker
crosses some of those quotes with immediate-or-cancel orders — single legs, call verticals and
straddles — so the next auction clears. Each trader logs in by signing the nonce and signs every
order (EIP-712), like any client program. Fair values are floats (Black-76) converted once to
Decimal on the contract's tick grid; every price and quantity on the wire is a decimal string.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import httpx
from eth_account import Account

from auction.products import Payoff, expiry_datetime, parse_expiry
from venue.client import ApiError, LegSpec, VenueClient
from venue.seed import DEMO_MARKETS, YEAR_SECONDS, Market, fair_value

log = logging.getLogger(__name__)

ACCOUNTS_FILE = "demo-accounts.json"


@dataclass(frozen=True)
class DemoAccount:
    name: str
    role: str  # "maker" / "taker"
    key: str  # 0x… private key

    @property
    def address(self) -> str:
        return Account.from_key(self.key).address


def demo_accounts(data_dir: Path, makers: int = 2, takers: int = 2) -> list[DemoAccount]:
    """The demo accounts of a data folder: made (random keys) on first start, then kept."""
    path = data_dir / ACCOUNTS_FILE
    if path.exists():
        return [DemoAccount(**a) for a in json.loads(path.read_text())]
    accounts = [DemoAccount(f"maker-{i + 1}", "maker", "0x" + secrets.token_hex(32))
                for i in range(makers)]
    accounts += [DemoAccount(f"taker-{i + 1}", "taker", "0x" + secrets.token_hex(32))
                 for i in range(takers)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([a.__dict__ for a in accounts], indent=2) + "\n")
    tmp.replace(path)
    return accounts


@dataclass(frozen=True)
class Spec:
    """One contract as the traders see it."""

    contract_id: int
    payoff: Payoff
    pair: str
    expiry: str  # yyyymmdd
    strike: Decimal | None
    tick: Decimal
    lot: Decimal
    price_precision: int
    qty_precision: int


@dataclass
class Quote:
    bid: Decimal
    ask: Decimal
    size: Decimal


def _market(pair: str) -> Market | None:
    return next((m for m in DEMO_MARKETS if m.pair == pair), None)


def _wire_expiry(value: object) -> str:
    """Elektro ``yyyymmdd`` or Ithaca ``yymmddHHM`` → ``yyyymmdd``."""
    s = str(value)
    if len(s) == 9:
        return "20" + s[:6]
    return s


def specs_from(contracts: Sequence[dict], precisions: dict[str, int]) -> list[Spec]:
    """Contract list (api.md §4) → specs; tick and lot from the listing when it gives them, else
    from the demo chain's definitions (:mod:`venue.seed`)."""
    out = []
    for c in contracts:
        if c.get("tradeable") is False:
            continue
        eco = c.get("economics", {})
        pair = eco.get("currencyPair", "")
        m = _market(pair)
        if m is None:
            continue
        try:
            payoff = Payoff(c["payoff"])
        except ValueError:
            continue
        if payoff is Payoff.FORWARD:
            tick, lot = m.forward_tick, m.option_lot
        elif payoff.is_binary:
            tick, lot = m.binary_tick, m.binary_lot
        else:
            tick, lot = m.option_tick, m.option_lot
        tick = Decimal(str(c.get("tickSize", tick)))
        lot = Decimal(str(c.get("lotSize", lot)))
        strike = eco.get("strike")
        und, num = pair.split("/")
        out.append(Spec(int(c["contractId"]), payoff, pair, _wire_expiry(eco.get("expiry")),
                        None if strike in (None, "", 0) else Decimal(str(strike)), tick, lot,
                        precisions.get(num, 4),
                        precisions.get(num if payoff.is_binary else und, 8)))
    return out


def _fmt(value: Decimal, digits: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-digits)))


def _years(expiry: str, now: datetime) -> float:
    dt = expiry_datetime(parse_expiry(expiry))
    return max((dt - now).total_seconds(), 600.0) / YEAR_SECONDS


@dataclass
class DemoTraders:
    """The makers' and takers' rounds; ``run(stop)`` until the event is set."""

    base_url: str
    accounts: Sequence[DemoAccount]
    cadence_seconds: float
    seed: int | None = None
    makers_spread: tuple[float, ...] = (0.04, 0.06)
    rounds: int = 0
    orders_sent: int = 0
    rejections: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.clients = {a.name: VenueClient(self.base_url, a.key) for a in self.accounts}
        self.logged_in: set[str] = set()
        self.specs: list[Spec] = []

    # ---- plumbing ------------------------------------------------------------------------

    def _client(self, acct: DemoAccount) -> VenueClient | None:
        c = self.clients[acct.name]
        if acct.name not in self.logged_in:
            try:
                c.login()
            except (ApiError, httpx.HTTPError) as e:
                log.info("demo %s: login failed: %s", acct.name, e)
                return None
            self.logged_in.add(acct.name)
        return c

    def _reject(self, code: str) -> None:
        self.rejections[code] = self.rejections.get(code, 0) + 1

    def _refresh_specs(self, c: VenueClient) -> None:
        info = c.system_info()
        prec = {k: int(v) for k, v in (info.get("currencyPrecision") or {}).items()}
        self.specs = specs_from(c.contracts(), prec)

    def _spots(self, c: VenueClient) -> dict[str, Decimal]:
        try:
            spots = c.spot_prices()
        except ApiError:
            spots = {}
        return {m.pair: spots.get(m.pair) or m.spot for m in DEMO_MARKETS}

    # ---- one round -----------------------------------------------------------------------

    def round(self) -> None:
        makers = [a for a in self.accounts if a.role == "maker"]
        takers = [a for a in self.accounts if a.role == "taker"]
        lead = self._client(makers[0] if makers else self.accounts[0])
        if lead is None:
            return
        if not self.specs or self.rounds % 20 == 0:
            self._refresh_specs(lead)
        spots = self._spots(lead)
        now = datetime.now(tz=UTC)
        chains = sorted({(s.expiry, s.pair) for s in self.specs})  # nearest expiries first
        if not chains:
            return
        expiry, pair = self.rng.choice(chains[: max(2, len(chains) // 2)])
        chain = [s for s in self.specs if s.pair == pair and s.expiry == expiry]
        m = _market(pair)
        vol = m.volatility if m else 0.6
        fair = {s.contract_id: fair_value(s.payoff, spots[pair], s.strike, vol,
                                          _years(expiry, now)) for s in chain}
        book: dict[int, Quote] = {}
        for i, acct in enumerate(makers):
            c = self._client(acct)
            if c is None:
                continue
            spread = Decimal(str(self.makers_spread[i % len(self.makers_spread)]))
            try:
                c.cancel_all()
            except ApiError as e:
                self._reject(e.code)
            bodies = []
            for s in chain:
                q = self._quote(s, fair[s.contract_id], spread)
                if q is None:
                    continue
                best = book.get(s.contract_id)
                book[s.contract_id] = q if best is None else Quote(max(best.bid, q.bid),
                                                                   min(best.ask, q.ask), q.size)
                qty = _fmt(q.size, s.qty_precision)
                bodies.append(c.order_body([LegSpec(s.contract_id, "BUY", qty)],
                                           _fmt(q.bid * q.size, s.price_precision)))
                bodies.append(c.order_body([LegSpec(s.contract_id, "SELL", qty)],
                                           _fmt(-q.ask * q.size, s.price_precision)))
            self._send_many(c, bodies)
        for acct in takers:
            c = self._client(acct)
            if c is not None:
                self._take(c, chain, book)
        self.rounds += 1

    def _quote(self, s: Spec, fair: Decimal, spread: Decimal) -> Quote | None:
        if s.payoff.is_binary:
            half = Decimal("0.02") + spread / 2
            bid = (fair - half).quantize(s.tick, ROUND_FLOOR)
            ask = (fair + half).quantize(s.tick, ROUND_CEILING)
            bid, ask = max(bid, s.tick), min(ask, 1 - s.tick)
            size = s.lot * 10
        else:
            width = max(fair * spread, s.tick * 2)
            bid = ((fair - width) / s.tick).to_integral_value(ROUND_FLOOR) * s.tick
            ask = ((fair + width) / s.tick).to_integral_value(ROUND_CEILING) * s.tick
            size = s.lot * (5 if s.payoff is Payoff.FORWARD else 10)
        if bid <= 0 or ask <= bid:
            return None
        return Quote(bid, ask, size)

    def _take(self, c: VenueClient, chain: Sequence[Spec], book: dict[int, Quote]) -> None:
        quoted = [s for s in chain if s.contract_id in book]
        if not quoted:
            return
        bodies = []
        for s in self.rng.sample(quoted, min(2, len(quoted))):
            q = book[s.contract_id]
            size = q.size / 2 if self.rng.random() < 0.5 else q.size
            size = max((size / s.lot).to_integral_value(ROUND_FLOOR), 1) * s.lot
            qty = _fmt(size, s.qty_precision)
            edge = s.tick * 3
            if self.rng.random() < 0.5:
                bodies.append(c.order_body([LegSpec(s.contract_id, "BUY", qty)],
                                           _fmt((q.ask + edge) * size, s.price_precision),
                                           time_in_force="IMMEDIATE_OR_CANCEL"))
            else:
                bodies.append(c.order_body([LegSpec(s.contract_id, "SELL", qty)],
                                           _fmt(-(q.bid - edge) * size, s.price_precision),
                                           time_in_force="IMMEDIATE_OR_CANCEL"))
        combo = self._combo(c, quoted, book)
        if combo is not None:
            bodies.append(combo)
        self._send_many(c, bodies)

    def _combo(self, c: VenueClient, quoted: Sequence[Spec], book: dict[int, Quote]
               ) -> dict | None:
        """A call vertical (buy the lower strike, sell the higher) or a long straddle."""
        calls = sorted((s for s in quoted if s.payoff is Payoff.CALL), key=lambda s: s.strike)
        puts = {s.strike: s for s in quoted if s.payoff is Payoff.PUT}
        if len(calls) < 2:
            return None
        if self.rng.random() < 0.5:
            i = self.rng.randrange(len(calls) - 1)
            lo, hi = calls[i], calls[i + 1]
            size = lo.lot * 5
            net = (book[lo.contract_id].ask - book[hi.contract_id].bid + lo.tick * 4) * size
            legs = [LegSpec(lo.contract_id, "BUY", _fmt(size, lo.qty_precision)),
                    LegSpec(hi.contract_id, "SELL", _fmt(size, hi.qty_precision))]
            prec = lo.price_precision
        else:
            pairs = [(cl, puts[cl.strike]) for cl in calls if cl.strike in puts]
            if not pairs:
                return None
            cl, pu = self.rng.choice(pairs)
            size = cl.lot * 5
            net = (book[cl.contract_id].ask + book[pu.contract_id].ask + cl.tick * 4) * size
            legs = [LegSpec(cl.contract_id, "BUY", _fmt(size, cl.qty_precision)),
                    LegSpec(pu.contract_id, "BUY", _fmt(size, pu.qty_precision))]
            prec = cl.price_precision
        return c.order_body(legs, _fmt(net, prec), time_in_force="IMMEDIATE_OR_CANCEL")

    def _send_many(self, c: VenueClient, bodies: list[dict]) -> None:
        if not bodies:
            return
        try:
            res = c.new_orders(bodies)
        except ApiError as e:
            self._reject(e.code)
            if e.code == "UNAUTHORIZED":
                self.logged_in.discard(next(n for n, v in self.clients.items() if v is c))
            return
        self.orders_sent += len(bodies)
        for code in res.values():
            if code != "OK":
                self._reject(str(code))

    # ---- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """One round per auction, right after it; errors are logged, never fatal."""
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                self.round()
            except httpx.HTTPError as e:  # the API is starting or stopping
                log.warning("demo traders: round skipped: %s", e)
            except Exception:  # a demo round must never stop the venue
                log.exception("demo traders: round failed")
            wait = self.cadence_seconds
            try:
                lead = next(iter(self.clients.values()))
                nxt = lead.next_auction() / 1000 - time.time()
                if 0 <= nxt <= 2 * self.cadence_seconds:
                    wait = nxt + min(1.0, self.cadence_seconds / 5)
            except Exception:  # the API may be down for a moment
                pass
            stop.wait(max(wait, 0.5, 1.0 - (time.monotonic() - t0)))

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

