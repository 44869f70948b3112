"""RTR/RTA (TS 29.228 §6.1.3, TS 29.229 §6.1.9-10): the queued push, the request built
from it, and what the answer does to the registration state."""

from __future__ import annotations

import dataclasses

import pytest

from hss.cx import rtr
from hss.cx.push import Unroutable, describe
from hss.model import Push, PushKind, PushState, RegState
from hss.store.base import Store
from ims_core.diameter import (
    CX_APPLICATION_ID,
    DEFAULT,
    VENDOR_3GPP,
    CxResult,
    Message,
    ResultCode,
    check_required,
    decode,
    make_answer,
)
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF, SCSCF2, TEL, context, request, run

IMSI = "001010000000001"
SCSCF_HOST = f"scscf.{DOMAIN}"
R, U, N = RegState.REGISTERED, RegState.UNREGISTERED, RegState.NOT_REGISTERED


def register(store: Store, t: int = 1, server: str = SCSCF) -> None:
    """SAR of type *t* from scscf.<domain> (cxutil's Origin-Host)."""
    ans = run(context(store), request(
        "SAR", User_Name=IMPI, Public_Identity=IMPU, Server_Name=server,
        Server_Assignment_Type=t, User_Data_Already_Available=0,
    ))  # fmt: skip
    assert ans.result_code == ResultCode.SUCCESS, ans


def queued(store: Store, push: Push) -> Push:
    return dataclasses.replace(push, id=store.queue_push(push, 1.0), state=PushState.SENT)


def current(store: Store) -> tuple[list[RegState], str | None, str | None]:
    s = store.get(IMSI)
    assert s is not None
    return [p.state for p in s.impus], s.scscf_name, s.scscf_host


def test_reason_codes_are_the_dictionarys() -> None:
    assert {r.name.replace("SCSCF", "S-CSCF"): int(r) for r in rtr.ReasonCode} == (
        DEFAULT.avp("Reason-Code").enum
    )
    assert set(rtr.REASONS.values()) == set(rtr.ReasonCode)


def test_no_rtr_for_an_unregistered_subscriber(store: Store) -> None:
    store.add([subscriber()])
    sub = store.get(IMSI)
    assert sub is not None
    assert rtr.new_push(sub, rtr.ReasonCode.PERMANENT_TERMINATION) is None


def test_push_goes_to_the_sars_origin_host(store: Store) -> None:
    store.add([subscriber()])
    register(store)
    sub = store.get(IMSI)
    assert sub is not None and sub.scscf_host == SCSCF_HOST
    push = rtr.new_push(sub, rtr.ReasonCode.SERVER_CHANGE, "moving you")
    assert push == Push(PushKind.RTR, IMSI, IMPI, SCSCF_HOST, (), 2, "moving you")
    # IMPU-list form: identities as the HSS keys them, each once, in the order given.
    push = rtr.new_push(sub, rtr.ReasonCode.PERMANENT_TERMINATION,
                        impus=["tel:+1-555-000-0001", IMPU, "tel:+15550000001"])  # fmt: skip
    assert push is not None and push.impus == (TEL, IMPU)
    with pytest.raises(ValueError, match=r"sip:other@example\.org is not a public identity"):
        rtr.new_push(sub, rtr.ReasonCode.PERMANENT_TERMINATION, impus=["sip:other@example.org"])


def test_registered_without_a_known_host_is_unroutable(store: Store) -> None:
    store.add([subscriber()])
    register(store)
    store.update_registration(IMSI, {}, scscf_host=None)  # as registered before v3
    sub = store.get(IMSI)
    assert sub is not None
    with pytest.raises(Unroutable, match="Diameter host is not recorded"):
        rtr.new_push(sub, rtr.ReasonCode.PERMANENT_TERMINATION)


def _avps(msg: Message) -> list[str]:
    return [a.defn.name if a.defn else str(a.code) for a in msg.avps]


def test_impi_only_rtr_on_the_wire(store: Store) -> None:
    push = Push(PushKind.RTR, IMSI, IMPI, SCSCF_HOST, reason_code=0, reason_info="bye")
    msg = decode(rtr.build(push, context(store)).encode())
    assert msg.name == "RTR" and msg.is_request and msg.is_proxiable
    assert msg.application_id == CX_APPLICATION_ID
    command = msg.command
    assert command is not None
    check_required(msg, command.request_rules)
    assert _avps(msg) == [
        "Session-Id", "Vendor-Specific-Application-Id", "Auth-Session-State", "Origin-Host",
        "Origin-Realm", "Destination-Host", "Destination-Realm", "User-Name",
        "Deregistration-Reason",
    ]  # fmt: skip
    assert msg.get_int("Auth-Session-State") == 1  # NO_STATE_MAINTAINED
    assert msg.session_id is not None and msg.session_id.startswith(f"hss.{DOMAIN};")
    assert (msg.origin_host, msg.origin_realm) == (f"hss.{DOMAIN}", DOMAIN)
    assert msg.get_str("Destination-Host") == SCSCF_HOST
    assert msg.get_str("Destination-Realm") == DOMAIN
    assert msg.get_str("User-Name") == IMPI
    assert msg.get_all("Public-Identity") == []
    reason = msg.get_grouped("Deregistration-Reason")
    assert reason is not None
    assert reason.get_int("Reason-Code") == 0 and reason.get_str("Reason-Info") == "bye"
    assert reason.avps[0].vendor == VENDOR_3GPP


