"""Server-Assignment (SAR/SAA), S-CSCF → HSS: TS 29.228 §6.1.2, TS 29.229 §6.1.3.

All IMPUs of a subscription form one implicit registration set (§6.5.1), so a SAR for
one of them changes the state of all. The S-CSCF name is kept per subscription.
"""

from __future__ import annotations

import dataclasses
import enum

from hss import userdata
from hss.cx.common import SUCCESS, CxContext, Outcome, Rejected, answer, base, exp, subscriber_for
from hss.cx.common import text as text_avp
from hss.model import RegState, Subscriber, identity_key
from ims_core.diameter import CxResult, Message, ResultCode


class AssignmentType(enum.IntEnum):
    """Server-Assignment-Type (TS 29.229 §6.3.15)."""

    NO_ASSIGNMENT = 0
    REGISTRATION = 1
    RE_REGISTRATION = 2
    UNREGISTERED_USER = 3
    TIMEOUT_DEREGISTRATION = 4
    USER_DEREGISTRATION = 5
    TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME = 6
    USER_DEREGISTRATION_STORE_SERVER_NAME = 7
    ADMINISTRATIVE_DEREGISTRATION = 8
    AUTHENTICATION_FAILURE = 9
    AUTHENTICATION_TIMEOUT = 10
    DEREGISTRATION_TOO_MUCH_DATA = 11
    AAA_USER_DATA_REQUEST = 12
    PGW_UPDATE = 13
    RESTORATION = 14


T = AssignmentType
_DEREGISTER = {
    T.TIMEOUT_DEREGISTRATION, T.USER_DEREGISTRATION, T.ADMINISTRATIVE_DEREGISTRATION,
    T.DEREGISTRATION_TOO_MUCH_DATA,
}  # fmt: skip
_DEREGISTER_KEEP_NAME = {
    T.TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME, T.USER_DEREGISTRATION_STORE_SERVER_NAME,
}  # fmt: skip
_AUTH_FAILED = {T.AUTHENTICATION_FAILURE, T.AUTHENTICATION_TIMEOUT}


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class SarRequest:
    impi: str | None
    impus: tuple[str, ...]
    server_name: str
    assignment_type: int
    user_data_available: bool = False
    origin_host: str | None = None  # the S-CSCF's Diameter identity: RTR/PPR go there

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, impi: str | None, impus: tuple[str, ...], server_name: str,
                 assignment_type: int, user_data_available: bool = False,
                 origin_host: str | None = None) -> None:
        object.__setattr__(self, "impi", impi)
        object.__setattr__(self, "impus", impus)
        object.__setattr__(self, "server_name", server_name)
        object.__setattr__(self, "assignment_type", assignment_type)
        object.__setattr__(self, "user_data_available", user_data_available)
        object.__setattr__(self, "origin_host", origin_host)


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class SarAnswer:
    outcome: Outcome
    impi: str | None = None
    user_data: bytes | None = None
    server_name: str | None = None  # on 5005, the S-CSCF already assigned

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, outcome: Outcome, impi: str | None = None, user_data: bytes | None = None,
                 server_name: str | None = None) -> None:
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "impi", impi)
        object.__setattr__(self, "user_data", user_data)
        object.__setattr__(self, "server_name", server_name)


def _active(sub: Subscriber) -> bool:
    return sub.state != RegState.NOT_REGISTERED


def _all(sub: Subscriber, state: RegState) -> dict[str, RegState]:
    return {p.impu: state for p in sub.impus}


def _resolve(req: SarRequest, ctx: CxContext) -> Subscriber:
    if not req.impus:
        if not req.impi:
            raise Rejected(base(ResultCode.MISSING_AVP))
        return subscriber_for(ctx.store, req.impi, None)[0]
    sub, _ = subscriber_for(ctx.store, req.impi, req.impus[0])
    for impu in req.impus[1:]:
        if sub.identity(identity_key(impu)) is None:
            # Another subscription's (or an unknown) identity in the same SAR.
            other = ctx.store.by_impu(identity_key(impu))
            code = CxResult.ERROR_USER_UNKNOWN if other is None else (
                CxResult.ERROR_IDENTITIES_DONT_MATCH
            )
            raise Rejected(exp(code))
    return sub


