"""Optional trading fees (auction.md §7, Ithaca schedule). Off unless a schedule is passed.

Per leg, on the filled quantity:
* notional: options and forwards ``units × spot`` (spot of the pair, given in the schedule),
  binaries ``units × 1`` (their payout);
* fee = rate × notional (forwards 0.01 %, options 0.04 %, digitals 1 %), capped at 12.5 % of
  the leg's premium for options and 25 % for digitals (forwards: no cap, no premium);
* an order with two or more non-forward legs gets the multi-leg factor
  ``max(0, d1 − (legs_excluding_forwards − 2)·d2)`` (d1 = 80 %, d2 = 5 %) on the sum.
At order entry the fee is locked **without** the premium caps (the leg prices are not known
then), which is an upper bound of the fee charged at any fill price.
Fees are paid in the numeraire, by the order's client, to the clearing house account.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from auction.products import Contract, Payoff
from validator.collateral.errors import FeeError


@dataclass(frozen=True)
class FeeSchedule:
    spot: Mapping[str, Decimal] = field(default_factory=dict)  # pair -> spot price
    forward_rate: Decimal = Decimal("0.0001")
    option_rate: Decimal = Decimal("0.0004")
    digital_rate: Decimal = Decimal("0.01")
    option_cap: Decimal = Decimal("0.125")
    digital_cap: Decimal = Decimal("0.25")
    multi_leg_d1: Decimal = Decimal("0.8")
    multi_leg_d2: Decimal = Decimal("0.05")

    def spot_of(self, contract: Contract) -> Fraction:
        try:
            return Fraction(self.spot[str(contract.pair)])
        except KeyError:
            raise FeeError(f"fees: no spot price for {contract.pair}") from None

    def leg_fee(self, contract: Contract, units: Fraction,
                premium: Fraction | None) -> Fraction:
        """Fee of ``units`` (> 0) of one leg; ``premium`` (> = 0) for the cap, None = no cap."""
        units = abs(units)
        if contract.payoff is Payoff.FORWARD:
            return Fraction(self.forward_rate) * units * self.spot_of(contract)
        if contract.payoff.is_binary:
            fee, cap = Fraction(self.digital_rate) * units, self.digital_cap
        else:
            fee, cap = Fraction(self.option_rate) * units * self.spot_of(contract), self.option_cap
        if premium is not None:
            fee = min(fee, Fraction(cap) * abs(premium))
        return fee

    def factor(self, contracts: Sequence[Contract]) -> Fraction:
        n = sum(1 for c in contracts if c.payoff is not Payoff.FORWARD)
        if n < 2:
            return Fraction(1)
        return max(Fraction(0), Fraction(self.multi_leg_d1) - (n - 2) * Fraction(self.multi_leg_d2))

    def order_fee(self, legs: Sequence[tuple[Contract, Fraction, Fraction | None]]) -> Fraction:
        """Σ leg fees × multi-leg factor; legs as (contract, units, premium or None)."""
        total = sum((self.leg_fee(c, u, p) for c, u, p in legs), Fraction(0))
        return total * self.factor([c for c, _, _ in legs])
