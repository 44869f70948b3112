"""The P-CSCF's registrations across restarts: the persisted form of a record, what the
store journals, and what `restore` brings back (pcscf/persist.py), with a fake clock and
an in-memory backend."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from ims_core.pcscf import PcscfCore, RegEventConfig
from ims_core.pcscf.persist import RESUBSCRIBE_DELAY, RESUBSCRIBE_SPREAD
from ims_core.pcscf.registrations import (
    JOURNAL_KIND,
    Binding,
    MemoryRegistrationStore,
    Registration,
    decode_registration,
    drop_bindings,
    encode_registration,
    record_key,
)
from ims_core.persist import Change, Journal, Persistent, SqliteBackend
from ims_core.sip.addressing import Destination
from tests.sipmsg import parse_request, requests, responses

from .messages import (
    ALICE,
    CONTACT,
    DOMAIN,
    IMPU,
    PATH_ROUTE,
    SCSCF,
    SERVICE_ROUTE,
    TEL,
    UE,
    Harness,
    config,
    request,
    source_for,
)
from .test_regevent import subscribes

WALL = 1_780_000_000.0  # the wall clock when the first process ran (epoch seconds)
IMPU2 = f"sip:001010000000002@{DOMAIN}"
UE2 = ("198.51.100.8", 5080)


def record(**kw: object) -> Registration:
    values: dict[str, object] = {
        "flow": ("TCP", "2001:db8::7", 40123),
        "bindings": (Binding("sip:ue@[2001:db8::7]:40123;transport=tcp", 1600.25),
                     Binding("sip:+15550000001@[2001:db8::7]:5060;ob", 1300.5)),
        "impus": (IMPU, TEL),
        "service_route": ("<sip:orig@192.0.2.30:5060;lr>", "<sip:as.example.net;lr>"),
        "path": "<sip:term@192.0.2.10:5060;lr>",
        "registered_impu": IMPU,
        "conn": object(),
    }
    values.update(kw)
    return Registration(**values)  # type: ignore[arg-type]


class MemoryBackend:
    """`ims_core.persist.Backend` in a dict; counts its `apply` calls."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], bytes] = {}
        self.applied: list[list[Change]] = []

    def load(self, kind: str) -> list[tuple[str, bytes]]:
        return sorted((k, v) for (c, k), v in self.rows.items() if c == kind)

    def apply(self, changes: Sequence[Change]) -> None:
        self.applied.append(list(changes))
        for c in changes:
            if c.value is None:
                self.rows.pop((c.kind, c.key), None)
            else:
                self.rows[(c.kind, c.key)] = c.value

    def close(self) -> None:
        pass


def drain(journal: Journal, backend: MemoryBackend) -> list[Change]:
    changes = journal.take()
    backend.apply(changes)
    return changes


def started(backend: MemoryBackend, now: float, wall: float) -> tuple[Harness, Journal, int]:
    """A fresh P-CSCF process as the runner starts it: restore, then the journal."""
    h = Harness()
    h.now = now
    count = h.core.restore(backend, wall, now)
    journal = Journal()
    h.core.attach_journal(journal)
    return h, journal, count


# -- the persisted form -----------------------------------------------------------------
def test_a_record_round_trips_with_every_binding_but_its_connection() -> None:
    reg = record()
    back = decode_registration(encode_registration(reg, 0.0), 0.0)
    assert back == reg
    assert back.bindings == reg.bindings  # uri, expiry and the derived key
    assert back.conn is None and back.protected is False
    assert back.key == reg.key


def test_times_are_written_on_the_wall_clock_and_read_back_on_the_new_loop_clock() -> None:
    reg = record()
    data = encode_registration(reg, WALL - 1000.0)  # the old loop read 1000 at WALL
    doc = json.loads(data)
    assert [at for _, at in doc["b"]] == [WALL + 600.25, WALL + 300.5]
    back = decode_registration(data, WALL + 60.0 - 5.0)  # a minute later, the loop at 5
    assert [b.expires for b in back.bindings] == [pytest.approx(545.25, abs=1e-6),
                                                  pytest.approx(245.5, abs=1e-6)]
    assert replace(back, bindings=reg.bindings) == reg


def test_a_protected_record_says_so() -> None:
    back = decode_registration(encode_registration(record(protected=True), 0.0), 0.0)
    assert back.protected is True


