"""The web3 edge: connecting, deploying, sending and reading — and translating web3's errors.

Everything else in ``settlement`` talks to a :class:`Chain` and sees only the typed errors of
``settlement.errors``. Two kinds of chain are served by the same code:

* the in-process EVM (py-evm through web3's tester provider; ``Chain.in_process()``), and
* any JSON-RPC node (``Chain.connect(url)``): anvil in the tests, a real network in production.

Transactions are always signed locally by an ``eth_account`` key (never ``eth_sendTransaction``),
so the same path works on every node.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import eth_abi
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from web3 import Web3
from web3.exceptions import (
    BlockNotFound,
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)

from settlement import artifacts
from settlement.errors import (
    ChainRejected,
    ChainReverted,
    ChainUnavailable,
    NotLocalChain,
    SettlementError,
)

#: anvil's (and hardhat's) well-known development mnemonic; its keys fund the local accounts.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
DEFAULT_TIP_WEI = 1_000_000_000  # 1 gwei priority fee
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Receipt:
    """The part of a transaction receipt the service needs."""

    tx_hash: str
    block_number: int
    block_hash: str
    status: int  # 1 success, 0 reverted
    gas_used: int


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def bumped(self, percent: int = 25) -> Fees:
        """A replacement must pay at least 10 % more (geth/anvil rule); we default to 25 %."""
        return Fees(self.max_fee_per_gas * (100 + percent) // 100 + 1,
                    self.max_priority_fee_per_gas * (100 + percent) // 100 + 1)


def dev_accounts(count: int = 10) -> tuple[LocalAccount, ...]:
    """The keys of anvil's default accounts (derived from :data:`DEV_MNEMONIC`)."""
    return _dev_accounts(count)


@cache
def _dev_accounts(count: int) -> tuple[LocalAccount, ...]:
    Account.enable_unaudited_hdwallet_features()
    return tuple(Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
                 for i in range(count))


def _tester_accounts(count: int = 10) -> tuple[LocalAccount, ...]:
    """eth-tester's genesis accounts have the private keys 1, 2, …, 10."""
    return tuple(Account.from_key(i.to_bytes(32, "big")) for i in range(1, count + 1))


@cache
def _error_selectors() -> dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """4-byte selector → (error name, input names, input types) over every artifact's ABI."""
    out: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
    for name in artifacts.CONTRACT_NAMES:
        for item in artifacts.load(name).abi:
            if item.get("type") == "error":
                sel = function_abi_to_4byte_selector(item)
                out[sel] = (item["name"], tuple(i["name"] for i in item["inputs"]),
                            tuple(i["type"] for i in item["inputs"]))
    return out


def decode_revert(data: str | bytes | None) -> str:
    """Revert data → ``Name(arg=value, …)`` for our custom errors, ``Error(message)`` or hex."""
    if data is None:
        return "reverted without data"
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) \
        else bytes(data)
    if len(raw) < 4:
        return "reverted without data"
    sel, body = raw[:4], raw[4:]
    if sel == bytes.fromhex("08c379a0"):
        return f"Error({eth_abi.decode(['string'], body)[0]})"
    if sel == bytes.fromhex("4e487b71"):
        return f"Panic(0x{eth_abi.decode(['uint256'], body)[0]:02x})"
    known = _error_selectors().get(sel)
    if known is None:
        return f"reverted with unknown data 0x{raw.hex()}"
    name, names, types = known
    try:
        values = eth_abi.decode(list(types), body)
    except Exception:  # malformed body: still name the error
        return f"{name}(0x{body.hex()})"
    args = ", ".join(f"{n}={_fmt(v)}" for n, v in zip(names, values, strict=True))
    return f"{name}({args})"


def _fmt(v: Any) -> str:
    if isinstance(v, str) and v.startswith("0x") and len(v) == 42:
        return to_checksum_address(v)
    return str(v)


def translate(e: BaseException) -> SettlementError:
    """One translation point: a web3 / transport exception → a typed settlement error."""
    if isinstance(e, SettlementError):
        return e
    if isinstance(e, ContractCustomError):
        data = e.data if isinstance(e.data, str) else (e.args[0] if e.args else None)
        return ChainReverted(decode_revert(data), data if isinstance(data, str) else None)
    if isinstance(e, ContractPanicError):
        return ChainReverted(f"Panic: {e.message}", e.data if isinstance(e.data, str) else None)
    if isinstance(e, ContractLogicError):
        data = e.data if isinstance(e.data, str) else None
        if data and len(data) >= 10:
            return ChainReverted(decode_revert(data), data)
        return ChainReverted(str(e.message or e), data)
    if isinstance(e, requests.exceptions.RequestException | ConnectionError | TimeoutError
                  | OSError):
        return ChainUnavailable(f"node unavailable: {e}")
    if isinstance(e, Web3RPCError):
        msg = str(e.message or e)
        if "revert" in msg.lower():
            return ChainReverted(msg)
        return ChainRejected(msg)
    if isinstance(e, TimeExhausted):
        return ChainUnavailable(f"timed out: {e}")
    if isinstance(e, Web3Exception | ValueError):
        return ChainRejected(str(e))
    return SettlementError(f"{type(e).__name__}: {e}")


