"""Subscriber stores behind one small interface: SQLite (default) and PostgreSQL."""

from hss.store.base import (
    DuplicateError,
    Store,
    StoreBusy,
    StoreError,
    UnknownSubscriber,
    open_store,
)

__all__ = ["DuplicateError", "Store", "StoreBusy", "StoreError", "UnknownSubscriber", "open_store"]
