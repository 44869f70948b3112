"""Builders for the SIP messages the proxy tests feed to the core."""

from __future__ import annotations

from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Destination, Source
from ims_core.sip.inbound import request_source

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
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    mf = f"Max-Forwards: {max_forwards}\r\n" if max_forwards is not None else ""
    text = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {via_host};branch={branch}\r\n"
        f"{mf}"
        f"From: Alice <sip:alice@example.com>;tag=a1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:alice@{UAC[0]}:{UAC[1]}>\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(text)
    assert isinstance(msg, Request)
    return msg


def source_for(req: Request, addr: tuple[str, int] = UAC, transport: str = "UDP",
               conn: object | None = None) -> Source:
    """The Source the transport layer would attach (with received/rport applied)."""
    return request_source(req, transport, addr[0], addr[1], conn)


def response_to(forwarded: bytes, status: int, *, to_tag: str | None = "b1",
                extra: str = "") -> Response:
    """A downstream UAS's response to a request we forwarded (given as sent bytes)."""
    req = parse_message(forwarded)
    assert isinstance(req, Request)
    lines = [f"SIP/2.0 {status} Whatever"]
    for name in ("via",):
        for value in req.headers.get_all(name):
            lines.append(f"Via: {value}")
    lines.append(f"From: {req.headers.get('from')}")
    to = req.headers.get("to") or ""
    if to_tag and ";tag=" not in to and status > 100:
        to += f";tag={to_tag}"
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {req.headers.get('call-id')}")
    lines.append(f"CSeq: {req.headers.get('cseq')}")
    text = "\r\n".join(lines) + "\r\n" + extra + "Content-Length: 0\r\n\r\n"
    msg = parse_message(text.encode())
    assert isinstance(msg, Response)
    return msg


def parse(data: bytes) -> Request | Response:
    return parse_message(data)


def dest(addr: tuple[str, int], transport: str = "UDP") -> Destination:
    return Destination(transport, addr[0], addr[1])
