"""Messages and a harness for driving a PcscfCore without sockets."""

from __future__ import annotations

from collections.abc import Sequence

from ims_core.cscf import SipListen
from ims_core.pcscf import PcscfConfig, PcscfCore
from ims_core.proxy import Send
from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Source
from ims_core.sip.inbound import request_source
from tests.sipmsg import answer, build_request, requests, responses

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
PCSCF = ("192.0.2.10", 5060)
ICSCF = ("192.0.2.20", 5060)
SCSCF = ("192.0.2.30", 5060)
UE = ("198.51.100.7", 5070)
IMPU = f"sip:001010000000001@{DOMAIN}"
TEL = "tel:+15550000001"
IMPI = f"001010000000001@{DOMAIN}"
SERVICE_ROUTE = f"<sip:orig@{SCSCF[0]}:{SCSCF[1]};lr>"
CONTACT = f"sip:001010000000001@{UE[0]}:{UE[1]}"  # the UE's registered contact
ALICE = f"sip:alice@{DOMAIN}"  # a caller in the core
OUR_ROUTE = f"<sip:{PCSCF[0]}:{PCSCF[1]};lr>"
PATH_ROUTE = f"Route: <sip:term@{PCSCF[0]}:{PCSCF[1]};lr>\r\n"  # the S-CSCF's way to the UE
RR_ORIG = f"<sip:{PCSCF[0]}:{PCSCF[1]};lr;ims-leg=orig>"
RR_TERM = f"<sip:{PCSCF[0]}:{PCSCF[1]};lr;ims-leg=term>"
CHALLENGE = (
    f'Digest realm="{DOMAIN}", nonce="bm9uY2UtcmFuZC1hdXRu", algorithm=AKAv1-MD5, '
    'qop="auth", ck="00112233445566778899aabbccddeeff", '
    'ik="ffeeddccbbaa99887766554433221100"'
)


def config(**overrides: object) -> PcscfConfig:
    values: dict[str, object] = {
        "sip": SipListen(host=PCSCF[0], port=PCSCF[1]),
        "home_networks": {DOMAIN: f"{ICSCF[0]}:{ICSCF[1]}"},
        "visited_network_id": "visited.example.net",
    }
    values.update(overrides)
    return PcscfConfig(**values)  # type: ignore[arg-type]


def register(
    *, uri: str = f"sip:{DOMAIN}", to: str = IMPU, contact: str | None = None,
    expires: int | None = 600000, call_id: str = "reg-1@ue", cseq: int = 1,
    branch: str = "", ue: tuple[str, int] = UE, transport: str = "UDP",
    extra: str = "", auth: bool = True,
) -> Request:
    contact = contact if contact is not None else f"<sip:001010000000001@{ue[0]}:{ue[1]}>"
    auth_line = (
        f'Authorization: Digest username="{IMPI}", realm="{DOMAIN}", nonce="", '
        f'uri="sip:{DOMAIN}", response=""' if auth else ""
    )
    exp = "" if expires is None else f"Expires: {expires}"
    branch = branch or f"z9hG4bK{abs(hash((call_id, cseq))):x}"
    return build_request(
        "REGISTER", uri, vias=[f"SIP/2.0/{transport} {ue[0]}:{ue[1]};branch={branch};rport"],
        from_=f"<{to}>;tag=ue-{cseq}", to=f"<{to}>", call_id=call_id, cseq=cseq,
        headers=[h for h in (contact and f"Contact: {contact}", auth_line, exp) if h],
        extra=extra)


def request(
    method: str = "MESSAGE", uri: str = f"sip:bob@{DOMAIN}", *, from_uri: str = IMPU,
    call_id: str = "m-1@ue", branch: str = "z9hG4bKm1", ue: tuple[str, int] = UE,
    transport: str = "UDP", extra: str = "", to_tag: str | None = None,
) -> Request:
    return build_request(
        method, uri, vias=[f"SIP/2.0/{transport} {ue[0]}:{ue[1]};branch={branch};rport"],
        from_=f"<{from_uri}>;tag=f1", to=f"<{uri}>" + (f";tag={to_tag}" if to_tag else ""),
        call_id=call_id, headers=[f"Contact: <sip:001010000000001@{ue[0]}:{ue[1]}>"],
        extra=extra, body=b"hello" if method == "MESSAGE" else b"")


def source_for(req: Request, addr: tuple[str, int] = UE, transport: str = "UDP",
               conn: object | None = None) -> Source:
    return request_source(req, transport, addr[0], addr[1], conn)


def ok_extra(contact: str, expires: int, *, path: str, service_route: str = SERVICE_ROUTE,
             associated: Sequence[str] = (IMPU, TEL)) -> str:
    pau = ", ".join(f"<{u}>" for u in associated)
    return (
        f"Contact: <{contact}>;expires={expires}\r\n"
        f"Path: {path}\r\n"
        f"Service-Route: {service_route}\r\n"
        f"P-Associated-URI: {pau}\r\n"
    )


class Harness:
    """A PcscfCore, a fake clock and helpers to feed it and read what it sends.
    `after_register`: what the core sent on the last 200 of `register` (the 200 to the
    UE and, after an initial registration, our SUBSCRIBE)."""

    def __init__(self, core: PcscfCore | None = None) -> None:
        self.core = core or PcscfCore(config())
        self.now = 1000.0
        self.after_register: list[Send] = []

    def rx(self, msg: Request | Response, source: Source | None = None) -> list[Send]:
        if source is None:
            source = source_for(msg) if isinstance(msg, Request) else Source("UDP", *ICSCF)
        self.core.receive(msg, source, self.now)
        return self.core.data_to_send()

    def advance(self, seconds: float) -> list[Send]:
        """Move the clock, firing every timer that falls due on the way."""
        end = self.now + seconds
        sent: list[Send] = []
        while (t := self.core.get_timer()) is not None and t <= end:
            self.now = max(self.now, t)
            self.core.handle_timer(self.now)
            sent += self.core.data_to_send()
        self.now = end
        return sent

    def register(self, *, expires: int = 600000, ue: tuple[str, int] = UE,
                 transport: str = "UDP", conn: object | None = None,
                 associated: Sequence[str] = (IMPU, TEL), reg_expires: int = 600,
                 call_id: str = "reg-1@ue", to: str = IMPU, user: str = "001010000000001",
                 service_route: str = SERVICE_ROUTE) -> Response:
        """A complete registration through a fake I-CSCF/S-CSCF: 401 then 200. The
        contact is `sip:{user}@{ue}`."""
        contact = f"sip:{user}@{ue[0]}:{ue[1]}"
        first = register(ue=ue, transport=transport, expires=expires, call_id=call_id, to=to,
                         contact=f"<{contact}>")
        [fwd] = requests(self.rx(first, source_for(first, ue, transport, conn)))
        challenge = f"WWW-Authenticate: {CHALLENGE}\r\n"
        [r401] = responses(self.rx(answer(fwd.data, 401, extra=challenge)))
        assert r401.status == 401
        second = register(ue=ue, transport=transport, expires=expires, cseq=2,
                          call_id=call_id, to=to, contact=f"<{contact}>")
        [fwd2] = requests(self.rx(second, source_for(second, ue, transport, conn)))
        sent = parse_message(fwd2.data)
        path = sent.headers.values("path")[0]
        extra = ok_extra(contact, reg_expires, path=path, associated=associated,
                         service_route=service_route) if reg_expires else f"Path: {path}\r\n"
        self.after_register = self.rx(answer(fwd2.data, 200, extra=extra))
        [r200] = responses(self.after_register)
        return r200

