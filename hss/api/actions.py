"""Registration state and the operator's actions: network de-registration (RTR), SQN
reset, and the outcome of a queued RTR or PPR."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from hss import admin
from hss.api.context import Ctx, ImsiPath
from hss.api.errors import CONFLICT, NOT_FOUND
from hss.api.schemas import (
    DeregisterOut,
    DeregisterRequest,
    PushOut,
    RegistrationOut,
    SqnReset,
    SqnResetOut,
)
from hss.cx import rtr
from hss.cx.push import describe
from hss.model import Push

router = APIRouter()

MAX_ID = 2**63 - 1


def _progress(push: Push, waited: float) -> str:
    if push.state.finished:
        return f"{push.kind.value} to {push.destination_host}: {describe(push)}"
    if waited <= 0:
        return f"queued {push.kind.value} #{push.id} for {push.destination_host}"
    return (f"{push.kind.value} #{push.id} for {push.destination_host} not answered within "
            f"{waited:g} s: {push.state.value} (is `ims-core hss` running on this store?)")


@router.get("/subscribers/{imsi}/registration", responses={**NOT_FOUND}, tags=["registration"],
            summary="Registration state: the S-CSCF and each identity's state")
def get_registration(imsi: ImsiPath, ctx: Ctx) -> RegistrationOut:
    return RegistrationOut.of(admin.get(ctx.store, imsi))


@router.post("/subscribers/{imsi}/deregister", responses={**NOT_FOUND, **CONFLICT},
             tags=["registration"],
             summary="Network-initiated de-registration: RTR to the S-CSCF")  # fmt: skip
def deregister(imsi: ImsiPath, body: DeregisterRequest, ctx: Ctx) -> DeregisterOut:
    """Queues the RTR the running HSS sends (within ``[push] poll_seconds``); with ``wait``
    the answer is awaited that long. 409 when the S-CSCF's Diameter host is unknown; a
    subscriber no S-CSCF holds is left alone (``push`` null)."""
    push = admin.deregister(ctx.store, imsi, rtr.REASONS[body.reason], ctx.now(),
                            info=body.info, impus=body.impus)  # fmt: skip
    if push is None:
        return DeregisterOut(imsi=imsi, push=None, detail=f"{imsi} is not registered: "
                                                          "no RTR sent")
    if body.wait > 0:
        push = admin.await_push(ctx.store, push.id, body.wait)
    return DeregisterOut(imsi=imsi, push=PushOut.of(push), detail=_progress(push, body.wait))


@router.post("/subscribers/{imsi}/reset-sqn", responses={**NOT_FOUND}, tags=["auth"],
             summary="Set the stored SQN (default 0)")  # fmt: skip
def reset_sqn(imsi: ImsiPath, ctx: Ctx,
              body: Annotated[SqnReset | None, Body()] = None) -> SqnResetOut:
    """Sets SEQ ‖ IND atomically against the MARs of any HSS on the store. For a USIM
    personalised anew (lab cards): a USIM that has accepted a higher SQN refuses the next
    challenge with AUTS and the resynchronisation (TS 33.102 §6.3.5) moves the HSS
    forward again. In normal operation SQNs only go up (TS 33.102 Annex C)."""
    done = admin.reset_sqn(ctx.store, imsi, (body or SqnReset()).sqn)
    return SqnResetOut(imsi=done.imsi, previous=done.previous, sqn=done.sqn)


@router.get("/pushes/{push_id}", responses={**NOT_FOUND}, tags=["registration"],
            summary="The outcome of a queued RTR or PPR")  # fmt: skip
def get_push(push_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: Ctx) -> PushOut:
    return PushOut.of(admin.get_push(ctx.store, push_id))
