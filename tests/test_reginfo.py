"""The reginfo document (RFC 3680 §5): what the S-CSCF writes, the P-CSCF and UE read."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims_core import reginfo
from ims_core.reginfo import ContactInfo, Reginfo, ReginfoError, RegistrationInfo

# RFC 3680 §6 example (trimmed), with a GRUU extension element a reader must ignore.
RFC_EXAMPLE = b"""<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
         xmlns:gr="urn:ietf:params:xml:ns:gruuinfo" version="0" state="full">
  <registration aor="sip:user@example.com" id="as9" state="active">
    <contact id="76" state="active" event="registered" duration-registered="7322"
             q="0.8" expires="3600">
      <uri>sip:user@pc887.example.com</uri>
      <unknown-param name="+sip.instance">"&lt;urn:uuid:0001&gt;"</unknown-param>
      <gr:pub-gruu uri="sip:user@example.com;gr=urn:uuid:0001"/>
    </contact>
    <contact id="77" state="terminated" event="expired">
      <uri>sip:user@university.edu</uri>
    </contact>
  </registration>
</reginfo>
"""


def test_parses_the_rfc_example() -> None:
    doc = reginfo.parse(RFC_EXAMPLE)
    assert (doc.version, doc.state) == (0, "full")
    reg = doc.registration("sip:user@example.com")
    assert reg is not None and reg.state == "active"
    first, second = reg.contacts
    assert first == ContactInfo("76", "active", "registered", "sip:user@pc887.example.com",
                                3600, (("+sip.instance", '"<urn:uuid:0001>"'),))
    assert (second.state, second.event, second.expires) == ("terminated", "expired", None)
    assert reg.active_contacts == (first,)


def test_round_trip() -> None:
    doc = Reginfo(3, "full", (
        RegistrationInfo("sip:001010000000001@ims.example", "r1", "terminated", (
            ContactInfo("c1", "terminated", "rejected", "sip:ue@192.0.2.1:5060", 0,
                        (("+sip.instance", '"<urn:gsma:imei:1>"'),)),)),
        RegistrationInfo("tel:+15550001", "r2", "init"),
    ))
    data = reginfo.encode(doc)
    assert data.startswith(b"<?xml")
    assert reginfo.parse(data) == doc


@pytest.mark.parametrize("body, why", [
    (b"", "not well-formed"),
    (b"<reginfo version='0' state='full'>", "not well-formed"),
    (b"<other/>", "root element"),
    (b"<reginfo state='full'/>", "no version"),
    (b"<reginfo version='-1' state='full'/>", "non-negative"),
    (b"<reginfo version='0' state='half'/>", "state"),
    (b"<reginfo version='0' state='full'><registration id='1' state='active'/></reginfo>",
     "no aor"),
    (b"<reginfo version='0' state='full'><registration aor='sip:a@b' id='1' state='up'/>"
     b"</reginfo>", "state"),
    (b"<reginfo version='0' state='full'><registration aor='sip:a@b' id='1' state='active'>"
     b"<contact id='1' state='active' event='bogus'><uri>sip:x@y</uri></contact>"
     b"</registration></reginfo>", "event"),
    (b"<reginfo version='0' state='full'><registration aor='sip:a@b' id='1' state='active'>"
     b"<contact id='1' state='active' event='registered'/></registration></reginfo>",
     "no <uri>"),
    (b'<!DOCTYPE r [<!ENTITY a "aaaa">]><reginfo version="0" state="full">&a;</reginfo>',
     "DTD"),
    (b"<reginfo version='0' state='full'>" + b" " * reginfo.MAX_BODY + b"</reginfo>",
     "too large"),
])
def test_malformed_bodies_raise_reginfo_error(body: bytes, why: str) -> None:
    with pytest.raises(ReginfoError, match=why):
        reginfo.parse(body)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_document_or_reginfo_error(data: bytes) -> None:
    with contextlib.suppress(ReginfoError):
        reginfo.parse(data)