def decide(req: SarRequest, ctx: CxContext) -> SarAnswer:
    """§6.1.2.1, by Server-Assignment-Type."""
    try:
        sub = _resolve(req, ctx)
    except Rejected as r:
        return SarAnswer(r.outcome)
    try:
        t = AssignmentType(req.assignment_type)
    except ValueError:
        return SarAnswer(base(ResultCode.INVALID_AVP_VALUE))
    store, name = ctx.store, req.server_name
    # §8.1: outside MAR the HSS does not overwrite another S-CSCF's name.
    other_scscf = bool(sub.scscf_name) and sub.scscf_name != name and _active(sub)
    want_data = not req.user_data_available

    if t in (T.REGISTRATION, T.RE_REGISTRATION):
        if other_scscf:
            return SarAnswer(base(ResultCode.UNABLE_TO_COMPLY), sub.impi)
        states = _all(sub, RegState.REGISTERED)
        store.update_registration(sub.imsi, states, scscf_name=name, scscf_host=req.origin_host)
        return SarAnswer(SUCCESS, sub.impi, userdata.build(sub) if want_data else None)

    if t == T.UNREGISTERED_USER:
        if other_scscf:
            return SarAnswer(
                exp(CxResult.ERROR_IDENTITY_ALREADY_REGISTERED), sub.impi,
                server_name=sub.scscf_name,
            )  # fmt: skip
        # Registered identities stay registered; the others become unregistered.
        states = {
            p.impu: RegState.UNREGISTERED
            for p in sub.impus if p.state == RegState.NOT_REGISTERED
        }  # fmt: skip
        store.update_registration(sub.imsi, states, scscf_name=name, scscf_host=req.origin_host)
        return SarAnswer(SUCCESS, sub.impi, userdata.build(sub))

    if t == T.NO_ASSIGNMENT:
        # Profile download only; the requester must be the assigned S-CSCF.
        if not sub.scscf_name:
            return SarAnswer(exp(CxResult.ERROR_IDENTITY_NOT_REGISTERED), sub.impi)
        if sub.scscf_name != name:
            return SarAnswer(base(ResultCode.UNABLE_TO_COMPLY), sub.impi)
        return SarAnswer(SUCCESS, sub.impi, userdata.build(sub))

    if t in _DEREGISTER or t in _DEREGISTER_KEEP_NAME:
        if not _active(sub) and not sub.scscf_name:
            return SarAnswer(exp(CxResult.ERROR_IDENTITY_NOT_REGISTERED), sub.impi)
        if other_scscf:
            return SarAnswer(base(ResultCode.UNABLE_TO_COMPLY), sub.impi)
        # De-registering one IMPU de-registers its implicit set (§6.5.1.2).
        keep = t in _DEREGISTER_KEEP_NAME
        store.update_registration(
            sub.imsi, _all(sub, RegState.NOT_REGISTERED), scscf_name=name if keep else None
        )
        return SarAnswer(SUCCESS, sub.impi)

    if t in _AUTH_FAILED:
        # §6.1.2.1: the registration state stays as it is; for a Not Registered user the
        # S-CSCF name the MAR stored (§6.3.1) is cleared, so the next UAR lets the
        # I-CSCF select afresh. A registered (or unregistered) user keeps its S-CSCF: a
        # failed re-authentication ends nothing. A name another S-CSCF's MAR stored
        # since is that S-CSCF's to release.
        if not _active(sub) and sub.scscf_name == name:
            store.update_registration(sub.imsi, {}, scscf_name=None)
        return SarAnswer(SUCCESS, sub.impi)

    # AAA_USER_DATA_REQUEST, PGW_UPDATE (SWx) and RESTORATION are not served on Cx here.
    return SarAnswer(exp(CxResult.ERROR_IN_ASSIGNMENT_TYPE), sub.impi)


def parse(msg: Message) -> SarRequest:
    impus = tuple(
        v.decode("utf-8") if isinstance(v, bytes) else str(v)
        for v in msg.get_all("Public-Identity")
    )
    return SarRequest(
        impi=text_avp(msg, "User-Name"),
        impus=impus,
        server_name=text_avp(msg, "Server-Name", required=True) or "",
        assignment_type=int(msg.require("Server-Assignment-Type")),
        user_data_available=(msg.get_int("User-Data-Already-Available") or 0) == 1,
        origin_host=msg.origin_host,
    )


def handle(msg: Message, ctx: CxContext) -> Message:
    res = decide(parse(msg), ctx)
    ans = answer(msg, ctx, res.outcome)
    if res.impi:
        ans.add("User-Name", res.impi)
    if res.user_data is not None:
        ans.add("User-Data", res.user_data)
    if res.server_name:
        ans.add("Server-Name", res.server_name)
    return ans
