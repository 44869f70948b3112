"""What the P-CSCF remembers about registered UEs, behind a small store interface.

TS 24.229 §5.2.2.1: once a 200 (OK) to a REGISTER passes, the P-CSCF keeps, per
registration, the contacts and their expiry, the Service-Route list (RFC 3608), the
P-Associated-URI set (the first entry is the default public identity) and the Path it
inserted. A registration is found by the *flow* its REGISTER came in on — transport,
source address and port (on TCP that names the connection) — so later requests are
accepted only from that flow (§5.2.6.3) and requests towards the UE are sent back over it.

One flow may carry several registrations (RFC 3261 §10: any number of AORs may register
from one contact): a softphone with two accounts, UEs behind an IMS-ALG, SIPp's users on
one socket. So a record is keyed by its flow *and* the `impu_key` of its registered
public identity (`RegKey`); a REGISTER, its refreshes and its de-registration touch that
record only (§5.2.2: state per registration). `select` picks the one a message belongs to.

`RegistrationStore` is the interface; `MemoryRegistrationStore` is the default. Records
are frozen, plain data (strings, numbers, tuples), so an external store (e.g. Redis)
can hold them; only `Registration.conn`, the live TCP connection, is process-local and
not part of a record's identity (the transport also finds a connection by address).

Persistence (`encode_registration`, `decode_registration`): with a journal attached, the
memory store records every save (registration, refresh, a NOTIFY's change) as JSON bytes
and every removal (de-registration, expiry, a NOTIFY's) as a delete, under `JOURNAL_KIND`
and `record_key`; times go out as wall-clock epoch seconds (`clock_offset`: wall minus
loop clock), since the loop clock starts afresh with each process. `conn` is not kept: a
restored TCP registration has no connection until the UE opens one (see persist.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ims_core.deadlines import DeadlineHeap
from ims_core.identity import impu_key, uri_key

FlowKey = tuple[str, str, int]  # (transport, host, port) of the UE's registered flow
RegKey = tuple[FlowKey, str]  # (flow, impu_key of the registered public identity)

JOURNAL_KIND = "pcscf.reg"
RECORD_VERSION = 1  # of the JSON form; a record of another version is not restored


def flow_text(flow: FlowKey) -> str:
    """A flow as logs show it: ``udp:host:port``."""
    return f"{flow[0].lower()}:{flow[1]}:{flow[2]}"


def registration_key(flow: FlowKey, registered_impu: str) -> RegKey:
    """The key of the record of `registered_impu` registered over `flow`. Raises
    SipParseError for text that is no URI."""
    return (flow, impu_key(registered_impu))


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact: the URI as the UE wrote it, when it lapses, and its
    `uri_key` (worked out once: bindings are compared by it on every request towards a
    UE and every registration change). Raises SipParseError for a `uri` that is no URI."""

    uri: str
    expires: float
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", uri_key(self.uri))


@dataclass(frozen=True, slots=True)
class Registration:
    """One public identity registered over one flow (`registered_impu`, the To of its
    REGISTER). `impus` is the P-Associated-URI set in order (default identity first,
    TS 24.229 §5.2.2.5) followed by the registered IMPU if it was missing;
    `service_route` holds the Service-Route values as received (RFC 3608 §6).
    `protected`: its REGISTER came over IPsec SAs (TS 33.203 §7), kernel state that does
    not outlive the process: such a record is not restored after a restart."""

    flow: FlowKey
    bindings: tuple[Binding, ...]
    impus: tuple[str, ...]
    service_route: tuple[str, ...]
    path: str
    registered_impu: str
    conn: object | None = field(default=None, compare=False)
    protected: bool = False

    @property
    def key(self) -> RegKey:
        return registration_key(self.flow, self.registered_impu)

    @property
    def expires(self) -> float:
        return max(b.expires for b in self.bindings)

    @property
    def default_impu(self) -> str:
        return self.impus[0] if self.impus else self.registered_impu

    @property
    def identity_keys(self) -> set[str]:
        """The `impu_key`s of every public identity it serves (registered included)."""
        keys = {impu_key(i) for i in self.impus}
        keys.add(impu_key(self.registered_impu))
        return keys

    def binding_for(self, contact: str, key: str | None = None) -> Binding | None:
        """The binding of `contact` (`key`: its uri_key, when the caller has it)."""
        if key is None:
            key = uri_key(contact)
        for b in self.bindings:
            if b.key == key:
                return b
        return None