def _guard(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (Web3Exception, requests.exceptions.RequestException, OSError, ValueError) as e:
        raise translate(e) from e
    except Exception as e:  # eth-tester raises its own TransactionFailed etc.
        if type(e).__module__.startswith(("eth_tester", "eth.", "eth_utils")):
            raise _tester_revert(e) from e
        raise


def _tester_revert(e: Exception) -> ChainReverted:
    """eth-tester's ``TransactionFailed("execution reverted: b'<revert data>'")``."""
    msg = str(e.args[0]) if e.args else str(e)
    prefix = "execution reverted: "
    if msg.startswith(prefix):
        tail = msg[len(prefix):]
        try:
            raw = ast.literal_eval(tail)
        except (ValueError, SyntaxError):
            raw = None
        if isinstance(raw, bytes):
            return ChainReverted(decode_revert(raw), "0x" + raw.hex())
        return ChainReverted(f"Error({tail})")
    return ChainReverted(msg)


class Chain:
    """A connected chain with the accounts we can sign for."""

    def __init__(self, w3: Web3, accounts: Sequence[LocalAccount], *, kind: str,
                 local: bool, rpc_url: str | None = None) -> None:
        self.w3 = w3
        self.accounts = tuple(accounts)
        self.kind = kind  # "in-process" or "rpc"
        self.local = local
        self.rpc_url = rpc_url
        self.chain_id = _guard(lambda: w3.eth.chain_id)

    # ------------------------------------------------------------------ construction

    @classmethod
    def in_process(cls) -> Chain:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider

        tester = EthereumTester(PyEVMBackend())
        return cls(Web3(EthereumTesterProvider(tester)), _tester_accounts(), kind="in-process",
                   local=True)

    @classmethod
    def connect(cls, url: str, keys: Iterable[str] = (), timeout: float = 10.0, *,
                read_only: bool = False) -> Chain:
        """A JSON-RPC node. Without ``keys``, a local dev chain (chain id 31337/1337) gets
        anvil's development accounts; any other chain needs explicit keys — unless
        ``read_only`` (reconciliation, monitoring: nothing is signed)."""
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
        chain_id = _guard(lambda: w3.eth.chain_id)
        local = chain_id in LOCAL_CHAIN_IDS
        accounts = tuple(Account.from_key(k) for k in keys)
        if not accounts:
            if not local and read_only:
                return cls(w3, (), kind="rpc", local=False, rpc_url=url)
            if not local:
                raise NotLocalChain(f"chain {chain_id} at {url} is not a local dev chain: "
                                    "give the keys to sign with")
            accounts = dev_accounts()
        return cls(w3, accounts, kind="rpc", local=local, rpc_url=url)

    # ------------------------------------------------------------------ reading

    def block_number(self) -> int:
        return _guard(lambda: self.w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        try:
            return _guard(lambda: self.w3.eth.get_block(number)["hash"].to_0x_hex())
        except SettlementError as e:
            if isinstance(e.__cause__, BlockNotFound):
                return None
            raise

    def timestamp(self, block: int | str = "latest") -> int:
        return int(_guard(lambda: self.w3.eth.get_block(block)["timestamp"]))

    def contract(self, name: str, address: str):
        art = artifacts.load(name)
        return self.w3.eth.contract(address=to_checksum_address(address), abi=list(art.abi))

    def call(self, fn, block: int | str = "latest") -> Any:
        return _guard(lambda: fn.call(block_identifier=block))

    def receipt(self, tx_hash: str) -> Receipt | None:
        try:
            r = _guard(lambda: self.w3.eth.get_transaction_receipt(tx_hash))
        except SettlementError as e:
            if isinstance(e.__cause__, TransactionNotFound):
                return None
            raise
        if r is None or r["blockNumber"] is None:
            return None
        return Receipt(tx_hash=tx_hash, block_number=int(r["blockNumber"]),
                       block_hash=r["blockHash"].to_0x_hex(), status=int(r["status"]),
                       gas_used=int(r["gasUsed"]))

    def is_known(self, tx_hash: str) -> bool:
        """True when the node knows the transaction (mined or in its pool)."""
        try:
            return _guard(lambda: self.w3.eth.get_transaction(tx_hash)) is not None
        except SettlementError as e:
            if isinstance(e.__cause__, TransactionNotFound):
                return False
            raise

    def nonce(self, address: str, block: str = "pending") -> int:
        return _guard(lambda: self.w3.eth.get_transaction_count(
            to_checksum_address(address), block))

    def get_logs(self, addresses: Sequence[str], from_block: int, to_block: int,
                 topics: Sequence[str | None] | None = None) -> list[Any]:
        query: dict[str, Any] = {"address": [to_checksum_address(a) for a in addresses],
                                 "fromBlock": from_block, "toBlock": to_block}
        if topics:
            query["topics"] = list(topics)
        return _guard(lambda: self.w3.eth.get_logs(query))

    def replay_reason(self, tx_hash: str) -> str:
        """Why a mined transaction reverted: replay it as a call on the state before its block."""
        tx = _guard(lambda: self.w3.eth.get_transaction(tx_hash))
        call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"],
                "value": tx.get("value", 0)}
        try:
            _guard(lambda: self.w3.eth.call(call, block_identifier=tx["blockNumber"] - 1))
        except ChainReverted as e:
            return e.reason
        # Passes on the parent state: something earlier in the same block changed the state —
        # replay on the state after the block — or it ran out of gas.
        try:
            _guard(lambda: self.w3.eth.call(call, block_identifier=tx["blockNumber"]))
        except ChainReverted as e:
            return e.reason
        r = self.receipt(tx_hash)
        if r is not None and r.gas_used >= tx["gas"]:
            return f"out of gas (limit {tx['gas']})"
        return "reverted (reason not reproducible on the parent state)"

    # ------------------------------------------------------------------ writing

    def fees(self) -> Fees:
        base = int(_guard(lambda: self.w3.eth.get_block("latest")).get("baseFeePerGas") or 0)
        return Fees(max_fee_per_gas=2 * base + DEFAULT_TIP_WEI,
                    max_priority_fee_per_gas=DEFAULT_TIP_WEI)

    def estimate_gas(self, fn, sender: LocalAccount) -> int:
        return int(_guard(lambda: fn.estimate_gas({"from": sender.address})))

    def sign(self, fn, sender: LocalAccount, *, nonce: int, gas: int, fees: Fees):
        tx = _guard(lambda: fn.build_transaction({
            "from": sender.address, "nonce": nonce, "gas": gas, "chainId": self.chain_id,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas}))
        return sender.sign_transaction(tx)

    def send_signed(self, signed) -> str:
        return _guard(lambda: self.w3.eth.send_raw_transaction(signed.raw_transaction)).to_0x_hex()

    def transact(self, fn, sender: LocalAccount, *, gas: int | None = None) -> str:
        """Estimate (a revert surfaces here, with its reason), sign, send; returns the hash."""
        gas = gas or self.estimate_gas(fn, sender) * 6 // 5 + 20_000
        signed = self.sign(fn, sender, nonce=self.nonce(sender.address), gas=gas,
                           fees=self.fees())
        return self.send_signed(signed)

    def wait(self, tx_hash: str, timeout: float = 30.0) -> Receipt:
        """Wait for a receipt; raise ChainReverted (with the replayed reason) if it failed."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.receipt(tx_hash)
            if r is not None:
                if r.status != 1:
                    raise ChainReverted(self.replay_reason(tx_hash))
                return r
            if time.monotonic() > deadline:
                raise ChainUnavailable(f"no receipt for {tx_hash} after {timeout} s")
            time.sleep(0.05)

    def execute(self, fn, sender: LocalAccount, timeout: float = 30.0) -> Receipt:
        return self.wait(self.transact(fn, sender), timeout)

    def deploy(self, name: str, *args: Any, sender: LocalAccount) -> str:
        art = artifacts.load(name)
        factory = self.w3.eth.contract(abi=list(art.abi), bytecode=art.bytecode)
        receipt = self.execute(factory.constructor(*args), sender)
        addr = _guard(lambda: self.w3.eth.get_transaction_receipt(receipt.tx_hash)
                      )["contractAddress"]
        return to_checksum_address(addr)

    # ------------------------------------------------------------------ local chains only

    def _require_local(self, what: str) -> None:
        if not self.local:
            raise NotLocalChain(f"{what} only on a local chain (chain id {self.chain_id})")

    def advance_time(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block (local chains)."""
        self._require_local("advance_time")
        if self.kind == "in-process":
            tester = self.w3.provider.ethereum_tester
            tester.time_travel(self.timestamp() + seconds)
            tester.mine_blocks(1)
        else:
            self.rpc("evm_increaseTime", [seconds])
            self.rpc("evm_mine", [])

    def mine(self, blocks: int = 1) -> None:
        self._require_local("mine")
        if self.kind == "in-process":
            self.w3.provider.ethereum_tester.mine_blocks(blocks)
        else:
            self.rpc("anvil_mine", [hex(blocks)])

    def rpc(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call (dev-node methods: evm_snapshot, anvil_reorg, …)."""
        resp = _guard(lambda: self.w3.provider.make_request(method, params))
        if "error" in resp:
            raise ChainRejected(f"{method}: {resp['error']}")
        return resp.get("result")
