"""UAR/UAA decision branches (TS 29.228 §6.1.1.1)."""

from __future__ import annotations

from hss.config import CapabilitiesConfig
from hss.model import PublicIdentity, RegState
from hss.store.base import Store
from ims_core.diameter import CxResult, ResultCode
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF, TEL, context, request, result, run


def uar(impi: str = IMPI, impu: str = IMPU, **kw: object) -> object:
    return request("UAR", User_Name=impi, Public_Identity=impu,
                   Visited_Network_Identifier=DOMAIN.encode(), **kw)  # fmt: skip


def test_unknown_user(store: Store) -> None:
    store.add([subscriber()])
    ctx = context(store)
    assert result(run(ctx, uar(impi="nobody@x"))) == ("exp", CxResult.ERROR_USER_UNKNOWN)
    assert result(run(ctx, uar(impu="sip:nobody@x"))) == ("exp", CxResult.ERROR_USER_UNKNOWN)


def test_identities_dont_match(store: Store) -> None:
    store.add([subscriber(), subscriber("001010000000002", msisdn="15550000002")])
    ans = run(context(store), uar(impu=f"sip:001010000000002@{DOMAIN}"))
    assert result(ans) == ("exp", CxResult.ERROR_IDENTITIES_DONT_MATCH)


def test_first_registration_with_capabilities(store: Store) -> None:
    store.add([subscriber()])
    caps = CapabilitiesConfig(mandatory=(1,), optional=(2, 3), server_names=(SCSCF,))
    ans = run(context(store, capabilities=caps), uar())
    assert result(ans) == ("exp", CxResult.FIRST_REGISTRATION)
    assert ans.get("Server-Name") is None
    sc = ans.get_grouped("Server-Capabilities")
    assert sc is not None
    assert sc.get_all("Mandatory-Capability") == [1]
    assert sc.get_all("Optional-Capability") == [2, 3]
    assert sc.get_all("Server-Name") == [SCSCF]


def test_first_registration_empty_capabilities_still_sent(store: Store) -> None:
    store.add([subscriber()])
    ans = run(context(store, capabilities=CapabilitiesConfig(server_names=())), uar())
    assert result(ans) == ("exp", CxResult.FIRST_REGISTRATION)
    assert ans.get_grouped("Server-Capabilities") is not None


def test_subsequent_registration_server_name(store: Store) -> None:
    s = subscriber()
    store.add([s])
    store.update_registration(s.imsi, {IMPU: RegState.REGISTERED}, scscf_name=SCSCF)
    # Any identity of the set, tel URI and URI parameters included.
    for impu in (IMPU, TEL, f"<{IMPU};user=phone>"):
        ans = run(context(store), uar(impu=impu))
        assert result(ans) == ("exp", CxResult.SUBSEQUENT_REGISTRATION)
        assert ans.get_str("Server-Name") == SCSCF


def test_barred_identity(store: Store) -> None:
    s = subscriber()
    barred_one = (PublicIdentity(IMPU, barred=True), *s.impus[1:])
    store.add([subscriber(impus=barred_one)])
    # Another identity of the set is not barred: registration goes ahead.
    assert result(run(context(store), uar())) == ("exp", CxResult.FIRST_REGISTRATION)
    store.add([subscriber(barred=True)], replace=True)
    ans = run(context(store), uar())
    assert result(ans) == ("base", ResultCode.AUTHORIZATION_REJECTED)
    # An emergency registration (UAR-Flags bit 0) is not subject to barring.
    assert result(run(context(store), uar(UAR_Flags=1)))[1] == CxResult.FIRST_REGISTRATION


def test_all_identities_barred(store: Store) -> None:
    s = subscriber()
    store.add([subscriber(impus=tuple(PublicIdentity(p.impu, barred=True) for p in s.impus))])
    assert result(run(context(store), uar())) == ("base", ResultCode.AUTHORIZATION_REJECTED)


def test_roaming_not_allowed(store: Store) -> None:
    store.add([subscriber()])
    ctx = context(store, allowed_visited_networks=("visited.example",))
    assert result(run(ctx, uar())) == ("exp", CxResult.ERROR_ROAMING_NOT_ALLOWED)
    # De-registration skips the roaming check.
    assert result(run(ctx, uar(User_Authorization_Type=1)))[1] == (
        CxResult.ERROR_IDENTITY_NOT_REGISTERED
    )


def test_deregistration(store: Store) -> None:
    s = subscriber()
    store.add([s])
    ctx = context(store)
    ans = run(ctx, uar(User_Authorization_Type=1))
    assert result(ans) == ("exp", CxResult.ERROR_IDENTITY_NOT_REGISTERED)
    store.update_registration(s.imsi, {IMPU: RegState.REGISTERED}, scscf_name=SCSCF)
    ans = run(ctx, uar(User_Authorization_Type=1))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_str("Server-Name") == SCSCF


def test_registration_and_capabilities(store: Store) -> None:
    s = subscriber()
    store.add([s])
    store.update_registration(s.imsi, {IMPU: RegState.REGISTERED}, scscf_name=SCSCF)
    ans = run(context(store), uar(User_Authorization_Type=2))
    assert result(ans) == ("exp", CxResult.FIRST_REGISTRATION)
    assert ans.get_grouped("Server-Capabilities") is not None
    assert ans.get("Server-Name") is None


def test_missing_user_name_raises_missing_avp(store: Store) -> None:
    import pytest

    from hss.cx import uar as uar_mod
    from ims_core.diameter import DiameterError

    req = request("UAR", Public_Identity=IMPU, Visited_Network_Identifier=b"x")
    with pytest.raises(DiameterError) as ei:
        uar_mod.handle(req, context(store))
    assert ei.value.result_code == ResultCode.MISSING_AVP
