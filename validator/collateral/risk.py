"""The risk view (collateral.md §6): portfolio value under four stress corners, Black-76.

For the client's information only; acceptance never depends on it (the venue is fully
collateralised). Spot moves by ±X % (relative) and volatility by ±Y % (relative: σ·(1 ± Y));
the forward is the spot (no discounting). Values are in the numeraire, rounded half-even to its
precision; a forward is worth ``units·(F − entry) + realised``. The Black-76 floats stay in
:mod:`validator.collateral.black76`; everything returned here is Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from auction.products import DEFAULT_CURRENCIES, Contract, Currency, Payoff, expiry_datetime
from validator.collateral import black76
from validator.collateral.errors import CollateralError
from validator.collateral.money import currency
from validator.collateral.positions import Positions

_YEAR_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class StressCorner:
    spot_shift: Decimal  # e.g. +0.10
    vol_shift: Decimal  # e.g. -0.20
    value: Decimal
    pnl: Decimal  # value − base value


@dataclass(frozen=True)
class RiskView:
    client_id: int
    numeraire: str
    base_value: Decimal
    corners: tuple[StressCorner, ...]

    @property
    def worst_pnl(self) -> Decimal:
        return min((c.pnl for c in self.corners), default=Decimal(0))


def _value(c: Contract, lots: int, entry: Fraction, realised: Fraction, f: float, vol: float,
           t: float) -> float:
    units = float(lots * c.lot_size)
    if c.payoff is Payoff.FORWARD:
        return units * (f - float(entry)) + float(realised)
    k = float(c.strike)  # type: ignore[arg-type]
    price = {Payoff.CALL: black76.call, Payoff.PUT: black76.put,
             Payoff.BINARY_CALL: black76.binary_call,
             Payoff.BINARY_PUT: black76.binary_put}[c.payoff](f, k, vol, t)
    return units * price


def risk_view(positions: Positions, contracts: Mapping[int, Contract], client_id: int, *,
              spot: Mapping[str, Decimal], volatility: Mapping[str, Decimal], now: datetime,
              spot_shock: Decimal = Decimal("0.10"), vol_shock: Decimal = Decimal("0.20"),
              currencies: Mapping[str, Currency] = DEFAULT_CURRENCIES) -> RiskView:
    """Value of ``client_id``'s positions now and at the four corners (±X % spot, ±Y % vol)."""
    held = [(contracts[cid], p) for (cl, cid), p in positions.items() if cl == client_id]
    numeraires = {c.pair.numeraire for c, _ in held}
    if len(numeraires) > 1:
        raise CollateralError(f"risk view: positions in several numeraires {sorted(numeraires)}")
    num = currency(currencies, numeraires.pop() if numeraires else "USDC")
    quantum = num.quantum

    def total(ds: Decimal, dv: Decimal) -> Decimal:
        v = 0.0
        for c, p in held:
            pair = str(c.pair)
            if pair not in spot or pair not in volatility:
                raise CollateralError(f"risk view: no spot or volatility for {pair}")
            f = float(spot[pair] * (1 + ds))
            vol = float(volatility[pair] * (1 + dv))
            t = max(0.0, (expiry_datetime(c.expiry) - now).total_seconds() / _YEAR_SECONDS)
            v += _value(c, p.lots, p.entry_price, p.realised, f, vol, t)
        return Decimal(repr(v)).quantize(quantum, ROUND_HALF_EVEN)

    base = total(Decimal(0), Decimal(0))
    corners = tuple(StressCorner(ds, dv, val, val - base)
                    for ds in (-spot_shock, spot_shock) for dv in (-vol_shock, vol_shock)
                    for val in [total(ds, dv)])
    return RiskView(client_id, num.symbol, base, corners)
