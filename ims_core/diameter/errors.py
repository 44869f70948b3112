"""Diameter errors and Result-Code values (RFC 6733 §7.1, TS 29.229 §6.2).

Two families of exceptions, kept apart on purpose:

* :class:`DiameterError` — *the peer sent something wrong*. It carries what the answer needs:
  the Result-Code, the offending AVP as raw bytes (for Failed-AVP, §7.5) and whether the answer
  takes the E bit (protocol errors, 3xxx, §7.1.3).
* :class:`DiameterUnavailable` / :class:`DiameterTimeout` — *we could not get an answer*. Raised
  by the client API (``node.request``) when no peer is open or the answer does not arrive.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .header import Header


class ResultCode(IntEnum):
    """Base Result-Code values (RFC 6733 §7.1)."""

    # 1xxx informational, 2xxx success
    MULTI_ROUND_AUTH = 1001
    SUCCESS = 2001
    LIMITED_SUCCESS = 2002
    # 3xxx protocol errors: answered with the E bit (§7.1.3)
    COMMAND_UNSUPPORTED = 3001
    UNABLE_TO_DELIVER = 3002
    REALM_NOT_SERVED = 3003
    TOO_BUSY = 3004
    LOOP_DETECTED = 3005
    REDIRECT_INDICATION = 3006
    APPLICATION_UNSUPPORTED = 3007
    INVALID_HDR_BITS = 3008
    INVALID_AVP_BITS = 3009
    UNKNOWN_PEER = 3010
    # 4xxx transient failures
    AUTHENTICATION_REJECTED = 4001
    OUT_OF_SPACE = 4002
    ELECTION_LOST = 4003
    # 5xxx permanent failures
    AVP_UNSUPPORTED = 5001
    UNKNOWN_SESSION_ID = 5002
    AUTHORIZATION_REJECTED = 5003
    INVALID_AVP_VALUE = 5004
    MISSING_AVP = 5005
    RESOURCES_EXCEEDED = 5006
    CONTRADICTING_AVPS = 5007
    AVP_NOT_ALLOWED = 5008
    AVP_OCCURS_TOO_MANY_TIMES = 5009
    NO_COMMON_APPLICATION = 5010
    UNSUPPORTED_VERSION = 5011
    UNABLE_TO_COMPLY = 5012
    INVALID_BIT_IN_HEADER = 5013
    INVALID_AVP_LENGTH = 5014
    INVALID_MESSAGE_LENGTH = 5015
    INVALID_AVP_BIT_COMBO = 5016
    NO_COMMON_SECURITY = 5017


class CxResult(IntEnum):
    """Cx/Dx Experimental-Result-Code values, vendor 10415 (TS 29.229 §6.2).

    These travel only inside Experimental-Result; in Result-Code the same numbers mean
    other things.
    """

    FIRST_REGISTRATION = 2001
    SUBSEQUENT_REGISTRATION = 2002
    UNREGISTERED_SERVICE = 2003
    SUCCESS_SERVER_NAME_NOT_STORED = 2004
    SERVER_SELECTION = 2005  # deprecated
    ERROR_USER_UNKNOWN = 5001
    ERROR_IDENTITIES_DONT_MATCH = 5002
    ERROR_IDENTITY_NOT_REGISTERED = 5003
    ERROR_ROAMING_NOT_ALLOWED = 5004
    ERROR_IDENTITY_ALREADY_REGISTERED = 5005
    ERROR_AUTH_SCHEME_NOT_SUPPORTED = 5006
    ERROR_IN_ASSIGNMENT_TYPE = 5007
    ERROR_TOO_MUCH_DATA = 5008
    ERROR_NOT_SUPPORTED_USER_DATA = 5009
    ERROR_FEATURE_UNSUPPORTED = 5011


def is_protocol_error(result_code: int) -> bool:
    """True for 3xxx codes, whose answers carry the E bit (RFC 6733 §7.1.3)."""
    return 3000 <= result_code < 4000


class DiameterError(Exception):
    """The peer sent something we must reject with a Result-Code (RFC 6733 §7).

    ``failed_avp`` is the offending AVP exactly as received (header included) or, for a
    missing AVP, a minimal example of it (§7.5); ``None`` when no AVP is to blame.
    ``e_bit`` says whether the answer carries the E bit. ``header`` is set by the decoder
    when the message header could be read, so that an error answer can still be built;
    ``session_id`` likewise when a Session-Id was found.
    """

    def __init__(
        self,
        result_code: int,
        message: str = "",
        *,
        failed_avp: bytes | None = None,
        e_bit: bool | None = None,
    ) -> None:
        super().__init__(message or _default_text(result_code))
        self.result_code = int(result_code)
        self.failed_avp = failed_avp
        self.e_bit = is_protocol_error(result_code) if e_bit is None else e_bit
        self.text = message
        self.header: Header | None = None
        self.session_id: str | None = None

    def __repr__(self) -> str:
        return f"DiameterError({self.result_code}, {str(self)!r})"


def _default_text(code: int) -> str:
    try:
        return ResultCode(code).name
    except ValueError:
        return f"Result-Code {code}"


class DiameterUnavailable(Exception):
    """No open peer could take the request (unreachable, closed or shutting down)."""


class DiameterTimeout(Exception):
    """The request was sent but no answer arrived in time."""
