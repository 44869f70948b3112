"""Subscriber stores behind one small interface: SQLite (default) and PostgreSQL."""

from hss.store.base import (
    MAX_PAGE,
    DuplicateError,
    Page,
    Store,
    StoreBusy,
    StoreError,
    SubscriberQuery,
    UnknownSubscriber,
    open_store,
)

__all__ = [
    "MAX_PAGE",
    "DuplicateError",
    "Page",
    "Store",
    "StoreBusy",
    "StoreError",
    "SubscriberQuery",
    "UnknownSubscriber",
    "open_store",
]
