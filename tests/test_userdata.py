"""The one iFC / IMSSubscription model (TS 29.228 Annex B): validation, the dict form the
HSS stores and imports, the defensive parser, and build → parse giving the model back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

import hss
from ims_core import userdata
from ims_core.userdata import (
    DefaultHandling,
    Ifc,
    Profile,
    PublicIdentity,
    RegistrationType,
    ServiceProfile,
    SessionCase,
    Spt,
    UserDataError,
)

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"


def profile(*ifcs: Ifc, barred: bool = False) -> Profile:
    identities = (PublicIdentity(f"sip:001010000000001@{DOMAIN}", barred),
                  PublicIdentity(f"sip:+15550000001@{DOMAIN}"),
                  PublicIdentity("tel:+15550000001"))
    return Profile(f"001010000000001@{DOMAIN}", (ServiceProfile(identities, ifcs),))


# -- the model -----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,msg", [
    ({}, "exactly one of"),
    ({"method": "INVITE", "session_case": 1}, "exactly one of"),
    ({"method": ""}, "must not be empty"),
    ({"method": "INV\nITE"}, "control character"),
    ({"session_case": 5}, "session_case must be an integer 0..3"),
    ({"session_case": True}, "session_case must be an integer"),
    ({"method": "INVITE", "groups": ()}, "at least one group"),
    ({"method": "INVITE", "groups": (-1,)}, "group must be an integer"),
    ({"method": "INVITE", "header_content": "x"}, "header_content needs header"),
    ({"header": "Accept-Contact", "sdp_content": "x"}, "sdp_content needs sdp_line"),
    ({"method": "INVITE", "negated": 1}, "negated must be true or false"),
    ({"header": "X", "registration_types": (0,)}, "registration_types needs method"),
    ({"method": "REGISTER", "registration_types": (3,)}, "registration_type must be"),
    ({"method": "REGISTER", "registration_types": 1}, "must be a list"),
])  # fmt: skip
def test_an_spt_is_checked_when_made(kwargs: dict[str, Any], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        Spt(**kwargs)


@pytest.mark.parametrize("kwargs,msg", [
    ({"priority": -1}, "priority must be an integer"),
    ({"server_name": "http://as.example"}, "sip: or sips: URI"),
    ({"server_name": "sip:a b"}, "is not a SIP URI"),
    ({"default_handling": 2}, "default_handling must be an integer 0..1"),
    ({"spts": ("INVITE",)}, "spts must be a list of SPTs"),
    ({"service_info": "a\x00b"}, "control character"),
    ({"include_register_request": 1}, "include_register_request must be true or false"),
    ({"include_register_response": "yes"}, "include_register_response must be true"),
])  # fmt: skip
def test_an_ifc_is_checked_when_made(kwargs: dict[str, Any], msg: str) -> None:
    args: dict[str, Any] = {"priority": 0, "server_name": "sip:as.example", **kwargs}
    with pytest.raises(ValueError, match=msg):
        Ifc(**args)


def test_enumerations_and_sequences_are_normalised() -> None:
    spt = Spt(session_case=2, groups=[0, 3])  # type: ignore[arg-type]
    assert spt.groups == (0, 3) and spt.session_case is SessionCase.TERMINATING_UNREGISTERED
    reg = Spt(method="REGISTER", registration_types=[2, 0, 2])  # type: ignore[arg-type]
    assert reg.registration_types == (RegistrationType.DE_REGISTRATION,
                                      RegistrationType.INITIAL_REGISTRATION)
    assert Spt(method="REGISTER", registration_types=(1, 0, 2)) == Spt(method="REGISTER")
    ifc = Ifc(1, "sip:as.example", default_handling=1, condition_type_cnf=False)
    assert ifc.default_handling is DefaultHandling.SESSION_TERMINATED
    assert ifc.condition_type_cnf  # no TriggerPoint: nothing for CNF/DNF to mean
    assert hash(ifc) == hash(Ifc(1, "sip:as.example", default_handling=1))


def test_identities_and_profiles_are_checked() -> None:
    with pytest.raises(ValueError, match="sip:, sips: or tel: URI"):
        PublicIdentity("mailto:a@b")
    with pytest.raises(ValueError, match="not a URI"):
        PublicIdentity("alice")
    with pytest.raises(ValueError, match="at least one public identity"):
        ServiceProfile(())
    with pytest.raises(ValueError, match="at least one service profile"):
        Profile("a@b", ())
    with pytest.raises(ValueError, match="spaces"):
        Profile("a @b", (ServiceProfile((PublicIdentity("sip:a@b"),)),))


def test_lookups_by_public_identity() -> None:
    spt = Spt(method="MESSAGE")
    p = profile(Ifc(20, "sip:b.example", spts=(spt,)), Ifc(10, "sip:a.example"), barred=True)
    assert [i.priority for i in p.ifcs_for("tel:+1-555-000-0001")] == [10, 20]
    assert [i.priority for i in p.ifcs_for(f"sip:+15550000001@{DOMAIN.upper()};user=phone")] \
        == [10, 20]
    assert p.ifcs_for("sip:nobody@example.net") == () and p.ifcs_for("not a uri") == ()
    assert p.is_barred(f"<sip:001010000000001@{DOMAIN}>") and not p.is_barred("tel:+15550000001")
    assert [i.key for i in p.identities][-1] == "tel:+15550000001"


# -- the dict form (HSS store, `ims-core subscriber import`) --------------------------------


def test_dict_form_accepts_the_existing_format() -> None:
    d = {"priority": 10, "server_name": "sip:as.example:5060",
         "spts": [{"group": 0, "method": "MESSAGE"}, {"session_case": 2, "group": 1},
                  {"groups": [0, 1], "negated": True, "header": "X-A", "header_content": "b"}]}
    ifc = Ifc.from_dict(d)
    assert ifc.spts == (Spt(method="MESSAGE"), Spt(session_case=2, groups=(1,)),
                        Spt(groups=(0, 1), negated=True, header="X-A", header_content="b"))
    assert Ifc.from_dict(ifc.to_dict()) == ifc
    old = {"priority": 1, "server_name": "sip:as", "default_handling": 0,
           "condition_type_cnf": True,
           "spts": [{"group": 0, "negated": False, "method": "INVITE"}]}  # as stored before
    assert Ifc.from_dict(old) == Ifc(1, "sip:as", spts=(Spt(method="INVITE"),))


def test_dict_form_of_the_third_party_register_fields() -> None:
    ifc = Ifc(1, "sip:as", include_register_response=True,
              spts=(Spt(method="REGISTER", registration_types=(1, 2)),))
    d = ifc.to_dict()
    assert d["include_register_response"] is True and "include_register_request" not in d
    assert d["spts"] == [{"groups": [0], "negated": False, "method": "REGISTER",
                          "registration_types": [1, 2]}]
    assert Ifc.from_dict(d) == ifc
    plain = Ifc(1, "sip:as", spts=(Spt(method="REGISTER"),)).to_dict()
    assert "include_register_request" not in plain and "registration_types" not in \
        plain["spts"][0]  # iFCs stored before these fields read and write the same


@pytest.mark.parametrize("d,msg", [
    ({"server_name": "sip:as"}, "priority is required"),
    ({"priority": 1, "server_name": "sip:as", "colour": "red"}, "unknown field.*colour"),
    ({"priority": "1", "server_name": "sip:as"}, "priority must be an integer"),
    ({"priority": 1, "server_name": "sip:as", "spts": {"method": "X"}}, "list of tables"),
    ({"priority": 1, "server_name": "sip:as", "spts": [{"method": "A", "group": 0,
                                                         "groups": [1]}]}, "not both"),
    ({"priority": 1, "server_name": "sip:as", "spts": [{"method": "A", "groups": 1}]},
     "list of integers"),
    ({"priority": 1, "server_name": "sip:as", "spts": [{"metod": "A"}]}, "unknown.*metod"),
    ({"priority": 1, "server_name": "sip:as",
      "spts": [{"method": "A", "registration_types": 0}]}, "registration_types must be a list"),
])  # fmt: skip
def test_dict_form_errors_name_the_field(d: dict[str, Any], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        Ifc.from_dict(d)


# -- the parser ------------------------------------------------------------------------------


def test_parses_barring_namespaces_and_skips_extensions() -> None:
    xml = (b'<?xml version="1.0"?><IMSSubscription xmlns="urn:x"><PrivateID>a@x</PrivateID>'
           b"<ServiceProfile><PublicIdentity><BarringIndication>true</BarringIndication>"
           b"<Identity> sip:a@x </Identity><Extension><IdentityType>1</IdentityType>"
           b"<Other/></Extension></PublicIdentity>"
           b"<InitialFilterCriteria><Priority>3</Priority><ApplicationServer>"
           b"<ServerName>sip:as.x</ServerName></ApplicationServer>"
           b"<ProfilePartIndicator>0</ProfilePartIndicator></InitialFilterCriteria>"
           b"<Extension/></ServiceProfile></IMSSubscription>")
    p = userdata.parse(xml)
    [ident] = p.identities
    assert ident.barred and ident.identity == "sip:a@x" and ident.identity_type == 1
    [ifc] = p.service_profiles[0].ifcs
    assert ifc == Ifc(3, "sip:as.x")


@pytest.mark.parametrize("doc", [
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><IMSSubscription/>',
    b'<!DOCTYPE x SYSTEM "http://example.com/x.dtd"><IMSSubscription/>',
    b"<not-xml",
    b"<Other/>",
    b"<IMSSubscription><ServiceProfile/></IMSSubscription>",
    b"<IMSSubscription><PrivateID>a@b</PrivateID></IMSSubscription>",
    b"<IMSSubscription>" + b" " * (300 * 1024) + b"</IMSSubscription>",
    b"<IMSSubscription><ServiceProfile><PublicIdentity><Identity>sip:a@b</Identity>"
    b"</PublicIdentity></ServiceProfile></IMSSubscription>",  # no PrivateID
])
def test_refuses_bad_documents(doc: bytes) -> None:
    with pytest.raises(UserDataError):
        userdata.parse(doc)


def _with_ifc(inner: str) -> bytes:
    return (f"<IMSSubscription><PrivateID>a@b</PrivateID><ServiceProfile><PublicIdentity>"
            f"<Identity>sip:a@b</Identity></PublicIdentity><InitialFilterCriteria>{inner}"
            f"</InitialFilterCriteria></ServiceProfile></IMSSubscription>").encode()


AS = "<ApplicationServer><ServerName>sip:as.b</ServerName></ApplicationServer>"


@pytest.mark.parametrize("inner,msg", [
    ("<Priority>1</Priority>", "without ApplicationServer"),
    (f"<Priority>x</Priority>{AS}", "Priority is not a number"),
    (f"<Priority>-1</Priority>{AS}", "Priority is not a number"),
    (f"<Priority>1</Priority><TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>"
     f"</TriggerPoint>{AS}", "TriggerPoint without SPT"),
    (f"<Priority>1</Priority><TriggerPoint><SPT><Group>0</Group><Method>A</Method></SPT>"
     f"</TriggerPoint>{AS}", "without ConditionTypeCNF"),
    (f"<Priority>1</Priority><TriggerPoint><ConditionTypeCNF>maybe</ConditionTypeCNF>"
     f"<SPT><Group>0</Group><Method>A</Method></SPT></TriggerPoint>{AS}", "not a boolean"),
    (f"<Priority>1</Priority><TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>"
     f"<SPT><Group>0</Group></SPT></TriggerPoint>{AS}", "SPT without a condition"),
    (f"<Priority>1</Priority><TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>"
     f"<SPT><Method>A</Method></SPT></TriggerPoint>{AS}", "at least one group"),
    (f"<Priority>1</Priority><TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>"
     f"<SPT><Group>0</Group><SessionCase>7</SessionCase></SPT></TriggerPoint>{AS}",
     "session_case"),
    (f"<Priority>1</Priority><TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>"
     f"<SPT><Group>0</Group><Method>REGISTER</Method><Extension><RegistrationType>x"
     f"</RegistrationType></Extension></SPT></TriggerPoint>{AS}", "RegistrationType is not"),
    (f"<Priority>1</Priority><TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>"
     f"<SPT><Group>0</Group><Method>REGISTER</Method><Extension><RegistrationType>5"
     f"</RegistrationType></Extension></SPT></TriggerPoint>{AS}", "registration_type"),
    ("<Priority>1</Priority><ApplicationServer><ServerName>tel:+1</ServerName>"
     "</ApplicationServer>", "sip: or sips: URI"),
])  # fmt: skip
def test_refuses_bad_ifcs_with_a_reason(inner: str, msg: str) -> None:
    with pytest.raises(UserDataError, match=msg):
        userdata.parse(_with_ifc(inner))


def test_parses_the_third_party_register_extensions() -> None:
    spt = ("<SPT><Group>0</Group><Method>REGISTER</Method><Extension>"
           "<RegistrationType>0</RegistrationType><RegistrationType> 2 </RegistrationType>"
           "</Extension></SPT>")
    other = ("<SPT><Group>1</Group><SessionCase>0</SessionCase><Extension>"
             "<RegistrationType>1</RegistrationType></Extension></SPT>"  # not Method: moot
             "<SPT><Group>2</Group><Method>REGISTER</Method><Extension>"
             "<RegistrationType>1</RegistrationType><RegistrationType>1</RegistrationType>"
             "</Extension></SPT>")  # schema-valid, said twice
    doc = _with_ifc(
        f"<Priority>1</Priority><TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>{spt}"
        f"{other}</TriggerPoint><ApplicationServer><ServerName>sip:as.b</ServerName>"
        "<Extension><IncludeRegisterRequest/><IncludeRegisterResponse></IncludeRegisterResponse>"
        "</Extension></ApplicationServer>")
    [ifc] = userdata.parse(doc).service_profiles[0].ifcs
    assert ifc.include_register_request and ifc.include_register_response
    assert ifc.spts == (Spt(method="REGISTER", registration_types=(0, 2)),
                        Spt(groups=(1,), session_case=0),
                        Spt(groups=(2,), method="REGISTER", registration_types=(1,)))


@pytest.mark.parametrize("app,request_flag,response_flag", [
    ("<IncludeRegisterResponse/>", False, True),  # straight under ApplicationServer
    ("<IncludeRegisterRequest/><Extension/>", True, False),
    ("<Extension><IncludeRegisterRequest/></Extension>", True, False),
    ("<Extension><Other/></Extension>", False, False),
    ("", False, False),
])  # fmt: skip
def test_include_flags_where_hsses_write_them(app: str, request_flag: bool,
                                              response_flag: bool) -> None:
    doc = _with_ifc("<Priority>1</Priority><ApplicationServer><ServerName>sip:as.b"
                    f"</ServerName>{app}</ApplicationServer>")
    [ifc] = userdata.parse(doc).service_profiles[0].ifcs
    assert (ifc.include_register_request, ifc.include_register_response) == \
        (request_flag, response_flag)


# -- build → parse ---------------------------------------------------------------------------


def test_every_condition_round_trips() -> None:
    spts = (Spt(groups=(0, 1), method="INVITE"), Spt(negated=True, session_case=3),
            Spt(groups=(1,), request_uri=r"^sip:.*@example\.net$"),
            Spt(header="Accept-Contact", header_content='.*"video".*'),
            Spt(header="P-Asserted-Identity"), Spt(sdp_line="m", sdp_content="^audio"),
            Spt(sdp_line="a"), Spt(header="X-Empty", header_content=""))
    p = profile(Ifc(5, "sips:as.example;transport=tcp", 1, False, spts, service_info=""),
                Ifc(1, "sip:as.example:5070;lr"), barred=True)
    p = profile(*p.service_profiles[0].ifcs,
                Ifc(7, "sip:as3.example", spts=(Spt(method="REGISTER",
                                                    registration_types=(1,)),),
                    include_register_request=True, include_register_response=True),
                Ifc(8, "sip:as4.example", include_register_response=True), barred=True)
    data = userdata.build(p)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<IMSSubscription>')
    assert userdata.parse(data) == p
    assert userdata.parse(data.decode()) == p
    assert data.count(b"<IncludeRegisterRequest />") == 1
    assert b"<Extension><RegistrationType>1</RegistrationType></Extension>" in data


def test_built_extensions_are_valid_against_the_schema() -> None:
    xsd = Path(hss.__file__).parent / "CxDataType.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    p = profile(Ifc(1, "sip:as.example", spts=(
        Spt(method="REGISTER", registration_types=(0, 2)), Spt(groups=(1,), session_case=0)),
        service_info="x", include_register_request=True, include_register_response=True))
    schema.assertValid(etree.fromstring(userdata.build(p)))


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\x7f"),
                min_size=1, max_size=20)
_WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)
_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
_GROUPS = st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=3).map(tuple)
_REG_TYPES = st.lists(st.sampled_from(list(RegistrationType)), max_size=2, unique=True)
_SPT = st.one_of(
    st.builds(Spt, groups=_GROUPS, negated=st.booleans(), method=_TEXT,
              registration_types=_REG_TYPES.map(tuple)),
    st.builds(Spt, groups=_GROUPS, negated=st.booleans(), request_uri=_TEXT),
    st.builds(Spt, groups=_GROUPS, negated=st.booleans(), header=_TEXT,
              header_content=st.none() | _TEXT | st.just("")),
    st.builds(Spt, groups=_GROUPS, negated=st.booleans(),
              session_case=st.sampled_from(list(SessionCase))),
    st.builds(Spt, groups=_GROUPS, negated=st.booleans(), sdp_line=_TEXT,
              sdp_content=st.none() | _TEXT),
)
_SERVER = st.builds(lambda scheme, host, port: f"{scheme}:{host}.example{port}",
                    st.sampled_from(["sip", "sips"]), _LABEL,
                    st.sampled_from(["", ":5060", ":5080;lr", ";transport=tcp"]))
_IFC = st.builds(Ifc, priority=st.integers(0, 2**31 - 1), server_name=_SERVER,
                 default_handling=st.sampled_from([0, 1]), condition_type_cnf=st.booleans(),
                 spts=st.lists(_SPT, max_size=4).map(tuple),
                 service_info=st.none() | _TEXT, include_register_request=st.booleans(),
                 include_register_response=st.booleans())
_IDENTITY = st.one_of(
    st.builds(lambda u, h: f"sip:{u}@{h}.example", _WORD, _LABEL),
    st.builds(lambda n: f"tel:+{n}", st.integers(1, 10**15)),
)
_SERVICE_PROFILE = st.builds(
    ServiceProfile,
    identities=st.lists(st.builds(PublicIdentity, _IDENTITY, st.booleans(),
                                  st.sampled_from([0, 1, 2])), min_size=1, max_size=3).map(tuple),
    ifcs=st.lists(_IFC, max_size=3).map(tuple))
_PROFILE = st.builds(Profile, st.builds(lambda u, h: f"{u}@{h}", _WORD, _WORD),
                     st.lists(_SERVICE_PROFILE, min_size=1, max_size=2).map(tuple))


@settings(max_examples=100, deadline=None)
@given(_PROFILE)
def test_build_then_parse_gives_the_model_back(p: Profile) -> None:
    assert userdata.parse(userdata.build(p)) == p


@settings(max_examples=100, deadline=None)
@given(_IFC)
def test_dict_form_round_trips(ifc: Ifc) -> None:
    assert Ifc.from_dict(ifc.to_dict()) == ifc