@pytest.mark.parametrize("data", [
    b"", b"\xff", b"[]", b"{}", b"null",
    b'{"v":2,"flow":["UDP","h",1],"impu":"sip:a@b","impus":[],"sr":[],"path":"",'
    b'"b":[["sip:a@h",1.0]],"ipsec":false}',
    b'{"v":1,"flow":["UDP","h","1"],"impu":"sip:a@b","impus":[],"sr":[],"path":"",'
    b'"b":[["sip:a@h",1.0]],"ipsec":false}',
    b'{"v":1,"flow":["UDP","h",1],"impu":"not a uri","impus":[],"sr":[],"path":"",'
    b'"b":[["sip:a@h",1.0]],"ipsec":false}',
    b'{"v":1,"flow":["UDP","h",1],"impu":"sip:a@b","impus":[],"sr":[],"path":"",'
    b'"b":[],"ipsec":false}',
    b'{"v":1,"flow":["UDP","h",1],"impu":"sip:a@b","impus":[1],"sr":[],"path":"",'
    b'"b":[["sip:a@h",1.0]],"ipsec":false}',
    b'{"v":1,"flow":["UDP","h",1],"impu":"sip:a@b","impus":[],"sr":[],"path":"",'
    b'"b":[["sip:a@h","soon"]],"ipsec":false}',
])
def test_what_is_no_record_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_registration(data, 0.0)


def test_record_keys_are_distinct_and_stable() -> None:
    a, b = record(), record(flow=("TCP", "2001:db8::7", 40124))
    c = record(registered_impu=TEL)
    keys = {record_key(r.key) for r in (a, b, c)}
    assert len(keys) == 3
    assert record_key(a.key) == f"TCP|2001:db8::7|40123|{a.key[1]}"


# -- the journal ------------------------------------------------------------------------
def test_saves_removals_and_expiry_are_journalled() -> None:
    store, journal = MemoryRegistrationStore(), Journal()
    store.journal, store.clock_offset = journal, WALL
    reg = record()
    key = record_key(reg.key)
    store.save(reg)
    store.save(replace(reg, impus=(IMPU,)))  # a refresh: the last write wins
    [put] = journal.take()
    assert (put.kind, put.key) == (JOURNAL_KIND, key)
    assert put.value is not None and decode_registration(put.value, WALL).impus == (IMPU,)
    store.remove(reg.key)
    assert journal.take() == [Change(JOURNAL_KIND, key, None)]
    store.save(reg)
    assert store.expire(1700.0) == [reg]
    assert [(c.key, c.value) for c in journal.take()][-1] == (key, None)
    store.save(reg)
    drop_bindings(store, reg, {b.key for b in reg.bindings})
    assert journal.take() == [Change(JOURNAL_KIND, key, None)]


def test_a_protected_registration_is_deleted_not_written() -> None:
    store, journal = MemoryRegistrationStore(), Journal()
    store.journal = journal
    reg = record(protected=True)
    store.save(reg)
    assert journal.take() == [Change(JOURNAL_KIND, record_key(reg.key), None)]


def test_the_core_journals_registration_and_de_registration_but_not_departed() -> None:
    backend = MemoryBackend()
    h, journal, count = started(backend, 1000.0, WALL)
    assert count == 0 and isinstance(h.core, Persistent)
    h.register()
    [put] = journal.take()
    reg = h.core.store.by_flow(("UDP", *UE))[0]
    assert put.value is not None and decode_registration(put.value, WALL - 1000.0) == reg
    assert h.core.regsub.departed.journal is None  # the grace bindings stay in memory
    h.register(expires=0, reg_expires=0, call_id="dereg@ue")
    assert journal.take() == [Change(JOURNAL_KIND, record_key(reg.key), None)]


# -- restore ----------------------------------------------------------------------------
def two_registered(backend: MemoryBackend) -> Harness:
    """A first process that registered two UEs (one over TCP) and flushed."""
    h, journal, _ = started(backend, 1000.0, WALL)
    h.register()
    h.register(ue=UE2, transport="TCP", conn=object(), to=IMPU2, user="001010000000002",
               associated=(IMPU2,), call_id="reg-2@ue", reg_expires=3600)
    drain(journal, backend)
    assert len(backend.rows) == 2
    return h


def test_restore_brings_back_the_records_on_the_new_clock() -> None:
    backend = MemoryBackend()
    first = two_registered(backend)
    # SIGKILL; a new process 30 s later whose loop clock reads 7.
    h, journal, count = started(backend, 7.0, WALL + 30.0)
    assert count == 2 and len(h.core.store) == 2
    for old in first.core.store.by_flow(("UDP", *UE)) + first.core.store.by_flow(("TCP", *UE2)):
        new = h.core.store.get(old.key)
        assert new is not None and new.conn is None
        assert replace(new, bindings=old.bindings) == old
        assert [b.expires for b in new.bindings] == \
            [pytest.approx(b.expires - 1000.0 - 30.0 + 7.0, abs=1e-6) for b in old.bindings]
    assert journal.take() == []  # restoring writes nothing back


def test_restore_drops_what_lapsed_or_does_not_decode_and_deletes_it() -> None:
    backend = MemoryBackend()
    two_registered(backend)
    backend.rows[(JOURNAL_KIND, "junk")] = b"{"
    protected = record(flow=("UDP", "198.51.100.9", 5090), protected=True,
                       bindings=(Binding("sip:p@198.51.100.9:5090", 5000.0),))
    backend.rows[(JOURNAL_KIND, record_key(protected.key))] = \
        encode_registration(protected, WALL - 1000.0)
    # 700 s later: the first UE's 600 s are over, the second's 3600 s are not.
    h, _, count = started(backend, 50.0, WALL + 700.0)
    assert count == 1 and len(h.core.store) == 1
    assert h.core.store.by_flow(("UDP", *UE)) == []
    assert [r.registered_impu for r in h.core.store.by_flow(("TCP", *UE2))] == [IMPU2]
    assert len(backend.rows) == 1  # the lapsed, the junk and the protected are gone


