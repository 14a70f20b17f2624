"""Charts for quants (matplotlib, Agg backend: files only, no display).

* :func:`supply_demand` — one contract's single-leg orders as demand and supply curves, and
  the net order curve, with the clearing price, the reference price and the band marked.
* :func:`fills_by_price` — the same orders by limit price: filled and unfilled quantity per
  price level (buyers up, sellers down), the clearing price marked.
* :func:`sweep_plots` — solve time and volume against each swept parameter (one line per
  scenario and value of every other swept key), time against book size (from the tidy table
  of ``ccp sweep``).

Every figure is ``SIZE`` pixels (width, height).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from auction.book import Book
from auction.result import ClearingResult

SIZE = (1000, 500)
DPI = 100


def _figure(ncols: int = 1) -> tuple[Any, Any]:
    return plt.subplots(1, ncols, figsize=(SIZE[0] / DPI, SIZE[1] / DPI), dpi=DPI)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)  # no tight bbox: the image is exactly SIZE
    plt.close(fig)
    return path


@dataclass(frozen=True)
class _Single:
    order_id: int
    buy: bool
    price: float  # limit per unit of the contract
    quantity: float
    filled: float


def _singles(book: Book, result: ClearingResult, cid: int) -> tuple[list[_Single], int]:
    """Single-leg orders on ``cid`` (limit per unit) and the number of multi-leg orders on it."""
    c = book.contracts[cid]
    filled = result.filled()
    out: list[_Single] = []
    multi = 0
    for o in book.orders:
        if all(leg.contract_id != cid for leg in o.legs):
            continue
        if len(o.legs) > 1:
            multi += 1
            continue
        buy = o.ratios[0] > 0
        per_unit = o.limit_per_package / Fraction(c.lot_size) * (1 if buy else -1)
        out.append(_Single(o.order_id, buy, float(per_unit), float(c.quantity(o.legs[0].lots)),
                           float(c.quantity(filled.get(o.order_id, 0)))))
    return out, multi


def most_traded(book: Book, result: ClearingResult) -> int:
    """The contract with the most lots filled (else the one with the most orders)."""
    lots: dict[int, int] = {}
    count: dict[int, int] = {}
    filled = result.filled()
    for o in book.orders:
        for a, leg in zip(o.ratios, o.legs, strict=True):
            lots[leg.contract_id] = lots.get(leg.contract_id, 0) + abs(a) * filled.get(
                o.order_id, 0)
            count[leg.contract_id] = count.get(leg.contract_id, 0) + 1
    if not count:
        return min(book.contracts)
    return max(count, key=lambda c: (lots.get(c, 0), count[c], -c))


def _title(book: Book, cid: int) -> str:
    c = book.contracts[cid]
    strike = f" K={c.strike.normalize():f}" if c.strike is not None else ""
    return f"#{cid} {c.payoff} {c.pair} {c.expiry:%Y-%m-%d}{strike}"


def _marks(ax: Any, book: Book, result: ClearingResult, cid: int, vertical: bool) -> None:
    c = book.contracts[cid]
    line = ax.axvline if vertical else ax.axhline
    span = ax.axvspan if vertical else ax.axhspan
    span(float(c.low_range), float(c.high_range), color="0.93", zorder=0, label="price band")
    line(float(c.reference_price), color="0.4", ls=":", lw=1.2, label="reference")
    if cid in result.prices:
        line(float(c.price(result.prices[cid])), color="tab:red", lw=1.8,
             label=f"clearing {c.price(result.prices[cid]).normalize():f}")


def _focus(book: Book, result: ClearingResult, cid: int, orders: list[_Single]
           ) -> tuple[float, float]:
    """The price range worth showing: the orders' limits, the reference and clearing prices."""
    c = book.contracts[cid]
    pts = [o.price for o in orders] + [float(c.reference_price)]
    if cid in result.prices:
        pts.append(float(c.price(result.prices[cid])))
    lo, hi = min(pts), max(pts)
    pad = 0.1 * (hi - lo) or 0.05 * abs(hi) or 1.0
    return lo - pad, hi + pad


def supply_demand(book: Book, result: ClearingResult, cid: int, path: Path) -> Path:
    orders, multi = _singles(book, result, cid)
    lo, hi = _focus(book, result, cid, orders)
    fig, (ax, net) = _figure(2)
    buys = sorted((o for o in orders if o.buy), key=lambda o: -o.price)
    sells = sorted((o for o in orders if not o.buy), key=lambda o: o.price)
    for side, label, color in ((buys, "demand (bids)", "tab:blue"),
                               (sells, "supply (asks)", "tab:orange")):
        if side:
            qty = np.concatenate([[0.0], np.cumsum([o.quantity for o in side])])
            price = np.array([side[0].price] + [o.price for o in side])
            ax.step(qty, price, where="pre", color=color, lw=1.8, label=label)
    _marks(ax, book, result, cid, vertical=False)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("cumulative quantity")
    ax.set_ylabel("limit per unit")
    ax.set_title("supply and demand", fontsize=10)
    ax.legend(fontsize=8, loc="best")

    grid = np.linspace(lo, hi, 400)
    bp = np.array([o.price for o in buys])
    bq = np.array([o.quantity for o in buys])
    sp = np.array([o.price for o in sells])
    sq = np.array([o.quantity for o in sells])
    demand = np.array([bq[bp >= p].sum() for p in grid]) if len(bp) else np.zeros_like(grid)
    supply = np.array([sq[sp <= p].sum() for p in grid]) if len(sp) else np.zeros_like(grid)
    net.plot(grid, demand - supply, color="tab:green", lw=1.8, label="net demand (bids − asks)")
    net.axhline(0, color="0.2", lw=0.8)
    _marks(net, book, result, cid, vertical=True)
    net.set_xlim(lo, hi)
    net.set_xlabel("price")
    net.set_ylabel("quantity")
    net.set_title("net order curve", fontsize=10)
    net.legend(fontsize=8, loc="best")
    extra = f"  (+{multi} multi-leg order(s), not drawn)" if multi else ""
    fig.suptitle(f"{_title(book, cid)}{extra}", fontsize=11)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.86, wspace=0.25)
    return _save(fig, path)


