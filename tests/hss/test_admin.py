"""hss.admin, the operations the CLI and the API share: typed results and errors, RTR
before deletion, PPR after a profile change, the bounded wait for an answer; and
provision.with_auth, the rules of a credentials change."""

from __future__ import annotations

import dataclasses

import pytest

from hss import admin, provision
from hss.cx import rtr
from hss.model import PushKind, PushState, RegState
from hss.store.base import Store
from ims_core import auth
from tests.hss.conftest import DOMAIN, subscriber

IMSI = "001010000000001"
SCSCF = f"sip:scscf.{DOMAIN}:5060"
HOST = f"scscf.{DOMAIN}"


def _register(store: Store, host: str | None = HOST) -> None:
    s = store.get(IMSI)
    assert s is not None
    store.update_registration(IMSI, {s.impus[0].impu: RegState.REGISTERED}, scscf_name=SCSCF,
                              scscf_host=host)  # fmt: skip


def test_add_get_and_their_errors(store: Store) -> None:
    s = admin.add(store, subscriber())
    assert admin.get(store, IMSI) == s
    with pytest.raises(admin.Conflict, match="already exists"):
        admin.add(store, subscriber())
    assert admin.add(store, subscriber(barred=True), replace=True).barred
    with pytest.raises(admin.NotFound, match="no subscriber 001019999999999"):
        admin.get(store, "001019999999999")


def test_delete_queues_the_rtr_first(store: Store) -> None:
    store.add([subscriber()])
    assert admin.delete(store, IMSI, 1.0) == admin.Deleted(IMSI)  # not registered: no RTR
    store.add([subscriber()])
    _register(store)
    done = admin.delete(store, IMSI, 2.0)
    assert done.push is not None and done.push.id > 0 and store.get(IMSI) is None
    queued = store.get_push(done.push.id)
    assert queued is not None and queued.kind == PushKind.RTR
    assert queued.reason_code == rtr.ReasonCode.PERMANENT_TERMINATION
    store.add([subscriber()])
    _register(store, host=None)
    unroutable = admin.delete(store, IMSI, 3.0)
    assert unroutable.push is None and "host is not recorded" in (unroutable.not_sent or "")
    with pytest.raises(admin.NotFound):
        admin.delete(store, IMSI, 4.0)


def test_deregister(store: Store) -> None:
    store.add([subscriber()])
    assert admin.deregister(store, IMSI, rtr.ReasonCode.SERVER_CHANGE, 1.0) is None
    _register(store)
    push = admin.deregister(store, IMSI, rtr.ReasonCode.SERVER_CHANGE, 1.0, info="bye",
                            impus=["tel:+1-555-000-0001"])  # fmt: skip
    assert push is not None and push.impus == ("tel:+15550000001",)
    assert store.get_push(push.id) == push
    with pytest.raises(provision.UnknownIdentity):
        admin.deregister(store, IMSI, rtr.ReasonCode.SERVER_CHANGE, 1.0, impus=["sip:x@y"])
    _register(store, host=None)
    with pytest.raises(admin.NotRoutable):
        admin.deregister(store, IMSI, rtr.ReasonCode.SERVER_CHANGE, 1.0)


def test_change_profile(store: Store) -> None:
    store.add([subscriber()])
    same = admin.change_profile(store, IMSI, lambda s: s, 1.0)
    assert not same.changed and same.push is None

    done = admin.change_profile(store, IMSI, lambda s: provision.updated(s, barred=True), 1.0)
    assert done.changed and done.subscriber.barred and done.push is None
    _register(store)
    done = admin.change_profile(store, IMSI, lambda s: provision.updated(s, barred=False), 1.0)
    assert done.push is not None and done.push.kind == PushKind.PPR
    assert done.subscriber.state == RegState.REGISTERED  # the state as stored, kept
    store.add([subscriber("001010000000002", msisdn="15550000002")])
    with pytest.raises(admin.Conflict, match="belongs to another subscriber"):
        admin.change_profile(store, IMSI, lambda s: provision.updated(
            s, add_impus=[f"sip:001010000000002@{DOMAIN}"]), 1.0)
    with pytest.raises(provision.IdentityExists):
        admin.change_profile(store, IMSI, lambda s: provision.updated(
            s, add_impus=["tel:+15550000001"]), 1.0)
    with pytest.raises(provision.UnknownIdentity):
        admin.change_profile(store, IMSI, lambda s: provision.updated(
            s, remove_impus=["sip:nobody@example.org"]), 1.0)
    _register(store, host=None)
    done = admin.change_profile(store, IMSI, lambda s: provision.updated(s, barred=True), 1.0)
    assert done.changed and done.push is None and done.not_sent is not None


