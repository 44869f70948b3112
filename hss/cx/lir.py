"""Location-Info (LIR/LIA), I-CSCF → HSS: TS 29.228 §6.1.4, TS 29.229 §6.1.5."""

from __future__ import annotations

import dataclasses

from hss.cx.common import (
    SUCCESS,
    CxContext,
    Outcome,
    Rejected,
    exp,
    required_text,
    server_answer,
    subscriber_for,
)
from hss.model import RegState
from ims_core.diameter import CxResult, Message
from ims_core.diameter.avp import typed

REGISTRATION_AND_CAPABILITIES = 2  # User-Authorization-Type


@dataclasses.dataclass(frozen=True, slots=True)
class LirRequest:
    impu: str
    originating: bool = False
    auth_type: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class LirAnswer:
    outcome: Outcome
    server_name: str | None = None
    capabilities: bool = False


def decide(req: LirRequest, ctx: CxContext) -> LirAnswer:
    """§6.1.4.1: existence, then the registration state of the identity."""
    try:
        sub, ident = subscriber_for(ctx.store, None, req.impu)
    except Rejected as r:
        return LirAnswer(r.outcome)
    assert ident is not None
    unregistered_service = exp(CxResult.UNREGISTERED_SERVICE)
    if req.originating:
        # Originating request on behalf of the user (e.g. from an AS).
        if sub.scscf_name:
            return LirAnswer(SUCCESS, server_name=sub.scscf_name)
        return LirAnswer(unregistered_service, capabilities=True)
    if req.auth_type == REGISTRATION_AND_CAPABILITIES:
        return LirAnswer(SUCCESS, capabilities=True)
    if ident.state == RegState.REGISTERED and sub.scscf_name:
        return LirAnswer(SUCCESS, server_name=sub.scscf_name)
    if ident.state == RegState.UNREGISTERED and sub.scscf_name:
        return LirAnswer(unregistered_service, server_name=sub.scscf_name)
    # Not registered: only users with services for the unregistered state get an S-CSCF.
    if sub.has_unregistered_services:
        if sub.scscf_name:
            return LirAnswer(unregistered_service, server_name=sub.scscf_name)
        return LirAnswer(unregistered_service, capabilities=True)
    return LirAnswer(exp(CxResult.ERROR_IDENTITY_NOT_REGISTERED))


_FIELDS = ("Public-Identity", "Originating-Request", "User-Authorization-Type")


def parse(msg: Message) -> LirRequest:
    impu, originating, auth_type = msg.first_values(_FIELDS)  # one pass over the AVPs
    return LirRequest(
        impu=required_text(msg, impu, "Public-Identity"),
        originating=originating is not None,
        auth_type=typed(auth_type, int, "User-Authorization-Type"),
    )


def handle(msg: Message, ctx: CxContext) -> Message:
    res = decide(parse(msg), ctx)
    return server_answer(msg, ctx, res.outcome, res.server_name, res.capabilities)
