"""Write the seed corpus of every target to tests/data/fuzz/<target>/seed-*.

    python fuzz/seeds.py

Seeds are what the test suite already holds: the SIP corpus (RFC 4475 torture cases and
the captured IMS registration), the Diameter Cx samples, our reginfo and User-Data
samples, the node configs. Files found by fuzzing (crash-*) sit next to them and are
never rewritten here.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _capture_messages() -> list[bytes]:
    """The captured registration's messages (one per '=== title' block) as wire bytes."""
    text = (ROOT / "tests" / "data" / "ims_registration_capture.sip").read_text()
    out = []
    for block in text.split("=== ")[1:]:
        lines = block.split("\n")[1:]
        out.append("\r\n".join(lines).strip("\r\n").encode() + b"\r\n\r\n")
    return out


def _sip() -> list[bytes]:
    from tests.sip import corpus, corpus_invalid

    return [c.data for c in (*corpus.VALID, *corpus_invalid.INVALID)] + _capture_messages()


def _digest() -> list[bytes]:
    values = [
        b'Digest username="001010000000001@ims.example", realm="ims.example", nonce="abc",'
        b' uri="sip:ims.example", response="6629fae49393a05397450978507c4ef1",'
        b' algorithm=AKAv1-MD5, qop=auth, nc=00000001, cnonce="0a4f113b", opaque="x"',
        b'Digest realm="ims.example", nonce="AAECAwQFBgcICQoLDA0ODw==", algorithm=AKAv1-MD5,'
        b' qop="auth,auth-int", ck="00112233445566778899aabbccddeeff", ik="00",'
        b' integrity-protected="yes", stale=TRUE',
        b'Digest username="u", auts="AAECAwQFBgcICQoLDA0=", realm="r\\"q", nonce=""',
        b"Basic", b'Bearer token="x\\\\y"',
    ]
    for msg in _capture_messages():
        for line in msg.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() in ("authorization", "www-authenticate", "proxy-authorization"):
                values.append(value.strip().encode())
    return values


def _diameter() -> list[bytes]:
    from tests.diameter import samples

    out = [make_req().encode() for _, make_req, _ in samples.ALL]
    out += [make_ans(make_req()).encode() for _, make_req, make_ans in samples.ALL]
    return out


def _userdata() -> list[bytes]:
    from ims_core import userdata_xml
    from ims_core.userdata import Ifc, Profile, PublicIdentity, ServiceProfile, Spt

    spts = (Spt(groups=(0, 1), method="INVITE"), Spt(negated=True, session_case=3),
            Spt(groups=(1,), request_uri=r"^sip:.*@example\.net$"),
            Spt(header="Accept-Contact", header_content='.*"video".*'),
            Spt(sdp_line="m", sdp_content="^audio"),
            Spt(method="REGISTER", registration_types=(1,)))
    ifcs = (Ifc(5, "sips:as.example;transport=tcp", 1, False, spts, service_info="x"),
            Ifc(8, "sip:as4.example", include_register_response=True))
    ids = (PublicIdentity("sip:001010000000001@ims.example", True),
           PublicIdentity("tel:+15550000001"))
    return [userdata_xml.build(Profile("001010000000001@ims.example",
                                       (ServiceProfile(ids, ifcs),)))]


def _reginfo() -> list[bytes]:
    from ims_core import reginfo
    from ims_core.reginfo import ContactInfo, Reginfo, RegistrationInfo
    from tests.test_reginfo import RFC_EXAMPLE

    doc = Reginfo(3, "partial", (
        RegistrationInfo("sip:001010000000001@ims.example", "r1", "terminated", (
            ContactInfo("c1", "terminated", "rejected", "sip:ue@192.0.2.1:5060", 0,
                        (("+sip.instance", '"<urn:gsma:imei:1>"'),)),)),
        RegistrationInfo("tel:+15550001", "r2", "init"),
    ))
    return [RFC_EXAMPLE, reginfo.encode(doc)]


def _config() -> list[bytes]:
    return [(ROOT / "config" / name).read_bytes() for name in ("scscf.toml", "hss.toml")]


SOURCES = {
    "sip_datagram": _sip, "sip_stream": _sip, "digest": _digest, "diameter": _diameter,
    "userdata": _userdata, "reginfo": _reginfo, "config": _config,
}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    for target, source in SOURCES.items():
        d = ROOT / "tests" / "data" / "fuzz" / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("seed-*"):
            old.unlink()
        for data in source():
            (d / f"seed-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)
        print(target, len(list(d.glob("seed-*"))))


if __name__ == "__main__":
    main()
