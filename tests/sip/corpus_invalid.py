# ruff: noqa: E501, W291 - torture messages have long lines and trailing blanks on purpose
"""RFC 4475 §3.1.2 invalid messages (and §3.3 ones a parser rejects), written from the
RFC's descriptions; each Case carries the status the rejection must carry."""

from __future__ import annotations

from .corpus import SDP, Case, wire

# -- RFC 4475 §3.1.2: invalid messages -----------------------------------------------
BADINV01 = wire(
    """
INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: {cl}
Content-Type: application/sdp
""",
    SDP,
)

CLERR = wire(
    """
INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999
""",
    SDP,
)

SCALAR02 = wire(
    """
INVITE sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw
Max-Forwards: 254
To: <sip:l.user@example.com>
From: <sip:caller@example.net>;tag=32394234
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
CSeq: 0 INVITE
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: -999
""",
    SDP,
)

SCALARLG = wire(
    """
REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar1.0-2nqrsjgnalnmsnhqsdm1
Max-Forwards: 300
Expires: 1000000000000000000000000
Contact: <sip:user@host129.example.com>;expires=280297596632815
Content-Length: 0
"""
)

SCALARLG_RESPONSE = wire(
    """
SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0
"""
)

QUOTBAL = wire(
    """
INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: {cl}
""",
    SDP,
)

_INVITE_TAIL = """
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: {cid}
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKkdjuw
Content-Type: application/sdp
Content-Length: {{cl}}
"""


def _invite(request_line: str, cid: str) -> bytes:
    return wire(request_line + "\n" + _INVITE_TAIL.format(cid=cid).strip("\n"), SDP)


LTGTRURI = _invite("INVITE <sip:user@example.com> SIP/2.0", "ltgtruri.1@192.0.2.5")
LWSRURI = _invite("INVITE sip:user@example.com; lr SIP/2.0", "lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423")
LWSSTART = _invite("INVITE  sip:user@example.com  SIP/2.0", "lwsstart.dfknq234oi243099adsdfnawe3@example.com")
TRWS = wire(
    """
OPTIONS sip:remote-target@example.com SIP/2.0  
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0
"""
)
ESCRURI = _invite("INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0", "escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5")

REGBADCT = wire(
    """
REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0
"""
)

BADASPEC = wire(
    """
OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0
"""
)

BADDN = wire(
    """
OPTIONS sip:t.watson@example.org SIP/2.0
Via: SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To: Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0
"""
)

BADVERS = wire(
    """
OPTIONS sip:t.watson@example.org SIP/7.0
Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To: T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq: 1 OPTIONS
l: 0
"""
)

MISMATCH01 = wire(
    """
OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0
"""
)

MISMATCH02 = wire(
    """
NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dj0234sxdfl3
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw
Content-Type: application/sdp
l: {cl}
""",
    SDP,
)

BIGCODE = wire(
    """
SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>
"""
)

INSUF = wire(
    """
INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: {cl}
""",
    SDP,
)

MULTI01 = wire(
    """
INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: {cl}
Contact: <sip:caller@host36.example.net>
Max-Forwards: 5
""",
    SDP,
)

MCL01 = wire(
    """
OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain
""",
    b"There's no way to know how many octets are supposed to be here.",
)

INVALID = [
    Case("badinv01", BADINV01, 400),
    Case("clerr", CLERR, 400),
    Case("scalar02", SCALAR02, 400),
    Case("scalarlg", SCALARLG, 400),
    Case("scalarlg-response", SCALARLG_RESPONSE, 400, can_respond=False),
    Case("quotbal", QUOTBAL, 400),
    Case("ltgtruri", LTGTRURI, 400),
    Case("lwsruri", LWSRURI, 400),
    Case("lwsstart", LWSSTART, 400),
    Case("trws", TRWS, 400),
    Case("escruri", ESCRURI, 400),
    Case("regbadct", REGBADCT, 400),
    Case("badaspec", BADASPEC, 400),
    Case("baddn", BADDN, 400),
    Case("badvers", BADVERS, 505),
    Case("mismatch01", MISMATCH01, 400),
    Case("mismatch02", MISMATCH02, 400),
    Case("bigcode", BIGCODE, 400, can_respond=False),
    Case("insuf", INSUF, 400),
    Case("multi01", MULTI01, 400),
    Case("mcl01", MCL01, 400),
]
