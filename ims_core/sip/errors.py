"""Errors raised by the SIP message layer.

`SipParseError` means "the peer sent something we cannot accept"; it carries the
status code to answer with (RFC 3261 §21) and whether an answer is possible at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .message import Request


class SipParseError(ValueError):
    """A message (or part of one) violates the grammar or a hard limit.

    `status` is the response to send: 400 with `reason` for syntax errors, 505 for an
    unsupported SIP version (§8.2.2 note, RFC 4475 badvers), 513 when a limit is exceeded.
    `can_respond` is False when no response may be sent: the input was a response
    (§18.1.2: discard) or not even a request line could be read. `request` holds the
    partly parsed request when the header block was readable, so a response can be built.
    """

    def __init__(
        self,
        reason: str,
        status: int = 400,
        *,
        can_respond: bool = True,
        request: Request | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.can_respond = can_respond
        self.request = request


class SipError(Exception):
    """Misuse of the API by local code (not the peer's fault)."""
