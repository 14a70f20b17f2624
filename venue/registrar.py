"""The demo venue's registrar: an unknown address that logs in is registered and funded.

``register(address)`` records the client in the store (its id comes back at once) and makes a
REAL deposit of demo tokens for it on the venue's chain: the registrar's own account mints test
tokens to itself once, approves FundLock, and calls the original ABI's
``deposit(client, token, amount)`` for each currency (api.md §6). The chain monitor then sees the
``Deposit`` events and credits the client's ``fundLockValue`` like any other deposit — the store
is never credited by hand. The address also gets some ETH, so that its owner can withdraw.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from coordinator.clock import Clock
from coordinator.persistence import Store
from coordinator.persistence.settlement import client_of_address, register_client
from settlement.chain import Chain
from settlement.deploy import Deployment

log = logging.getLogger(__name__)

DEMO_FUNDS: Mapping[str, Decimal] = {"USDC": Decimal("2000000"), "WETH": Decimal("200"),
                                     "WBTC": Decimal("10")}
ETH_FOR_GAS = 10**19  # 10 ETH
MINT_ROUNDS = 10_000  # the registrar mints this many clients' worth at a time


class DemoRegistrar:
    def __init__(self, store: Store, chain: Chain, deployment: Deployment, clock: Clock,
                 funder: LocalAccount, *, funds: Mapping[str, Decimal] = DEMO_FUNDS,
                 chain_lock: threading.RLock | None = None,
                 on_register: Callable[[int, str], None] | None = None) -> None:
        self.store = store
        self.chain = chain
        self.dep = deployment
        self.clock = clock
        self.funder = funder
        self.funds = {s: a for s, a in funds.items() if s in deployment.tokens}
        self.chain_lock = chain_lock or threading.RLock()
        self.on_register = on_register
        self._lock = threading.Lock()

    def _native(self, symbol: str, amount: Decimal) -> int:
        return int(amount.scaleb(self.dep.currencies[symbol].decimals))

    def _top_up(self) -> None:
        """Make sure the funder holds and has approved enough tokens for one more client."""
        fl = to_checksum_address(self.dep.fund_lock)
        hashes = []
        nonce = self.chain.nonce(self.funder.address)
        fees = self.chain.fees()
        for sym, amount in self.funds.items():
            tok = self.chain.contract("TestToken", self.dep.tokens[sym])
            need = self._native(sym, amount)
            bal = int(self.chain.call(tok.functions.balanceOf(self.funder.address)))
            allowed = int(self.chain.call(tok.functions.allowance(self.funder.address, fl)))
            if bal < need:
                fn = tok.functions.mint(self.funder.address, need * MINT_ROUNDS)
                hashes.append(self._send(fn, nonce, fees))
                nonce += 1
            if allowed < need:
                hashes.append(self._send(tok.functions.approve(fl, 2**256 - 1), nonce, fees))
                nonce += 1
        for h in hashes:
            self.chain.wait(h, timeout=60)

    def _send(self, fn, nonce: int, fees) -> str:
        gas = self.chain.estimate_gas(fn, self.funder) * 6 // 5 + 20_000
        return self.chain.send_signed(self.chain.sign(fn, self.funder, nonce=nonce, gas=gas,
                                                      fees=fees))

    def register(self, address: str) -> int:
        """The client id of ``address``; a new address is registered and funded on chain."""
        with self._lock:
            with self.store.read() as tx:
                have = client_of_address(tx, address)
            if have is not None:
                return have
            # Fund first, then record: a crash in between leaves an address with funds on chain
            # and no client yet, which the next login (or the chain monitor) registers; the
            # other order would leave a client that is never funded.
            with self.chain_lock:
                fl = self.chain.contract("FundLock", self.dep.fund_lock)
                if not self.chain.call(fl.functions.isClient(to_checksum_address(address))):
                    self._fund(address)
            with self.store.write() as tx:  # stored checksummed, as the chain monitor does
                cid = register_client(tx, to_checksum_address(address), self.clock.now_ms())
            log.info("registered %s as client %d with demo funds", address, cid)
            if self.on_register is not None:
                self.on_register(cid, address)
            return cid

    def _fund(self, address: str) -> None:
        client = to_checksum_address(address)
        self._top_up()
        fl = self.chain.contract("FundLock", self.dep.fund_lock)
        nonce = self.chain.nonce(self.funder.address)
        fees = self.chain.fees()
        hashes = []
        for sym, amount in self.funds.items():
            fn = fl.functions.deposit(client, to_checksum_address(self.dep.tokens[sym]),
                                      self._native(sym, amount))
            hashes.append(self._send(fn, nonce, fees))
            nonce += 1
        if self.chain.w3.eth.get_balance(client) < ETH_FOR_GAS // 10:
            if self.chain.kind == "rpc":
                self.chain.rpc("anvil_setBalance", [client, hex(ETH_FOR_GAS)])
            else:
                signed = self.funder.sign_transaction({
                    "to": client, "value": ETH_FOR_GAS, "gas": 21_000, "nonce": nonce,
                    "chainId": self.chain.chain_id, "maxFeePerGas": fees.max_fee_per_gas,
                    "maxPriorityFeePerGas": fees.max_priority_fee_per_gas})
                hashes.append(self.chain.send_signed(signed))
        for h in hashes:
            self.chain.wait(h, timeout=60)
