"""The UAR the I-CSCF builds from a REGISTER (TS 24.229 §5.3.1.2, TS 29.229 §6.1.1)."""

from __future__ import annotations

import pytest

from ims_core.cscf import DOMAIN
from ims_core.diameter import CX_APPLICATION_ID, UAR, VENDOR_3GPP, Message, decode
from ims_core.icscf import AuthType

from .util import IMPI, IMPU, Harness, register


def uar_for(**kwargs: object) -> Message:
    h = Harness()
    queries, sends = h.rx(register(**kwargs))  # type: ignore[arg-type]
    assert sends == []
    [query] = queries
    # What goes on the wire decodes back to the same thing.
    return decode(query.request.encode())


def test_uar_carries_impi_from_authorization_impu_from_to_and_cx_boilerplate() -> None:
    uar = uar_for()
    assert uar.command_code == UAR and uar.is_request and uar.is_proxiable
    assert uar.application_id == CX_APPLICATION_ID
    assert uar.get_str("User-Name") == IMPI
    assert uar.get_str("Public-Identity") == IMPU
    assert uar.get_bytes("Visited-Network-Identifier") == DOMAIN.encode()
    assert uar.get_int("User-Authorization-Type") == AuthType.REGISTRATION
    assert uar.origin_host == f"icscf.{DOMAIN}"
    assert uar.origin_realm == DOMAIN
    assert uar.get_str("Destination-Realm") == DOMAIN
    assert uar.get_int("Auth-Session-State") == 1
    vsai = uar.get_grouped("Vendor-Specific-Application-Id")
    assert vsai is not None and vsai.get_int("Vendor-Id") == VENDOR_3GPP
    sid = uar.session_id
    assert sid is not None and sid.startswith(f"icscf.{DOMAIN};")


def test_impi_derived_from_to_uri_without_authorization() -> None:
    # SIPp's first REGISTER has no Authorization (TS 24.229 §5.4.1.2.1 / TS 23.003 §13.3).
    uar = uar_for(authorization=None, to=f"<{IMPU};user=phone>")
    assert uar.get_str("User-Name") == IMPI
    assert uar.get_str("Public-Identity") == IMPU  # URI parameters dropped


def test_authorization_for_our_realm_wins_over_another() -> None:
    other = 'Digest username="someone@elsewhere.net", realm="elsewhere.net", nonce="", ' \
            'uri="sip:elsewhere.net", response=""'
    uar = uar_for(extra=f"Authorization: {other}\r\n")
    assert uar.get_str("User-Name") == IMPI
    uar = uar_for(authorization=other)
    assert uar.get_str("User-Name") == "someone@elsewhere.net"


def test_tel_uri_public_identity() -> None:
    uar = uar_for(to="<tel:+15550000001>")
    assert uar.get_str("Public-Identity") == "tel:+15550000001"
    assert uar.get_str("User-Name") == IMPI  # still from Authorization


@pytest.mark.parametrize(("pvni", "expected"), [
    ('"visited.example.net"', "visited.example.net"),
    ("visited.example.net", "visited.example.net"),
    ('"Visited network \\"one\\""; foo=bar, "second"', 'Visited network "one"'),
    ("other.net;param=1", "other.net"),
    (None, DOMAIN),
])
def test_visited_network_identifier(pvni: str | None, expected: str) -> None:
    uar = uar_for(pvni=pvni)
    assert uar.get_bytes("Visited-Network-Identifier") == expected.encode()


@pytest.mark.parametrize(("expires", "contact", "expected"), [
    ("0", "<sip:ue@10.0.0.1>", AuthType.DE_REGISTRATION),
    ("0", "*", AuthType.DE_REGISTRATION),
    ("600", "*", AuthType.REGISTRATION),  # invalid (RFC 3261 §10.3): the S-CSCF says 400
    ("600", "<sip:ue@10.0.0.1>;expires=0", AuthType.DE_REGISTRATION),
    (None, "<sip:ue@10.0.0.1>;expires=0, <sip:ue@10.0.0.2>;expires=0", AuthType.DE_REGISTRATION),
    ("0", "<sip:ue@10.0.0.1>, <sip:ue@10.0.0.2>;expires=60", AuthType.REGISTRATION),
    ("600", "<sip:ue@10.0.0.1>", AuthType.REGISTRATION),
    (None, "<sip:ue@10.0.0.1>", AuthType.REGISTRATION),
    ("0", None, AuthType.REGISTRATION),  # no Contact: a query of the bindings
])
def test_user_authorization_type(expires: str | None, contact: str | None,
                                 expected: AuthType) -> None:
    uar = uar_for(expires=expires, contact=contact)
    assert uar.get_int("User-Authorization-Type") == expected


def test_register_without_any_identity_is_refused_without_uar() -> None:
    h = Harness()
    req = register(authorization=None, to="<sip:ims.mnc001.mcc001.3gppnetwork.org>")
    queries, sends = h.rx(req)
    assert queries == []
    from .util import only_response

    assert only_response(sends).status == 403