def fills_by_price(book: Book, result: ClearingResult, cid: int, path: Path) -> Path:
    orders, multi = _singles(book, result, cid)
    lo, hi = _focus(book, result, cid, orders)
    fig, ax = _figure()
    levels: dict[tuple[float, bool], list[float]] = {}
    for o in orders:
        acc = levels.setdefault((o.price, o.buy), [0.0, 0.0])
        acc[0] += o.filled
        acc[1] += o.quantity - o.filled
    if levels:
        prices = sorted({p for p, _ in levels})
        step = min(np.diff(prices)) if len(prices) > 1 else (hi - lo) / 20
        width = max(0.8 * step, (hi - lo) / 150)
        for buy, sign, color in ((True, 1, "tab:blue"), (False, -1, "tab:orange")):
            pts = [(p, v) for (p, b), v in sorted(levels.items()) if b == buy]
            if not pts:
                continue
            x = np.array([p for p, _ in pts])
            f = np.array([v[0] for _, v in pts]) * sign
            u = np.array([v[1] for _, v in pts]) * sign
            who = "buyers" if buy else "sellers"
            ax.bar(x, f, width=width, color=color, label=f"{who}: filled")
            ax.bar(x, u, width=width, bottom=f, color="none", edgecolor=color, hatch="//",
                   label=f"{who}: unfilled")
    ax.axhline(0, color="0.2", lw=0.8)
    _marks(ax, book, result, cid, vertical=True)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("limit per unit")
    ax.set_ylabel("quantity (buyers +, sellers −)")
    extra = f"  (+{multi} multi-leg order(s), not drawn)" if multi else ""
    ax.set_title(f"fills by price — {_title(book, cid)}{extra}", fontsize=11)
    ax.legend(fontsize=8, loc="best")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.9)
    return _save(fig, path)


def sweep_plots(table: Any, keys: Sequence[str], directory: Path) -> list[Path]:
    """Time and volume against each swept key — one line per scenario and combination of the
    other swept keys (a book of 500 orders is never pooled with one of 2,000), each point the
    median over that combination's repeats; time against book size (pandas table)."""
    paths: list[Path] = []
    for key in keys:
        others = [k for k in keys if k != key]
        for metric, label in (("wall_seconds", "solve time (s)"), ("volume", "volume (lots)")):
            fig, ax = _figure()
            for line, group in table.groupby(["scenario", *others], sort=True, dropna=False):
                agg = group.groupby(key, sort=True)[metric].median()
                x = _positions(agg.index)
                ax.plot(x[0], agg.to_numpy(dtype=float), marker="o",
                        label=_line_label(line, others))
                ax.set_xticks(x[0], x[1])
            ax.set_xlabel(key)
            ax.set_ylabel(f"{label}, median over repeats")
            ax.set_title(f"{label} against {key}", fontsize=11)
            ax.legend(fontsize=8, loc="best")
            ax.grid(alpha=0.3)
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
                lambda v, _pos: _number(v)))
            fig.subplots_adjust(left=0.09, right=0.98, bottom=0.12, top=0.9)
            short = "time" if metric == "wall_seconds" else "volume"
            paths.append(_save(fig, directory / f"{short}_vs_{_slug(key)}.png"))
    fig, ax = _figure()
    for name, group in table.groupby("scenario", sort=True):
        ax.scatter(group["orders"], group["wall_seconds"], label=str(name), alpha=0.8)
    if table["orders"].nunique() > 1 and table["orders"].min() > 0:
        ax.set_xscale("log")
    ax.set_xlabel("book size (orders)")
    ax.set_ylabel("solve time (s)")
    ax.set_title("solve time against book size", fontsize=11)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.12, top=0.9)
    paths.append(_save(fig, directory / "time_vs_size.png"))
    return paths


def _line_label(line: Any, others: Sequence[str]) -> str:
    """``scenario`` or ``scenario, key=value, …`` for one line of a sweep plot."""
    values = line if isinstance(line, tuple) else (line,)
    parts = [str(values[0])] + [f"{k}={_number(v)}" for k, v in zip(others, values[1:],
                                                                     strict=True)]
    return ", ".join(parts)


def _number(v: Any) -> str:
    """A swept value or a metric for a label: integers as integers, others as written."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return str(v)
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{float(v):.6g}"


def _positions(index: Any) -> tuple[list[float], list[str]]:
    values = list(index)
    if all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
           for v in values):
        return [float(v) for v in values], [_number(v) for v in values]
    return list(range(len(values))), [str(v) for v in values]


def _slug(key: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in key)
