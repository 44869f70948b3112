"""IMSSubscription XML: well-formed and valid against hss/CxDataType.xsd (Annex B)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import etree

import hss
from hss import userdata
from hss.model import Ifc, PublicIdentity, RegState, Spt
from ims_core import userdata as shared
from tests.hss.conftest import subscriber

XSD = Path(hss.__file__).parent / "CxDataType.xsd"


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def _valid(schema: etree.XMLSchema, data: bytes) -> etree._Element:
    doc = etree.fromstring(data)
    schema.assertValid(doc)
    return doc


def test_minimal_profile(schema: etree.XMLSchema) -> None:
    s = subscriber()
    doc = _valid(schema, userdata.build(s))
    assert doc.findtext("PrivateID") == s.impi
    ids = [e.text for e in doc.iterfind("ServiceProfile/PublicIdentity/Identity")]
    assert ids == list(s.impu_names)
    assert doc.findtext("ServiceProfile/PublicIdentity/Extension/IdentityType") == "0"
    assert userdata.build(s).startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_ifcs_every_spt_kind_sorted_by_priority(schema: etree.XMLSchema) -> None:
    ifcs = (
        Ifc(20, "sip:as2.example:5060", default_handling=1, condition_type_cnf=False, spts=(
            Spt(groups=(0, 2), method="INVITE"),
            Spt(negated=True, session_case=2),
            Spt(groups=(1,), header="Accept-Contact", header_content=".*video.*"),
            Spt(groups=(1,), header="P-Asserted-Identity"),
            Spt(groups=(2,), request_uri="sip:conf@example"),
            Spt(groups=(1,), sdp_line="m", sdp_content="video"),
        ), service_info="<voicemail/>"),
        Ifc(10, "sip:as.example:5060", spts=(Spt(method="MESSAGE"),)),
        Ifc(30, "sip:always.example"),  # no trigger point: always
    )  # fmt: skip
    sub = subscriber(ifcs=ifcs)
    data = userdata.build(sub)
    doc = _valid(schema, data)
    prios = [e.text for e in doc.iterfind("ServiceProfile/InitialFilterCriteria/Priority")]
    assert prios == ["10", "20", "30"]
    ifc20 = doc.findall("ServiceProfile/InitialFilterCriteria")[1]
    assert ifc20.findtext("TriggerPoint/ConditionTypeCNF") == "0"
    assert ifc20.findtext("ApplicationServer/DefaultHandling") == "1"
    assert ifc20.findtext("ApplicationServer/ServiceInfo") == "<voicemail/>"
    assert len(ifc20.findall("TriggerPoint/SPT")) == 6
    assert [g.text for g in ifc20.findall("TriggerPoint/SPT[1]/Group")] == ["0", "2"]
    assert ifc20.findtext("TriggerPoint/SPT[2]/SessionCase") == "2"
    assert ifc20.findtext("TriggerPoint/SPT[3]/SIPHeader/Content") == ".*video.*"
    assert ifc20.findtext("TriggerPoint/SPT[6]/SessionDescription/Line") == "m"
    # What the S-CSCF reads back is the subscriber's profile, iFCs by priority.
    assert shared.parse(data) == userdata.profile(sub)
    assert [i.priority for i in shared.parse(data).service_profiles[0].ifcs] == [10, 20, 30]


def test_barring_and_escaping(schema: etree.XMLSchema) -> None:
    s = subscriber()
    impus = [PublicIdentity(s.impus[0].impu, barred=True), *s.impus[1:]]
    ifc = Ifc(1, "sip:as.example;a=b&c", spts=(Spt(request_uri="sip:<x>&\"y\"@example"),))
    data = userdata.build(subscriber(ifcs=(ifc,)), impus)
    doc = _valid(schema, data)
    assert doc.findtext("ServiceProfile/PublicIdentity/BarringIndication") == "1"
    assert doc.findtext(".//RequestURI") == 'sip:<x>&"y"@example'


def test_reference_example_validates(schema: etree.XMLSchema) -> None:
    """The minimal IMSSubscription of TS 29.228 Annex B must pass our schema too."""
    example = b"""<?xml version="1.0" encoding="UTF-8"?>
<IMSSubscription>
  <PrivateID>001010000000001@ims.mnc001.mcc001.3gppnetwork.org</PrivateID>
  <ServiceProfile>
    <PublicIdentity><BarringIndication>0</BarringIndication>
      <Identity>sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org</Identity></PublicIdentity>
    <PublicIdentity><Identity>tel:+15550000001</Identity></PublicIdentity>
    <InitialFilterCriteria><Priority>10</Priority>
      <TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>
        <SPT><ConditionNegated>0</ConditionNegated><Group>0</Group><Method>MESSAGE</Method></SPT>
      </TriggerPoint>
      <ApplicationServer><ServerName>sip:as.ims.mnc001.mcc001.3gppnetwork.org:5060</ServerName>
        <DefaultHandling>0</DefaultHandling></ApplicationServer>
    </InitialFilterCriteria>
  </ServiceProfile>
</IMSSubscription>"""
    _valid(schema, example)


def test_schema_rejects_wrong_order(schema: etree.XMLSchema) -> None:
    bad = b"<IMSSubscription><ServiceProfile><PublicIdentity><Identity>sip:a@b</Identity>" \
        b"</PublicIdentity></ServiceProfile><PrivateID>a@b</PrivateID></IMSSubscription>"
    assert not schema.validate(etree.fromstring(bad))


def test_the_document_is_built_once_whatever_the_registration_state() -> None:
    """The cached document does not depend on the identities' registration state (a SAR
    changes it), but does on their barring."""
    s = subscriber()
    first = userdata.build(s)
    registered = dataclasses.replace(s, impus=tuple(
        dataclasses.replace(p, state=RegState.REGISTERED) for p in s.impus))
    misses = userdata._document.cache_info().misses
    assert userdata.build(registered) == first
    assert userdata._document.cache_info().misses == misses  # a hit
    barred = dataclasses.replace(s, impus=tuple(
        dataclasses.replace(p, barred=True) for p in s.impus))
    assert userdata.build(barred) != first
    assert userdata._document.cache_info().misses == misses + 1


def test_the_document_written_from_stored_values_is_the_models() -> None:
    ifcs = (Ifc(priority=9, server_name="sip:as9.example"),
            Ifc(priority=1, server_name="sip:as1.example", service_info="a&b<c>",
                spts=(Spt(method="INVITE"),)))
    for barred in (False, True):
        s = subscriber(ifcs=ifcs, barred=barred)
        impus = (PublicIdentity(s.impus[0].impu, barred=True),)
        for chosen in (None, impus):
            assert userdata.build(s, chosen) == shared.build(userdata.profile(s, chosen))
