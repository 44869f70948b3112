"""The node's HTTP listener: ``/metrics`` (Prometheus text format), ``/healthz`` and
``/readyz``, on ``[metrics] host:port``.

A small HTTP/1.1 server on ``asyncio.start_server``: nothing but the standard library
and the exporter runs in the node's loop. One request per connection (``Connection:
close``, RFC 9112 §9.6), no request content. The request head is parsed sans-I/O
(:func:`parse_head`); what to answer is decided by :func:`route` and written by
:func:`encode`. Every connection ends within ``head_timeout`` + ``write_timeout`` (+ a
short lingering close), no connection handler raises, and at most ``max_connections``
are served at once (beyond that: 503 at once).

- ``GET``/``HEAD /metrics``: :func:`ims_core.metrics.exporter.render`.
- ``/healthz``: 200 ``ok`` whenever the loop answers at all (liveness).
- ``/readyz``: 200 ``ready``, or 503 with the reasons ``ready()`` gives, one per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import http
import re
import time
from collections.abc import Callable

from ims_core import log

from .exporter import CONTENT_TYPE, render
from .families import Registry

__all__ = [
    "MAX_HEAD", "Answer", "HeadError", "MetricsServer", "RequestHead", "encode", "head_end",
    "parse_head", "route",
]

MAX_HEAD = 8192  # bytes of request line + header fields (431 beyond)
HEAD_TIMEOUT = 5.0  # seconds to receive the whole head (408 after)
WRITE_TIMEOUT = 5.0  # seconds to hand the answer to a reader that is slow to take it
LINGER = 1.0  # seconds to read and drop what a client still sends after our answer
MAX_CONNECTIONS = 64
TEXT = "text/plain; charset=utf-8"
ALLOW = "GET, HEAD"
PATHS = ("/metrics", "/healthz", "/readyz")

_log = log.get("metrics")

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT (case-sensitive).
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
# RFC 9112 §3.2.2 absolute-form: scheme "://" authority, then the path (maybe empty).
_ABSOLUTE = re.compile(rb"[A-Za-z][A-Za-z0-9+\-.]*://[^/?#]*([^#]*)")
_VISIBLE = re.compile(rb"[\x21-\x7e]+")  # request-target: no SP, CTL or non-ASCII
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")  # end of the head (§2.2: a bare LF is accepted)
_DIGITS = re.compile(rb"[0-9]+")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestHead:
    """A well-formed request head: ``path`` is the request-target's path (the query
    dropped); ``headers`` are (lower-case name, value) in order."""

    method: str
    path: str
    version: tuple[int, int]
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]


@dataclasses.dataclass(frozen=True, slots=True)
class HeadError:
    """Why a head is refused, as the status to answer with."""

    status: int
    reason: str


def head_end(buf: bytes) -> int | None:
    """Where the head in ``buf`` ends (just after its empty line), None while incomplete.
    Empty lines before the request-line are skipped (RFC 9112 §2.2)."""
    start = len(buf) - len(buf.lstrip(b"\r\n"))
    found = _BLANK_LINE.search(buf, start)
    return None if found is None else found.end()


def parse_head(data: bytes) -> RequestHead | HeadError:
    """A request head (what :func:`head_end` delimits) per RFC 9112 §2-§6: strict, any
    doubt is a 400; a version other than HTTP/1.x is 505; content is refused with 413
    (no endpoint here takes any)."""
    lines = data.lstrip(b"\r\n").split(b"\n")
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    while lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        return HeadError(400, "empty request")
    for line in lines:
        if b"\r" in line or b"\0" in line:  # §2.2 bare CR; §5.5 NUL: MUST reject
            return HeadError(400, "CR or NUL inside a line")
    request_line = _request_line(lines[0])
    if isinstance(request_line, HeadError):
        return request_line
    method, path, version = request_line
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        field = _field_line(line)
        if isinstance(field, HeadError):
            return field
        headers.append(field)
    head = RequestHead(method, path, version, tuple(headers))
    problem = _framing(head)
    return head if problem is None else problem


def _request_line(line: bytes) -> tuple[str, str, tuple[int, int]] | HeadError:
    """§3: method SP request-target SP HTTP-version, single spaces."""
    parts = line.split(b" ")
    if len(parts) != 3:
        return HeadError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        return HeadError(400, "malformed method")
    v = _VERSION.fullmatch(version)
    if v is None:
        return HeadError(400, "malformed HTTP version")
    if v.group(1) != b"1":
        return HeadError(505, "only HTTP/1.x is served")
    if not _VISIBLE.fullmatch(target):
        return HeadError(400, "malformed request target")
    if target.startswith(b"/"):  # §3.2.1 origin-form
        path = target
    elif (absolute := _ABSOLUTE.fullmatch(target)) is not None:  # §3.2.2: MUST accept
        path = absolute.group(1)
    elif target == b"*":  # §3.2.4 asterisk-form: a resource we do not have
        path = target
    else:  # authority-form (CONNECT) or nothing at all
        return HeadError(400, "malformed request target")
    path = path.split(b"?", 1)[0] or b"/"  # RFC 9110 §4.2.3: an empty path is "/"
    return method.decode("ascii"), path.decode("ascii"), (1, int(v.group(2)))


def _field_line(line: bytes) -> tuple[str, str] | HeadError:
    """§5: field-name ":" OWS field-value OWS."""
    if line[:1] in (b" ", b"\t"):  # §5.2 obs-fold: a server MUST reject or unfold
        return HeadError(400, "obsolete line folding")
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):  # §5.1: no whitespace before the colon
        return HeadError(400, "malformed header field")
    return name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")


def _framing(head: RequestHead) -> HeadError | None:
    """Host (§3.2) and message framing (§6): a request with content gets 413."""
    hosts = head.values("host")
    if len(hosts) > 1 or (head.version >= (1, 1) and not hosts):
        return HeadError(400, "an HTTP/1.1 request needs exactly one Host")
    lengths = head.values("content-length")
    codings = head.values("transfer-encoding")
    if codings and (lengths or head.version < (1, 1)):  # §6.1, §6.3: faulty framing
        return HeadError(400, "Transfer-Encoding with Content-Length or in HTTP/1.0")
    if lengths:
        values = {v.strip(" \t") for v in ",".join(lengths).split(",")}
        if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values)).encode("latin-1")):
            return HeadError(400, "invalid Content-Length")  # §6.3 item 5
        if int(next(iter(values))) > 0:
            return HeadError(413, "no request content is accepted here")
    if codings:
        return HeadError(413, "no request content is accepted here")
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = TEXT
    head_only: bool = False  # a HEAD: the same header fields, no content (RFC 9110 §9.3.2)
    extra: tuple[tuple[str, str], ...] = ()


def route(head: RequestHead | HeadError, metrics: Callable[[], bytes],
          ready: Callable[[], list[str]]) -> Answer:
    """What to answer to a head: refused heads get their status, then 404 for another
    path, 405 (with Allow, RFC 9110 §15.5.6) for a method other than GET and HEAD."""
    if isinstance(head, HeadError):
        return Answer(head.status, f"{head.reason}\n".encode())
    only = head.method == "HEAD"
    if head.path not in PATHS:
        return Answer(404, b"not found\n", head_only=only)
    if head.method not in ("GET", "HEAD"):
        return Answer(405, b"only GET and HEAD\n", extra=(("Allow", ALLOW),))
    if head.path == "/metrics":
        return Answer(200, metrics(), CONTENT_TYPE, head_only=only)
    if head.path == "/healthz":
        return Answer(200, b"ok\n", head_only=only)
    try:
        reasons = ready()
    except Exception as exc:  # the check is other code: a failure is an answer too
        reasons = [f"readiness check failed: {type(exc).__name__}: {exc}"]
    if not reasons:
        return Answer(200, b"ready\n", head_only=only)
    return Answer(503, "".join(f"{r}\n" for r in reasons).encode(), head_only=only)


def encode(answer: Answer, now: float) -> bytes:
    """The response message, HTTP/1.1 (RFC 9110 §6.2: our highest minor version), with
    Date (§6.6.1), Content-Length even for HEAD (§8.6) and ``Connection: close``."""
    phrase = http.HTTPStatus(answer.status).phrase
    fields = [
        ("Date", email.utils.formatdate(now, usegmt=True)),
        ("Content-Type", answer.content_type),
        ("Content-Length", str(len(answer.body))),
        ("Cache-Control", "no-store"),
        ("Connection", "close"),
        *answer.extra,
    ]
    head = f"HTTP/1.1 {answer.status} {phrase}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in fields) + "\r\n"
    return head.encode("latin-1") + (b"" if answer.head_only else answer.body)


class MetricsServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` for one node. ``ready()``: the
    reasons the node is not ready, ``[]`` when it is."""

    def __init__(self, registry: Registry, node: str, ready: Callable[[], list[str]], *,
                 max_connections: int = MAX_CONNECTIONS, head_timeout: float = HEAD_TIMEOUT,
                 write_timeout: float = WRITE_TIMEOUT, linger: float = LINGER) -> None:
        self.registry = registry
        self.node = node
        self.ready = ready
        self.max_connections = max_connections
        self.head_timeout = head_timeout
        self.write_timeout = write_timeout
        self.linger = linger
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connections(self) -> int:
        """Connections being served now."""
        return len(self._tasks)

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (OSError when it cannot); the bound port."""
        self._server = await asyncio.start_server(self._connected, host, port,
                                                  reuse_address=True)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        """Stop listening and end the connections still open."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _render(self) -> bytes:
        return render(self.registry, self.node)

    async def _connected(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._tasks) >= self.max_connections:
            with contextlib.suppress(Exception):  # over the bound: no reading, no waiting
                writer.write(encode(Answer(503, b"too many connections\n",
                                           extra=(("Retry-After", "1"),)), time.time()))
                writer.close()
            return
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            writer.transport.abort()
        except Exception as exc:  # a connection never takes the node down
            writer.transport.abort()
            _log.debug("metrics.connection_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                     ) -> None:
        head = await self._read_head(reader)
        if head is None:  # the client left without a word
            return
        answer = route(head, self._render, self.ready)
        try:
            async with asyncio.timeout(self.write_timeout):
                writer.write(encode(answer, time.time()))
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
        except (TimeoutError, ConnectionError):
            writer.transport.abort()
            return
        await self._linger(reader)
        writer.close()

    async def _read_head(self, reader: asyncio.StreamReader
                         ) -> RequestHead | HeadError | None:
        """The head parsed, or a HeadError (408, 431, 400 for a head cut short), or
        None when the connection ended before any byte."""
        buf = b""
        try:
            async with asyncio.timeout(self.head_timeout):
                while (end := head_end(buf)) is None:
                    if len(buf) > MAX_HEAD:
                        return HeadError(431, f"request head over {MAX_HEAD} bytes")
                    chunk = await reader.read(4096)
                    if not chunk:
                        return HeadError(400, "request head cut short") if buf.strip() else None
                    buf += chunk
        except TimeoutError:
            return HeadError(408, f"no complete request head within {self.head_timeout:g}s")
        if end > MAX_HEAD:
            return HeadError(431, f"request head over {MAX_HEAD} bytes")
        return parse_head(buf[:end])

    async def _linger(self, reader: asyncio.StreamReader) -> None:
        """Read and drop what the client still sends until it closes (RFC 9112 §9.6:
        closing with unread input would reset the connection and may lose our answer)."""
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(self.linger):
                dropped = 0
                while dropped < 65536 and (chunk := await reader.read(4096)):
                    dropped += len(chunk)