def test_change_auth_and_reset_sqn(store: Store) -> None:
    store.add([subscriber(sqn=77)])
    got = admin.change_auth(store, IMSI, lambda s: dataclasses.replace(s, amf=b"\x00\x01"))
    assert got.amf == b"\x00\x01" and got.sqn == 77
    assert admin.reset_sqn(store, IMSI) == admin.SqnReset(IMSI, 77, 0)
    assert admin.reset_sqn(store, IMSI, 5).previous == 0
    with pytest.raises(admin.NotFound):
        admin.reset_sqn(store, "001019999999999")
    with pytest.raises(admin.NotFound):
        admin.change_auth(store, "001019999999999", lambda s: s)


def test_await_push_is_bounded(store: Store) -> None:
    store.add([subscriber()])
    _register(store)
    push = admin.deregister(store, IMSI, rtr.ReasonCode.PERMANENT_TERMINATION, 1.0)
    assert push is not None
    now = [0.0]
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        now[0] += seconds

    got = admin.await_push(store, push.id, 0.2, clock=lambda: now[0], sleep=sleep)
    assert got.state == PushState.PENDING and now[0] >= 0.2 and len(naps) == 4
    assert admin.await_push(store, push.id, 0, clock=lambda: now[0], sleep=sleep) == got
    store.finish_push(push.id, PushState.DONE, 2.0, result_code=2001)
    done = admin.await_push(store, push.id, 10, clock=lambda: now[0], sleep=sleep)
    assert done.state == PushState.DONE and len(naps) == 4  # finished: no wait
    with pytest.raises(admin.NotFound):
        admin.await_push(store, 999, 1, clock=lambda: now[0], sleep=sleep)


# -- provision.with_auth ----------------------------------------------------------------


def test_with_auth_rules() -> None:
    s = subscriber()  # K, OP (and the OPc derived)
    k2 = bytes(range(16))
    assert provision.with_auth(s, domain=DOMAIN) == s
    new = provision.with_auth(s, domain=DOMAIN, k=k2.hex())
    assert new.k == k2 and new.op == s.op
    assert s.op is not None and new.opc == auth.opc(k2, s.op)
    by_opc = provision.with_auth(s, domain=DOMAIN, opc="ab" * 16)
    assert by_opc.op is None and by_opc.opc == b"\xab" * 16
    with pytest.raises(provision.ProvisionError, match="needs op or opc"):
        provision.with_auth(by_opc, domain=DOMAIN, k=k2)
    assert provision.with_auth(by_opc, domain=DOMAIN, k=k2, op=s.op).opc == new.opc
    with pytest.raises(provision.ProvisionError, match="at most one"):
        provision.with_auth(s, domain=DOMAIN, op=s.op, opc=s.opc)
    with pytest.raises(provision.ProvisionError, match="needs a password"):
        provision.with_auth(s, domain=DOMAIN, schemes="md5")
    md5 = provision.with_auth(s, domain=DOMAIN, schemes=["akav1", "md5"], password="pw")
    assert md5.ha1 == auth.ha1(s.impi, DOMAIN, b"pw") and md5.schemes == ("akav1", "md5")
    with pytest.raises(provision.ProvisionError, match="needs a password"):
        provision.with_auth(md5, domain=DOMAIN, remove_password=True)
    gone = provision.with_auth(md5, domain=DOMAIN, remove_password=True, schemes="akav2")
    assert gone.ha1 is None and gone.schemes == ("akav2",)
    with pytest.raises(provision.ProvisionError, match="amf must be 2 bytes"):
        provision.with_auth(s, domain=DOMAIN, amf="800000")


def test_identity_of() -> None:
    assert provision.identity_of("tel:+1-555-000-0001") == "tel:+15550000001"
    for bad in ("mailto:a@b", "alice", "sip:"):
        with pytest.raises(provision.ProvisionError):
            provision.identity_of(bad)
