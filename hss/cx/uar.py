"""User-Authorization (UAR/UAA), I-CSCF → HSS: TS 29.228 §6.1.1, TS 29.229 §6.1.1."""

from __future__ import annotations

import dataclasses
import enum

from hss.cx.common import (
    SUCCESS,
    CxContext,
    Outcome,
    Rejected,
    base,
    exp,
    required_text,
    server_answer,
    subscriber_for,
    text_value,
)
from hss.model import RegState
from ims_core.diameter import CxResult, Message, ResultCode
from ims_core.diameter.avp import typed


class AuthType(enum.IntEnum):
    """User-Authorization-Type (TS 29.229 §6.3.24)."""

    REGISTRATION = 0
    DE_REGISTRATION = 1
    REGISTRATION_AND_CAPABILITIES = 2


_AUTH_TYPES = frozenset(int(t) for t in AuthType)


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class UarRequest:
    impi: str
    impu: str
    visited_network: str = ""
    auth_type: int = AuthType.REGISTRATION
    emergency: bool = False  # UAR-Flags bit 0

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, impi: str, impu: str, visited_network: str = "",
                 auth_type: int = AuthType.REGISTRATION, emergency: bool = False) -> None:
        object.__setattr__(self, "impi", impi)
        object.__setattr__(self, "impu", impu)
        object.__setattr__(self, "visited_network", visited_network)
        object.__setattr__(self, "auth_type", auth_type)
        object.__setattr__(self, "emergency", emergency)


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class UarAnswer:
    outcome: Outcome
    server_name: str | None = None
    capabilities: bool = False  # include Server-Capabilities

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, outcome: Outcome, server_name: str | None = None,
                 capabilities: bool = False) -> None:
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "server_name", server_name)
        object.__setattr__(self, "capabilities", capabilities)


def decide(req: UarRequest, ctx: CxContext) -> UarAnswer:
    """§6.1.1.1: identities, barring, roaming, then the registration status."""
    try:
        sub, ident = subscriber_for(ctx.store, req.impi, req.impu)
    except Rejected as r:
        return UarAnswer(r.outcome)
    assert ident is not None
    # Step 3: a barred identity may only register if a non-barred one is in its set.
    all_barred = sub.barred or (ident.barred and all(p.barred for p in sub.impus))
    if all_barred and not req.emergency:
        return UarAnswer(base(ResultCode.AUTHORIZATION_REJECTED))
    if req.auth_type not in _AUTH_TYPES:
        return UarAnswer(base(ResultCode.INVALID_AVP_VALUE))
    # Step 4: roaming (not for de-registration).
    allowed = ctx.cx.allowed_visited_networks
    if req.auth_type != AuthType.DE_REGISTRATION and allowed and (
        req.visited_network not in allowed
    ):
        return UarAnswer(exp(CxResult.ERROR_ROAMING_NOT_ALLOWED))
    # Step 5: registration status.
    if req.auth_type == AuthType.DE_REGISTRATION:
        if ident.state != RegState.NOT_REGISTERED and sub.scscf_name:
            return UarAnswer(SUCCESS, server_name=sub.scscf_name)
        return UarAnswer(exp(CxResult.ERROR_IDENTITY_NOT_REGISTERED))
    if req.auth_type == AuthType.REGISTRATION_AND_CAPABILITIES:
        return UarAnswer(exp(CxResult.FIRST_REGISTRATION), capabilities=True)
    # REGISTRATION: an S-CSCF stored for the subscription (registered, unregistered, or
    # assigned by a MAR in progress) → 2002 with its name; else 2001 with capabilities.
    if sub.scscf_name:
        return UarAnswer(exp(CxResult.SUBSEQUENT_REGISTRATION), server_name=sub.scscf_name)
    return UarAnswer(exp(CxResult.FIRST_REGISTRATION), capabilities=True)


_FIELDS = ("UAR-Flags", "User-Name", "Public-Identity", "Visited-Network-Identifier",
           "User-Authorization-Type")  # fmt: skip


def parse(msg: Message) -> UarRequest:
    flags, impi, impu, visited, auth_type = msg.first_values(_FIELDS)  # one pass
    flags = typed(flags, int, _FIELDS[0]) or 0
    return UarRequest(
        impi=required_text(msg, impi, "User-Name"),
        impu=required_text(msg, impu, "Public-Identity"),
        visited_network=text_value(visited, "Visited-Network-Identifier") or "",
        auth_type=typed(auth_type, int, "User-Authorization-Type") or 0,
        emergency=bool(flags & 1),
    )


def handle(msg: Message, ctx: CxContext) -> Message:
    res = decide(parse(msg), ctx)
    return server_answer(msg, ctx, res.outcome, res.server_name, res.capabilities)
