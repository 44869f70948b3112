"""Location-Info (LIR/LIA) from the I-CSCF's side: TS 24.229 §5.3.2.1, TS 29.228
§6.1.4, TS 29.229 §6.1.5-§6.1.6.

Two pure functions, as for the UAR: :func:`lir_avps` turns an initial request into the
LIR's AVPs, and :func:`decide` turns the LIA into what the I-CSCF does next.
"""

from __future__ import annotations

from typing import Any

from ims_core.cscf import CxOutcome, CxVerdict, Procedure, verdict
from ims_core.diameter import Message
from ims_core.identity import plain_identity
from ims_core.sip import SipUri, TelUri, Uri

from .uar import Reject, UaaDecision, server_decision


class NotRoutable(ValueError):
    """A Request-URI the HSS cannot be asked about (not a home sip: user, not tel:)."""


def public_identity(uri: Uri, domain: str) -> str:
    """The Public-Identity of an LIR: the Request-URI as Cx carries it (TS 24.229
    §5.3.2.1): ``sip:+n@domain;user=phone`` → ``sip:+n@domain``, as the HSS stores the
    IMPU; a tel: URI without parameters. Only users of our domain are asked about."""
    if isinstance(uri, SipUri):
        if uri.user is None or uri.host.lower() != domain.lower():
            raise NotRoutable(f"{uri} is not a user of {domain}")
        return plain_identity(uri)
    if isinstance(uri, TelUri):
        return plain_identity(uri)
    raise NotRoutable(f"{uri} is neither sip: nor tel:")


def lir_avps(impu: str) -> list[tuple[str, Any]]:
    """LIR body (TS 29.229 §6.1.5): Public-Identity only. Originating-Request is absent
    (terminating routing) and so is User-Authorization-Type (no capabilities asked)."""
    return [("Public-Identity", impu)]


# TS 24.229 §5.3.2.1: the HSS says yes but names no S-CSCF and gives no capabilities
# (e.g. 2003 without unregistered services to run) → the user cannot be reached now.
NO_SCSCF_IN_LIA = CxVerdict(False, 480, "LIA names no S-CSCF and no capabilities",
                            "Temporarily Unavailable")


def decide(outcome: CxOutcome) -> UaaDecision:
    """What to do with an LIA, or the error that stood in for one.

    2001/2002/2003 (2003: the user is not registered but has unregistered services)
    with Server-Name → forward there; with Server-Capabilities → select from the pool;
    with neither → 480. Every failure is judged by the shared table
    (:mod:`ims_core.cscf.cxresult`: 5001 → 404, 5003 → 480, no usable answer → the
    node's LIR failure status…).
    """
    judged = verdict(outcome, Procedure.LIR)
    if not judged.ok or not isinstance(outcome, Message):
        return Reject(judged)
    return server_decision(outcome, judged.code, NO_SCSCF_IN_LIA)
