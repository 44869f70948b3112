"""Split a stream transport's bytes into SIP messages (RFC 3261 §18.3) and keep-alives
(RFC 5626 §3.5.1: a CRLFCRLF "ping" is answered with a CRLF "pong").

The framer only finds message boundaries: the end of the header block, then
Content-Length octets of body. The messages it yields still go through
`parse_message(..., stream=True)`. A stream that cannot be framed (no end of headers
within the size limit, a bad or oversized Content-Length) raises SipParseError once and
for all: the transport should close that connection only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SipParseError
from .parser import DEFAULT_LIMITS, Limits

# Content-Length / compact "l" at the start of a header line.
_CL_RE = re.compile(rb"\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """CRLFCRLF received between messages: answer with a single CRLF (pong)."""


@dataclass(frozen=True, slots=True)
class KeepAlivePong:
    """A single CRLF received between messages (the answer to our ping)."""


Frame = bytes | KeepAlivePing | KeepAlivePong
PING = KeepAlivePing()
PONG = KeepAlivePong()


class StreamFramer:
    """Feed bytes with `feed()`; take frames with `next_frame()` until it returns None."""

    __slots__ = ("_awaiting_pong", "_buf", "_error", "_limits", "_need", "_scan")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buf = bytearray()
        self._need = -1  # total length of the current message once its head is known
        self._scan = 0  # where to resume looking for the end of the header block
        self._error: SipParseError | None = None
        self._awaiting_pong = False

    def expect_pong(self) -> None:
        """We sent a ping: report a lone CRLF as a pong at once instead of waiting to
        see whether it is the first half of a CRLFCRLF ping."""
        self._awaiting_pong = True

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._buf += data

    def _fail(self, reason: str, status: int) -> SipParseError:
        self._error = SipParseError(reason, status, can_respond=False)
        self._buf.clear()
        return self._error

    def next_frame(self) -> Frame | None:
        """The next complete message (bytes) or keep-alive, or None if more is needed."""
        if self._error is not None:
            raise self._error
        buf = self._buf
        if self._need < 0:
            if buf[:2] == b"\r\n":
                if buf[:4] == b"\r\n\r\n":
                    del buf[:4]
                    return PING
                if not self._awaiting_pong and (len(buf) == 2 or buf[2:] == b"\r"):
                    return None  # maybe the first half of a ping
                self._awaiting_pong = False
                del buf[:2]
                return PONG
            if not buf:
                return None
            end = buf.find(b"\r\n\r\n", max(0, self._scan - 3))
            limit = self._limits.max_message_size
            if end < 0:
                self._scan = len(buf)
                if len(buf) > limit:
                    raise self._fail("Header block too large", 513)
                return None
            head_len = end + 4
            length = 0
            m = _CL_RE.search(buf, 0, end + 2)
            if m is not None:
                value = m.group(1).strip(b" \t")
                if not value.isdigit() or len(value) > 10:
                    raise self._fail("Bad Content-Length", 400)
                length = int(value)
            if head_len + length > limit:
                raise self._fail("Message Too Large", 513)
            self._need = head_len + length
            self._scan = 0
        if len(buf) < self._need:
            return None
        if len(buf) == self._need:  # the usual case, one message per read: one copy
            frame = bytes(buf)
            buf.clear()
        else:
            frame = bytes(buf[: self._need])
            del buf[: self._need]
        self._need = -1
        return frame
