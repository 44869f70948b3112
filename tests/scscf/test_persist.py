"""The S-CSCF's registrations across a restart ([persist]): the record codec (wall-clock
times), the journal the store writes, and a core restored from a backend — it routes to
the restored contact through its Path, takes the UE's re-registration as a refresh
(SAR RE_REGISTRATION), keeps expiring, continues the reg-event dialogs, and de-registers
at the HSS what expired while it was down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims_core.persist import Backend, Change, Journal, Persistent, SqliteBackend
from ims_core.scscf import ScscfCore
from ims_core.scscf.cx import AssignmentType
from ims_core.scscf.persist import KIND, Clock, decode, encode
from ims_core.sip import AuthHeader

from .helpers import IMPU, Ue, challenge_of
from .regevent_peers import RegHarness, Watcher, body, register
from .test_routing import invite, rx

WALL0 = 1_800_000_000.0  # the wall clock when the first core started


class Node:
    """One S-CSCF process after another on the same HSS and backend; each new one has a
    loop clock of its own (it restarts with the process), the wall clock goes on."""

    def __init__(self, tmp_path: Path) -> None:
        self.h = RegHarness(tmp_path)
        self.backend: Backend = SqliteBackend(str(tmp_path / "scscf-state.sqlite"))
        self.loop_start = self.h.now
        self.journal = self.start(WALL0)

    def wall(self) -> float:
        return self.wall_start + (self.h.now - self.loop_start)

    def start(self, wall: float) -> Journal:
        self.wall_start = wall
        self.restored = self.h.core.restore(self.backend, wall, self.h.now)
        journal = Journal()
        self.h.core.attach_journal(journal)
        return journal

    def flush(self) -> None:
        self.backend.apply(self.journal.take())

    def restart(self, down: float, loop_now: float = 50.0) -> int:
        self.flush()
        wall = self.wall() + down
        self.h.core = ScscfCore(self.h.core.cfg, rng=self.h.rng.randbytes)
        self.h.now = self.loop_start = loop_now
        self.journal = self.start(wall)
        return self.restored

    def close(self) -> None:
        self.backend.close()
        self.h.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    yield n
    n.close()


def test_the_core_is_persistent() -> None:
    assert issubclass(ScscfCore, Persistent)


def test_record_round_trip_converts_times(node: Node) -> None:
    register(node.h)
    watcher = Watcher()
    watcher.join(node.h)
    reg = node.h.core.store.get(IMPU)
    assert reg is not None and reg.profile is not None and reg.subscriptions
    data = encode(reg, Clock(1e9))
    doc = json.loads(data)
    [binding] = reg.bindings.values()
    [stored] = doc["bindings"].values()
    assert stored["expires_at"] == binding.expires_at + 1e9  # wall-clock epoch seconds
    assert decode(data, Clock(1e9)) == reg  # every field, the profile and dialogs too
    later = decode(data, Clock(1e9 - 100))  # a loop clock 100 s behind
    [moved] = later.bindings.values()
    assert moved.expires_at == pytest.approx(binding.expires_at + 100)
    [sub] = later.subscriptions.values()
    assert sub.expires_at == pytest.approx(next(iter(reg.subscriptions.values())).expires_at
                                           + 100)


def test_the_store_journals_saves_and_removals(node: Node) -> None:
    register(node.h)
    changes = node.journal.take()
    assert [(c.kind, c.key) for c in changes] == [(KIND, IMPU)]
    assert changes[0].value is not None and decode(changes[0].value, Clock()).impu == IMPU
    ue = node.h.ue
    ok = node.h.send(ue.register(authorization=ue.answer(_challenge(node)), expires=0))
    assert ok.status == 200
    assert node.journal.take() == [Change(KIND, IMPU, None)]


def _challenge(node: Node) -> AuthHeader:
    r401 = node.h.send(node.h.ue.register(authorization=node.h.ue.empty_authorization()))
    assert r401.status == 401
    return challenge_of(r401)


def test_after_a_restart_the_ue_is_reached_refreshes_and_expires(node: Node) -> None:
    h = node.h
    register(h, expires=600)
    h.tick(5)
    assert node.restart(down=10) == 1
    [b] = h.core.store.get(IMPU).bindings.values()  # type: ignore[union-attr]
    assert b.remaining(h.now) == 600 - 5 - 10  # expiry kept in wall-clock time
    # A terminating request goes to the contact through the P-CSCF on its Path.
    [fwd], _ = rx(h, invite(IMPU))  # rx: each request went to the P-CSCF
    assert fwd.uri_text == h.ue.contact
    assert fwd.headers.values("route") == ["<sip:term@127.0.0.1:5060;lr>"]
    # The UE's refresh (same Call-ID, next CSeq) is a re-registration, not a new one.
    sars = len(h.hss.sar_types())
    assert register(h, expires=600).status == 200
    assert h.hss.sar_types()[sars:] == [AssignmentType.RE_REGISTRATION]
    h.tick(599)
    assert h.hss.sar_types()[sars:] == [AssignmentType.RE_REGISTRATION]
    h.tick(2)
    assert h.hss.sar_types()[-1] == AssignmentType.TIMEOUT_DEREGISTRATION
    assert h.core.store.get(IMPU) is None
    node.flush()
    assert node.backend.load(KIND) == []


def test_expiry_restored_fires_without_a_refresh(node: Node) -> None:
    register(node.h, expires=600)
    node.restart(down=100)
    node.h.tick(499)
    assert node.h.core.store.get(IMPU) is not None
    node.h.tick(2)
    assert node.h.core.store.get(IMPU) is None
    assert node.h.hss.sar_types()[-1] == AssignmentType.TIMEOUT_DEREGISTRATION


def test_reg_event_dialogs_continue_after_a_restart(node: Node) -> None:
    h = node.h
    register(h)
    watcher = Watcher()
    first = watcher.join(h)
    assert body(first).version == 0
    node.restart(down=3)
    assert h.core.store.subscription_count == 1
    # A second contact: the subscriber hears of it in the same dialog, next CSeq/version.
    register(h, contact="<sip:ue1-second@192.0.2.51:5060>")
    [(notify, _)] = h.notifies()
    assert notify.call_id == first.call_id and notify.from_tag == first.from_tag
    assert notify.cseq.seq == first.cseq.seq + 1
    assert body(notify).version == 1
    h.reply(notify, 200)
    # A refresh inside the restored dialog is accepted (its remote CSeq was kept).
    ok = h.rx_from(watcher.subscribe(), watcher.source)
    assert ok.status == 200


def test_what_expired_while_down_is_deregistered_once_diameter_is_up(node: Node) -> None:
    h = node.h
    register(h, expires=600)
    sars = len(h.hss.sar_types())
    h.core.diameter_ready = False  # the new core's connection to the HSS is not open yet
    node.flush()
    wall = node.wall() + 700
    h.core = ScscfCore(h.core.cfg, rng=h.rng.randbytes)
    h.core.diameter_ready = False
    h.now = node.loop_start = 50.0
    node.journal = node.start(wall)
    assert node.restored == 0 and h.core.store.get(IMPU) is None
    assert node.journal.take() == [Change(KIND, IMPU, None)]  # gone from the backend
    h.tick(1.5)
    assert h.hss.sar_types()[sars:] == []  # no Cx yet: it waits
    h.core.diameter_ready = True
    h.tick(1.5)
    assert h.hss.sar_types()[sars:] == [AssignmentType.TIMEOUT_DEREGISTRATION]
    h.tick(5)
    assert h.hss.sar_types()[sars:] == [AssignmentType.TIMEOUT_DEREGISTRATION]  # once
    assert h.core.get_timer() is None or h.core.get_timer() > h.now  # nothing left due


def test_an_unreadable_record_is_skipped_and_deleted(node: Node) -> None:
    register(node.h)
    node.flush()
    node.backend.apply([Change(KIND, "sip:broken@x", b"{not json"),
                        Change(KIND, "sip:old@x", b'{"v": 0}')])
    assert node.restart(down=1) == 1
    assert sorted(c.key for c in node.journal.take()) == ["sip:broken@x", "sip:old@x"]


def test_ue_unknown_after_a_crash_window_registers_again(node: Node) -> None:
    """A registration the writer never wrote (the crash window) is simply gone: the UE's
    next REGISTER is challenged and registers anew (SAR REGISTRATION)."""
    register(node.h)
    node.journal.take()  # lost in the crash
    assert node.restart(down=1) == 0
    sars = len(node.h.hss.sar_types())
    register(node.h)
    assert node.h.hss.sar_types()[sars:] == [AssignmentType.REGISTRATION]


def test_challenges_are_not_kept(node: Node) -> None:
    ue = Ue()
    node.h.send(ue.register(authorization=ue.empty_authorization()))
    assert node.journal.take() == []


def test_a_lapsed_registration_renewed_before_diameter_is_up_is_left_alone(node: Node
                                                                           ) -> None:
    h = node.h
    register(h, expires=600)
    node.flush()
    wall = node.wall() + 700
    h.core = ScscfCore(h.core.cfg, rng=h.rng.randbytes)
    h.now = node.loop_start = 50.0
    node.journal = node.start(wall)
    assert node.restored == 0
    h.core.diameter_ready = False  # the lapsed SAR waits for the next poll
    # The UE registers again first (in a node: between the peer opening and that poll;
    # the harness answers its Cx regardless).
    register(h, expires=600)
    sars = len(h.hss.sar_types())
    node.journal.take()
    h.core.diameter_ready = True
    h.tick(1.5)
    assert h.hss.sar_types()[sars:] == []  # no TIMEOUT_DEREGISTRATION for the new one
    assert h.core.store.get(IMPU) is not None
    assert node.journal.take() == []  # and its record stays in the backend
