"""What the P-CSCF remembers about registered UEs, behind a small store interface.

TS 24.229 §5.2.2.1: once a 200 (OK) to a REGISTER passes, the P-CSCF keeps, per UE,
the contacts and their expiry, the Service-Route list (RFC 3608), the P-Associated-URI
set (the first entry is the default public identity) and the Path it inserted. A UE is
identified by the *flow* its REGISTER came in on — transport, source address and port
(on TCP that names the connection) — so later requests are accepted only from that flow
(§5.2.6.3) and requests towards the UE are sent back over it.

`RegistrationStore` is the interface; `MemoryRegistrationStore` is the default. Records
are frozen, plain data (strings, numbers, tuples), so an external store (e.g. Redis)
can hold them; only `Registration.conn`, the live TCP connection, is process-local and
not part of a record's identity (the transport also finds a connection by address).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from ims_core.deadlines import DeadlineHeap
from ims_core.identity import impu_key, uri_key

FlowKey = tuple[str, str, int]  # (transport, host, port) of the UE's registered flow


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact: the URI as the UE wrote it and when it lapses."""

    uri: str
    expires: float


@dataclass(frozen=True, slots=True)
class Registration:
    """A registered UE (one flow). `impus` is the P-Associated-URI set in order (default
    identity first, TS 24.229 §5.2.2.5) followed by the registered IMPU if it was missing;
    `service_route` holds the Service-Route values as received (RFC 3608 §6)."""

    flow: FlowKey
    bindings: tuple[Binding, ...]
    impus: tuple[str, ...]
    service_route: tuple[str, ...]
    path: str
    registered_impu: str
    conn: object | None = field(default=None, compare=False)

    @property
    def expires(self) -> float:
        return max(b.expires for b in self.bindings)

    @property
    def default_impu(self) -> str:
        return self.impus[0] if self.impus else self.registered_impu

    def binding_for(self, contact: str) -> Binding | None:
        key = uri_key(contact)
        for b in self.bindings:
            if uri_key(b.uri) == key:
                return b
        return None


class RegistrationStore(Protocol):
    """Registration state of a P-CSCF. Lookups are O(1); `expire` pops due records."""

    def save(self, registration: Registration) -> None:
        """Insert or replace the record of `registration.flow`."""

    def remove(self, flow: FlowKey) -> Registration | None: ...

    def by_flow(self, flow: FlowKey) -> Registration | None: ...

    def by_impu(self, impu: str) -> list[Registration]:
        """Every UE registered with public identity `impu` (compared by
        `ims_core.identity.impu_key`)."""
        ...

    def by_contact(self, contact: str) -> Registration | None:
        """The UE that registered contact URI `contact`, compared as URIs (RFC 3261
        §19.1.4, `ims_core.identity.uri_key`): a request the S-CSCF sends to the contact
        as registered finds it; an absent port is not 5060."""
        ...

    def next_expiry(self) -> float | None: ...

    def expire(self, now: float) -> list[Registration]:
        """Remove and return the records whose every binding has lapsed by `now`."""
        ...

    def __len__(self) -> int: ...


def drop_bindings(store: RegistrationStore, registration: Registration,
                  contacts: Collection[str]) -> Registration | None:
    """Remove the bindings whose `uri_key` is in `contacts` from `registration` in
    `store`; the record goes when none is left. Returns the record as it now stands
    (None: removed)."""
    rest = tuple(b for b in registration.bindings if uri_key(b.uri) not in contacts)
    if len(rest) == len(registration.bindings):
        return registration
    if not rest:
        store.remove(registration.flow)
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
        store.remove(registration.flow)
        return None
    kept = replace(registration, impus=tuple(
        i for i, k in zip(registration.impus, keys, strict=True) if k not in identities))
    store.save(kept)
    return kept


# -- the in-memory store ---------------------------------------------------------------
class MemoryRegistrationStore:
    """Dicts for the three lookups and a deadline heap of expiry times."""

    def __init__(self) -> None:
        self._by_flow: dict[FlowKey, Registration] = {}
        self._by_impu: dict[str, dict[FlowKey, None]] = {}
        self._by_contact: dict[str, FlowKey] = {}
        self._expiry: DeadlineHeap[FlowKey] = DeadlineHeap()

    def __len__(self) -> int:
        return len(self._by_flow)

    def save(self, registration: Registration) -> None:
        flow = registration.flow
        if flow in self._by_flow:
            self._unindex(self._by_flow[flow])
        self._by_flow[flow] = registration
        for key in _impu_keys(registration):
            self._by_impu.setdefault(key, {})[flow] = None
        for b in registration.bindings:
            self._by_contact[uri_key(b.uri)] = flow
        self._expiry.set(flow, registration.expires)

    def remove(self, flow: FlowKey) -> Registration | None:
        registration = self._by_flow.pop(flow, None)
        if registration is not None:
            self._unindex(registration)
            self._expiry.discard(flow)
        return registration

    def by_flow(self, flow: FlowKey) -> Registration | None:
        return self._by_flow.get(flow)

    def by_impu(self, impu: str) -> list[Registration]:
        flows = self._by_impu.get(impu_key(impu), {})
        return [self._by_flow[f] for f in flows]

    def by_contact(self, contact: str) -> Registration | None:
        flow = self._by_contact.get(uri_key(contact))
        return None if flow is None else self._by_flow.get(flow)

    def next_expiry(self) -> float | None:
        return self._expiry.peek()

    def expire(self, now: float) -> list[Registration]:
        out: list[Registration] = []
        for flow in self._expiry.pop_due(now):
            removed = self.remove(flow)
            if removed is not None:
                out.append(removed)
        return out

    def _unindex(self, registration: Registration) -> None:
        flow = registration.flow
        for key in _impu_keys(registration):
            flows = self._by_impu.get(key)
            if flows is not None:
                flows.pop(flow, None)
                if not flows:
                    del self._by_impu[key]
        for b in registration.bindings:
            key = uri_key(b.uri)
            if self._by_contact.get(key) == flow:
                del self._by_contact[key]


def _impu_keys(registration: Registration) -> Iterable[str]:
    keys = {impu_key(i) for i in registration.impus}
    keys.add(impu_key(registration.registered_impu))
    return keys
