"""Real-looking Cx messages (TS 29.229 §6.1) for the codec and node tests."""

from __future__ import annotations

import struct

from ims_core.diameter import CxResult, Message, make_answer, make_request

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
IMPI = f"001010000000001@{DOMAIN}"
IMPU = f"sip:001010000000001@{DOMAIN}"
SCSCF = f"scscf.{DOMAIN}"
ICSCF = f"icscf.{DOMAIN}"
HSS = f"hss.{DOMAIN}"
SERVER_NAME = f"sip:{SCSCF}:5060"
USER_DATA = (
    b'<?xml version="1.0" encoding="UTF-8"?><IMSSubscription><PrivateID>' + IMPI.encode()
    + b"</PrivateID><ServiceProfile><PublicIdentity><Identity>" + IMPU.encode()
    + b"</Identity></PublicIdentity></ServiceProfile></IMSSubscription>"
)  # fmt: skip


def _req(cmd: str, origin: str, destination_host: str | None = None) -> Message:
    return make_request(
        cmd, origin_host=origin, origin_realm=DOMAIN, destination_realm=DOMAIN,
        destination_host=destination_host,
    )  # fmt: skip


def uar() -> Message:
    m = _req("UAR", ICSCF)
    m.add("User-Name", IMPI)
    m.add("Public-Identity", IMPU)
    m.add("Visited-Network-Identifier", DOMAIN.encode())
    m.add("User-Authorization-Type", "REGISTRATION")
    return m


def uaa(req: Message) -> Message:
    a = make_answer(
        req, experimental=CxResult.FIRST_REGISTRATION, origin_host=HSS, origin_realm=DOMAIN
    )
    a.add("Server-Capabilities", {"Mandatory-Capability": [1, 2], "Optional-Capability": [3],
                                  "Server-Name": [SERVER_NAME]})  # fmt: skip
    return a


def mar(resync: bytes | None = None) -> Message:
    m = _req("MAR", SCSCF)
    m.add("User-Name", IMPI)
    m.add("Public-Identity", IMPU)
    m.add("SIP-Number-Auth-Items", 2)
    item: dict[str, object] = {"SIP-Authentication-Scheme": "Digest-AKAv1-MD5"}
    if resync is not None:
        item["SIP-Authorization"] = resync
    m.add("SIP-Auth-Data-Item", item)
    m.add("Server-Name", SERVER_NAME)
    return m


def maa(req: Message) -> Message:
    a = make_answer(req, 2001, origin_host=HSS, origin_realm=DOMAIN)
    a.add("User-Name", IMPI)
    a.add("Public-Identity", IMPU)
    a.add("SIP-Number-Auth-Items", 2)
    for n in (1, 2):
        a.add("SIP-Auth-Data-Item", [
            ("SIP-Item-Number", n),
            ("SIP-Authentication-Scheme", "Digest-AKAv1-MD5"),
            ("SIP-Authenticate", bytes(range(n, n + 32))),
            ("SIP-Authorization", bytes(8)),
            ("Confidentiality-Key", b"\xc1" * 16),
            ("Integrity-Key", b"\x11" * 16),
        ])  # fmt: skip
    return a


def maa_digest(req: Message) -> Message:
    a = make_answer(req, 2001, origin_host=HSS, origin_realm=DOMAIN)
    a.add("SIP-Auth-Data-Item", {
        "SIP-Authentication-Scheme": "SIP Digest",
        "SIP-Digest-Authenticate": {"Digest-Realm": DOMAIN, "Digest-QoP": "auth",
                                    "Digest-Algorithm": "MD5", "Digest-HA1": "0" * 32},
    })  # fmt: skip
    return a


def sar() -> Message:
    m = _req("SAR", SCSCF)
    m.add("User-Name", IMPI)
    m.add("Public-Identity", IMPU)
    m.add("Server-Name", SERVER_NAME)
    m.add("Server-Assignment-Type", "REGISTRATION")
    m.add("User-Data-Already-Available", "USER_DATA_NOT_AVAILABLE")
    return m


def saa(req: Message) -> Message:
    a = make_answer(req, 2001, origin_host=HSS, origin_realm=DOMAIN)
    a.add("User-Name", IMPI)
    a.add("User-Data", USER_DATA)
    a.add("Charging-Information", {"Primary-Event-Charging-Function-Name": "aaa://ecf.ims:3868"})
    a.add("Associated-Identities", {"User-Name": [IMPI, f"other@{DOMAIN}"]})
    return a


def lir() -> Message:
    m = _req("LIR", ICSCF)
    m.add("Public-Identity", IMPU)
    m.add("Originating-Request", "ORIGINATING")
    return m


def lia(req: Message) -> Message:
    a = make_answer(req, 2001, origin_host=HSS, origin_realm=DOMAIN)
    a.add("Server-Name", SERVER_NAME)
    return a


def rtr() -> Message:
    m = _req("RTR", HSS, destination_host=SCSCF)
    m.add("User-Name", IMPI)
    m.add("Public-Identity", IMPU)
    m.add("Deregistration-Reason", {"Reason-Code": "PERMANENT_TERMINATION", "Reason-Info": "bye"})
    return m


def ppr() -> Message:
    m = _req("PPR", HSS, destination_host=SCSCF)
    m.add("User-Name", IMPI)
    m.add("User-Data", USER_DATA)
    return m


def simple_answer(req: Message) -> Message:
    return make_answer(req, 2001, origin_host=SCSCF, origin_realm=DOMAIN)


ALL = [
    ("UAR/UAA", uar, uaa),
    ("MAR/MAA", mar, maa),
    ("MAR/MAA digest", mar, maa_digest),
    ("SAR/SAA", sar, saa),
    ("LIR/LIA", lir, lia),
    ("RTR/RTA", rtr, simple_answer),
    ("PPR/PPA", ppr, simple_answer),
]


def raw_avp(code: int, flags: int, payload: bytes, vendor: int | None = None) -> bytes:
    """An AVP on the wire, built by hand (so tests do not trust the encoder)."""
    if vendor is not None:
        head = struct.pack(">III", code, ((flags | 0x80) << 24) | (12 + len(payload)), vendor)
    else:
        head = struct.pack(">II", code, (flags << 24) | (8 + len(payload)))
    return head + payload + b"\0" * (-len(payload) % 4)


def raw_message(code: int, app: int, flags: int, body: bytes, hbh: int = 7, e2e: int = 9) -> bytes:
    return (
        struct.pack(">IIIII", (1 << 24) | (20 + len(body)), (flags << 24) | code, app, hbh, e2e)
        + body
    )
