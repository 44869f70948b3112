"""LIR/LIA (TS 29.228 §6.1.4.1)."""

from __future__ import annotations

from hss.model import Ifc, RegState, Spt
from hss.store.base import Store
from ims_core.diameter import CxResult, ResultCode
from tests.hss.conftest import subscriber
from tests.hss.cxutil import IMPU, SCSCF, TEL, context, request, result, run

IMSI = "001010000000001"
TERM_UNREG = Ifc(5, "sip:vm.example:5060", spts=(Spt(session_case=2),))


def lir(impu: str = IMPU, **kw: object) -> object:
    return request("LIR", Public_Identity=impu, **kw)


def test_unknown(store: Store) -> None:
    store.add([subscriber()])
    assert result(run(context(store), lir("sip:nobody@x"))) == ("exp", CxResult.ERROR_USER_UNKNOWN)


def test_registered(store: Store) -> None:
    store.add([subscriber()])
    store.update_registration(IMSI, {TEL: RegState.REGISTERED}, scscf_name=SCSCF)
    ans = run(context(store), lir(TEL))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_str("Server-Name") == SCSCF


def test_unregistered_state(store: Store) -> None:
    store.add([subscriber()])
    store.update_registration(IMSI, {IMPU: RegState.UNREGISTERED}, scscf_name=SCSCF)
    ans = run(context(store), lir())
    assert result(ans) == ("exp", CxResult.UNREGISTERED_SERVICE)
    assert ans.get_str("Server-Name") == SCSCF


def test_not_registered_without_unregistered_services(store: Store) -> None:
    store.add([subscriber()])
    ans = run(context(store), lir())
    assert result(ans) == ("exp", CxResult.ERROR_IDENTITY_NOT_REGISTERED)
    assert ans.get("Server-Name") is None


def test_not_registered_with_unregistered_services(store: Store) -> None:
    store.add([subscriber(ifcs=(TERM_UNREG,))])
    ans = run(context(store), lir())
    assert result(ans) == ("exp", CxResult.UNREGISTERED_SERVICE)
    assert ans.get_grouped("Server-Capabilities") is not None
    assert ans.get("Server-Name") is None
    # An S-CSCF name kept after de-registration is reused.
    store.update_registration(IMSI, {}, scscf_name=SCSCF)
    ans = run(context(store), lir())
    assert result(ans) == ("exp", CxResult.UNREGISTERED_SERVICE)
    assert ans.get_str("Server-Name") == SCSCF


def test_originating_request(store: Store) -> None:
    store.add([subscriber()])
    ans = run(context(store), lir(Originating_Request=0))
    assert result(ans) == ("exp", CxResult.UNREGISTERED_SERVICE)
    assert ans.get_grouped("Server-Capabilities") is not None
    store.update_registration(IMSI, {IMPU: RegState.REGISTERED}, scscf_name=SCSCF)
    ans = run(context(store), lir(Originating_Request=0))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_str("Server-Name") == SCSCF


def test_capabilities_requested(store: Store) -> None:
    store.add([subscriber()])
    ans = run(context(store), lir(User_Authorization_Type=2))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_grouped("Server-Capabilities") is not None
