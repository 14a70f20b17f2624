"""Positions per (client, contract), in lots, and the forward entry-price bookkeeping.

A forward trade exchanges no premium (collateral.md §4 Decision): the traded price becomes the
position's **entry price**, a quantity-weighted average over the trades that opened or
increased it. Reducing a forward realises ``closed units × (price − entry)`` (sign of the
position), kept in ``realised`` and paid at expiry out of the collateral released then. A flat
forward with a non-zero realised result stays in the book until expiry.

For every client the forward result at settlement price S is ``units·(S − entry) + realised``,
which equals the sum over its forward trades of ``signed units × (S − traded price)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from auction.products import Contract, Payoff


@dataclass(frozen=True, slots=True, order=True)
class BucketKey:
    """One lockup bucket: client × currency pair × expiry."""

    client_id: int
    pair: str
    expiry: date


@dataclass(frozen=True, slots=True)
class Position:
    """Signed lots (+ long, − short); for forwards the entry price and realised result."""

    lots: int
    entry_price: Fraction = Fraction(0)
    realised: Fraction = Fraction(0)

    @property
    def is_flat(self) -> bool:
        return self.lots == 0 and self.realised == 0


def trade(position: Position, contract: Contract, lots: int, price: Decimal) -> Position:
    """The position after trading ``lots`` (signed) at ``price`` (the clearing price)."""
    if contract.payoff is not Payoff.FORWARD:
        return Position(position.lots + lots)
    q, entry, realised = position.lots, position.entry_price, position.realised
    p = Fraction(price)
    if q == 0 or (q > 0) == (lots > 0):
        new = q + lots
        avg = (q * entry + lots * p) / new if new else Fraction(0)
        return Position(new, avg, realised)
    closing = -q if abs(lots) >= abs(q) else lots  # the part of the trade that reduces |q|
    realised += -closing * Fraction(contract.lot_size) * (p - entry)
    rest = lots - closing
    if rest:
        return Position(rest, p, realised)  # flipped: the excess opens at the traded price
    new = q + closing
    return Position(new, entry if new else Fraction(0), realised)


@dataclass(frozen=True)
class Positions:
    """Positions per (client, contract). Flat entries are dropped."""

    holdings: Mapping[tuple[int, int], Position] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clean = {k: v for k, v in sorted(self.holdings.items()) if not v.is_flat}
        object.__setattr__(self, "holdings", MappingProxyType(clean))

    @classmethod
    def of(cls, lots: Mapping[tuple[int, int], int]) -> Positions:
        """Plain lots per (client, contract) (forwards entered at price 0)."""
        return cls({k: Position(v) for k, v in lots.items()})

    def get(self, client_id: int, contract_id: int) -> Position:
        return self.holdings.get((client_id, contract_id), Position(0))

    def items(self) -> Iterator[tuple[tuple[int, int], Position]]:
        return iter(self.holdings.items())

    def clients(self) -> set[int]:
        return {c for c, _ in self.holdings}

    def bucket(self, key: BucketKey,
               contracts: Mapping[int, Contract]) -> list[tuple[Contract, Position]]:
        """The positions of one bucket, by contract id."""
        out = []
        for (client, cid), pos in self.holdings.items():
            c = contracts[cid]
            if client == key.client_id and str(c.pair) == key.pair and c.expiry == key.expiry:
                out.append((c, pos))
        return out

    def buckets(self, contracts: Mapping[int, Contract]) -> set[BucketKey]:
        return {bucket_of(client, contracts[cid]) for (client, cid) in self.holdings}

    def with_trades(self, trades: Iterable[tuple[int, Contract, int, Decimal]]) -> Positions:
        """Apply (client, contract, signed lots, price) trades in order."""
        h = dict(self.holdings)
        for client, contract, lots, price in trades:
            key = (client, contract.contract_id)
            h[key] = trade(h.get(key, Position(0)), contract, lots, price)
        return Positions(h)

    def without(self, keys: Iterable[BucketKey], contracts: Mapping[int, Contract]) -> Positions:
        drop = set(keys)
        return Positions({(cl, cid): p for (cl, cid), p in self.holdings.items()
                          if bucket_of(cl, contracts[cid]) not in drop})


def bucket_of(client_id: int, contract: Contract) -> BucketKey:
    return BucketKey(client_id, str(contract.pair), contract.expiry)
