"""Clients by eth address: look up, register (idempotent). Functions over a :class:`Tx`.

Addresses are compared lower-cased (api.md §0) and stored as given (EIP-55: web3 needs it). A client id is the next
integer after the largest; registering an address twice returns the first id.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select

from coordinator.persistence import tables as t
from coordinator.persistence.store import Tx


def client_id_of(tx: Tx, address: str) -> int | None:
    return tx.conn.scalar(select(t.clients.c.client_id)
                          .where(func.lower(t.clients.c.eth_address) == address.lower()))


def address_of(tx: Tx, client_id: int) -> str | None:
    return tx.conn.scalar(select(t.clients.c.eth_address)
                          .where(t.clients.c.client_id == client_id))


def register_client(tx: Tx, address: str, now_ms: int) -> int:
    """The client id of ``address``, registering it first when unknown."""
    have = client_id_of(tx, address)
    if have is not None:
        return have
    nxt = (tx.conn.scalar(select(func.max(t.clients.c.client_id))) or 0) + 1
    tx.conn.execute(insert(t.clients).values(client_id=nxt, eth_address=address,
                                             registered_ms=now_ms))
    return nxt