def test_impu_list_rtr_on_the_wire(store: Store) -> None:
    push = Push(PushKind.RTR, IMSI, IMPI, SCSCF_HOST, (IMPU, TEL), reason_code=3)
    msg = decode(rtr.build(push, context(store)).encode())
    assert msg.get_all("Public-Identity") == [IMPU, TEL]
    reason = msg.get_grouped("Deregistration-Reason")
    assert reason is not None
    assert reason.get_int("Reason-Code") == 3 and reason.get("Reason-Info") is None
    # Every request has its own Session-Id.
    assert rtr.build(push, context(store)).session_id != msg.session_id


@pytest.mark.parametrize("impus", [(), (TEL,)])
def test_rta_2001_clears_the_registration(store: Store, impus: tuple[str, ...]) -> None:
    store.add([subscriber()])
    register(store)
    ctx = context(store)
    sub = store.get(IMSI)
    assert sub is not None
    push = rtr.new_push(sub, rtr.ReasonCode.PERMANENT_TERMINATION, impus=impus)
    assert push is not None
    push = queued(store, push)
    req = rtr.build(push, ctx)
    done = rtr.on_answer(push, make_answer(req, ResultCode.SUCCESS), ctx, 2.0)
    assert done.state == PushState.DONE and done.result_code == 2001
    assert describe(done) == "RTA 2001"
    # The whole implicit registration set, listed or not (§6.5.2.2); no S-CSCF left.
    assert current(store) == ([N, N, N], None, None)
    assert store.get_push(push.id) == done


def test_rta_user_unknown_clears_too(store: Store) -> None:
    store.add([subscriber()])
    register(store, t=3)  # unregistered user: the S-CSCF holds it all the same
    ctx = context(store)
    sub = store.get(IMSI)
    assert sub is not None
    push = rtr.new_push(sub, rtr.ReasonCode.REMOVE_SCSCF)
    assert push is not None
    push = queued(store, push)
    ans = make_answer(rtr.build(push, ctx), experimental=CxResult.ERROR_USER_UNKNOWN)
    done = rtr.on_answer(push, ans, ctx, 2.0)
    assert done.state == PushState.DONE and done.experimental_code == 5001
    assert done.result_code is None
    assert describe(done) == "RTA Experimental-Result 5001 (ERROR_USER_UNKNOWN(5001))"
    assert current(store) == ([N, N, N], None, None)


@pytest.mark.parametrize("code", [ResultCode.UNABLE_TO_COMPLY, ResultCode.AVP_UNSUPPORTED, 4999])
def test_other_answers_keep_the_registration(store: Store, code: int) -> None:
    """Base 5001 is DIAMETER_AVP_UNSUPPORTED, not the Cx user-unknown: nothing cleared."""
    store.add([subscriber()])
    register(store)
    ctx = context(store)
    push = queued(store, Push(PushKind.RTR, IMSI, IMPI, SCSCF_HOST, reason_code=0))
    done = rtr.on_answer(push, make_answer(rtr.build(push, ctx), code), ctx, 2.0)
    assert done.state == PushState.FAILED and done.result_code == code
    assert "registration state kept" in describe(done)
    assert current(store) == ([R, R, R], SCSCF, SCSCF_HOST)
    assert store.get_push(push.id) == done


def test_rta_after_the_subscription_moved_on(store: Store) -> None:
    """Re-registered at another S-CSCF meanwhile: that registration is not ours to end."""
    store.add([subscriber()])
    register(store)
    ctx = context(store)
    push = queued(store, Push(PushKind.RTR, IMSI, IMPI, SCSCF_HOST, reason_code=1))
    register(store, t=5)  # the UE de-registered itself
    store.update_registration(IMSI, {IMPU: R}, scscf_name=SCSCF2, scscf_host="scscf2.x")
    done = rtr.on_answer(push, make_answer(rtr.build(push, ctx), 2001), ctx, 2.0)
    assert done.state == PushState.DONE and "moved on" in (done.detail or "")
    assert current(store) == ([R, N, N], SCSCF2, "scscf2.x")


def test_rta_for_a_deleted_subscriber(store: Store) -> None:
    store.add([subscriber()])
    register(store)
    ctx = context(store)
    push = queued(store, Push(PushKind.RTR, IMSI, IMPI, SCSCF_HOST, reason_code=0))
    assert store.delete(IMSI)
    msg = rtr.prepare(push, ctx)  # built from the queued data alone
    assert msg.get_str("User-Name") == IMPI
    done = rtr.on_answer(push, make_answer(msg, 2001), ctx, 2.0)
    assert done.state == PushState.DONE and done.detail is None
    assert store.get(IMSI) is None
