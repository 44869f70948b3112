"""Subscriber stores behind one small interface: SQLite (default) and PostgreSQL."""

from hss.store.base import DuplicateError, Store, StoreError, UnknownSubscriber, open_store

__all__ = ["DuplicateError", "Store", "StoreError", "UnknownSubscriber", "open_store"]
