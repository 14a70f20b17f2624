"""Cash movements of a batch (collateral.md §4).

From the cut book, its clearing result and the positions before the batch:

1. every filled leg trades ``x·a_l`` lots at the contract's clearing price; a client's trades
   are netted per contract first (so the forward entry-price bookkeeping does not depend on
   the order of fills inside one batch);
2. premium = Σ signed units × clearing price over non-forward legs (a forward exchanges no
   premium; its price becomes the entry price, see :mod:`~validator.collateral.positions`);
3. fees (optional, :class:`~validator.collateral.fees.FeeSchedule`) per filled order;
4. the lockup of every touched (client, pair, expiry) is recomputed; its delta moves collateral.

One movement per (client, pair): ``underlying_amount = ΔU``, ``strike_amount = ΔC +
⌈premium + fee⌉`` (on-chain sign: positive = the client pays), position deltas in precision
units of each contract's quantity currency. Lockups are whole units already (rounded up), so
the only rounding is the premium + fee, **up** — a client pays a little more or receives a
little less, never the other way round.

The clearing house account (``CLEARING_HOUSE_ID``) takes one movement per pair: the opposite of
the sum of the clients' movements, so that **each currency sums to zero** exactly. It is the
custody of the posted collateral (ΣΔlockup), the counterparty of the replication residual
(a put bought against a call sold and a forward bought leaves ``K − F`` per unit with it, paid
back at expiry), the fee account and the keeper of the rounding dust;
:class:`ClearingHouseResidual` shows those parts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from auction.book import Book
from auction.cash import CashMovement, MovementOrigin, PositionChange
from auction.products import DEFAULT_CURRENCIES, Contract, Currency, Payoff
from auction.result import ClearingResult
from validator.collateral import CLEARING_HOUSE_ID
from validator.collateral.errors import CollateralError
from validator.collateral.fees import FeeSchedule
from validator.collateral.lockup import Lockup, bucket_lockup
from validator.collateral.money import pair_currencies, size_units, to_decimal, units_ceil
from validator.collateral.positions import BucketKey, Positions, bucket_of


@dataclass(frozen=True, slots=True)
class ClearingHouseResidual:
    """What the clearing house account takes on one pair in one batch (it receives = +).

    ``collateral_*``: Σ lockup deltas (units); ``premiums``: Σ exact premiums the clients paid
    (the replication residual; zero without replication); ``fees``: Σ exact fees;
    ``dust``: numeraire rounding kept by the venue (>= 0). Its movement is
    ``(−collateral_underlying, −(collateral_numeraire + units(premiums + fees + dust)))``.
    """

    pair: str
    collateral_underlying: int
    collateral_numeraire: int
    premiums: Decimal
    fees: Decimal
    dust: Decimal


@dataclass(frozen=True)
class BatchCash:
    movements: tuple[CashMovement, ...]  # clients, by (pair, client)
    clearing_house: tuple[CashMovement, ...]  # one per traded pair
    residuals: tuple[ClearingHouseResidual, ...]
    positions: Positions  # after the batch
    lockups: Mapping[BucketKey, Lockup]  # touched buckets, after (zero when flat)
    lockups_before: Mapping[BucketKey, Lockup]
    fees: Mapping[int, Decimal] = field(default_factory=dict)  # order id -> exact fee

    def __post_init__(self) -> None:
        for name in ("lockups", "lockups_before", "fees"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def all_movements(self) -> tuple[CashMovement, ...]:
        return self.movements + self.clearing_house


def batch_movements(book: Book, result: ClearingResult, positions: Positions, *,
                    batch_id: int, currencies: Mapping[str, Currency] = DEFAULT_CURRENCIES,
                    fees: FeeSchedule | None = None,
                    clearing_house_id: int = CLEARING_HOUSE_ID) -> BatchCash:
    """The cash movements of one batch (see the module doc)."""
    contracts = book.contracts
    net: dict[tuple[int, int], int] = defaultdict(int)  # (client, contract) -> signed lots
    premium: dict[tuple[int, str], Fraction] = defaultdict(Fraction)  # (client, pair)
    fee: dict[tuple[int, str], Fraction] = defaultdict(Fraction)
    order_fees: dict[int, Decimal] = {}
    for f in result.fills:
        order = book.order(f.order_id)
        if order.client_id == clearing_house_id:
            raise CollateralError(f"order {order.order_id}: client id {clearing_house_id} is "
                                  "the clearing house account")
        if not 0 < f.packages <= order.packages:
            raise CollateralError(f"fill of order {order.order_id}: {f.packages} of "
                                  f"{order.packages} packages")
        fee_legs: list[tuple[Contract, Fraction, Fraction | None]] = []
        pair = ""
        for a, leg in zip(order.ratios, order.legs, strict=True):
            c = contracts[leg.contract_id]
            pair = str(c.pair)
            if leg.contract_id not in result.prices:
                raise CollateralError(f"no clearing price for contract {leg.contract_id}")
            lots = a * f.packages
            net[(order.client_id, c.contract_id)] += lots
            units = Fraction(lots * c.lot_size)
            leg_premium = units * Fraction(c.price(result.prices[c.contract_id]))
            if c.payoff is not Payoff.FORWARD:
                premium[(order.client_id, pair)] += leg_premium
            fee_legs.append((c, units, None if c.payoff is Payoff.FORWARD else leg_premium))
        if fees is not None:
            of = fees.order_fee(fee_legs)
            fee[(order.client_id, pair)] += of
            order_fees[order.order_id] = to_decimal(of)

    trades = [(client, contracts[cid], lots, contracts[cid].price(result.prices[cid]))
              for (client, cid), lots in sorted(net.items()) if lots]
    after = positions.with_trades(trades)
    touched = sorted({bucket_of(client, contracts[cid]) for (client, cid) in net})
    before_lk = {k: bucket_lockup(positions, k, contracts, currencies) for k in touched}
    after_lk = {k: bucket_lockup(after, k, contracts, currencies) for k in touched}

    keys = sorted({(k.pair, k.client_id) for k in touched}
                  | {(p, cl) for (cl, p) in premium} | {(p, cl) for (cl, p) in fee})
    movements: list[CashMovement] = []
    sums: dict[str, list] = {}
    for pair, client in keys:
        _, num = pair_currencies(currencies, pair)
        d = Lockup()
        for k in touched:
            if k.client_id == client and k.pair == pair:
                d = d + (after_lk[k] - before_lk[k])
        cash = premium[(client, pair)] + fee[(client, pair)]
        paid = units_ceil(cash, num)
        changes = tuple(
            PositionChange(cid, size_units(contracts[cid], lots, currencies))
            for (cl, cid), lots in sorted(net.items())
            if cl == client and lots and str(contracts[cid].pair) == pair)
        m = CashMovement(client, pair, MovementOrigin.BATCH, batch_id, d.underlying,
                         d.numeraire + paid, changes)
        s = sums.setdefault(pair, [0, 0, 0, 0, Fraction(0), Fraction(0), Fraction(0)])
        s[0] += m.underlying_amount
        s[1] += m.strike_amount
        s[2] += d.underlying
        s[3] += d.numeraire
        s[4] += premium[(client, pair)]
        s[5] += fee[(client, pair)]
        s[6] += Fraction(paid, 10**num.precision) - cash
        if not m.is_empty:
            movements.append(m)
    house = tuple(CashMovement(clearing_house_id, pair, MovementOrigin.BATCH, batch_id,
                               -s[0], -s[1]) for pair, s in sorted(sums.items()))
    residuals = tuple(ClearingHouseResidual(pair, s[2], s[3], to_decimal(s[4]), to_decimal(s[5]),
                                            to_decimal(s[6]))
                      for pair, s in sorted(sums.items()))
    return BatchCash(tuple(movements), house, residuals, after, after_lk, before_lk, order_fees)
