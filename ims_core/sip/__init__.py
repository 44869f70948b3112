"""Sans-I/O SIP messages: parser, serialiser, stream framer, typed header views.

Parse with `parse_message(data)` (datagram) or feed a `StreamFramer` and parse each
frame with `parse_message(frame, stream=True)`. Serialise with `msg.to_bytes()`.
Headers nobody edited are written back byte for byte. A `Dialog` holds one side of a
dialog (RFC 3261 §12). This package never does I/O.
"""

from .address import NameAddr, parse_name_addr, parse_name_addr_list, split_values
from .addressing import (
    RELIABLE,
    TCP,
    UDP,
    UDP_SIZE_LIMIT,
    Destination,
    Source,
    choose_transport,
    is_ip,
    mark_received,
    reply_destination,
    uri_destination,
    via_destination,
)
from .dialog import TARGET_REFRESH, Dialog
from .digest import AuthHeader, AuthParam, check_auth, parse_auth
from .errors import SipError, SipParseError
from .events import (
    SUBSCRIPTION_STATES,
    EventHeader,
    SubscriptionState,
    delta_seconds,
    event_package,
    is_event,
    parse_event,
    parse_subscription_state,
    refresh_delay,
    response_expires,
    response_retry_after,
    retry_after,
)
from .fields import (
    MAGIC_COOKIE,
    CSeq,
    Via,
    parse_call_id,
    parse_content_length,
    parse_cseq,
    parse_max_forwards,
    parse_via,
)
from .framer import PING, PONG, Frame, KeepAlivePing, KeepAlivePong, StreamFramer
from .grammar import COMPACT_FORMS, header_key, quote, unquote
from .headers import Headers, canonical_name
from .message import (
    SIP_VERSION,
    Message,
    Request,
    Response,
    make_ack,
    make_cancel,
    make_response,
)
from .params import HasParams, Param
from .parser import DEFAULT_LIMITS, Limits, error_response, is_keepalive, parse_message
from .status import REASON_PHRASES, reason_phrase
from .uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri, unescape

__all__ = [
    "COMPACT_FORMS",
    "DEFAULT_LIMITS",
    "MAGIC_COOKIE",
    "PING",
    "PONG",
    "REASON_PHRASES",
    "RELIABLE",
    "SIP_VERSION",
    "SUBSCRIPTION_STATES",
    "TARGET_REFRESH",
    "TCP",
    "UDP",
    "UDP_SIZE_LIMIT",
    "AbsoluteUri",
    "AuthHeader",
    "AuthParam",
    "CSeq",
    "Destination",
    "Dialog",
    "EventHeader",
    "Frame",
    "HasParams",
    "Headers",
    "KeepAlivePing",
    "KeepAlivePong",
    "Limits",
    "Message",
    "NameAddr",
    "Param",
    "Request",
    "Response",
    "SipError",
    "SipParseError",
    "SipUri",
    "Source",
    "StreamFramer",
    "SubscriptionState",
    "TelUri",
    "Uri",
    "Via",
    "canonical_name",
    "check_auth",
    "choose_transport",
    "delta_seconds",
    "error_response",
    "event_package",
    "header_key",
    "is_event",
    "is_ip",
    "is_keepalive",
    "make_ack",
    "make_cancel",
    "make_response",
    "mark_received",
    "parse_auth",
    "parse_call_id",
    "parse_content_length",
    "parse_cseq",
    "parse_event",
    "parse_max_forwards",
    "parse_message",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_subscription_state",
    "parse_uri",
    "parse_via",
    "quote",
    "reason_phrase",
    "refresh_delay",
    "reply_destination",
    "response_expires",
    "response_retry_after",
    "retry_after",
    "split_values",
    "unescape",
    "unquote",
    "uri_destination",
    "via_destination",
]
