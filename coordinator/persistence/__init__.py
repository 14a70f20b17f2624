"""Persistence: tables, repositories, engine creation and migrations. The only SQL writer."""

from coordinator.persistence.errors import (
    Conflict,
    LeaseHeld,
    LeaseLost,
    NotFound,
    SchemaNotCurrent,
    StoreError,
    StoreUnavailable,
)
from coordinator.persistence.store import Store, Tx

__all__ = ["Conflict", "LeaseHeld", "LeaseLost", "NotFound", "SchemaNotCurrent", "Store",
           "StoreError", "StoreUnavailable", "Tx"]
