"""What the HSS-initiated procedures (:mod:`.rtr`, :mod:`.ppr`) share.

The provisioning CLI queues a :class:`~hss.model.Push` in the store's outbox; the running
HSS (:mod:`hss.pusher`) claims it, has the procedure :func:`Procedure.prepare` the request,
sends it to the S-CSCF's Diameter host and hands the answer to
:func:`Procedure.on_answer`, or a failure to :func:`failed`. Like the other Cx modules
these functions are blocking (the store) and do no I/O of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hss.cx.common import CxContext, Outcome
from hss.model import Push, PushState, RegState, Subscriber
from ims_core.diameter import Message, make_request


class Unroutable(ValueError):
    """The subscription is held by an S-CSCF whose Diameter host the HSS does not know (it
    registered before the HSS recorded hosts): nothing can be sent until it registers
    again."""


class Unsendable(Exception):
    """A queued push that can no longer be built (e.g. the PPR of a deleted subscriber)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Procedure:
    """One HSS-initiated procedure, as the outbox sender drives it."""

    prepare: Callable[[Push, CxContext], Message]
    on_answer: Callable[[Push, Message, CxContext, float], Push]


def destination(sub: Subscriber) -> str | None:
    """The Diameter host of the S-CSCF holding *sub* (registered or unregistered user), or
    None when none does. Raises :class:`Unroutable` when one does but its host is unknown."""
    if sub.state == RegState.NOT_REGISTERED or not sub.scscf_name:
        return None
    if not sub.scscf_host:
        raise Unroutable(
            f"{sub.imsi} is held by S-CSCF {sub.scscf_name}, whose Diameter host is not "
            "recorded (it registered before this HSS version); it is known after its next "
            "registration"
        )
    return sub.scscf_host


def request(command: str, push: Push, ctx: CxContext) -> Message:
    """The request skeleton (TS 29.229 §6.1.9, §6.1.11): Session-Id, Vendor-Specific-
    Application-Id, Auth-Session-State, Origin-Host/Realm, Destination-Host (the S-CSCF
    that sent the SAR), Destination-Realm (the home realm: the S-CSCF is in the home
    network, TS 23.228 §4.3.3), User-Name."""
    msg = make_request(
        command, origin_host=ctx.origin_host, origin_realm=ctx.origin_realm,
        destination_host=push.destination_host, destination_realm=ctx.origin_realm,
        session_ids=ctx.session_ids,
    )  # fmt: skip
    msg.add("User-Name", push.impi)
    return msg


def record(
    push: Push, state: PushState, ctx: CxContext, now: float, *,
    outcome: Outcome | None = None, detail: str | None = None,
) -> Push:  # fmt: skip
    """Store how *push* ended and return it so."""
    rc = outcome.result_code if outcome is not None else None
    ec = outcome.experimental if outcome is not None else None
    ctx.store.finish_push(
        push.id, state, now, result_code=rc, experimental_code=ec, detail=detail
    )
    return dataclasses.replace(
        push, state=state, result_code=rc, experimental_code=ec, detail=detail
    )


def failed(push: Push, detail: str, ctx: CxContext, now: float) -> Push:
    """No answer (timeout, the S-CSCF not connected) or nothing to send: the registration
    state is kept."""
    return record(push, PushState.FAILED, ctx, now, detail=detail)


def outcome(push: Push) -> Outcome:
    return Outcome(result_code=push.result_code, experimental=push.experimental_code)


def describe(push: Push) -> str:
    """How *push* ended, for people: ``RTA 2001``, ``RTA Experimental-Result 5001
    (ERROR_USER_UNKNOWN)``, or why there was no answer."""
    answer = push.kind.value[:2] + "A"
    if push.result_code is not None:
        text = f"{answer} {push.result_code}"
        if push.result_code != 2001:
            text += f" ({outcome(push)})"
    elif push.experimental_code is not None:
        text = f"{answer} Experimental-Result {push.experimental_code} ({outcome(push)})"
    else:
        text = push.detail or push.state.value
    if push.detail and (push.result_code is not None or push.experimental_code is not None):
        text += f"; {push.detail}"
    return text
