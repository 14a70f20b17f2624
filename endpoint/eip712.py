"""EIP-712 typed data of the client API (api.md §2 and §3): login and orders, in both dialects.

* **Elektro**: domain ``EIP712Domain{name, version, chainId}`` (``{"Elektro", "0.1", chainId}``);
* **Ithaca**: domain ``EIP712Domain{name, version}`` (``{"Ithaca", "0.1"}``, no chainId).

Login signs ``AuthMessage{content: string}`` with ``content = nonce``. An order signs
``ConditionalOrder{orderType, orderId: uint64, price: string, timeInForce, address,
[singlePrice: bool,] [iocAuctionTime: uint64,] [allOrNone: bool,] [minQuantity: uint64,]
[reduceOnly: bool,] leg0: Leg, leg1: Leg, …}`` with ``Leg{contractId: uint32, side: string,
quantity: string}``, legs sorted by contract id; price and quantity as the strings the client
sent, the address lower-cased; an optional field is signed exactly when the body carries it.

A signature travels as ``V.R.S``: hex fields joined by dots (v two digits, r and s 64), either
letter case. Hashing is done here directly (the types are fixed and small; the hashes of the
few strings every order repeats are cached); signing and recovery call coincurve
(libsecp256k1) directly — the library eth-keys' coincurve backend wraps, without its object
layers: recovery is on the hot path of every login and order (see
tests/endpoint/test_eip712.py::test_recovery_is_fast).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import coincurve
import sha3  # safe-pysha3: Keccak-256 in C, a fifth of eth-hash's pycryptodome call
from eth_utils import to_checksum_address

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_SIGNATURE = re.compile(r"^(?:0x)?([0-9a-fA-F]{2})\.([0-9a-fA-F]{64})\.([0-9a-fA-F]{64})$")

LEG_FIELDS = (("contractId", "uint32"), ("side", "string"), ("quantity", "string"))


def keccak(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's, not NIST SHA3-256)."""
    return sha3.keccak_256(data).digest()


class SignatureError(ValueError):
    """A signature that is malformed or from which no key can be recovered."""


@dataclass(frozen=True)
class Domain:
    name: str
    version: str
    chain_id: int | None = None  # None: the Ithaca dialect (no chainId in the domain)

    def fields(self) -> tuple[tuple[str, str], ...]:
        base = (("name", "string"), ("version", "string"))
        return base if self.chain_id is None else (*base, ("chainId", "uint256"))

    def values(self) -> dict[str, Any]:
        v: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.chain_id is not None:
            v["chainId"] = self.chain_id
        return v


def elektro(chain_id: int = 1, name: str = "Elektro", version: str = "0.1") -> Domain:
    return Domain(name, version, chain_id)


def ithaca(name: str = "Ithaca", version: str = "0.1") -> Domain:
    return Domain(name, version, None)


