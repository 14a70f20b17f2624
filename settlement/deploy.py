"""Chain bootstrap: deploy FundLock, one Ledger per pair and (on local chains) test tokens.

``deploy(chain, pairs)`` returns a :class:`Deployment` — every address the venue needs, as JSON
for ``ccp chain deploy`` and for the coordinator's settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address

from auction.products import DEFAULT_CURRENCIES, Currency, CurrencyPair
from settlement.chain import Chain
from settlement.errors import NotLocalChain, SettlementError

DEFAULT_PAIRS = ("WETH/USDC", "WBTC/USDC")


@dataclass(frozen=True, slots=True)
class Locks:
    """FundLock timings in seconds (settlement.md §1 defaults)."""

    trade_lock: int = 1200
    release_lock: int = 2400
    escape_delay: int = 7 * 24 * 3600

    def __post_init__(self) -> None:
        if not 0 <= self.trade_lock < self.release_lock <= 7 * 24 * 3600:
            raise ValueError("locks need 0 <= tradeLock < releaseLock <= 1 week")
        if self.escape_delay <= 0:
            raise ValueError("escapeDelay must be positive")


@dataclass(frozen=True, slots=True)
class Deployment:
    chain_id: int
    start_block: int  # the first block the chain monitor must read
    fund_lock: str
    admin: str
    operator: str
    tokens: Mapping[str, str]  # currency symbol → token address
    ledgers: Mapping[str, str]  # "UNDERLYING/NUMERAIRE" → Ledger address
    currencies: Mapping[str, Currency] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_CURRENCIES)))

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", MappingProxyType(dict(self.tokens)))
        object.__setattr__(self, "ledgers", MappingProxyType(dict(self.ledgers)))
        object.__setattr__(self, "currencies", MappingProxyType(dict(self.currencies)))
        for pair in self.ledgers:
            p = CurrencyPair.parse(pair)
            for sym in (p.underlying, p.numeraire):
                if sym not in self.tokens or sym not in self.currencies:
                    raise SettlementError(f"pair {pair}: no token or currency for {sym}")

    def pair_of_ledger(self, address: str) -> str:
        for pair, addr in self.ledgers.items():
            if addr.lower() == address.lower():
                return pair
        raise KeyError(address)

    def currency_of_token(self, address: str) -> str:
        for sym, addr in self.tokens.items():
            if addr.lower() == address.lower():
                return sym
        raise KeyError(address)

    def scale(self, symbol: str, decimals: int) -> int:
        return 10 ** (decimals - self.currencies[symbol].precision)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chainId": self.chain_id, "startBlock": self.start_block,
            "fundLock": self.fund_lock, "admin": self.admin, "operator": self.operator,
            "tokens": dict(self.tokens), "ledgers": dict(self.ledgers),
            "currencies": {s: {"decimals": c.decimals, "precision": c.precision}
                           for s, c in self.currencies.items() if s in self.tokens},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Deployment:
        try:
            cur = {s: Currency(s, int(v["decimals"]), int(v["precision"]))
                   for s, v in d.get("currencies", {}).items()}
            return cls(chain_id=int(d["chainId"]), start_block=int(d["startBlock"]),
                       fund_lock=d["fundLock"], admin=d["admin"], operator=d["operator"],
                       tokens=d["tokens"], ledgers=d["ledgers"],
                       currencies=cur or dict(DEFAULT_CURRENCIES))
        except (KeyError, TypeError, ValueError) as e:
            raise SettlementError(f"deployment JSON: missing or bad field {e}") from None


def deploy(chain: Chain, pairs: Iterable[str] = DEFAULT_PAIRS, *,
           currencies: Mapping[str, Currency] = DEFAULT_CURRENCIES,
           tokens: Mapping[str, str] | None = None, locks: Locks = Locks(),
           admin: LocalAccount | None = None, operator: LocalAccount | None = None,
           ) -> Deployment:
    """Deploy and wire the contracts. Test tokens are deployed for the pairs' currencies
    unless ``tokens`` gives addresses — which a non-local chain requires."""
    pairs = tuple(dict.fromkeys(str(CurrencyPair.parse(p)) for p in pairs))
    if not pairs:
        raise SettlementError("no currency pair to deploy a Ledger for")
    admin = admin or chain.accounts[0]
    operator = operator or (chain.accounts[1] if len(chain.accounts) > 1 else admin)
    symbols = sorted({s for p in pairs for s in p.split("/")})
    for s in symbols:
        if s not in currencies:
            raise SettlementError(f"unknown currency {s} (known: {', '.join(currencies)})")
    start_block = chain.block_number() + 1
    token_addrs = dict(tokens or {})
    missing = [s for s in symbols if s not in token_addrs]
    if missing and not chain.local:
        raise NotLocalChain(f"no token address for {', '.join(missing)}; test tokens are only "
                            "deployed on local chains")
    for s in missing:
        c = currencies[s]
        token_addrs[s] = chain.deploy("TestToken", f"Test {s}", s, c.decimals, sender=admin)
    fund_lock = chain.deploy("FundLock", locks.trade_lock, locks.release_lock,
                             locks.escape_delay, sender=admin)
    fl = chain.contract("FundLock", fund_lock)
    ledgers: dict[str, str] = {}
    for pair in pairs:
        p = CurrencyPair.parse(pair)
        u, n = currencies[p.underlying], currencies[p.numeraire]
        addr = chain.deploy("Ledger", fund_lock, pair, token_addrs[p.underlying], u.precision,
                            token_addrs[p.numeraire], n.precision, sender=admin)
        ledger = chain.contract("Ledger", addr)
        chain.execute(ledger.functions.setOperator(operator.address, True), admin)
        chain.execute(fl.functions.setLedger(addr, True), admin)
        ledgers[pair] = addr
    return Deployment(chain_id=chain.chain_id, start_block=start_block, fund_lock=fund_lock,
                      admin=admin.address, operator=operator.address,
                      tokens={s: token_addrs[s] for s in symbols}, ledgers=ledgers,
                      currencies={s: currencies[s] for s in symbols})


def parse_amount(text: str, decimals: int) -> int:
    """A decimal token amount ("1000.5") → native units; more digits than decimals is an error."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"amount {text!r} is not a number") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"amount {text!r} must be positive")
    native = d.scaleb(decimals)
    if native != native.to_integral_value():
        raise ValueError(f"amount {text!r} has more than {decimals} decimals")
    return int(native)


