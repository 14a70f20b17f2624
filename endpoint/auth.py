"""Login by a signed nonce (api.md §2); nonces and sessions live in the store, so they hold
across endpoint processes and restarts.

* ``request_nonce`` — ``auth-request-for-<lower-case address>-<random integer>``, single use,
  expiring after ``api_nonce_seconds``.
* ``validate`` — the nonce must be live; the signature must recover the nonce's address under
  the Elektro domain (with the configured chainId) or the Ithaca domain (both always verify);
  the address must belong to a client (or the venue's registrar registers it). Only then is the
  nonce used and a session created. A rejected attempt changes nothing (the nonce stays live
  for its owner until it expires).
* ``client_for_token`` — the (client id, address) of a live session token (the WebSocket's
  ``VALIDATE_AUTH_TOKEN`` calls it too).

A token is 32 random bytes (URL-safe base64); the store keeps its SHA-256 only.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from coordinator.persistence import Store
from coordinator.persistence import auth as repo
from coordinator.settings import Settings
from endpoint import eip712
from endpoint.errors import ApiError

COOKIE = "ccpsession"
_NONCE_PREFIX = "auth-request-for-"


@dataclass(frozen=True)
class Session:
    token: str
    client_id: int
    address: str  # lower case


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def domains(settings: Settings) -> tuple[eip712.Domain, eip712.Domain]:
    """(Elektro, Ithaca) domains of the settings: every signature is checked under both."""
    return (eip712.Domain(settings.api_domain_elektro, settings.api_domain_version,
                          settings.api_chain_id),
            eip712.Domain(settings.api_domain_ithaca, settings.api_domain_version, None))


def normalise_address(value: Any) -> str:
    """A 0x-prefixed 20-byte hex address in any case → lower case (else INVALID_REQUEST_DATA)."""
    if not isinstance(value, str):
        raise ApiError("INVALID_REQUEST_DATA", "ethAddress must be a 0x… address string")
    a = value.strip().lower()
    if len(a) != 42 or not a.startswith("0x") or any(c not in "0123456789abcdef"
                                                     for c in a[2:]):
        raise ApiError("INVALID_REQUEST_DATA", f"ethAddress {value!r} is not a 0x… address")
    return a


def request_nonce(store: Store, settings: Settings, address: str, now_ms: int) -> str:
    address = normalise_address(address)
    nonce = f"{_NONCE_PREFIX}{address}-{secrets.randbits(63)}"
    with store.write() as tx:
        repo.purge_expired(tx, now_ms)
        repo.add_nonce(tx, nonce, address, now_ms + round(settings.api_nonce_seconds * 1000))
    return nonce


def signer_matches(settings: Settings, typed_for, signature: str, address: str) -> bool:
    """Whether ``signature`` over ``typed_for(domain)`` recovers ``address`` in either dialect."""
    for domain in domains(settings):
        try:
            if eip712.recover(typed_for(domain), signature) == address:
                return True
        except eip712.SignatureError:
            continue
    return False


def validate(store: Store, settings: Settings, nonce: Any, signature: Any, now_ms: int,
             registrar: Any | None = None) -> Session:
    if not isinstance(nonce, str) or not nonce:
        raise ApiError("INVALID_NONCE", "nonce missing")
    if not isinstance(signature, str) or not signature:
        raise ApiError("INVALID_SIGNATURE", "signature missing")
    with store.read() as tx:
        address = repo.nonce_address(tx, nonce, now_ms)
        client_id = None if address is None else repo.client_by_address(tx, address)
    if address is None:
        raise ApiError("INVALID_NONCE", "unknown, used or expired nonce")
    try:
        eip712.parse_signature(signature)
    except eip712.SignatureError as e:
        raise ApiError("INVALID_SIGNATURE", str(e)) from None
    if not signer_matches(settings, lambda d: eip712.login(nonce, d), signature, address):
        raise ApiError("INVALID_SIGNATURE", "the signature is not the nonce's address's")
    if client_id is None:
        if registrar is None:
            raise ApiError("UNKNOWN_ETH_ADDRESS",
                           f"{address} is not a client: deposit into FundLock to register")
        try:
            client_id = int(registrar.register(address))
        except ValueError as e:
            raise ApiError("UNKNOWN_ETH_ADDRESS", f"{address} cannot be registered: {e}") \
                from None
    token = secrets.token_urlsafe(32)
    with store.write() as tx:
        if not repo.use_nonce(tx, nonce, now_ms):
            raise ApiError("INVALID_NONCE", "nonce used meanwhile")
        repo.ensure_client_address(tx, client_id, address, now_ms)
        repo.add_session(tx, token_hash(token), client_id, address, now_ms,
                         now_ms + round(settings.api_session_seconds * 1000))
    return Session(token, client_id, address)


def client_for_token(store: Store, token: str, now_ms: int) -> tuple[int, str] | None:
    """(client id, lower-case address) of a live session token, else None."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    with store.read() as tx:
        return client_in(tx, token, now_ms)


def client_in(tx, token: str, now_ms: int) -> tuple[int, str] | None:
    """:func:`client_for_token` inside the caller's transaction ``tx``."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    return repo.session(tx, token_hash(token), now_ms)


def logout(store: Store, token: str) -> bool:
    with store.write() as tx:
        return repo.end_session(tx, token_hash(token))


def session_cookie(token: str, settings: Settings, max_age_s: float | None = None) -> str:
    """The Set-Cookie value: ``Path=/; HttpOnly; SameSite=Lax`` (+ ``Secure`` behind https)."""
    parts = [f"{COOKIE}={token}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if max_age_s is not None:
        parts.append(f"Max-Age={int(max_age_s)}")
    if settings.api_https:
        parts.append("Secure")
    return "; ".join(parts)


def token_from_cookie_header(header: str | None) -> str | None:
    """The session value of a ``Cookie`` header, tolerating attributes sent back
    (``ccpsession=…; Path=/; HttpOnly``)."""
    if not header:
        return None
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip() == COOKIE and value.strip():
            return value.strip().strip('"')
    return None
