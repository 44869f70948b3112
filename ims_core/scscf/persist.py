"""The S-CSCF's registrations across restarts (``[persist]``, :mod:`ims_core.persist`).

What survives: every registration (the implicit set, barring, Service-Route, the profile
as its IMSSubscription document, each binding with its expiry, Path, Call-ID/CSeq and
flow) and its reg-event subscriptions (their dialogs: CSeqs, route set, and the next
reginfo version). Pending challenges do not: a UE answering one after a restart is
challenged again (the unknown nonce gets a fresh MAR, TS 24.229 §5.4.1.2.1).

A record is JSON of its dataclass fields, times as wall-clock epoch seconds; it is
re-encoded from the live object when the writer takes it (a registration refreshed many
times between two flushes is encoded once). A crash loses at most the last
``max_delay_ms`` of changes: a UE registered in that window is unknown after the
restart and registers again from scratch.

Registrations that expired while the node was down are not restored: once the Diameter
connection is open the core sends SAR TIMEOUT_DEREGISTRATION for each (TS 29.228 §6.1.2,
as if it had been up), so the HSS does not keep naming this S-CSCF for a user nobody
serves (terminating requests would otherwise reach us only to fail).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ims_core import log
from ims_core.persist import Backend
from ims_core.sip import Dialog
from ims_core.userdata import UserDataError
from ims_core.userdata import build as build_user_data
from ims_core.userdata import parse as parse_user_data

from .store import KIND, Binding, Registration, RegistrationStore, Subscription

__all__ = ["KIND", "Clock", "Restored", "decode", "encode", "load", "restore"]
VERSION = 1
_log = log.get("scscf")


@dataclass(frozen=True, slots=True)
class Clock:
    """``wall - loop``: loop time (monotonic, restarts with the process) to epoch time."""

    offset: float = 0.0

    def wall(self, loop_time: float) -> float:
        return loop_time + self.offset

    def loop(self, wall_time: float) -> float:
        return wall_time - self.offset


def encode(reg: Registration, clock: Clock) -> bytes:
    doc = {
        "v": VERSION,
        "impu": reg.impu,
        "impi": reg.impi,
        "identities": list(reg.identities),
        "barred": sorted(reg.barred),
        "service_route": reg.service_route,
        "profile": build_user_data(reg.profile).decode() if reg.profile is not None else None,
        "bindings": {key: _binding(b, clock) for key, b in reg.bindings.items()},
        "subscriptions": {key: _subscription(s, clock) for key, s in reg.subscriptions.items()},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _binding(b: Binding, clock: Clock) -> dict[str, Any]:
    return {"uri": b.uri, "expires_at": clock.wall(b.expires_at), "impi": b.impi,
            "call_id": b.call_id, "cseq": b.cseq, "q": b.q,
            "params": [list(p) for p in b.params], "path": list(b.path),
            "received": b.received}


def _subscription(s: Subscription, clock: Clock) -> dict[str, Any]:
    d = s.dialog
    return {"key": s.key, "resource": s.resource, "subscriber": list(s.subscriber),
            "dialog": {"call_id": d.call_id, "local_uri": d.local_uri,
                       "local_tag": d.local_tag, "remote_uri": d.remote_uri,
                       "remote_target": d.remote_target, "route_set": list(d.route_set),
                       "remote_tag": d.remote_tag, "local_cseq": d.local_cseq,
                       "remote_cseq": d.remote_cseq},
            "transport": s.transport, "event": s.event,
            "expires_at": clock.wall(s.expires_at), "version": s.version}


def decode(data: bytes, clock: Clock) -> Registration:
    """The registration *data* holds; ValueError (or KeyError, TypeError) when it is not
    one this version wrote."""
    doc = json.loads(data)
    if doc.get("v") != VERSION:
        raise ValueError(f"record version {doc.get('v')!r}")
    profile = doc["profile"]
    return Registration(
        impu=str(doc["impu"]), impi=str(doc["impi"]),
        identities=tuple(str(i) for i in doc["identities"]),
        barred=frozenset(str(i) for i in doc["barred"]),
        service_route=str(doc["service_route"]),
        profile=parse_user_data(profile) if profile is not None else None,
        bindings={str(k): _load_binding(v, clock) for k, v in doc["bindings"].items()},
        subscriptions={str(k): _load_subscription(v, clock)
                       for k, v in doc["subscriptions"].items()},
    )


def _load_binding(d: dict[str, Any], clock: Clock) -> Binding:
    return Binding(uri=str(d["uri"]), expires_at=clock.loop(float(d["expires_at"])),
                   impi=str(d["impi"]), call_id=str(d["call_id"]), cseq=int(d["cseq"]),
                   q=None if d["q"] is None else str(d["q"]),
                   params=tuple((str(n), None if v is None else str(v))
                                for n, v in d["params"]),
                   path=tuple(str(p) for p in d["path"]), received=str(d["received"]))


def _load_subscription(d: dict[str, Any], clock: Clock) -> Subscription:
    g = d["dialog"]
    dialog = Dialog(call_id=str(g["call_id"]), local_uri=str(g["local_uri"]),
                    local_tag=str(g["local_tag"]), remote_uri=str(g["remote_uri"]),
                    remote_target=str(g["remote_target"]),
                    route_set=tuple(str(r) for r in g["route_set"]),
                    remote_tag=None if g["remote_tag"] is None else str(g["remote_tag"]),
                    local_cseq=int(g["local_cseq"]),
                    remote_cseq=None if g["remote_cseq"] is None else int(g["remote_cseq"]))
    return Subscription(key=str(d["key"]), resource=str(d["resource"]),
                        subscriber=tuple(str(s) for s in d["subscriber"]), dialog=dialog,
                        transport=str(d["transport"]), event=str(d["event"]),
                        expires_at=clock.loop(float(d["expires_at"])),
                        version=int(d["version"]))


def load(backend: Backend, clock: Clock) -> tuple[list[Registration], list[str]]:
    """Every stored registration, loop times; and the keys of records that could not be
    read (logged; the caller deletes them)."""
    regs: list[Registration] = []
    bad: list[str] = []
    for key, data in backend.load(KIND):
        try:
            regs.append(decode(data, clock))
        except (ValueError, KeyError, TypeError, AttributeError, UserDataError) as exc:
            _log.warning("scscf.restore_bad_record", key=key, error=str(exc))
            bad.append(key)
    return regs, bad


@dataclass(slots=True)
class Restored:
    """What :func:`restore` found: how many registrations are back in the store, those
    whose every binding expired while the node was down (for SAR TIMEOUT_DEREGISTRATION),
    and the keys of records to delete from the backend (unreadable or lapsed)."""

    live: int
    lapsed: list[Registration]
    stale: list[str]


def restore(store: RegistrationStore, backend: Backend, clock: Clock, now: float) -> Restored:
    """Load every registration into *store* (before a journal is attached: nothing is
    written back), re-arming its expiry and subscription deadlines in loop time."""
    regs, bad = load(backend, clock)
    lapsed = []
    for reg in regs:
        if max((b.expires_at for b in reg.bindings.values()), default=now) <= now:
            lapsed.append(reg)
        else:
            store.save(reg)
    _log.info("scscf.restored", registrations=len(regs) - len(lapsed), lapsed=len(lapsed),
              unreadable=len(bad))
    return Restored(len(regs) - len(lapsed), lapsed, bad + [r.impu for r in lapsed])
