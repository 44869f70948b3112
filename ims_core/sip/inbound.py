"""What to do with bytes that arrived: the transport's decisions, without I/O.

A datagram or a framed stream message came from (transport, host, port, connection);
`receive()` says what follows (RFC 3261 §18.2.1, RFC 3581 §4, RFC 5626 §4.4.1):

- `Deliver(message, source)`: a message for the transaction user, a request with its
  top Via marked `received`/`rport` and its `Source` saying where responses go;
- `Answer(data, dest, ...)`: bytes to send back, e.g. a 400 or 513 to a request we
  cannot parse (§8.2.2, §21.4.1) — also what `reject()` gives when the transaction user
  finds a malformed header later;
- `Drop(reason)`: nothing to do: a keep-alive, a response that cannot be parsed
  (§18.1.2: discarded), a request with no readable request line or no usable Via.
  `close` asks to close the connection (its stream can no longer be trusted).

The asyncio transport only carries out the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from .addressing import Destination, Source, mark_received, reply_destination
from .errors import SipParseError
from .message import Request, Response, make_response
from .parser import DEFAULT_LIMITS, Limits, error_response, is_keepalive, parse_message


@dataclass(slots=True, init=False)  # not frozen: one is made per message, and frozen costs 2x
class Deliver:
    """Hand `message` to the transaction user."""

    message: Request | Response
    source: Source

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, message: Request | Response, source: Source) -> None:
        self.message = message
        self.source = source


@dataclass(frozen=True, slots=True)
class Answer:
    """Send `data` (a response of `status` we made, for `reason`) to `dest`."""

    data: bytes
    dest: Destination
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Drop:
    """Nothing to deliver or answer. `quiet`: not worth a log line (a keep-alive).
    `close`: close the connection it came on. `error`: an unexpected failure to log."""

    reason: str
    quiet: bool = False
    close: bool = False
    error: Exception | None = None


Verdict = Deliver | Answer | Drop
KEEPALIVE = Drop("keep-alive", quiet=True)


def receive(data: bytes, transport: str, host: str, port: int, conn: object | None = None,
            *, limits: Limits = DEFAULT_LIMITS, stream: bool = False) -> Verdict:
    """The verdict on `data` from `host:port` over `transport` (`conn`: the connection,
    for a stream; `stream`: `data` is one framed message of a stream, §18.3)."""
    if is_keepalive(data):
        return KEEPALIVE
    try:
        message = parse_message(data, limits, stream=stream)
    except SipParseError as exc:
        return reject(exc, None, Source(transport, host, port, conn))
    except Exception as exc:  # a parser bug must cost no more than this message
        return Drop("parser failed", close=True, error=exc)
    if isinstance(message, Response):
        return Deliver(message, Source(transport, host, port, conn))
    try:
        source = request_source(message, transport, host, port, conn)
    except SipParseError as exc:
        return reject(exc, message, Source(transport, host, port, conn))
    return Deliver(message, source)


def request_source(request: Request, transport: str, host: str, port: int,
                   conn: object | None = None) -> Source:
    """Mark the top Via of a request that came from `host:port` (§18.2.1, RFC 3581 §4)
    and say where its responses go (§18.2.2). Raises SipParseError without a usable Via."""
    via = request.top_via()
    if mark_received(via, host, port):
        request.hand_over_top_via(via)  # only read from here on
    return Source(transport, host, port, conn, reply_destination(via, transport, conn))


def reject(error: SipParseError, message: Request | Response | None,
           source: Source) -> Answer | Drop:
    """The answer to a message refused for `error`: its status, to the request's
    `reply_to`, else straight back to the address it came from (no usable Via, RFC 3581
    behaviour). `message` is what was parsed (None when parsing failed: then the
    parser's partial request, if any, is answered). Responses and ACKs are never
    answered (§18.1.2, §17.1.1.3); neither is what has no readable request line."""
    if isinstance(message, Response):
        return Drop(error.reason)
    request = message if message is not None else error.request
    if request is not None and request.method == "ACK":
        return Drop(error.reason)
    response: Response | None = None
    if message is None:
        response = error_response(error)
    elif error.can_respond:
        try:
            response = make_response(message, error.status, error.reason)
        except SipParseError:
            response = None
    if response is None:
        return Drop(error.reason)
    return Answer(response.to_bytes(), source.responses_to, response.status, error.reason)
