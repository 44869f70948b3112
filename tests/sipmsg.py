"""SIP messages for the sans-I/O tests of the proxy and the CSCFs: requests as a peer
puts them on the wire, a next hop's responses to what a core forwarded, and the sends a
core produced, parsed back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ims_core.proxy import Send
from ims_core.sip import Request, Response, make_response, parse_message
from ims_core.sip.addressing import Destination


def parse_request(data: bytes) -> Request:
    msg = parse_message(data)
    assert isinstance(msg, Request), msg
    return msg


def parse_response(data: bytes) -> Response:
    msg = parse_message(data)
    assert isinstance(msg, Response), msg
    return msg


def build_request(
    method: str, uri: str, *, vias: Sequence[str], from_: str, to: str, call_id: str,
    cseq: int = 1, max_forwards: int | None = 70, headers: Iterable[str] = (),
    extra: str = "", body: bytes = b"",
) -> Request:
    """A request as it arrives off the wire: ``vias`` top first, ``from_``/``to`` the
    whole header values (tags included), ``headers`` further "Name: value" lines and
    ``extra`` raw header text (CRLF-terminated lines) after them."""
    lines = [f"{method} {uri} SIP/2.0", *(f"Via: {v}" for v in vias)]
    if max_forwards is not None:
        lines.append(f"Max-Forwards: {max_forwards}")
    lines += [f"From: {from_}", f"To: {to}", f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
              *headers]
    text = "\r\n".join(lines) + "\r\n" + extra + f"Content-Length: {len(body)}\r\n\r\n"
    return parse_request(text.encode() + body)


def answer(forwarded: bytes | Request, status: int, *, to_tag: str | None = "s1",
           extra: str = "", record_route: bool = False) -> Response:
    """The response of the next hop (a UAS, RFC 3261 §8.2.6.2) to a request a core
    forwarded, as it arrives off the wire: ``extra`` raw header text added; with
    ``record_route`` the request's Record-Route copied (§12.1.1)."""
    req = forwarded if isinstance(forwarded, Request) else parse_request(forwarded)
    resp = make_response(req, status, to_tag=to_tag)
    if record_route:
        for value in req.headers.get_all("record-route"):
            resp.headers.add("Record-Route", value)
    head = resp.to_bytes()[:-2]  # up to the end of the headers, less the empty line
    return parse_response(head + extra.encode() + b"\r\n")


def requests(sends: Iterable[Send]) -> list[Send]:
    """The sends that carry requests."""
    return [s for s in sends if isinstance(parse_message(s.data), Request)]


def responses(sends: Iterable[Send]) -> list[Response]:
    """The responses among the sends, parsed."""
    return [m for m in (parse_message(s.data) for s in sends) if isinstance(m, Response)]


def one_request(sends: Iterable[Send]) -> tuple[Request, Destination]:
    """The one request among the sends, parsed, and where it went."""
    [send] = requests(sends)
    return parse_request(send.data), send.dest