@dataclass(frozen=True)
class TypedData:
    """One message to sign: its domain, primary type, field lists and values."""

    domain: Domain
    primary_type: str
    types: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (type name, fields); primary first
    message: Mapping[str, Any] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form wallets and ``eth_account.messages.encode_typed_data`` take."""
        types = {"EIP712Domain": [{"name": n, "type": t} for n, t in self.domain.fields()]}
        types.update({name: [{"name": n, "type": t} for n, t in fs] for name, fs in self.types})
        return {"types": types, "primaryType": self.primary_type,
                "domain": self.domain.values(), "message": dict(self.message)}

    def digest(self) -> bytes:
        """keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))."""
        return keccak(b"\x19\x01" + _domain_separator(self.domain)
                      + _hash_struct(self.primary_type, dict(self.types), self.message))


# ---- hashing ---------------------------------------------------------------------------------

@cache
def _domain_separator(domain: Domain) -> bytes:
    types = {"EIP712Domain": domain.fields()}
    return _hash_struct("EIP712Domain", types, domain.values())


def _encode_type(primary: str, types: Mapping[str, Sequence[tuple[str, str]]]) -> str:
    deps = sorted({t for _, t in types[primary] if t in types and t != primary})
    return "".join(f"{name}({','.join(f'{t} {n}' for n, t in types[name])})"
                   for name in (primary, *deps))


@cache
def _type_hash_cached(primary: str, spec: tuple) -> bytes:
    return keccak(_encode_type(primary, dict(spec)).encode())


def _hash_struct(primary: str, types: Mapping[str, Sequence[tuple[str, str]]],
                 values: Mapping[str, Any]) -> bytes:
    spec = tuple((k, tuple(v)) for k, v in types.items())
    parts = [_type_hash_cached(primary, spec)]
    for name, typ in types[primary]:
        parts.append(_encode_value(typ, values[name], types))
    return keccak(b"".join(parts))


@functools.lru_cache(maxsize=4096)
def _string_hash(value: str) -> bytes:
    return keccak(str(value).encode())


def _encode_value(typ: str, value: Any, types: Mapping[str, Sequence[tuple[str, str]]]) -> bytes:
    if typ in types:
        return _hash_struct(typ, types, value)
    if typ == "string":
        return _string_hash(value) if len(value) <= 64 else keccak(str(value).encode())
    if typ == "bool":
        return (1 if value else 0).to_bytes(32, "big")
    if typ.startswith("uint"):
        bits = int(typ[4:])
        n = int(value)
        if not 0 <= n < 1 << bits:
            raise ValueError(f"{n} does not fit {typ}")
        return n.to_bytes(32, "big")
    raise ValueError(f"unsupported EIP-712 type {typ}")


# ---- the venue's messages ------------------------------------------------------------------

def login(nonce: str, domain: Domain) -> TypedData:
    return TypedData(domain, "AuthMessage", (("AuthMessage", (("content", "string"),)),),
                     {"content": nonce})


def order(domain: Domain, *, order_type: str, order_id: int, price: str, time_in_force: str,
          address: str, legs: Iterable[tuple[int, str, str]], single_price: bool | None = None,
          ioc_auction_time: int | None = None, all_or_none: bool | None = None,
          min_quantity: int | None = None, reduce_only: bool | None = None) -> TypedData:
    """The order's typed data; ``legs`` are ``(contractId, side, quantity string)``."""
    fs: list[tuple[str, str]] = [("orderType", "string"), ("orderId", "uint64"),
                                 ("price", "string"), ("timeInForce", "string"),
                                 ("address", "string")]
    msg: dict[str, Any] = {"orderType": order_type, "orderId": int(order_id), "price": price,
                           "timeInForce": time_in_force, "address": address.lower()}
    for name, typ, value in (("singlePrice", "bool", single_price),
                             ("iocAuctionTime", "uint64", ioc_auction_time),
                             ("allOrNone", "bool", all_or_none),
                             ("minQuantity", "uint64", min_quantity),
                             ("reduceOnly", "bool", reduce_only)):
        if value is not None:
            fs.append((name, typ))
            msg[name] = bool(value) if typ == "bool" else int(value)
    for i, (cid, side, qty) in enumerate(sorted(legs, key=lambda leg: int(leg[0]))):
        fs.append((f"leg{i}", "Leg"))
        msg[f"leg{i}"] = {"contractId": int(cid), "side": side, "quantity": qty}
    return TypedData(domain, "ConditionalOrder", (("ConditionalOrder", tuple(fs)),
                                                  ("Leg", LEG_FIELDS)), msg)


# ---- signatures ----------------------------------------------------------------------------

def parse_signature(signature: str) -> tuple[int, int, int]:
    """(v, r, s) of a ``V.R.S`` string (v 27/28 or 0/1)."""
    m = _SIGNATURE.match(signature.strip()) if isinstance(signature, str) else None
    if m is None:
        raise SignatureError("signature must be V.R.S: hex fields joined by dots "
                             "(v 2 digits, r and s 64)")
    v, r, s = (int(x, 16) for x in m.groups())
    if v >= 27:
        v -= 27
    if v not in (0, 1) or not 0 < r < _SECP256K1_N or not 0 < s < _SECP256K1_N:
        raise SignatureError("signature out of range")
    return v, r, s


def format_signature(v: int, r: int, s: int) -> str:
    return f"{v + 27 if v < 27 else v:02X}.{r:064X}.{s:064X}"


def _key_bytes(private_key: bytes | int | str) -> bytes:
    if isinstance(private_key, int):
        return private_key.to_bytes(32, "big")
    if isinstance(private_key, str):
        return bytes.fromhex(private_key.removeprefix("0x"))
    return private_key


def sign(typed: TypedData, private_key: bytes | int | str) -> str:
    """Sign ``typed`` with ``private_key`` (32 bytes, an integer or hex); returns ``V.R.S``."""
    raw = coincurve.PrivateKey(_key_bytes(private_key)).sign_recoverable(typed.digest(),
                                                                         hasher=None)
    return format_signature(raw[64], int.from_bytes(raw[:32], "big"),
                            int.from_bytes(raw[32:64], "big"))


def recover_digest(digest: bytes, signature: str) -> str:
    v, r, s = parse_signature(signature)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
    try:
        key = coincurve.PublicKey.from_signature_and_message(raw, digest, hasher=None)
    except Exception as e:  # coincurve raises a bare Exception for an unrecoverable key
        raise SignatureError(f"no key recovers from this signature: {e}") from None
    return "0x" + keccak(key.format(compressed=False)[1:])[-20:].hex()


def recover(typed: TypedData, signature: str) -> str:
    """The lower-case address that signed ``typed`` (``SignatureError`` if none can)."""
    return recover_digest(typed.digest(), signature)


def address_of(private_key: bytes | int | str) -> str:
    """The EIP-55 address of a private key."""
    pub = coincurve.PrivateKey(_key_bytes(private_key)).public_key.format(compressed=False)
    return to_checksum_address(keccak(pub[1:])[-20:])
