"""Registration state of the S-CSCF behind a small interface, so a shared store (Redis)
can replace the in-process one.

Three kinds of records:

* :class:`Registration` — one per implicit registration set (TS 23.228 §4.3.3.3), found
  under every IMPU of the set and under its IMPI: the contacts bound to it (each with its
  own expiry, Path, Call-ID/CSeq and the flow it came in on), the Service-Route, the
  profile, and the reg-event subscriptions to it;
* :class:`Subscription` — a reg-event subscription (RFC 6665 dialog), kept in its
  registration and found by its dialog too; it goes when the registration goes;
* :class:`Challenge` — a pending authentication challenge, keyed by (IMPI, nonce), with
  the moment it goes stale and the moment it is forgotten.

:class:`RegistrationStore` is the interface; :class:`MemoryStore` keeps everything in
dicts (O(1) look-ups) with three deadline heaps (:mod:`ims_core.deadlines`: binding
expiries, subscription expiries and challenge purges). A Redis store would map records
to hashes and the heaps to sorted sets; the core only calls the methods below.

With a :class:`~ims_core.persist.Journal` attached, every saved or removed registration
(its bindings and subscriptions with it) is recorded under :data:`KIND` for the
write-behind writer (:mod:`.persist` encodes it); challenges are never journalled.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from ims_core.deadlines import DeadlineHeap
from ims_core.persist import Journal
from ims_core.sip import Dialog, Param
from ims_core.userdata import Profile

KIND = "scscf.registration"  # the journal/backend kind of a Registration record


def seconds_left(at: float, now: float) -> int:
    """Whole seconds from *now* to *at*, rounded up, never negative; (now + 600) - now
    may come out a hair above 600 in floating point, which must still read 600."""
    left = round(at - now, 6)
    return math.ceil(left) if left > 0 else 0


@dataclass(slots=True)
class Binding:
    """One registered contact (RFC 3261 §10.3 step 7; RFC 3327 §5.3 Path); ``uri`` is
    the contact as the UE last wrote it."""

    uri: str
    expires_at: float
    impi: str
    call_id: str
    cseq: int
    q: str | None = None
    params: tuple[Param, ...] = ()  # Contact header params other than expires and q
    path: tuple[str, ...] = ()  # Path values as received, top first
    received: str = ""  # the flow the REGISTER came in on, "udp:host:port"

    def remaining(self, now: float) -> int:
        return seconds_left(self.expires_at, now)


@dataclass(slots=True)
class Subscription:
    """A reg-event subscription (RFC 6665 §4.2.1; TS 24.229 §5.4.2.1.1): the dialog its
    SUBSCRIBE created, from our side as the notifier (RFC 3261 §12.1.1).

    ``key``: the dialog id (Call-ID and both tags). ``resource``: the public identity
    subscribed to (``impu_key``). ``subscriber``: the identities the SUBSCRIBE was
    authorised by (P-Asserted-Identity, else From), to judge again when the profile
    changes. ``dialog``: ours as its UAS (a plain record of strings and numbers, like the
    rest). ``transport``: the one the SUBSCRIBE came over. ``event``: its Event header
    value (an ``id`` parameter is echoed, RFC 6665 §8.2.1). ``version``: the reginfo
    version of the next NOTIFY (RFC 3680 §5.2, from 0)."""

    key: str
    resource: str
    subscriber: tuple[str, ...]
    dialog: Dialog
    transport: str
    event: str
    expires_at: float
    version: int = 0

    def remaining(self, now: float) -> int:
        return seconds_left(self.expires_at, now)


@dataclass(slots=True)
class Registration:
    """An implicit registration set and its bindings, keyed by
    :func:`ims_core.identity.uri_key` of the contact (equal URIs, one binding)."""

    impu: str  # the IMPU first registered: the record's key
    impi: str
    identities: tuple[str, ...]  # the implicit set, ``impu`` first
    barred: frozenset[str] = frozenset()
    service_route: str = ""
    profile: Profile | None = None
    bindings: dict[str, Binding] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)  # by dialog key

    def next_expiry(self) -> float | None:
        return min((b.expires_at for b in self.bindings.values()), default=None)

    def drop_expired(self, now: float) -> list[tuple[str, Binding]]:
        """Remove the bindings whose time is up; returns them with their keys."""
        gone = [key for key, b in self.bindings.items() if b.expires_at <= now]
        return [(key, self.bindings.pop(key)) for key in gone]


@dataclass(slots=True)
class Challenge:
    """A pending challenge (RFC 2617 §3.2.1 nonce; RFC 3310 §3.1 AKA nonce).

    ``algorithm`` is ``AKAv1-MD5``, ``AKAv2-MD5`` or ``MD5``. AKA: ``xres``, ``ck``,
    ``ik`` from the MAA. MD5: ``ha1`` (Digest-HA1 from the MAA).
    """

    impi: str
    impu: str
    nonce: str
    algorithm: str
    scheme: str  # SIP-Authentication-Scheme as the HSS named it
    realm: str
    stale_at: float
    forget_at: float
    xres: bytes = b""
    ck: bytes = b""
    ik: bytes = b""
    ha1: str = ""

    @property
    def is_aka(self) -> bool:
        return self.algorithm.upper().startswith("AKA")


class RegistrationStore(Protocol):
    """What the S-CSCF core needs from a registration store."""

    def get(self, impu: str) -> Registration | None:
        """The registration an IMPU (as :func:`ims_core.identity.impu_key` writes it)
        belongs to."""

    def save(self, reg: Registration) -> None:
        """Store *reg* under each of its identities and its IMPI, schedule its next
        expiry, and index its subscriptions by dialog with their expiries."""

    def remove(self, reg: Registration) -> None:
        """Forget *reg*, and with it every subscription it holds."""

    def due(self, now: float) -> list[Registration]:
        """Registrations whose next expiry has passed (each once; save() reschedules)."""

    def by_impi(self, impi: str) -> list[Registration]:
        """Every registration of a private identity (RTR, PPR: TS 29.228 §6.1.3, §6.2.2)."""

    def by_dialog(self, key: str) -> Registration | None:
        """The registration holding the subscription whose dialog key is *key*."""

    def remove_subscription(self, reg: Registration, key: str) -> Subscription | None:
        """Take one subscription out of *reg* and the indexes; returns it."""

    def due_subscriptions(self, now: float) -> list[tuple[Registration, Subscription]]:
        """Subscriptions whose expiry has passed (each once; save() reschedules)."""

    def add_challenge(self, ch: Challenge) -> None: ...

    def get_challenge(self, impi: str, nonce: str) -> Challenge | None: ...

    def take_challenge(self, impi: str, nonce: str) -> Challenge | None:
        """Remove and return a challenge (a nonce is used once)."""

    def challenges_for(self, impi: str) -> list[Challenge]:
        """The challenges pending for *impi*, oldest first."""

    def purge(self, now: float) -> list[Challenge]:
        """Forget challenges past ``forget_at`` (never answered); returns them."""

    def attach_journal(self, journal: Journal, encode: Callable[[Registration], bytes]) -> None:
        """Record every registration saved or removed from now on (``[persist]``)."""

    def next_deadline(self) -> float | None:
        """The earliest expiry or purge time (may be early; never late)."""

    # What the gauges read at scrape time (ims_core.scscf.gauges).
    def __len__(self) -> int:
        """How many registrations (implicit registration sets) have a binding."""

    def binding_count(self) -> int:
        """How many bindings (contacts) all registrations hold."""

    @property
    def subscription_count(self) -> int:
        """How many reg-event subscriptions are held."""


class MemoryStore:
    """The in-process :class:`RegistrationStore`."""

    def __init__(self, max_challenges_per_user: int = 8) -> None:
        self._regs: dict[str, Registration] = {}
        self._expiry: DeadlineHeap[str] = DeadlineHeap()  # record key → next expiry
        self._by_impi: dict[str, dict[str, Registration]] = {}  # IMPI → record key → record
        self._dialogs: dict[str, Registration] = {}  # subscription key → its registration
        self._sub_expiry: DeadlineHeap[str] = DeadlineHeap()  # subscription key → expiry
        self._challenges: dict[tuple[str, str], Challenge] = {}
        self._per_user: dict[str, deque[str]] = {}
        self._purge: DeadlineHeap[tuple[str, str]] = DeadlineHeap()
        self.max_per_user = max_challenges_per_user
        self.journal: Journal | None = None  # set with encode by attach_journal
        self._encode: Callable[[Registration], bytes] | None = None

    def attach_journal(self, journal: Journal, encode: Callable[[Registration], bytes]) -> None:
        """Record every registration saved or removed from now on in *journal*."""
        self.journal, self._encode = journal, encode

    def _journal_put(self, reg: Registration) -> None:
        if self.journal is not None and self._encode is not None:
            self.journal.put_lazy(KIND, reg.impu, partial(self._encode, reg))

    # -- registrations -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._expiry)

    def binding_count(self) -> int:
        return sum(len(reg.bindings) for mine in self._by_impi.values()
                   for reg in mine.values())

    def get(self, impu: str) -> Registration | None:
        return self._regs.get(impu)

    def save(self, reg: Registration) -> None:
        regs = self._regs
        if regs.get(reg.impu) is not reg:  # new here: index it under its IMPI too
            mine = self._by_impi.get(reg.impi)
            if mine is None:
                mine = self._by_impi[reg.impi] = {}
            mine[reg.impu] = reg
        for ident in reg.identities:
            regs[ident] = reg
        when = reg.next_expiry()
        if when is None:
            self._expiry.discard(reg.impu)
        else:
            self._expiry.set(reg.impu, when)
        if reg.subscriptions:  # none for most registrations
            for key, sub in reg.subscriptions.items():
                self._dialogs[key] = reg
                self._sub_expiry.set(key, sub.expires_at)
        self._journal_put(reg)

    def remove(self, reg: Registration) -> None:
        if self.journal is not None and self._regs.get(reg.impu) is reg:  # not a newer one
            self.journal.delete(KIND, reg.impu)
        for ident in reg.identities:
            if self._regs.get(ident) is reg:
                del self._regs[ident]
        self._expiry.discard(reg.impu)
        mine = self._by_impi.get(reg.impi)
        if mine is not None and mine.get(reg.impu) is reg:
            del mine[reg.impu]
            if not mine:
                del self._by_impi[reg.impi]
        for key in reg.subscriptions:
            self._forget_dialog(reg, key)

    def due(self, now: float) -> list[Registration]:
        return [reg for key in self._expiry.pop_due(now)
                if (reg := self._regs.get(key)) is not None]

    def by_impi(self, impi: str) -> list[Registration]:
        return list(self._by_impi.get(impi, {}).values())

    # -- subscriptions -----------------------------------------------------------------
    def by_dialog(self, key: str) -> Registration | None:
        return self._dialogs.get(key)

    def remove_subscription(self, reg: Registration, key: str) -> Subscription | None:
        sub = reg.subscriptions.pop(key, None)
        self._forget_dialog(reg, key)
        if sub is not None and self._regs.get(reg.impu) is reg:
            self._journal_put(reg)
        return sub

    def _forget_dialog(self, reg: Registration, key: str) -> None:
        if self._dialogs.get(key) is reg:
            del self._dialogs[key]
            self._sub_expiry.discard(key)

    def due_subscriptions(self, now: float) -> list[tuple[Registration, Subscription]]:
        out = []
        for key in self._sub_expiry.pop_due(now):
            reg = self._dialogs.get(key)
            sub = reg.subscriptions.get(key) if reg is not None else None
            if reg is not None and sub is not None:
                out.append((reg, sub))
        return out

    @property
    def subscription_count(self) -> int:
        return len(self._dialogs)

    # -- challenges --------------------------------------------------------------------
    def add_challenge(self, ch: Challenge) -> None:
        key = (ch.impi, ch.nonce)
        self._challenges[key] = ch
        nonces = self._per_user.setdefault(ch.impi, deque())
        nonces.append(ch.nonce)
        while len(nonces) > self.max_per_user:  # bound the state one user can create
            old = (ch.impi, nonces.popleft())
            self._challenges.pop(old, None)
            self._purge.discard(old)
        self._purge.set(key, ch.forget_at)

    def get_challenge(self, impi: str, nonce: str) -> Challenge | None:
        return self._challenges.get((impi, nonce))

    def take_challenge(self, impi: str, nonce: str) -> Challenge | None:
        ch = self._challenges.pop((impi, nonce), None)
        if ch is not None:
            self._forget_nonce(impi, nonce)
            self._purge.discard((impi, nonce))
        return ch

    def _forget_nonce(self, impi: str, nonce: str) -> None:
        nonces = self._per_user.get(impi)
        if nonces is None:
            return
        if nonce in nonces:
            nonces.remove(nonce)
        if not nonces:
            del self._per_user[impi]

    def challenges_for(self, impi: str) -> list[Challenge]:
        nonces = self._per_user.get(impi, ())
        return [ch for n in nonces if (ch := self._challenges.get((impi, n))) is not None]

    def purge(self, now: float) -> list[Challenge]:
        gone = []
        for key in self._purge.pop_due(now):
            ch = self._challenges.pop(key, None)
            if ch is not None:
                self._forget_nonce(*key)
                gone.append(ch)
        return gone

    @property
    def pending_challenges(self) -> int:
        return len(self._challenges)

    def next_deadline(self) -> float | None:  # asked after every message: no list, no min()
        best = self._expiry.peek()
        for t in (self._sub_expiry.peek(), self._purge.peek()):
            if t is not None and (best is None or t < best):
                best = t
        return best