class ChangeSink(Protocol):
    """Where a store records its changes (`ims_core.persist.Journal`): dict updates only,
    the writer applies them to the backend later."""

    def put(self, kind: str, key: str, value: bytes) -> None: ...

    def delete(self, kind: str, key: str) -> None: ...


class RegistrationStore(Protocol):
    """Registration state of a P-CSCF. Lookups are O(1), or O(the records they return);
    `expire` pops due records. Every list comes in the order the records were first
    saved (newest last; saving a record again keeps its place). With a `journal`, every
    save is recorded as a put and every removal as a delete (`clock_offset`: wall
    minus loop clock, for the times of what is put)."""

    journal: ChangeSink | None
    clock_offset: float

    def save(self, registration: Registration) -> None:
        """Insert or replace the record of `registration.key`."""

    def remove(self, key: RegKey) -> Registration | None: ...

    def get(self, key: RegKey) -> Registration | None: ...

    def by_flow(self, flow: FlowKey) -> list[Registration]:
        """Every registration over `flow`, in the order they were first saved (newest
        last; a refresh keeps its place)."""
        ...

    def by_impu(self, impu: str) -> list[Registration]:
        """Every registration with public identity `impu` (compared by
        `ims_core.identity.impu_key`), on any flow."""
        ...

    def newest_on_flow(self, flow: FlowKey, now: float) -> Registration | None:
        """The newest registration over `flow` still live at `now` (`by_flow`'s last),
        without listing the others: a load generator puts thousands on one flow."""
        ...

    def by_contact(self, contact: str) -> Registration | None:
        """The newest registration holding contact URI `contact`, compared as URIs
        (RFC 3261 §19.1.4, `ims_core.identity.uri_key`): a request the S-CSCF sends to
        the contact as registered finds it; an absent port is not 5060."""
        ...

    def all_by_contact(self, contact: str) -> list[Registration]:
        """Every registration holding contact `contact` (several identities may register
        one contact over one flow), in the order they were first saved (newest last)."""
        ...

    def next_expiry(self) -> float | None: ...

    def expire(self, now: float) -> list[Registration]:
        """Remove and return the records whose every binding has lapsed by `now`."""
        ...

    def __len__(self) -> int: ...

    def binding_count(self) -> int:
        """How many contacts all the records hold (asked at scrape time only)."""
        ...