def faucet(chain: Chain, deployment: Deployment | None, address: str, amount: str,
           token: str, *, eth_wei: int = 10**19) -> dict[str, Any]:
    """Mint test tokens (and some ETH for gas) to ``address`` on a local chain.

    ``token`` is a symbol of the deployment or a token address; ``amount`` is in token units.
    """
    if not chain.local:
        raise NotLocalChain(f"the faucet only runs on local chains (chain id {chain.chain_id})")
    if not is_address(address):
        raise ValueError(f"{address!r} is not an address")
    if is_address(token):
        token_addr = to_checksum_address(token)
    elif deployment is not None and token.upper() in deployment.tokens:
        token_addr = deployment.tokens[token.upper()]
    else:
        raise ValueError(f"unknown token {token!r}: give a token address or a deployment file "
                         "that lists it")
    minter = chain.accounts[0]
    tok = chain.contract("TestToken", token_addr)
    decimals = int(chain.call(tok.functions.decimals()))
    native = parse_amount(amount, decimals)
    chain.execute(tok.functions.mint(to_checksum_address(address), native), minter)
    to = to_checksum_address(address)
    if chain.w3.eth.get_balance(to) < eth_wei // 10:
        if chain.kind == "rpc":
            chain.rpc("anvil_setBalance", [to, hex(eth_wei)])
        else:
            signed = minter.sign_transaction({
                "to": to, "value": eth_wei, "gas": 21_000, "nonce": chain.nonce(minter.address),
                "chainId": chain.chain_id, **_fee_fields(chain)})
            chain.wait(chain.send_signed(signed))
    balance = int(chain.call(tok.functions.balanceOf(to)))
    return {"address": to, "token": token_addr, "minted": native, "balance": balance,
            "decimals": decimals}


def _fee_fields(chain: Chain) -> dict[str, int]:
    f = chain.fees()
    return {"maxFeePerGas": f.max_fee_per_gas, "maxPriorityFeePerGas": f.max_priority_fee_per_gas}
