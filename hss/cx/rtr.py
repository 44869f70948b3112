"""Registration-Termination (RTR/RTA), HSS → S-CSCF: TS 29.228 §6.1.3, TS 29.229 §6.1.9-10.

Two forms: IMPI-only (no Public-Identity: every registration of the private identity) and
IMPU-list. All IMPUs of a subscription form one implicit registration set here, and
de-registering an identity de-registers its set (§6.5.2.2), so an accepted RTR of either
form leaves the subscription Not Registered with no S-CSCF (§6.1.3.1).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from hss.cx.common import CxContext, Outcome
from hss.cx.push import destination, record, request
from hss.model import Push, PushKind, PushState, RegState, Subscriber
from hss.store.base import KEEP
from ims_core.diameter import CxResult, Message, ResultCode


class ReasonCode(enum.IntEnum):
    """Deregistration-Reason's Reason-Code (TS 29.229 §6.3.17)."""

    PERMANENT_TERMINATION = 0
    NEW_SERVER_ASSIGNED = 1
    SERVER_CHANGE = 2
    REMOVE_SCSCF = 3


# The CLI's --reason words.
REASONS: dict[str, ReasonCode] = {
    "permanent": ReasonCode.PERMANENT_TERMINATION,
    "new-server": ReasonCode.NEW_SERVER_ASSIGNED,
    "server-change": ReasonCode.SERVER_CHANGE,
    "remove-scscf": ReasonCode.REMOVE_SCSCF,
}


def new_push(
    sub: Subscriber, reason: ReasonCode, info: str | None = None, impus: Iterable[str] = ()
) -> Push | None:
    """The RTR to queue for *sub*, or None when no S-CSCF holds it.

    *impus* (any form :func:`hss.model.identity_key` accepts) asks for the IMPU-list form;
    each must be one of *sub*'s (ValueError names the first that is not). Raises
    :class:`~hss.cx.push.Unroutable` when the S-CSCF's Diameter host is unknown.
    """
    listed: list[str] = []
    for impu in impus:
        ident = sub.identity(impu)
        if ident is None:
            raise ValueError(f"{impu} is not a public identity of {sub.imsi}")
        if ident.impu not in listed:
            listed.append(ident.impu)
    host = destination(sub)
    if host is None:
        return None
    return Push(
        kind=PushKind.RTR, imsi=sub.imsi, impi=sub.impi, destination_host=host,
        impus=tuple(listed), reason_code=int(reason), reason_info=info or None,
    )  # fmt: skip


def build(push: Push, ctx: CxContext) -> Message:
    """The RTR (§6.1.9): the common skeleton, Public-Identity per listed IMPU, then
    Deregistration-Reason {Reason-Code, [Reason-Info]}."""
    msg = request("RTR", push, ctx)
    for impu in push.impus:
        msg.add("Public-Identity", impu)
    reason: list[tuple[str, object]] = [("Reason-Code", int(push.reason_code or 0))]
    if push.reason_info:
        reason.append(("Reason-Info", push.reason_info))
    msg.add("Deregistration-Reason", reason)
    return msg


def prepare(push: Push, ctx: CxContext) -> Message:
    return build(push, ctx)  # from the queued data alone: the subscriber may be gone


def accepted(outcome: Outcome) -> bool:
    """RTA 2001, or 5001 DIAMETER_ERROR_USER_UNKNOWN: the S-CSCF holds no registration
    (any more), which ends it just as well (§6.1.3.1)."""
    return (outcome.result_code == ResultCode.SUCCESS
            or outcome.experimental == CxResult.ERROR_USER_UNKNOWN)  # fmt: skip


def deregistration(sub: Subscriber, push: Push) -> tuple[dict[str, RegState], bool] | None:
    """What an accepted *push* changes in *sub*: the identities to set Not Registered and
    whether the S-CSCF name goes too (nothing left registered). None when the subscription
    has moved to another S-CSCF since, or the listed identities are no longer its own."""
    if (sub.scscf_host or "").lower() != push.destination_host.lower():
        return None
    if push.impus and not any(sub.identity(i) is not None for i in push.impus):
        return None
    # Listed or not, the whole implicit registration set goes (§6.5.2.2).
    concerned = {p.impu for p in sub.impus}
    states = {impu: RegState.NOT_REGISTERED for impu in concerned}
    left = any(p.state != RegState.NOT_REGISTERED for p in sub.impus if p.impu not in concerned)
    return states, not left


def on_answer(push: Push, ans: Message, ctx: CxContext, now: float) -> Push:
    """RTA: clear the registration when the S-CSCF accepted; else keep it (and say so)."""
    outcome = Outcome.of(ans)
    if not accepted(outcome):
        return record(push, PushState.FAILED, ctx, now, outcome=outcome,
                      detail="registration state kept")  # fmt: skip
    sub = ctx.store.get(push.imsi)
    detail = None
    change = deregistration(sub, push) if sub is not None and sub.impi == push.impi else None
    if change is not None and sub is not None:
        states, clear = change
        ctx.store.update_registration(sub.imsi, states, scscf_name=None if clear else KEEP)
    elif sub is not None:
        detail = "the subscription had moved on; its state was left alone"
    return record(push, PushState.DONE, ctx, now, outcome=outcome, detail=detail)
