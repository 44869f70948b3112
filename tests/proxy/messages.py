"""Builders for the SIP messages the proxy tests feed to the core."""

from __future__ import annotations

from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Destination, Source
from ims_core.sip.inbound import request_source
from tests.sipmsg import answer, build_request

PROXY = ("192.0.2.10", 5060)
NEXT_HOP = ("192.0.2.20", 5060)
UAC = ("198.51.100.1", 5060)


def request(
    method: str = "INVITE",
    uri: str = "sip:bob@example.com",
    *,
    branch: str = "z9hG4bKuac1",
    max_forwards: int | None = 70,
    to_tag: str | None = None,
    cseq: int = 1,
    call_id: str = "call-1@uac",
    extra: str = "",
    via_host: str = f"{UAC[0]}:{UAC[1]}",
    transport: str = "UDP",
    body: bytes = b"",
) -> Request:
    return build_request(
        method, uri, vias=[f"SIP/2.0/{transport} {via_host};branch={branch}"],
        max_forwards=max_forwards, from_="Alice <sip:alice@example.com>;tag=a1",
        to="<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else ""), call_id=call_id,
        cseq=cseq, headers=[f"Contact: <sip:alice@{UAC[0]}:{UAC[1]}>"], extra=extra, body=body)


def source_for(req: Request, addr: tuple[str, int] = UAC, transport: str = "UDP",
               conn: object | None = None) -> Source:
    """The Source the transport layer would attach (with received/rport applied)."""
    return request_source(req, transport, addr[0], addr[1], conn)


def response_to(forwarded: bytes, status: int, *, to_tag: str | None = "b1",
                extra: str = "") -> Response:
    """A downstream UAS's response to a request we forwarded (given as sent bytes)."""
    return answer(forwarded, status, to_tag=to_tag, extra=extra)


def parse(data: bytes) -> Request | Response:
    return parse_message(data)


def dest(addr: tuple[str, int], transport: str = "UDP") -> Destination:
    return Destination(transport, addr[0], addr[1])
