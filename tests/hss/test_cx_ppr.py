"""PPR/PPA (TS 29.228 §6.2.2, TS 29.229 §6.1.11-12): User-Data from SAA's builder, built
when sent; the answer changes nothing in the HSS."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hss import provision
from hss.cx import ppr
from hss.cx.push import Unroutable, Unsendable, describe
from hss.model import Ifc, Push, PushKind, PushState, RegState, Spt
from hss.store.base import Store
from ims_core import userdata
from ims_core.diameter import CxResult, ResultCode, check_required, decode, make_answer
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF, context, request, run

IMSI = "001010000000001"
SCSCF_HOST = f"scscf.{DOMAIN}"
R = RegState.REGISTERED


def register(store: Store) -> bytes:
    """SAR REGISTRATION from scscf.<domain>; the SAA's User-Data."""
    ans = run(context(store), request(
        "SAR", User_Name=IMPI, Public_Identity=IMPU, Server_Name=SCSCF,
        Server_Assignment_Type=1, User_Data_Already_Available=0,
    ))  # fmt: skip
    data = ans.get_bytes("User-Data")
    assert ans.result_code == ResultCode.SUCCESS and data is not None
    return data


def test_ppr_carries_what_saa_carries(store: Store) -> None:
    ifc = Ifc(10, "sip:as.example:5060", spts=(Spt(method="MESSAGE"),))
    store.add([subscriber(ifcs=(ifc,), barred=True)])
    saa_data = register(store)
    sub = store.get(IMSI)
    assert sub is not None
    push = ppr.new_push(sub)
    assert push == Push(PushKind.PPR, IMSI, IMPI, SCSCF_HOST)
    msg = decode(ppr.prepare(push, context(store)).encode())
    command = msg.command
    assert msg.name == "PPR" and command is not None
    check_required(msg, command.request_rules)
    assert msg.get_str("Destination-Host") == SCSCF_HOST
    assert msg.get_str("Destination-Realm") == DOMAIN
    assert msg.get_str("User-Name") == IMPI
    assert msg.get_bytes("User-Data") == saa_data
    profile = userdata.parse(saa_data)
    assert profile.ifcs_for(IMPU) == (ifc,)
    assert profile.is_barred(IMPU)  # subscription barring reaches every identity


def test_user_data_is_built_when_sent(store: Store) -> None:
    store.add([subscriber()])
    register(store)
    sub = store.get(IMSI)
    assert sub is not None
    push = ppr.new_push(sub)
    assert push is not None
    store.update_profile(provision.updated(sub, add_impus=["sip:alias@example.org"]))
    data = ppr.prepare(push, context(store)).get_bytes("User-Data")
    assert data is not None
    ids = [p.identity for p in userdata.parse(data).identities]
    assert ids[-1] == "sip:alias@example.org" and IMPU in ids


def test_not_registered_no_ppr(store: Store) -> None:
    store.add([subscriber()])
    sub = store.get(IMSI)
    assert sub is not None and ppr.new_push(sub) is None
    register(store)
    store.update_registration(IMSI, {}, scscf_host=None)
    sub = store.get(IMSI)
    assert sub is not None
    with pytest.raises(Unroutable):
        ppr.new_push(sub)


def test_unsendable_when_gone_or_moved(store: Store) -> None:
    store.add([subscriber()])
    register(store)
    push = Push(PushKind.PPR, IMSI, IMPI, SCSCF_HOST)
    store.update_registration(IMSI, {}, scscf_name="sip:other:5060", scscf_host="other.x")
    with pytest.raises(Unsendable, match=re.escape("no longer registered at " + SCSCF_HOST)):
        ppr.prepare(push, context(store))
    store.delete(IMSI)
    with pytest.raises(Unsendable, match="no longer exists"):
        ppr.prepare(push, context(store))


@pytest.mark.parametrize("result,experimental,state", [
    (ResultCode.SUCCESS, None, PushState.DONE),
    (None, CxResult.ERROR_USER_UNKNOWN, PushState.FAILED),
    (ResultCode.UNABLE_TO_COMPLY, None, PushState.FAILED),
])  # fmt: skip
def test_ppa_changes_nothing_but_the_outbox(
    store: Store, result: int | None, experimental: int | None, state: PushState
) -> None:
    store.add([subscriber()])
    register(store)
    before = store.get(IMSI)
    ctx = context(store)
    push = Push(PushKind.PPR, IMSI, IMPI, SCSCF_HOST)
    push = dataclasses.replace(push, id=store.queue_push(push, 1.0))
    ans = make_answer(ppr.prepare(push, ctx), result, experimental=experimental)
    done = ppr.on_answer(push, ans, ctx, 2.0)
    assert done.state == state and store.get_push(push.id) == done
    assert (done.result_code, done.experimental_code) == (result, experimental)
    assert store.get(IMSI) == before
    if state == PushState.DONE:
        assert describe(done) == "PPA 2001"
