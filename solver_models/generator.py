"""Seeded, realistic order books for tests, benchmarks and sweeps.

A :class:`Recipe` describes a book: the pair and spot, an option chain (``expiries`` expiries ×
``strikes_per_expiry`` strikes of calls and puts, binaries and one forward per expiry), the
number of orders, the share of multi-leg orders (verticals, calendars, straddles, butterflies,
risk reversals), the share of all-or-none orders and how noisy the limits are.

Fair values are Black-76 on the forward ``F = spot`` without discounting, so that they satisfy
the replication identities of auction.md §3 exactly (``P = C − F + K``, ``BP = 1 − BC``).
Buyers bid around ``fair − bias·noise``, sellers ask around ``fair + bias·noise``; the tails
cross, so a book clears partly. With ``cross=False`` every limit is strictly worse than fair
value: at the fair prices no order is in the money and no trade has positive surplus, so the
book does not cross at all.

Prices are computed in floats (the one place allowed to), then rounded to the tick lattice of
each order's legs (auction/book.py ``validate``) as integers and emitted as exact decimals.
Everything is vectorised with numpy; :class:`~auction.orders.Order` objects are built at the
end. The same recipe gives the same book, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import reduce
from typing import Any

import numpy as np
from scipy.special import ndtr

from auction.book import Book
from auction.orders import Leg, Order, Side, TimeInForce
from auction.products import Contract, CurrencyPair, Payoff, parse_expiry

COMBO_TYPES = ("vertical", "calendar", "straddle", "butterfly", "risk_reversal")
#: further combos a recipe may ask for (not in the default mix, so old recipes keep their books)
MORE_COMBO_TYPES = ("ratio", "condor", "conversion", "box", "binary_spread")
ALL_COMBO_TYPES = COMBO_TYPES + MORE_COMBO_TYPES
#: spot per underlying for the extra pairs of a mixed book (``Recipe.pairs``)
PAIR_SPOTS = {"WETH": "3000", "WBTC": "60000"}
EXPIRY_DAYS = (7, 14, 28, 56, 91, 182, 273, 364)

# (tick_size, lot_size) per product family and underlying; lot·tick is the money step of a lot.
_SIZES: dict[str, dict[str, tuple[str, str]]] = {
    "WETH": {"option": ("0.1", "0.1"), "forward": ("0.5", "0.1"), "binary": ("0.001", "10")},
    "WBTC": {"option": ("1", "0.01"), "forward": ("5", "0.01"), "binary": ("0.001", "10")},
}
_DEFAULT_SIZES = {"option": ("0.01", "1"), "forward": ("0.01", "1"), "binary": ("0.001", "10")}


class RecipeError(ValueError):
    """A recipe field that does not exist or has a bad value."""


@dataclass(frozen=True)
class Recipe:
    """How to generate a book (all fields have defaults; see the module docstring).

    * ``spot`` — decimal string, numeraire per unit of underlying; also the forward level.
    * ``start`` — the day the book is cut (``yyyymmdd``); expiries follow it by 7, 14, 28, 56 …
      days. Fixed, not "today", so that a recipe always gives the same book.
    * ``strike_step`` — distance between strikes as a fraction of spot (rounded to a round
      number); strikes are centred on spot and the same for every expiry.
    * ``combo_share`` — share of multi-leg orders, of the kinds in ``combo_types``.
    * ``aon_share`` — share of all-or-none orders.
    * ``price_noise`` — relative spread of limits around fair value; ``bias`` — how far (in units
      of the noise) buyers bid below and sellers ask above fair on average.
    * ``band`` — width of the price bands, relative (generous by default).
    * ``cross`` — False: every limit is strictly worse than fair (a book with no cross).
    * ``clients`` — number of distinct client ids (0: one per 20 orders, at least 10).
    * ``pairs`` — further pairs (e.g. ``("WBTC/USDC",)``, spot from ``PAIR_SPOTS``), each its
      own chain with its own ticks and lots; the orders are split evenly over all pairs.
    * ``limit_places`` — 0: every limit on the tick lattice of its legs; n > 0: the limit drawn
      at n decimals of the numeraire (USDC precision is 4), off the lattice as real clients'
      SDKs send them (auction.md rule 11 reads them floored onto it).
    """

    seed: int = 0
    pair: str = "WETH/USDC"
    spot: str = "3000"
    start: str = "20250103"
    expiries: int = 3
    strikes_per_expiry: int = 9
    strike_step: float = 0.05
    orders: int = 1000
    combo_share: float = 0.2
    combo_types: tuple[str, ...] = COMBO_TYPES
    aon_share: float = 0.05
    price_noise: float = 0.05
    bias: float = 0.5
    volatility: float = 0.6
    band: float = 0.5
    include_puts: bool = True
    include_binaries: bool = True
    include_forwards: bool = True
    cross: bool = True
    clients: int = 0
    pairs: tuple[str, ...] = ()
    limit_places: int = 0

    def __post_init__(self) -> None:
        try:
            pair = CurrencyPair.parse(self.pair)
        except (ValueError, AttributeError) as e:
            raise RecipeError(f"pair: {e}") from None
        try:
            spot = Decimal(str(self.spot))
        except ArithmeticError:
            raise RecipeError(f"spot: {self.spot!r} is not a decimal number") from None
        checks: list[tuple[bool, str]] = [
            (isinstance(self.seed, int) and self.seed >= 0, "seed must be a non-negative integer"),
            (spot.is_finite() and Decimal("1e-8") <= spot <= Decimal("1e8"),
             "spot must be a decimal in [0.00000001, 100000000] (the books it makes stay in "
             "the range of amounts, auction/units.py)"),
            (1 <= self.expiries <= len(EXPIRY_DAYS),
             f"expiries must be between 1 and {len(EXPIRY_DAYS)}"),
            (3 <= self.strikes_per_expiry <= 101, "strikes_per_expiry must be between 3 and 101"),
            (0 < self.strike_step < 1, "strike_step must be in (0, 1)"),
            (self.strikes_per_expiry * self.strike_step < 2,
             "strikes_per_expiry × strike_step must stay below 2 (strikes must be positive)"),
            (1 <= self.orders <= 10_000_000, "orders must be between 1 and 10,000,000"),
            (0 <= self.combo_share <= 1, "combo_share must be in [0, 1]"),
            (0 <= self.aon_share <= 1, "aon_share must be in [0, 1]"),
            (0 <= self.price_noise <= 1, "price_noise must be in [0, 1]"),
            (0 <= self.bias <= 5, "bias must be in [0, 5]"),
            (0 < self.volatility <= 5, "volatility must be in (0, 5]"),
            (0 < self.band <= 10, "band must be in (0, 10]"),
            (self.clients >= 0, "clients must be non-negative"),
            (bool(self.combo_types) or self.combo_share == 0,
             "combo_types must not be empty when combo_share > 0"),
            (0 <= self.limit_places <= 8, "limit_places must be between 0 and 8"),
        ]
        for ok, message in checks:
            if not ok:
                raise RecipeError(message)
        for t in self.combo_types:
            if t not in ALL_COMBO_TYPES:
                raise RecipeError(f"combo_types: {t!r} is not one of "
                                  f"{', '.join(ALL_COMBO_TYPES)}")
        for extra in self.pairs:
            try:
                und = CurrencyPair.parse(extra).underlying
            except (ValueError, AttributeError) as e:
                raise RecipeError(f"pairs: {e}") from None
            if und not in PAIR_SPOTS or extra == self.pair:
                raise RecipeError(f"pairs: {extra!r} must be another pair with an underlying "
                                  f"in {', '.join(PAIR_SPOTS)}")
        try:
            parse_expiry(self.start)
        except ValueError as e:
            raise RecipeError(f"start: {e}") from None
        del pair

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """Strict: unknown keys and values of the wrong type are rejected."""
        if not isinstance(data, Mapping):
            raise RecipeError(f"expected an object, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise RecipeError(f"unknown recipe field(s): {', '.join(unknown)} "
                              f"(known: {', '.join(known)})")
        values: dict[str, Any] = {}
        for key, value in data.items():
            values[key] = _coerce(key, value, str(known[key].type))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["combo_types"] = list(self.combo_types)
        d["pairs"] = list(self.pairs)
        return d

    def scaled(self, orders: int) -> Recipe:
        """The same recipe with another order count (tests use scaled-down benchmark books)."""
        return Recipe(**{**asdict(self), "orders": orders})


def _coerce(key: str, value: Any, typ: str) -> Any:
    if typ == "bool":
        if isinstance(value, bool):
            return value
    elif typ == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif typ == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif typ == "str":
        if key == "spot" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if key == "start" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return value
    elif typ.startswith("tuple") and isinstance(value, list | tuple) and all(
            isinstance(v, str) for v in value):
        return tuple(value)
    expected = {"tuple[str, ...]": "a list of strings", "str": "a string"}.get(typ, f"a {typ}")
    raise RecipeError(f"{key}: expected {expected}, got {value!r}")


# --------------------------------------------------------------------------- fair values


def black76(payoff: Payoff, forward: float, strike: float, vol: float, years: float) -> float:
    """Undiscounted Black-76 value of one unit (the replication identities hold exactly)."""
    if payoff is Payoff.FORWARD:
        return forward
    s = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * s * s) / s
    d2 = d1 - s
    n = lambda x: float(ndtr(x))  # noqa: E731
    match payoff:
        case Payoff.CALL:
            return forward * n(d1) - strike * n(d2)
        case Payoff.PUT:
            return strike * n(-d2) - forward * n(-d1)
        case Payoff.BINARY_CALL:
            return n(d2)
        case Payoff.BINARY_PUT:
            return n(-d2)
    raise AssertionError(payoff)


def _nice_step(x: float) -> Decimal:
    """A round number (1, 2, 2.5, 5 × 10^k) close to x."""
    exp = math.floor(math.log10(x))
    base = x / 10**exp
    m = min((1, 2, 2.5, 5, 10), key=lambda c: abs(c - base))
    return Decimal(str(m)) * Decimal(10) ** exp


def _dec_gcd(values: list[Decimal]) -> Decimal:
    scale = max(max(0, -int(v.normalize().as_tuple().exponent)) for v in values)
    return Decimal(reduce(math.gcd, (int(v.scaleb(scale)) for v in values))).scaleb(-scale)


def _round_to(value: float, step: Decimal, how: str) -> Decimal:
    """value rounded to a multiple of step (``floor``, ``ceil`` or ``nearest``)."""
    f = Fraction(value) / Fraction(step)
    n = {"floor": math.floor, "ceil": math.ceil, "nearest": round}[how](f)
    return (step * n).normalize() + 0  # + 0 drops a negative zero


@dataclass(frozen=True)
class _Chain:
    contracts: dict[int, Contract]
    ids: np.ndarray  # contract ids, index = position in the arrays below
    payoff: list[Payoff]
    fair: np.ndarray  # per unit, numeraire
    sigma: np.ndarray  # noise scale per unit, numeraire
    lot: np.ndarray  # lot size (float)
    m: np.ndarray  # lot·tick in money units (int)
    ticks_per_one: np.ndarray  # 1 / tick for binaries (int), else 0
    call: np.ndarray  # [expiry, strike] → index (or -1)
    put: np.ndarray
    bcall: np.ndarray
    bput: np.ndarray
    fwd: np.ndarray  # [expiry] → index (or -1)
    unit: Decimal  # the money unit: gcd of lot·tick over all contracts


def _chain(r: Recipe) -> _Chain:
    pair = CurrencyPair.parse(r.pair)
    spot = Decimal(str(r.spot))
    s = float(spot)
    sizes = _SIZES.get(pair.underlying, _DEFAULT_SIZES)
    opt_tick, opt_lot = (Decimal(v) for v in sizes["option"])
    fwd_tick, fwd_lot = (Decimal(v) for v in sizes["forward"])
    bin_tick, bin_lot = (Decimal(v) for v in sizes["binary"])
    unit = _dec_gcd([opt_tick * opt_lot, fwd_tick * fwd_lot, bin_tick * bin_lot])
    step = _nice_step(s * r.strike_step)
    centre = (spot / step).to_integral_value() * step
    half = r.strikes_per_expiry // 2
    strikes = [centre + (k - half) * step for k in range(r.strikes_per_expiry)]
    start = parse_expiry(r.start)
    contracts: dict[int, Contract] = {}
    payoff: list[Payoff] = []
    fair: list[float] = []
    sigma: list[float] = []
    lot: list[Decimal] = []
    tick: list[Decimal] = []
    shape = (r.expiries, r.strikes_per_expiry)
    call, put, bcall, bput = (np.full(shape, -1, dtype=np.int64) for _ in range(4))
    fwd = np.full(r.expiries, -1, dtype=np.int64)
    w = r.band

    def add(p: Payoff, expiry: date, strike: Decimal | None, years: float) -> int:
        v = black76(p, s, float(strike or 0) or s, r.volatility, years)
        if p is Payoff.FORWARD:
            t, lt = fwd_tick, fwd_lot
            half_width = w * 0.2 * s
            lo, hi = max(v - half_width, 0.0), v + half_width
            sig = r.price_noise * 0.1 * s
        elif p.is_binary:
            t, lt = bin_tick, bin_lot
            half_width = w * (v + 0.1)
            lo, hi = max(v - half_width, 0.0), min(v + half_width, 1.0)
            sig = r.price_noise * (v + 0.01)
        else:
            t, lt = opt_tick, opt_lot
            half_width = w * (v + 0.02 * s)
            lo, hi = max(v - half_width, 0.0), v + half_width
            sig = r.price_noise * (v + 0.002 * s)
        low = _round_to(lo, t, "floor")
        high = _round_to(hi, t, "ceil")
        ref = min(max(_round_to(v, t, "nearest"), low), high)
        cid = len(contracts) + 1
        contracts[cid] = Contract(cid, p, pair, expiry, strike, t, lt, ref, low, high)
        payoff.append(p)
        fair.append(v)
        sigma.append(sig)
        lot.append(lt)
        tick.append(t)
        return cid - 1

    for e in range(r.expiries):
        expiry = start + timedelta(days=EXPIRY_DAYS[e])
        years = EXPIRY_DAYS[e] / 365.0
        if r.include_forwards:
            fwd[e] = add(Payoff.FORWARD, expiry, None, years)
        for k, strike in enumerate(strikes):
            call[e, k] = add(Payoff.CALL, expiry, strike, years)
            if r.include_puts:
                put[e, k] = add(Payoff.PUT, expiry, strike, years)
            if r.include_binaries:
                bcall[e, k] = add(Payoff.BINARY_CALL, expiry, strike, years)
                if r.include_puts:
                    bput[e, k] = add(Payoff.BINARY_PUT, expiry, strike, years)
    m = np.array([int((lt * t) / unit) for lt, t in zip(lot, tick, strict=True)], dtype=np.int64)
    tpo = np.array([int(1 / t) if p.is_binary else 0 for p, t in zip(payoff, tick, strict=True)],
                   dtype=np.int64)
    return _Chain(contracts, np.array(list(contracts), dtype=np.int64), payoff,
                  np.array(fair), np.array(sigma), np.array([float(x) for x in lot]), m, tpo,
                  call, put, bcall, bput, fwd, unit)


# --------------------------------------------------------------------------- orders


def _sizes(rng: np.random.Generator, n: int, median: float, cap: int) -> np.ndarray:
    """Order sizes in lots: log-normal around ``median``, at least 1."""
    return np.clip(np.rint(rng.lognormal(math.log(median), 1.0, n)), 1, cap).astype(np.int64)


def generate_book(recipe: Recipe) -> Book:
    """The book described by ``recipe`` (deterministic for a recipe).

    With ``pairs``, one book per pair (the recipe's orders split evenly, seeds ``seed``,
    ``seed + 1`` …) joined into one: contract and order ids renumbered in sequence, the orders
    interleaved so that entry order mixes the pairs.
    """
    if not recipe.pairs:
        return _generate_one(recipe)
    pairs = (recipe.pair, *recipe.pairs)
    books = []
    for j, pair in enumerate(pairs):
        n = recipe.orders // len(pairs) + (j < recipe.orders % len(pairs))
        spot = recipe.spot if j == 0 else PAIR_SPOTS[CurrencyPair.parse(pair).underlying]
        books.append(_generate_one(Recipe(**{**asdict(recipe), "pair": pair, "spot": spot,
                                             "pairs": (), "seed": recipe.seed + j,
                                             "orders": max(n, 1)})))
    contracts: dict[int, Contract] = {}
    renumber: list[dict[int, int]] = []
    for b in books:
        ids = {}
        for cid in sorted(b.contracts):
            new = len(contracts) + 1
            ids[cid] = new
            contracts[new] = replace(b.contracts[cid], contract_id=new)
        renumber.append(ids)
    merged: list[tuple[int, int, Order]] = []
    for j, b in enumerate(books):
        merged.extend((i, j, o) for i, o in enumerate(b.orders))
    merged.sort(key=lambda t: (t[0], t[1]))
    orders = []
    for oid, (_, j, o) in enumerate(merged[:recipe.orders], start=1):
        legs = tuple(Leg(renumber[j][leg.contract_id], leg.side, leg.lots) for leg in o.legs)
        orders.append(replace(o, order_id=oid, legs=legs))
    return Book(contracts, tuple(orders))


def _generate_one(recipe: Recipe) -> Book:
    """One pair's book."""
    r = recipe
    rng = np.random.default_rng(r.seed)
    ch = _chain(r)
    n, ne, nk = r.orders, r.expiries, r.strikes_per_expiry
    legs_c = np.full((n, 4), -1, dtype=np.int64)  # contract index per leg, -1 unused
    legs_a = np.zeros((n, 4), dtype=np.int64)  # base ratio per leg

    # expiry and strike of the first leg: front expiries and strikes near the money trade more
    ew = 1.0 / (1.0 + np.arange(ne))
    exp_i = rng.choice(ne, size=n, p=ew / ew.sum())
    strike_i = np.clip(np.rint(rng.normal((nk - 1) / 2, nk / 4, n)), 0, nk - 1).astype(np.int64)
    use_put = rng.random(n) < (0.5 if r.include_puts else 0.0)
    is_combo = rng.random(n) < r.combo_share

    # ---- single-leg orders: options, binaries, forwards
    kinds = ["option"] + (["binary"] if r.include_binaries else []) + (
        ["forward"] if r.include_forwards else [])
    kw = np.array([{"option": 0.7, "binary": 0.15, "forward": 0.15}[k] for k in kinds])
    kind = rng.choice(len(kinds), size=n, p=kw / kw.sum())
    single = ~is_combo
    option_grid = np.where(use_put[:, None, None], ch.put[None], ch.call[None])
    binary_grid = np.where(use_put[:, None, None], ch.bput[None], ch.bcall[None])
    opt_c = option_grid[np.arange(n), exp_i, strike_i]
    c0 = opt_c
    if "binary" in kinds:
        bin_c = binary_grid[np.arange(n), exp_i, strike_i]
        c0 = np.where(kind == kinds.index("binary"), bin_c, c0)
    if "forward" in kinds:
        c0 = np.where(kind == kinds.index("forward"), ch.fwd[exp_i], c0)
    legs_c[single, 0] = c0[single]
    legs_a[single, 0] = 1

    # ---- multi-leg orders
    types = [t for t in r.combo_types if (t != "calendar" or ne >= 2)
             and (t not in ("straddle", "risk_reversal", "box") or r.include_puts)
             and (t != "conversion" or (r.include_puts and r.include_forwards))
             and (t != "binary_spread" or r.include_binaries)
             and (t != "condor" or nk >= 4)] or ["vertical"]
    ctype = rng.choice(len(types), size=n)
    width = 1 + np.minimum(rng.geometric(0.6, n) - 1, nk - 2)  # strike distance ≥ 1
    grid = np.where(use_put[:, None, None], ch.put[None], ch.call[None])
    rows = np.arange(n)
    for t_index, t in enumerate(types):
        sel = is_combo & (ctype == t_index)
        if not sel.any():
            continue
        e, k, wd, g = exp_i[sel], strike_i[sel], width[sel], grid[sel]
        idx = np.arange(sel.sum())
        if t == "vertical":  # +1 lower strike, −1 higher strike, same expiry and type
            lo = np.clip(k, 0, nk - 1 - wd)
            legs = [(g[idx, e, lo], 1), (g[idx, e, lo + wd], -1)]
        elif t == "calendar":  # −1 near, +1 far, same strike and type
            e1 = np.minimum(e, ne - 2)
            e2 = e1 + 1 + (rng.random(len(idx)) * (ne - 1 - e1)).astype(np.int64)
            legs = [(g[idx, e1, k], -1), (g[idx, e2, k], 1)]
        elif t == "straddle":  # +1 call, +1 put, same strike and expiry
            legs = [(ch.call[e, k], 1), (ch.put[e, k], 1)]
        elif t == "butterfly":  # +1, −2, +1 on three equidistant strikes
            wd = np.minimum(wd, (nk - 1) // 2)
            mid = np.clip(k, wd, nk - 1 - wd)
            legs = [(g[idx, e, mid - wd], 1), (g[idx, e, mid], -2), (g[idx, e, mid + wd], 1)]
        elif t == "risk_reversal":  # +1 call above, −1 put below (or at) the money
            hi = np.clip(k + (wd + 1) // 2, 0, nk - 1)
            lo = np.clip(k - wd // 2, 0, nk - 1)
            legs = [(ch.call[e, hi], 1), (ch.put[e, lo], -1)]
        elif t == "ratio":  # +1 lower strike, −2 higher strike (a 1×2 ratio spread)
            lo = np.clip(k, 0, nk - 1 - wd)
            legs = [(g[idx, e, lo], 1), (g[idx, e, lo + wd], -2)]
        elif t == "condor":  # +1, −1, −1, +1 on four equidistant strikes
            wd = np.minimum(wd, (nk - 1) // 3)
            lo = np.clip(k - wd, 0, nk - 1 - 3 * wd)
            legs = [(g[idx, e, lo], 1), (g[idx, e, lo + wd], -1), (g[idx, e, lo + 2 * wd], -1),
                    (g[idx, e, lo + 3 * wd], 1)]
        elif t == "conversion":  # +1 call, −1 put, −1 forward: no net exposure at all
            legs = [(ch.call[e, k], 1), (ch.put[e, k], -1), (ch.fwd[e], -1)]
        elif t == "box":  # +C(k1) −P(k1) −C(k2) +P(k2): a bond paying k2 − k1
            lo = np.clip(k, 0, nk - 1 - wd)
            legs = [(ch.call[e, lo], 1), (ch.put[e, lo], -1), (ch.call[e, lo + wd], -1),
                    (ch.put[e, lo + wd], 1)]
        else:  # binary spread: +1 binary lower strike, −1 higher, same side
            bg = np.where(use_put[sel][:, None, None], ch.bput[None], ch.bcall[None])
            lo = np.clip(k, 0, nk - 1 - wd)
            legs = [(bg[idx, e, lo], 1), (bg[idx, e, lo + wd], -1)]
        for j, (cols, a) in enumerate(legs):
            legs_c[rows[sel], j] = cols
            legs_a[rows[sel], j] = a

    # ---- direction, sizes, limits
    direction = np.where(rng.random(n) < 0.5, 1, -1)
    a = legs_a * direction[:, None]
    used = legs_c >= 0
    cidx = np.where(used, legs_c, 0)
    first = cidx[:, 0]
    is_binary0 = ch.ticks_per_one[first] > 0
    is_forward0 = np.isin(first, ch.fwd[ch.fwd >= 0])
    size = np.where(is_binary0, _sizes(rng, n, 20, 2000),
                    np.where(is_forward0, _sizes(rng, n, 10, 1000), _sizes(rng, n, 10, 1000)))
    unit = float(ch.unit)
    value = (a * ch.lot[cidx] * ch.fair[cidx] * used).sum(axis=1) / unit  # fair a·p, money units
    scale = (np.abs(a) * ch.lot[cidx] * ch.sigma[cidx] * used).sum(axis=1) / unit
    step = np.gcd.reduce(np.abs(a) * ch.m[cidx] * used, axis=1)  # the order's price lattice
    z = rng.normal(0.0, 1.0, n)
    limit = value + scale * (z - r.bias)
    limit = step * np.rint(limit / step).astype(np.int64)
    # a single-leg option or binary is bought for at least one tick and sold for at least one
    single_priced = single & ~is_forward0
    buy = direction > 0
    one_tick = ch.m[first]
    top = np.where(is_binary0, (ch.ticks_per_one[first] - 1) * one_tick, np.iinfo(np.int64).max)
    limit = np.where(single_priced & buy, np.clip(limit, one_tick, top), limit)
    limit = np.where(single_priced & ~buy, np.clip(limit, -top, -one_tick), limit)
    if not r.cross:  # strictly worse than fair value: the largest lattice point below it
        limit = np.minimum(limit, step * (np.ceil(value / step).astype(np.int64) - 1))
    if r.limit_places:  # at currency precision, off the lattice: up to one step either way
        off = rng.random(n) - 0.5
        limit_q = np.rint((limit + off * step) * float(ch.unit) * 10**r.limit_places * size)
        fine = limit_q.astype(np.int64)
    aon = rng.random(n) < r.aon_share
    n_clients = r.clients or max(10, n // 20)
    client = rng.integers(1, n_clients + 1, n)
    tif_codes = rng.choice(3, size=n, p=[0.7, 0.2, 0.1])

    # ---- objects
    ids = ch.ids
    tifs = (TimeInForce.GOOD_TILL_CANCEL, TimeInForce.DAY, TimeInForce.IMMEDIATE_OR_CANCEL)
    sides = {1: Side.BUY, -1: Side.SELL}
    unit_dec = ch.unit
    total = (limit * size).tolist()
    fine_l = fine.tolist() if r.limit_places else None
    legs_c_l, a_l, size_l = legs_c.tolist(), a.tolist(), size.tolist()
    client_l, aon_l, tif_l = client.tolist(), aon.tolist(), tif_codes.tolist()
    orders = []
    for i in range(n):
        q = size_l[i]
        legs = sorted((int(ids[c]), ai) for c, ai in zip(legs_c_l[i], a_l[i], strict=True)
                      if c >= 0)
        orders.append(Order(
            order_id=i + 1, client_id=client_l[i],
            total_net_price=(Decimal(total[i]) * unit_dec).normalize() + 0 if not fine_l
            else Decimal(fine_l[i]).scaleb(-r.limit_places).normalize() + 0,
            legs=tuple(Leg(cid, sides[1 if ai > 0 else -1], abs(ai) * q) for cid, ai in legs),
            time_in_force=tifs[tif_l[i]], all_or_none=aon_l[i]))
    return Book(ch.contracts, tuple(orders))
