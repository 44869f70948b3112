"""Diameter base protocol (RFC 6733) and Cx/Dx (TS 29.229): codec, dictionary, message model,
peer state machine and asyncio node.

The sans-I/O parts (everything but :mod:`.node` and :mod:`.connection`) import neither asyncio
nor socket.

Messages::

    session_ids = SessionIds(rng)                    # one per node: new Session-Ids (§8.8)
    req = make_request("MAR", origin_host=..., origin_realm=..., destination_realm=...,
                       session_ids=session_ids)
    req.add("User-Name", impi)                       # values by AVP name, checked at once
    req.add("SIP-Auth-Data-Item", {"SIP-Authentication-Scheme": "Digest-AKAv1-MD5"})
    msg = decode(wire)                               # DiameterError(result_code, failed_avp, e_bit)
    msg.get("Session-Id"); msg.get_all("Public-Identity"); msg.get_grouped(...); msg.require(...)
    ans = make_answer(msg, experimental=CxResult.ERROR_USER_UNKNOWN)   # or make_answer(msg, 2001)
    wire = ans.encode()

Node (asyncio; imported lazily so the sans-I/O parts stay asyncio-free)::

    node = DiameterNode(DiameterConfig(origin_host, origin_realm, allowed_peers=(...)))
    node.add_handler(MAR, handler)                   # async def handler(req) -> answer
    node.add_responder(MAR, responder)               # responder(req, respond): respond(ans)
    await node.listen(host, port)                    # server
    node.add_peer(host, port)                        # client: CER/CEA, DWR/DWA, reconnect
    answer = await node.request(req, timeout=2.0)    # DiameterUnavailable / DiameterTimeout
    node.send_request(req, on_answer=cb)             # the same, cb(answer or exception)
    await node.stop()                                # DPR/DPA
"""

from typing import TYPE_CHECKING, Any

from . import events
from .avp import Avp, AvpList, Grouped, make_grouped
from .capabilities import Capabilities
from .codec import MAX_MESSAGE_LENGTH, Framer, check_required, decode, peek_header
from .config import DiameterConfig
from .datatypes import AvpType
from .dictionary import (
    AVP_FLAG_M,
    AVP_FLAG_P,
    AVP_FLAG_V,
    BASE_APPLICATION_ID,
    CX_APPLICATION_ID,
    CX_VSAI,
    DEFAULT,
    VENDOR_3GPP,
    Application,
    AvpDef,
    CommandDef,
    Dictionary,
)
from .errors import (
    CxResult,
    DiameterError,
    DiameterTimeout,
    DiameterUnavailable,
    ResultCode,
    is_protocol_error,
)
from .header import FLAG_E, FLAG_P, FLAG_R, FLAG_T, Header, parse_header
from .ids import SessionIds
from .inflight import AnswerCallback, Handler, PendingRequest, Respond, Responder
from .message import Message, error_answer, make_answer, make_request, new_session_id
from .peer import Peer, Role, State, Watchdog

if TYPE_CHECKING:
    from .node import DiameterNode


def __getattr__(name: str) -> Any:
    if name == "DiameterNode":
        from . import node

        return getattr(node, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Command codes (RFC 6733 §3.1; TS 29.229 §6.1).
CER = CEA = 257
DWR = DWA = 280
DPR = DPA = 282
UAR = UAA = 300
SAR = SAA = 301
LIR = LIA = 302
MAR = MAA = 303
RTR = RTA = 304
PPR = PPA = 305

__all__ = [
    "AVP_FLAG_M",
    "AVP_FLAG_P",
    "AVP_FLAG_V",
    "BASE_APPLICATION_ID",
    "CEA",
    "CER",
    "CX_APPLICATION_ID",
    "CX_VSAI",
    "DEFAULT",
    "DPA",
    "DPR",
    "DWA",
    "DWR",
    "FLAG_E",
    "FLAG_P",
    "FLAG_R",
    "FLAG_T",
    "LIA",
    "LIR",
    "MAA",
    "MAR",
    "MAX_MESSAGE_LENGTH",
    "PPA",
    "PPR",
    "RTA",
    "RTR",
    "SAA",
    "SAR",
    "UAA",
    "UAR",
    "VENDOR_3GPP",
    "AnswerCallback",
    "Application",
    "Avp",
    "AvpDef",
    "AvpList",
    "AvpType",
    "Capabilities",
    "CommandDef",
    "CxResult",
    "DiameterConfig",
    "DiameterError",
    "DiameterNode",
    "DiameterTimeout",
    "DiameterUnavailable",
    "Dictionary",
    "Framer",
    "Grouped",
    "Handler",
    "Header",
    "Message",
    "Peer",
    "PendingRequest",
    "Respond",
    "Responder",
    "ResultCode",
    "Role",
    "SessionIds",
    "State",
    "Watchdog",
    "check_required",
    "decode",
    "error_answer",
    "events",
    "is_protocol_error",
    "make_answer",
    "make_grouped",
    "make_request",
    "new_session_id",
    "parse_header",
    "peek_header",
]
