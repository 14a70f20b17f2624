"""Repositories of the client API's authentication: login nonces, sessions, client addresses.

Functions take the :class:`~coordinator.persistence.store.Tx` of ``Store.read()/write()``.
Addresses are stored lower case. A session is kept as the SHA-256 of its token.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, func, insert, select, update

from coordinator.persistence import tables as t
from coordinator.persistence.store import Tx


def add_nonce(tx: Tx, nonce: str, address: str, expires_ms: int) -> None:
    tx.conn.execute(insert(t.auth_nonces).values(nonce=nonce, eth_address=address.lower(),
                                                 expires_ms=expires_ms))


def nonce_address(tx: Tx, nonce: str, now_ms: int) -> str | None:
    """The address a live (unused, unexpired) nonce was issued to, else None."""
    return tx.conn.scalar(select(t.auth_nonces.c.eth_address).where(and_(
        t.auth_nonces.c.nonce == nonce, t.auth_nonces.c.expires_ms > now_ms)))


def use_nonce(tx: Tx, nonce: str, now_ms: int) -> bool:
    """Delete a live nonce; False when it was used (or expired) meanwhile."""
    res = tx.conn.execute(delete(t.auth_nonces).where(and_(
        t.auth_nonces.c.nonce == nonce, t.auth_nonces.c.expires_ms > now_ms)))
    return res.rowcount == 1


def purge_expired(tx: Tx, now_ms: int) -> None:
    """Forget expired nonces and sessions (on a successful login: a rejected request changes
    nothing)."""
    tx.conn.execute(delete(t.auth_nonces).where(t.auth_nonces.c.expires_ms <= now_ms))
    tx.conn.execute(delete(t.auth_sessions).where(t.auth_sessions.c.expires_ms <= now_ms))


def add_session(tx: Tx, token_hash: str, client_id: int, address: str, now_ms: int,
                expires_ms: int) -> None:
    tx.conn.execute(insert(t.auth_sessions).values(
        token_hash=token_hash, client_id=client_id, eth_address=address.lower(),
        created_ms=now_ms, expires_ms=expires_ms))


def session(tx: Tx, token_hash: str, now_ms: int) -> tuple[int, str] | None:
    """(client id, address) of a live session."""
    r = tx.conn.execute(select(t.auth_sessions.c.client_id, t.auth_sessions.c.eth_address)
                        .where(and_(t.auth_sessions.c.token_hash == token_hash,
                                    t.auth_sessions.c.expires_ms > now_ms))).first()
    return None if r is None else (int(r.client_id), r.eth_address)


def end_session(tx: Tx, token_hash: str) -> bool:
    res = tx.conn.execute(delete(t.auth_sessions).where(
        t.auth_sessions.c.token_hash == token_hash))
    return res.rowcount == 1


def client_by_address(tx: Tx, address: str) -> int | None:
    cid = tx.conn.scalar(select(t.clients.c.client_id).where(
        func.lower(t.clients.c.eth_address) == address.lower()))
    return None if cid is None else int(cid)


def client_address(tx: Tx, client_id: int) -> str | None:
    addr = tx.conn.scalar(select(t.clients.c.eth_address).where(
        t.clients.c.client_id == client_id))
    return None if addr is None else str(addr).lower()


def ensure_client_address(tx: Tx, client_id: int, address: str, now_ms: int) -> None:
    """The client row of ``client_id`` exists and carries ``address`` (lower case)."""
    tx.ensure_clients([client_id], now_ms)
    tx.conn.execute(update(t.clients).where(and_(t.clients.c.client_id == client_id,
                                                 t.clients.c.eth_address.is_(None)))
                    .values(eth_address=address.lower()))
