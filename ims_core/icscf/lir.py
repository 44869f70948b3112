"""Location-Info (LIR/LIA) from the I-CSCF's side: TS 24.229 §5.3.2.1, TS 29.228
§6.1.4, TS 29.229 §6.1.5-§6.1.6.

Two pure functions, as for the UAR: :func:`lir_avps` turns an initial request into the
LIR's AVPs, and :func:`decide` turns the LIA into what the I-CSCF does next.
"""

from __future__ import annotations

from typing import Any

from ims_core.diameter import VENDOR_3GPP, CxResult, Message, ResultCode
from ims_core.sip import SipUri, TelUri, Uri

from .uar import Reject, UaaDecision, server_decision


class NotRoutable(ValueError):
    """A Request-URI the HSS cannot be asked about (not a home sip: user, not tel:)."""


def public_identity(uri: Uri, domain: str) -> str:
    """The Public-Identity of an LIR: the Request-URI (TS 24.229 §5.3.2.1). A SIP URI
    loses its parameters and headers (``sip:+n@domain;user=phone`` → ``sip:+n@domain``,
    as the HSS stores the IMPU); a tel: URI goes as it is, without parameters."""
    if isinstance(uri, TelUri):
        return f"tel:{uri.number}"
    if isinstance(uri, SipUri):
        if uri.user is None or uri.host.lower() != domain.lower():
            raise NotRoutable(f"{uri} is not a user of {domain}")
        plain = uri.copy()
        plain.params = []
        plain.headers = []
        plain.password = None
        return str(plain)
    raise NotRoutable(f"{uri} is neither sip: nor tel:")


def lir_avps(impu: str) -> list[tuple[str, Any]]:
    """LIR body (TS 29.229 §6.1.5): Public-Identity only. Originating-Request is absent
    (terminating routing) and so is User-Authorization-Type (no capabilities asked)."""
    return [("Public-Identity", impu)]


# TS 24.229 §5.3.2.1: the negative answers to a location query.
_EXPERIMENTAL_REJECT: dict[int, tuple[int, str]] = {
    CxResult.ERROR_USER_UNKNOWN: (404, "Not Found"),
    CxResult.ERROR_IDENTITY_NOT_REGISTERED: (480, "Temporarily Unavailable"),
}


def decide(answer: Message) -> UaaDecision:
    """What to do with an LIA.

    2001/2002/2003 (2003: the user is not registered but has unregistered services)
    with Server-Name → forward there; with Server-Capabilities → select from the pool;
    with neither → 480. 5001 → 404, 5003 → 480, other Cx errors → 500. Base 3xxx/4xxx
    (the query could not be completed) → the HSS-failure status; other codes → 500.
    """
    experimental = answer.experimental_result
    if experimental is not None and answer.result_code is None:
        vendor, code = experimental
        if vendor not in (VENDOR_3GPP, 0):
            return Reject(500, "Server Internal Error - Unexpected LIA Result", code)
        if 2000 <= code < 3000:
            return _success(answer, code)
        status, reason = _EXPERIMENTAL_REJECT.get(
            code, (500, f"Server Internal Error - HSS Experimental-Result {code}"))
        return Reject(status, reason, code)
    rc = answer.result_code
    if rc is None:
        return Reject(500, "Server Internal Error - LIA Without Result", None)
    if 2000 <= rc < 3000:
        return _success(answer, rc)
    if rc == ResultCode.AUTHORIZATION_REJECTED:
        return Reject(404, "Not Found", rc)
    if 3000 <= rc < 5000:
        return Reject(480, f"HSS error {rc}", rc, hss_failure=True)
    return Reject(500, f"Server Internal Error - HSS Result-Code {rc}", rc)


def _success(answer: Message, code: int) -> UaaDecision:
    return server_decision(answer, code, Reject(480, "Temporarily Unavailable", code))
