"""Push-Profile (PPR/PPA), HSS → S-CSCF: TS 29.228 §6.2.2, TS 29.229 §6.1.11-12.

The PPR carries the whole IMSSubscription, built when it is sent from the subscriber as
stored then, by the same builder as SAA's User-Data (:func:`hss.userdata.build`): a change
queued before another one is sent with both. A PPA changes nothing in the HSS.
"""

from __future__ import annotations

from hss import userdata
from hss.cx.common import CxContext, Outcome
from hss.cx.push import Unroutable, Unsendable, destination, record, request
from hss.model import Push, PushKind, PushState, Subscriber
from ims_core.diameter import Message, ResultCode


def new_push(sub: Subscriber) -> Push | None:
    """The PPR to queue for *sub*, or None when no S-CSCF holds it (nothing to update).
    Raises :class:`~hss.cx.push.Unroutable` when the S-CSCF's Diameter host is unknown."""
    host = destination(sub)
    if host is None:
        return None
    return Push(kind=PushKind.PPR, imsi=sub.imsi, impi=sub.impi, destination_host=host)


def build(push: Push, sub: Subscriber, ctx: CxContext) -> Message:
    """The PPR (§6.1.11): the common skeleton and User-Data."""
    msg = request("PPR", push, ctx)
    msg.add("User-Data", userdata.build(sub))
    return msg


def prepare(push: Push, ctx: CxContext) -> Message:
    """The PPR for the subscriber as stored now; :class:`Unsendable` when it is gone or
    no longer held by the S-CSCF the push was queued for."""
    sub = ctx.store.get(push.imsi)
    if sub is None or sub.impi != push.impi:
        raise Unsendable(f"subscriber {push.imsi} no longer exists")
    try:
        host = destination(sub)
    except Unroutable:
        host = None
    if host is None or host.lower() != push.destination_host.lower():
        raise Unsendable(f"{push.imsi} is no longer registered at {push.destination_host}")
    return build(push, sub, ctx)


def on_answer(push: Push, ans: Message, ctx: CxContext, now: float) -> Push:
    outcome = Outcome.of(ans)
    ok = outcome.result_code == ResultCode.SUCCESS
    return record(push, PushState.DONE if ok else PushState.FAILED, ctx, now, outcome=outcome)
