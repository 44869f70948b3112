"""The store interface the Cx handlers and the provisioning CLI use.

Calls are blocking (DB-API underneath). The asyncio server runs them in worker threads, or,
for a store whose :attr:`Store.inline` is true (local SQLite), runs each loop iteration's
requests on the loop inside one :meth:`Store.batch` transaction.
Implementations must be thread-safe and must make :meth:`Store.next_sqns` atomic across
threads and processes sharing the database (TS 33.102 Annex C: an SQN is never reused).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hss.model import Push, PushState, RegState, Subscriber

if TYPE_CHECKING:
    from hss.config import StoreConfig


class StoreError(RuntimeError):
    """The database failed or holds data this version cannot use."""


class DuplicateError(StoreError):
    """An IMSI, IMPI or IMPU is already provisioned."""


class UnknownSubscriber(StoreError):
    """No subscriber with that IMSI."""


class StoreBusy(StoreError):
    """Another process holds the write lock; retry the batch off the event loop."""


class _Keep:
    """Sentinel: leave the stored S-CSCF name as it is."""


KEEP = _Keep()

MAX_PAGE = 1000  # the most subscribers one :meth:`Store.page` returns


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriberQuery:
    """One page of subscribers in IMSI order, after the IMSI ``after`` (keyset paging: a
    page is the same whatever is added or removed before it), filtered by every field set:
    an IMSI prefix, the MSISDN, one public identity (its key form,
    :func:`hss.model.identity_key`), the implicit set's :attr:`Subscriber.state`, the
    subscription barring."""

    limit: int = 100
    after: str | None = None
    imsi_prefix: str | None = None
    msisdn: str | None = None
    impu: str | None = None
    state: RegState | None = None
    barred: bool | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1..{MAX_PAGE}")


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """A page of :meth:`Store.page`; ``next_after`` is the ``after`` of the next page, None
    when this one is the last."""

    subscribers: list[Subscriber]
    next_after: str | None


class Store(abc.ABC):
    """Subscriber data, SQN counters and registration state."""

    ind_bits: int = 5
    # True when a batch of requests may run on the event loop: every call is a local,
    # bounded operation and :meth:`batch` never waits on another process for long.
    inline: bool = False

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """One transaction around several requests' calls (group commit). Raises
        :class:`StoreBusy` at entry if the database is locked elsewhere. Default: none."""
        return contextlib.nullcontext()

    def reading(self) -> contextlib.AbstractContextManager[None]:
        """Like :meth:`batch`, for a batch whose requests write nothing: one consistent
        view of the data, but no write transaction where the backend can do without one.
        Writing inside it is an error. Default: :meth:`batch`."""
        return self.batch()

    def savepoint(self) -> contextlib.AbstractContextManager[None]:
        """Inside :meth:`batch`: undo one request's writes if it raises — except, it may be,
        an SQN reserved by :meth:`next_sqns` (never handed out then: harmless, TS 33.102
        Annex C only needs SQNs to increase). Default: none."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def schema_version(self) -> int: ...

    # -- provisioning ---------------------------------------------------------------
    @abc.abstractmethod
    def add(self, subs: Iterable[Subscriber], *, replace: bool = False) -> int:
        """Insert subscribers in one transaction; returns how many. Duplicates raise."""

    def seed(self, subs: Iterable[Subscriber]) -> int:
        """Add *subs* to a store that holds no subscriber, so demo seeding at every start
        is harmless; a provisioned store is left alone. How many were added."""
        if self.count() > 0:
            return 0
        subs = list(subs)
        return self.add(subs) if subs else 0

    @abc.abstractmethod
    def delete(self, imsi: str) -> bool: ...

    @abc.abstractmethod
    def update_profile(self, sub: Subscriber) -> None:
        """Store *sub*'s service profile: subscription barring, iFCs, MSISDN and its public
        identities (added, removed, barring, order). Keys, SQN, registration states and the
        S-CSCF are left as stored; a new identity gets the state *sub* gives it. An identity
        of another subscriber raises :class:`DuplicateError`."""

    @abc.abstractmethod
    def update_auth(self, sub: Subscriber) -> None:
        """Store *sub*'s authentication data: K, OPc, OP, AMF, schemes and HA1, in one
        statement. The SQN, the profile and the registration are left as stored."""

    @abc.abstractmethod
    def subscribers(self, limit: int | None = None) -> list[Subscriber]:
        """Subscribers ordered by IMSI."""

    @abc.abstractmethod
    def page(self, query: SubscriberQuery) -> Page:
        """One page of the subscribers *query* selects (one statement: one snapshot)."""

    @abc.abstractmethod
    def count(self) -> int: ...

    # -- lookups ----------------------------------------------------------------------
    @abc.abstractmethod
    def get(self, imsi: str) -> Subscriber | None: ...

    @abc.abstractmethod
    def by_impi(self, impi: str) -> Subscriber | None: ...

    @abc.abstractmethod
    def by_impu(self, impu: str) -> Subscriber | None: ...

    # -- SQN (TS 33.102 Annex C) ----------------------------------------------------------
    @abc.abstractmethod
    def next_sqns(self, imsi: str, n: int) -> list[int]:
        """Reserve *n* fresh SQNs in one atomic statement; oldest first."""

    @abc.abstractmethod
    def resync(self, imsi: str, sqn_ms: int) -> int:
        """Move SEQ_HE up to SEQ_MS (never down); returns the stored SQN afterwards."""

    @abc.abstractmethod
    def set_sqn(self, imsi: str, sqn: int) -> tuple[int, int]:
        """Set the stored SQN (SEQ ‖ IND) to *sqn*, up or down, atomically against
        :meth:`next_sqns` of any process; returns (the SQN before, the SQN now).

        An operator's tool, not a Cx step: for a USIM personalised anew with SQN 0 (lab
        cards). Going down hands out SQNs again, which TS 33.102 §6.3.2 and Annex C rule
        out in normal operation: a USIM that has accepted a higher SQN refuses the new
        vectors (C.2.2) and answers with AUTS, and the resynchronisation (§6.3.5,
        :meth:`resync`) moves the HSS forward again: one extra round trip, no key exposed.
        Raises ValueError for a value outside 48 bits, :class:`UnknownSubscriber`."""

    # -- registration state (TS 29.228 §6.1.2) -------------------------------------------
    @abc.abstractmethod
    def update_registration(
        self,
        imsi: str,
        states: Mapping[str, RegState],
        scscf_name: str | _Keep | None = KEEP,
        scscf_host: str | _Keep | None = KEEP,
    ) -> None:
        """Set the given IMPUs' states and (unless KEEP) the S-CSCF name and its Diameter
        host, atomically. A new name without a host clears the host unless the name is the
        one stored (the host belongs to the S-CSCF that sent the SAR)."""

    # -- outbox of HSS-initiated requests (RTR, PPR) ----------------------------------------
    @abc.abstractmethod
    def queue_push(self, push: Push, now: float) -> int:
        """Queue *push* (state pending); returns its id."""

    @abc.abstractmethod
    def claim_pushes(self, limit: int, now: float) -> list[Push]:
        """Up to *limit* pending pushes, oldest first, now marked sent: each is claimed by
        one caller only, whichever process or thread. Cheap when nothing is pending."""

    @abc.abstractmethod
    def finish_push(
        self,
        push_id: int,
        state: PushState,
        now: float,
        *,
        result_code: int | None = None,
        experimental_code: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Record how a push ended (done or failed) and the answer's result, if any."""

    @abc.abstractmethod
    def get_push(self, push_id: int) -> Push | None: ...

    @abc.abstractmethod
    def purge_pushes(self, before: float) -> int:
        """Delete finished pushes last changed before *before*; returns how many."""


def open_store(cfg: StoreConfig, *, data_dir: str | Path = ".", ind_bits: int = 5) -> Store:
    """Open (and migrate) the store a config names."""
    if cfg.backend == "sqlite":
        from hss.store.sqlite import SqliteStore

        return SqliteStore(cfg.sqlite_path(data_dir), ind_bits=ind_bits,
                           synchronous=cfg.synchronous)
    if cfg.backend == "postgres":
        from hss.store.postgres import PostgresStore

        return PostgresStore(cfg.dsn, ind_bits=ind_bits)
    raise StoreError(f"unknown store backend {cfg.backend!r}")