def select(candidates: Sequence[Registration], claimed: Sequence[str]) -> Registration | None:
    """Which of `candidates` (registrations sharing a flow or a contact, newest last) a
    message belongs to, given the identities it claims (`impu_key`s, strongest first:
    for a UE's request its P-Preferred-Identity values, TS 24.229 §5.2.6.3.1, then its
    From URI). For the first claimed identity any candidate serves: the registration of
    that very identity, else the newest one serving it within its implicit set. When
    none serves any claimed identity, the newest: the one a single-registration flow
    would have kept (the latest REGISTER's), a guess but a deterministic one."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    for key in claimed:
        serving = [r for r in candidates if key in r.identity_keys]
        if serving:
            return next((r for r in serving if r.key[1] == key), serving[-1])
    return candidates[-1]


def on_flow(store: RegistrationStore, flow: FlowKey, claimed: Sequence[str],
            now: float) -> Registration | None:
    """`select` among the registrations over `flow` live at `now`, in time independent
    of how many there are (one SIPp socket carries thousands of UEs): candidates come
    from the identity index, the newest serving one being the one whose identity was
    indexed last."""
    for key in claimed:
        serving = [r for r in store.by_impu(key) if r.flow == flow and r.expires > now]
        if serving:
            return next((r for r in serving if r.key[1] == key), serving[-1])
    return store.newest_on_flow(flow, now)


def drop_bindings(store: RegistrationStore, registration: Registration,
                  contacts: Collection[str]) -> Registration | None:
    """Remove the bindings whose `uri_key` is in `contacts` from `registration` in
    `store`; the record goes when none is left. Returns the record as it now stands
    (None: removed)."""
    rest = tuple(b for b in registration.bindings if b.key not in contacts)
    if len(rest) == len(registration.bindings):
        return registration
    if not rest:
        store.remove(registration.key)
        return None
    kept = replace(registration, bindings=rest)
    store.save(kept)
    return kept


def drop_identities(store: RegistrationStore, registration: Registration,
                    identities: Collection[str]) -> Registration | None:
    """Remove the public identities whose `impu_key` is in `identities` from
    `registration` in `store`. The record goes when that takes its registered or
    default identity, or all of them (TS 24.229 §5.2.5). Returns the record as it now
    stands (None: removed)."""
    keys = [impu_key(i) for i in registration.impus]
    vital = {impu_key(registration.registered_impu), *keys[:1]}  # registered, default
    hit = sum(k in identities for k in keys)
    if not hit and vital.isdisjoint(identities):
        return registration
    if hit == len(keys) or not vital.isdisjoint(identities):
        store.remove(registration.key)
        return None
    kept = replace(registration, impus=tuple(
        i for i, k in zip(registration.impus, keys, strict=True) if k not in identities))
    store.save(kept)
    return kept


# -- the persisted form ----------------------------------------------------------------
def record_key(key: RegKey) -> str:
    """The journal key of record `key`: stable across restarts, unambiguous (`|` occurs
    in no transport, address or port; the identity comes last)."""
    (transport, host, port), identity = key
    return f"{transport}|{host}|{port}|{identity}"


def encode_registration(registration: Registration, clock_offset: float) -> bytes:
    """`registration` as JSON bytes, expiry times on the wall clock (loop time plus
    `clock_offset`). `conn` is left out; binding keys are derived again on decoding."""
    transport, host, port = registration.flow
    return json.dumps({
        "v": RECORD_VERSION,
        "flow": [transport, host, port],
        "impu": registration.registered_impu,
        "impus": registration.impus,
        "sr": registration.service_route,
        "path": registration.path,
        "b": [[b.uri, b.expires + clock_offset] for b in registration.bindings],
        "ipsec": registration.protected,
    }, separators=(",", ":")).encode()


def decode_registration(data: bytes, clock_offset: float) -> Registration:
    """The record `encode_registration` wrote, times back on the loop clock (wall time
    minus `clock_offset`). Raises ValueError for bytes that are no such record."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("v") != RECORD_VERSION:
            raise ValueError("not a registration record of this version")
        transport, host, port = doc["flow"]
        bindings = tuple(Binding(_text(uri), float(at) - clock_offset) for uri, at in doc["b"])
        registration = Registration(
            flow=(_text(transport), _text(host), _port(port)),
            bindings=bindings,
            impus=tuple(_text(i) for i in doc["impus"]),
            service_route=tuple(_text(r) for r in doc["sr"]),
            path=_text(doc["path"]),
            registered_impu=_text(doc["impu"]),
            protected=doc["ipsec"] is True,
        )
        _ = registration.key  # the identity parses
    except ValueError:
        raise
    except Exception as exc:  # wrong shapes and types, unparsable URIs alike
        raise ValueError(f"bad registration record: {exc!r}") from None
    if not bindings:
        raise ValueError("bad registration record: no binding")
    return registration


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _port(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise ValueError(f"bad port {value!r}")
    return value


# -- the in-memory store ---------------------------------------------------------------
class MemoryRegistrationStore:
    """The records by key, an index per lookup (insertion-ordered dicts used as ordered
    sets of keys) and a deadline heap of expiry times. `journal`: see RegistrationStore
    (None: nothing recorded, the default)."""

    def __init__(self) -> None:
        self.journal: ChangeSink | None = None
        self.clock_offset = 0.0
        self._records: dict[RegKey, Registration] = {}
        self._by_flow: dict[FlowKey, dict[str, None]] = {}  # identity keys
        self._by_impu: dict[str, dict[RegKey, None]] = {}
        self._by_contact: dict[str, dict[RegKey, None]] = {}
        self._expiry: DeadlineHeap[RegKey] = DeadlineHeap()

    def __len__(self) -> int:
        return len(self._records)

    def binding_count(self) -> int:
        return sum(len(r.bindings) for r in self._records.values())

    def save(self, registration: Registration) -> None:
        key = registration.key
        old = self._records.get(key)
        if old is None:
            self._by_flow.setdefault(key[0], {})[key[1]] = None
        self._records[key] = registration
        self._reindex(key, old, registration)
        self._expiry.set(key, registration.expires)
        if self.journal is not None:
            self._journal_save(self.journal, key, registration)

    def remove(self, key: RegKey) -> Registration | None:
        registration = self._records.pop(key, None)
        if registration is None:
            return None
        self._reindex(key, registration, None)
        on_flow = self._by_flow[key[0]]
        del on_flow[key[1]]
        if not on_flow:
            del self._by_flow[key[0]]
        self._expiry.discard(key)
        if self.journal is not None:
            self.journal.delete(JOURNAL_KIND, record_key(key))
        return registration

    def get(self, key: RegKey) -> Registration | None:
        return self._records.get(key)

    def by_flow(self, flow: FlowKey) -> list[Registration]:
        return [self._records[(flow, k)] for k in self._by_flow.get(flow, ())]

    def by_impu(self, impu: str) -> list[Registration]:
        return [self._records[k] for k in self._by_impu.get(impu_key(impu), ())]

    def newest_on_flow(self, flow: FlowKey, now: float) -> Registration | None:
        for identity in reversed(self._by_flow.get(flow, {})):
            registration = self._records[(flow, identity)]
            if registration.expires > now:
                return registration
        return None

    def by_contact(self, contact: str) -> Registration | None:
        keys = self._by_contact.get(uri_key(contact))
        return self._records[next(reversed(keys))] if keys else None

    def all_by_contact(self, contact: str) -> list[Registration]:
        return [self._records[k] for k in self._by_contact.get(uri_key(contact), ())]

    def next_expiry(self) -> float | None:
        return self._expiry.peek()

    def expire(self, now: float) -> list[Registration]:
        out: list[Registration] = []
        for key in self._expiry.pop_due(now):
            removed = self.remove(key)
            if removed is not None:
                out.append(removed)
        return out

    def _journal_save(self, journal: ChangeSink, key: RegKey,
                      registration: Registration) -> None:
        """Serialised here, at save time: once per REGISTER's 2xx, a few µs. A protected
        record is deleted instead: its SAs die with the process, nothing to restore."""
        if registration.protected:
            journal.delete(JOURNAL_KIND, record_key(key))
        else:
            journal.put(JOURNAL_KIND, record_key(key),
                        encode_registration(registration, self.clock_offset))

    def _reindex(self, key: RegKey, before: Registration | None,
                 after: Registration | None) -> None:
        """Move record `key` in the identity and contact indexes from what `before` held
        to what `after` holds; what both hold keeps its place. A refresh (most saves)
        keeps its identities: their keys are not worked out again."""
        same_identities = before is not None and after is not None \
            and before.impus == after.impus and before.registered_impu == after.registered_impu
        for index, values in ((self._by_impu, _identity_keys),
                              (self._by_contact, _contact_keys)):
            if same_identities and index is self._by_impu:
                continue
            old = values(before) if before is not None else set()
            new = values(after) if after is not None else set()
            for value in old - new:
                keys = index[value]
                del keys[key]
                if not keys:
                    del index[value]
            for value in new - old:
                index.setdefault(value, {})[key] = None


def _identity_keys(registration: Registration) -> set[str]:
    return registration.identity_keys


def _contact_keys(registration: Registration) -> set[str]:
    return {b.key for b in registration.bindings}
