"""SAR/SAA by Server-Assignment-Type (TS 29.228 §6.1.2.1)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from lxml import etree

from hss.cx.sar import AssignmentType
from hss.model import Ifc, PublicIdentity, RegState, Spt
from hss.store.base import Store
from ims_core.diameter import DEFAULT, CxResult, Message, ResultCode
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF, SCSCF2, TEL, context, request, result, run

IMSI = "001010000000001"


def sar(t: int, impus: list[str] | None = None, impi: str | None = IMPI,
        server: str = SCSCF, available: int = 0) -> Message:  # fmt: skip
    avps: dict[str, Any] = {"Server_Name": server, "Server_Assignment_Type": t,
                            "User_Data_Already_Available": available}  # fmt: skip
    if impi is not None:
        avps["User_Name"] = impi
    if impus is None:
        impus = [IMPU]
    if impus:
        avps["Public_Identity"] = impus
    return request("SAR", **avps)


def uar() -> Message:
    return request("UAR", User_Name=IMPI, Public_Identity=IMPU,
                   Visited_Network_Identifier=DOMAIN.encode(), User_Authorization_Type=0)


def states(store: Store) -> list[RegState]:
    s = store.get(IMSI)
    assert s is not None
    return [p.state for p in s.impus]


def name(store: Store) -> str | None:
    s = store.get(IMSI)
    assert s is not None
    return s.scscf_name


R, U, N = RegState.REGISTERED, RegState.UNREGISTERED, RegState.NOT_REGISTERED


def test_registration_returns_profile_and_registers_implicit_set(store: Store) -> None:
    ifc = Ifc(10, "sip:as.example:5060", spts=(Spt(method="MESSAGE"),))
    store.add([subscriber(ifcs=(ifc,))])
    ans = run(context(store), sar(1))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_str("User-Name") == IMPI
    doc = etree.fromstring(ans.get_bytes("User-Data"))
    assert doc.findtext("PrivateID") == IMPI
    assert [e.text for e in doc.iterfind(".//PublicIdentity/Identity")] == [
        IMPU, f"sip:+15550000001@{DOMAIN}", TEL,
    ]
    assert doc.findtext(".//ApplicationServer/ServerName") == "sip:as.example:5060"
    assert states(store) == [R, R, R] and name(store) == SCSCF
    # Re-registration with data already available: no User-Data.
    ans = run(context(store), sar(2, available=1))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get("User-Data") is None


def test_registration_by_another_scscf_refused(store: Store) -> None:
    store.add([subscriber()])
    run(context(store), sar(1))
    ans = run(context(store), sar(1, server=SCSCF2))
    assert result(ans) == ("base", ResultCode.UNABLE_TO_COMPLY)
    assert name(store) == SCSCF


def test_user_deregistration_releases_scscf(store: Store) -> None:
    store.add([subscriber()])
    run(context(store), sar(1))
    ans = run(context(store), sar(5, impus=[TEL]))  # any IMPU of the set
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert states(store) == [N, N, N] and name(store) is None
    # Again: nothing registered any more.
    ans = run(context(store), sar(5))
    assert result(ans) == ("exp", CxResult.ERROR_IDENTITY_NOT_REGISTERED)


def test_every_plain_deregistration_type(store: Store) -> None:
    store.add([subscriber()])
    for t in (4, 5, 8, 11):
        run(context(store), sar(1))
        assert result(run(context(store), sar(t))) == ("base", ResultCode.SUCCESS)
        assert states(store) == [N, N, N] and name(store) is None


def test_deregistration_by_impi_only(store: Store) -> None:
    store.add([subscriber()])
    run(context(store), sar(1))
    ans = run(context(store), sar(4, impus=[]))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert states(store) == [N, N, N]


def test_deregistration_store_server_name(store: Store) -> None:
    store.add([subscriber()])
    for t in (6, 7):
        run(context(store), sar(1))
        assert result(run(context(store), sar(t))) == ("base", ResultCode.SUCCESS)
        assert states(store) == [N, N, N] and name(store) == SCSCF


def test_deregistration_from_other_scscf_refused(store: Store) -> None:
    store.add([subscriber()])
    run(context(store), sar(1))
    assert result(run(context(store), sar(5, server=SCSCF2))) == (
        "base", ResultCode.UNABLE_TO_COMPLY,
    )
    assert states(store) == [R, R, R]


def test_unregistered_user(store: Store) -> None:
    store.add([subscriber()])
    ans = run(context(store), sar(3, impi=None))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_bytes("User-Data") is not None
    assert states(store) == [U, U, U] and name(store) == SCSCF
    # Another S-CSCF asking: 5005 with the assigned name.
    ans = run(context(store), sar(3, impi=None, server=SCSCF2))
    assert result(ans) == ("exp", CxResult.ERROR_IDENTITY_ALREADY_REGISTERED)
    assert ans.get_str("Server-Name") == SCSCF
    # Registering later turns the set registered.
    run(context(store), sar(1))
    assert states(store) == [R, R, R]
    # UNREGISTERED_USER on a registered user keeps it registered.
    run(context(store), sar(3, impi=None))
    assert states(store) == [R, R, R]


def test_authentication_failure_releases_mar_assignment(store: Store) -> None:
    s = subscriber()
    store.add([s])
    for t in (9, 10):
        store.update_registration(IMSI, {}, scscf_name=SCSCF)  # as a MAR does
        assert result(run(context(store), sar(t))) == ("base", ResultCode.SUCCESS)
        assert name(store) is None
    # A registered user keeps its S-CSCF when a re-authentication fails.
    run(context(store), sar(1))
    run(context(store), sar(9))
    assert name(store) == SCSCF and states(store) == [R, R, R]


def test_assignment_types_are_the_dictionary_values() -> None:
    # TS 29.229 §6.3.15: 9 and 10 are the authentication ones; 8 is
    # ADMINISTRATIVE_DEREGISTRATION.
    wire = DEFAULT.avp("Server-Assignment-Type").enum
    assert {t.name: int(t) for t in AssignmentType} == dict(wire)
    assert (AssignmentType.AUTHENTICATION_FAILURE, AssignmentType.AUTHENTICATION_TIMEOUT) == (
        9, 10)
    assert AssignmentType(8) is AssignmentType.ADMINISTRATIVE_DEREGISTRATION


@pytest.mark.parametrize("t", [AssignmentType.AUTHENTICATION_FAILURE,
                               AssignmentType.AUTHENTICATION_TIMEOUT])
def test_failed_first_authentication_clears_the_name_and_answers_success(
    store: Store, t: AssignmentType,
) -> None:
    # TS 29.228 §6.1.2.1: Not Registered stays Not Registered, the S-CSCF name goes.
    store.add([subscriber()])
    ctx = context(store)
    ans = run(ctx, request("MAR", User_Name=IMPI, Public_Identity=IMPU, Server_Name=SCSCF,
                           SIP_Number_Auth_Items=1, SIP_Auth_Data_Item=[
                               [("SIP-Authentication-Scheme", "Digest-AKAv1-MD5")]]))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert name(store) == SCSCF and states(store) == [N, N, N]
    uaa = run(ctx, uar())
    assert uaa.get_str("Server-Name") == SCSCF  # while authentication is pending
    ans = run(ctx, sar(int(t)))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_str("User-Name") == IMPI and ans.get("User-Data") is None
    assert name(store) is None and states(store) == [N, N, N]
    # The next REGISTER's UAR lets the I-CSCF choose again (2001 + capabilities).
    uaa = run(ctx, uar())
    assert result(uaa) == ("exp", CxResult.FIRST_REGISTRATION)
    assert uaa.get("Server-Name") is None and uaa.get("Server-Capabilities") is not None
    # Nothing stored: answered success all the same.
    assert result(run(ctx, sar(int(t)))) == ("base", ResultCode.SUCCESS)
    assert name(store) is None


@pytest.mark.parametrize("t", [9, 10])
def test_failed_authentication_keeps_what_is_not_its_to_release(store: Store, t: int) -> None:
    store.add([subscriber()])
    ctx = context(store)
    # A user with unregistered services keeps its S-CSCF and its state.
    run(ctx, sar(3, impi=None))
    assert result(run(ctx, sar(t))) == ("base", ResultCode.SUCCESS)
    assert name(store) == SCSCF and states(store) == [U, U, U]
    # Another S-CSCF's MAR stored its name since: a late failure from the first one
    # leaves it alone.
    run(ctx, sar(5))
    store.update_registration(IMSI, {}, scscf_name=SCSCF2)
    assert result(run(ctx, sar(t))) == ("base", ResultCode.SUCCESS)
    assert name(store) == SCSCF2 and states(store) == [N, N, N]


def test_no_assignment(store: Store) -> None:
    store.add([subscriber()])
    ans = run(context(store), sar(0))
    assert result(ans) == ("exp", CxResult.ERROR_IDENTITY_NOT_REGISTERED)
    run(context(store), sar(1))
    ans = run(context(store), sar(0))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_bytes("User-Data") is not None
    assert result(run(context(store), sar(0, server=SCSCF2))) == (
        "base", ResultCode.UNABLE_TO_COMPLY,
    )
    assert states(store) == [R, R, R]


def test_unsupported_assignment_types(store: Store) -> None:
    store.add([subscriber()])
    for t in (12, 13, 14):
        assert result(run(context(store), sar(t))) == ("exp", CxResult.ERROR_IN_ASSIGNMENT_TYPE)


def test_identity_errors(store: Store) -> None:
    store.add([subscriber(), subscriber("001010000000002", msisdn="15550000002")])
    ctx = context(store)
    assert result(run(ctx, sar(1, impus=["sip:x@y"]))) == ("exp", CxResult.ERROR_USER_UNKNOWN)
    assert result(run(ctx, sar(1, impi="x@y"))) == ("exp", CxResult.ERROR_USER_UNKNOWN)
    other = f"sip:001010000000002@{DOMAIN}"
    assert result(run(ctx, sar(1, impus=[other]))) == (
        "exp", CxResult.ERROR_IDENTITIES_DONT_MATCH,
    )
    assert result(run(ctx, sar(1, impus=[IMPU, other]))) == (
        "exp", CxResult.ERROR_IDENTITIES_DONT_MATCH,
    )
    assert result(run(ctx, sar(1, impus=[IMPU, "sip:x@y"]))) == (
        "exp", CxResult.ERROR_USER_UNKNOWN,
    )
    assert result(run(ctx, sar(1, impus=[], impi=None))) == ("base", ResultCode.MISSING_AVP)


def test_barred_identity_marked_in_user_data(store: Store) -> None:
    store.add([subscriber(barred=True)])
    ans = run(context(store), sar(3, impi=None))
    doc = etree.fromstring(ans.get_bytes("User-Data"))
    assert {e.text for e in doc.iterfind(".//BarringIndication")} == {"1"}


def test_the_sars_origin_host_is_recorded_with_the_name(store: Store) -> None:
    """RTR and PPR go to the Diameter host that sent the SAR (TS 29.229 §6.1.9)."""
    store.add([subscriber()])

    def host() -> str | None:
        s = store.get(IMSI)
        assert s is not None
        return s.scscf_host

    for t, expected in ((3, f"scscf.{DOMAIN}"), (6, f"scscf.{DOMAIN}"), (1, f"scscf.{DOMAIN}"),
                        (5, None)):  # fmt: skip
        assert result(run(context(store), sar(t))) == ("base", ResultCode.SUCCESS)
        assert host() == expected, t


def test_user_data_follows_every_profile_change(store: Store) -> None:
    """SAAs carry the document the profile makes now, however often it was sent before:
    barring (of one identity or the subscription), iFCs, identities added or removed."""
    store.add([subscriber()])
    ctx = context(store)

    def doc() -> etree._Element:
        with store.batch():  # as the server runs Cx requests (SQLite keeps what it read)
            ans = run(ctx, sar(1))
        assert result(ans) == ("base", ResultCode.SUCCESS)
        return etree.fromstring(ans.get_bytes("User-Data"))

    def barring() -> list[tuple[str | None, str | None]]:
        return [(p.findtext("Identity"), p.findtext("BarringIndication"))
                for p in doc().iterfind("ServiceProfile/PublicIdentity")]

    impus = subscriber().impu_names
    assert barring() == [(i, "0") for i in impus]
    assert barring() == [(i, "0") for i in impus]  # registered now: the same document
    sub = store.get(IMSI)
    assert sub is not None
    first, *rest = sub.impus
    store.update_profile(dataclasses.replace(sub, impus=(
        dataclasses.replace(first, barred=True), *rest)))
    assert barring() == [(impus[0], "1"), *((i, "0") for i in impus[1:])]
    ifc = Ifc(5, "sip:as.example:5060")
    store.update_profile(dataclasses.replace(sub, ifcs=(ifc,)))
    assert barring() == [(i, "0") for i in impus]
    assert doc().findtext(".//InitialFilterCriteria/Priority") == "5"
    store.update_profile(dataclasses.replace(sub, barred=True, impus=(
        *sub.impus, PublicIdentity(f"sip:more@{DOMAIN}"))))
    assert barring() == [(i, "1") for i in (*impus, f"sip:more@{DOMAIN}")]
    assert doc().find(".//InitialFilterCriteria") is None
    store.update_profile(dataclasses.replace(sub, impus=sub.impus[:1]))
    assert barring() == [(impus[0], "0")]
