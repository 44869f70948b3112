"""The metrics listener's sans-I/O part: where a request head ends, how it parses (RFC
9112), what is answered to it, and the bytes of the answer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.metrics.http import (
    MAX_HEAD,
    Answer,
    HeadError,
    RequestHead,
    encode,
    head_end,
    parse_head,
    route,
)

GET = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9090\r\n\r\n"


def parsed(data: bytes) -> RequestHead:
    head = parse_head(data)
    assert isinstance(head, RequestHead), head
    return head


def refused(data: bytes) -> int:
    head = parse_head(data)
    assert isinstance(head, HeadError), head
    return head.status


def test_head_end_finds_the_empty_line() -> None:
    assert head_end(b"") is None
    assert head_end(b"GET / HTTP/1.1\r\nHost: x\r\n") is None
    assert head_end(GET) == len(GET)
    assert head_end(GET + b"body") == len(GET)
    assert head_end(b"GET / HTTP/1.0\n\n") == 16  # a bare LF ends lines too (§2.2)
    # Empty lines before the request-line are not the end of an empty head (§2.2).
    assert head_end(b"\r\n\r\nGET / HTTP/1.0\r\n\r\n") == 22
    assert head_end(b"\r\n\r\n") is None


def test_a_plain_get() -> None:
    head = parsed(GET)
    assert (head.method, head.path, head.version) == ("GET", "/metrics", (1, 1))
    assert head.values("host") == ["127.0.0.1:9090"]


@pytest.mark.parametrize(("data", "method", "path", "version"), [
    (b"HEAD /readyz HTTP/1.0\r\n\r\n", "HEAD", "/readyz", (1, 0)),  # 1.0: Host optional
    (b"GET /metrics?name[]=x HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/metrics", (1, 1)),
    (b"GET http://h:9090/healthz?x HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/healthz", (1, 1)),
    (b"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/", (1, 1)),  # §3.2.2 empty path
    (b"GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/", (1, 1)),
    (b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/", (1, 1)),  # leading CRLF
    (b"GET / HTTP/1.1\nHost: h\n\n", "GET", "/", (1, 1)),  # bare LF line ends
    (b"GET / HTTP/1.9\r\nHost: h\r\n\r\n", "GET", "/", (1, 9)),  # a later 1.x minor
    (b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "*", (1, 1)),
    (b"GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\nX-Odd: caf\xe9 \t\r\n\r\n", "GET", "/", (1, 1)),
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "GET", "/", (1, 1)),
])
def test_well_formed_heads(data: bytes, method: str, path: str,
                           version: tuple[int, int]) -> None:
    head = parsed(data)
    assert (head.method, head.path, head.version) == (method, path, version)


def test_field_names_are_lower_case_and_values_trimmed() -> None:
    head = parsed(b"GET / HTTP/1.1\r\nHOST: h\r\nX-Odd:  caf\xe9 \t\r\n\r\n")
    assert head.headers == (("host", "h"), ("x-odd", "caf\xe9"))


@pytest.mark.parametrize(("data", "status"), [
    (b"\r\n", 400),  # nothing
    (b"GET /\r\n\r\n", 400),  # HTTP/0.9 style
    (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # two spaces (§3)
    (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),  # trailing space
    (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # not a token
    (b"GET / http/1.1\r\nHost: h\r\n\r\n", 400),  # version is case-sensitive (§2.3)
    (b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505),
    (b"GET metrics HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # no form of request-target
    (b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # authority-form: no proxy here
    (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # not visible ASCII
    (b"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host (§3.2)
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # two Hosts
    (b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),  # space before the colon (§5.1)
    (b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),  # obs-fold (§5.2)
    (b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),  # bare CR (§2.2)
    (b"GET / HTTP/1.1\r\nHost: h\x00\r\n\r\n", 400),  # NUL (§5.5)
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),  # §6.3
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
     400),  # §6.1: both is an attack or an error
    (b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),  # §6.1: faulty in 1.0
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n", 413),  # no content taken
    (b"POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n", 413),
    (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 413),
])
def test_malformed_heads_are_refused(data: bytes, status: int) -> None:
    assert refused(data) == status


# A request head: pieces that are valid, nearly valid and plain garbage, joined by any
# line ending; parse_head must answer every one with a head or a 400/413/505.
_PIECES = st.sampled_from([
    b"GET", b"HEAD", b"POST", b" ", b"  ", b"/metrics", b"/readyz", b"*", b"http://h/x",
    b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/", b"\r\n", b"\n", b"\r", b"\x00", b":",
    b"Host", b"Host: h", b"Content-Length: 5", b"Content-Length: x",
    b"Transfer-Encoding: chunked", b"\t", b"\xff", b"\xc3\xa9", b"%", b"?", b"#",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES | st.binary(max_size=8), max_size=24).map(b"".join))
def test_any_bytes_get_a_head_or_a_status(data: bytes) -> None:
    head = parse_head(data)
    if isinstance(head, HeadError):
        assert head.status in (400, 413, 505) and head.reason
    else:
        assert head.method and head.version[0] == 1
        assert head.path.startswith("/") or head.path == "*"
    end = head_end(data)
    assert end is None or 0 < end <= len(data)


def test_route_answers_each_path() -> None:
    def metrics() -> bytes:
        return b"# metrics\n"

    def ready() -> list[str]:
        return []

    def not_ready() -> list[str]:
        return ["sip: not listening yet", "diameter: no open peer (hss 127.0.0.4:3868)"]

    def failing() -> list[str]:
        raise KeyError("gone")

    head = parsed(b"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n")
    got = route(head, metrics, ready)
    assert (got.status, got.body, got.head_only) == (200, b"# metrics\n", False)
    assert got.content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert route(parsed(b"HEAD /metrics HTTP/1.0\r\n\r\n"), metrics, ready).head_only
    assert route(parsed(b"GET /healthz HTTP/1.0\r\n\r\n"), metrics, not_ready).body == b"ok\n"
    assert route(parsed(b"GET /readyz HTTP/1.0\r\n\r\n"), metrics, ready) == Answer(
        200, b"ready\n")
    got = route(parsed(b"GET /readyz HTTP/1.0\r\n\r\n"), metrics, not_ready)
    assert (got.status, got.body) == (503, b"sip: not listening yet\n"
                                           b"diameter: no open peer (hss 127.0.0.4:3868)\n")
    got = route(parsed(b"GET /readyz HTTP/1.0\r\n\r\n"), metrics, failing)
    assert got.status == 503 and got.body.startswith(b"readiness check failed: KeyError")
    got = route(parsed(b"GET /other HTTP/1.0\r\n\r\n"), metrics, ready)
    assert got.status == 404
    got = route(parsed(b"POST /metrics HTTP/1.0\r\n\r\n"), metrics, ready)
    assert (got.status, got.extra) == (405, (("Allow", "GET, HEAD"),))
    got = route(parsed(b"DELETE /nowhere HTTP/1.0\r\n\r\n"), metrics, ready)
    assert got.status == 404
    got = route(HeadError(431, f"request head over {MAX_HEAD} bytes"), metrics, ready)
    assert (got.status, got.body) == (431, b"request head over 8192 bytes\n")


def test_encode_writes_status_line_fields_and_body() -> None:
    data = encode(Answer(405, b"only GET and HEAD\n", extra=(("Allow", "GET, HEAD"),)),
                  784111777.0)
    assert data == (b"HTTP/1.1 405 Method Not Allowed\r\n"
                    b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                    b"Content-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Length: 18\r\n"
                    b"Cache-Control: no-store\r\n"
                    b"Connection: close\r\n"
                    b"Allow: GET, HEAD\r\n\r\n"
                    b"only GET and HEAD\n")
    head_only = encode(Answer(200, b"ready\n", head_only=True), 0.0)
    assert head_only.endswith(b"Content-Length: 6\r\nCache-Control: no-store\r\n"
                              b"Connection: close\r\n\r\n")
