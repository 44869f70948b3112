"""User-Data (IMSSubscription) parsing, including what the real HSS emits."""

from __future__ import annotations

import pytest

from hss import userdata as hss_userdata
from hss.model import Ifc, Spt
from hss.provision import DEMO_OP, demo_k, new_subscriber
from ims_core.scscf import userdata

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"


def test_parses_what_the_hss_builds() -> None:
    imsi = "001010000000001"
    ifc = Ifc(10, "sip:as.example:5060", spts=(Spt(method="MESSAGE"), Spt(session_case=1)))
    sub = new_subscriber(imsi=imsi, k=demo_k(imsi), op=DEMO_OP, domain=DOMAIN,
                         msisdn="15550000001", ifcs=(ifc,))
    p = userdata.parse(hss_userdata.build(sub))
    assert p.private_id == f"{imsi}@{DOMAIN}"
    assert [i.identity for i in p.identities] == [
        f"sip:{imsi}@{DOMAIN}", f"sip:+15550000001@{DOMAIN}", "tel:+15550000001"]
    [got] = p.ifcs_for("tel:+15550000001")
    assert got.priority == 10 and got.server_name == "sip:as.example:5060"
    assert [(s.kind, s.value) for s in got.spts] == [("Method", "MESSAGE"), ("SessionCase", "1")]


def test_barring_and_namespaces() -> None:
    xml = (b'<?xml version="1.0"?><IMSSubscription xmlns="urn:x"><PrivateID>a@x</PrivateID>'
           b"<ServiceProfile><PublicIdentity><BarringIndication>1</BarringIndication>"
           b"<Identity>sip:a@x</Identity></PublicIdentity></ServiceProfile></IMSSubscription>")
    [ident] = userdata.parse(xml).identities
    assert ident.barred


@pytest.mark.parametrize("doc", [
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><IMSSubscription/>',
    b'<!DOCTYPE x SYSTEM "http://example.com/x.dtd"><IMSSubscription/>',
    b"<not-xml",
    b"<Other/>",
    b"<IMSSubscription><ServiceProfile/></IMSSubscription>",
    b"<IMSSubscription>" + b" " * (300 * 1024) + b"</IMSSubscription>",
])
def test_refuses_bad_documents(doc: bytes) -> None:
    with pytest.raises(userdata.UserDataError):
        userdata.parse(doc)