def test_restore_drops_lapsed_bindings_of_a_live_record() -> None:
    backend = MemoryBackend()
    reg = record(bindings=(Binding("sip:a@198.51.100.9:5090", 1100.0),
                           Binding("sip:b@198.51.100.9:5090", 1900.0)))
    backend.rows[(JOURNAL_KIND, record_key(reg.key))] = encode_registration(reg, WALL - 1000.0)
    h, _, count = started(backend, 0.0, WALL + 200.0)
    [back] = h.core.store.by_flow(reg.flow)
    assert count == 1 and [b.uri for b in back.bindings] == ["sip:b@198.51.100.9:5090"]


def test_restored_expiry_is_armed_and_journalled() -> None:
    backend = MemoryBackend()
    two_registered(backend)
    h, journal, _ = started(backend, 0.0, WALL + 10.0)
    timer = h.core.get_timer()
    assert timer is not None and timer <= RESUBSCRIBE_DELAY  # the first SUBSCRIBE, then expiry
    h.advance(600.0)  # the UDP UE's 600 s end 590 s after the restart
    assert h.core.store.by_flow(("UDP", *UE)) == []
    drain(journal, backend)
    assert len(backend.rows) == 1


def test_a_restored_ue_may_originate_and_be_reached_from_the_core() -> None:
    backend = MemoryBackend()
    two_registered(backend)
    h, _, _ = started(backend, 0.0, WALL + 10.0)
    req = request("INVITE", call_id="after-restart")
    sends = h.rx(req, source_for(req))
    [fwd] = requests(sends)
    assert fwd.dest == Destination("UDP", *SCSCF)
    assert parse_request(fwd.data).headers.values("route") == [SERVICE_ROUTE]
    # The S-CSCF of the restored Service-Route is a core node again: its request via our
    # Path reaches the UE over its flow.
    term = request("INVITE", uri=CONTACT, from_uri=ALICE, ue=SCSCF, extra=PATH_ROUTE,
                   call_id="term-after-restart", branch="z9hG4bKterm1")
    sends = h.rx(term, source_for(term, SCSCF))
    assert [s.dest for s in requests(sends)] == [Destination("UDP", *UE)]
    assert [r.status for r in responses(sends)] == [100]


def test_a_restored_tcp_ue_is_reached_over_its_flow_address() -> None:
    backend = MemoryBackend()
    two_registered(backend)
    h, _, _ = started(backend, 0.0, WALL + 10.0)
    contact = f"sip:001010000000002@{UE2[0]}:{UE2[1]}"
    term = request("MESSAGE", uri=contact, from_uri=ALICE, ue=SCSCF, extra=PATH_ROUTE,
                   call_id="term-tcp", branch="z9hG4bKterm2")
    [fwd] = requests(h.rx(term, source_for(term, SCSCF)))
    assert fwd.dest == Destination("TCP", *UE2)  # no connection yet: the transport opens one


def test_restore_subscribes_afresh_per_identity_spread_after_start() -> None:
    backend = MemoryBackend()
    two_registered(backend)
    h, _, _ = started(backend, 0.0, WALL + 10.0)
    assert subscribes(h.advance(RESUBSCRIBE_DELAY - 0.01)) == []  # nothing before start
    sent = [r for r, _ in subscribes(h.advance(RESUBSCRIBE_SPREAD))]
    assert sorted(str(r.uri) for r in sent) == sorted([IMPU, IMPU2])
    assert len(h.core.regsub) == 2
    assert all(r.headers.values("route") == [SERVICE_ROUTE] for r in sent)


def test_restore_subscribes_to_nothing_when_configured_off() -> None:
    backend = MemoryBackend()
    two_registered(backend)
    core = PcscfCore(config(regevent=RegEventConfig(subscribe=False)))
    h = Harness(core)
    h.now = 0.0
    assert core.restore(backend, WALL + 10.0, 0.0) == 2
    assert subscribes(h.advance(RESUBSCRIBE_DELAY + RESUBSCRIBE_SPREAD)) == []


def test_records_go_through_sqlite(tmp_path: Path) -> None:
    backend = SqliteBackend(str(tmp_path / "pcscf-state.sqlite"))
    try:
        h, journal, _ = started(MemoryBackend(), 1000.0, WALL)
        h.register()
        backend.apply(journal.take())
        again = Harness()
        assert again.core.restore(backend, WALL, 0.0) == 1
        [reg] = again.core.store.by_flow(("UDP", *UE))
        assert replace(reg, bindings=()) == replace(h.core.store.by_flow(("UDP", *UE))[0],
                                                    bindings=())
    finally:
        backend.close()
