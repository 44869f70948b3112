"""``/api/v1/subscribers``: the subscribers, their authentication data, public identities
(the implicit registration set) and iFCs. Every change goes through :mod:`hss.admin`, as
the CLI's do; a change of the profile of a subscriber an S-CSCF holds queues a PPR."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Response

from hss import admin, provision
from hss.api.context import Ctx, IdentityPath, ImsiPath
from hss.api.errors import CONFLICT, NOT_FOUND
from hss.api.schemas import (
    MAX_URI,
    STATES,
    AuthOut,
    AuthPatch,
    DeletedOut,
    IdentityCreate,
    IdentityOut,
    IdentityPatch,
    IfcModel,
    Ifcs,
    ProfileChangeOut,
    StateName,
    SubscriberCreate,
    SubscriberOut,
    SubscriberPage,
    SubscriberPatch,
    SubscriberPut,
    ifcs_of,
    push_or_none,
)
from hss.model import IMSI_RE, MSISDN_RE, Ifc, Subscriber, identity_key
from hss.store import MAX_PAGE, SubscriberQuery

router = APIRouter(tags=["subscribers"])

IMSI_PREFIX = "^[0-9]{1,15}$"


def _changed(done: admin.ProfileChange) -> ProfileChangeOut:
    return ProfileChangeOut(subscriber=SubscriberOut.of(done.subscriber), changed=done.changed,
                            push=push_or_none(done.push), push_error=done.not_sent)


def _with_msisdn(sub: Subscriber, msisdn: str | None) -> Subscriber:
    try:
        return dataclasses.replace(sub, msisdn=msisdn)
    except ValueError as exc:
        raise provision.ProvisionError(str(exc)) from None


def _attributes(msisdn: str | None, set_msisdn: bool, barred: bool | None,
                ifcs: list[IfcModel] | None) -> Callable[[Subscriber], Subscriber]:
    """The edit of a PATCH or PUT of the subscription's attributes. ``barred`` acts only
    when it changes the subscription's barring (then on every identity too)."""

    def edit(sub: Subscriber) -> Subscriber:
        new = provision.updated(
            sub, ifcs=None if ifcs is None else ifcs_of(ifcs),
            barred=None if barred is None or barred == sub.barred else barred,
        )  # fmt: skip
        return _with_msisdn(new, msisdn) if set_msisdn else new

    return edit


@router.post("/subscribers", status_code=201, responses={**CONFLICT},
             summary="Provision a subscriber")  # fmt: skip
def create_subscriber(body: SubscriberCreate, ctx: Ctx, response: Response) -> SubscriberOut:
    sub = provision.new_subscriber(
        imsi=body.imsi, k=body.k, op=body.op, opc=body.opc, amf=body.amf, sqn=body.sqn,
        msisdn=body.msisdn, password=body.password, schemes=body.schemes,
        barred=body.barred, domain=ctx.domain, ifcs=ifcs_of(body.ifcs),
    )  # fmt: skip
    admin.add(ctx.store, sub)
    response.headers["Location"] = f"/api/v1/subscribers/{sub.imsi}"
    return SubscriberOut.of(admin.get(ctx.store, sub.imsi))


@router.get("/subscribers", summary="List subscribers (keyset paging, filters)")
def list_subscribers(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    after: Annotated[str | None, Query(
        pattern=IMSI_RE.pattern, description="the `next` of the previous page: the IMSIs "
                                             "after it")] = None,
    imsi_prefix: Annotated[str | None, Query(pattern=IMSI_PREFIX)] = None,
    msisdn: Annotated[str | None, Query(pattern=MSISDN_RE.pattern)] = None,
    impu: Annotated[str | None, Query(min_length=1, max_length=MAX_URI,
                                      description="subscribers with this public identity")] = None,
    state: Annotated[StateName | None, Query(
        description="the implicit registration set's state")] = None,
    barred: Annotated[bool | None, Query(description="subscription barring")] = None,
) -> SubscriberPage:
    page = ctx.store.page(SubscriberQuery(
        limit=limit, after=after, imsi_prefix=imsi_prefix, msisdn=msisdn,
        impu=None if impu is None else identity_key(impu),
        state=None if state is None else STATES[state], barred=barred,
    ))  # fmt: skip
    return SubscriberPage(items=[SubscriberOut.of(s) for s in page.subscribers],
                          next=page.next_after)


@router.get("/subscribers/{imsi}", responses={**NOT_FOUND}, summary="One subscriber")
def get_subscriber(imsi: ImsiPath, ctx: Ctx) -> SubscriberOut:
    return SubscriberOut.of(admin.get(ctx.store, imsi))


@router.patch("/subscribers/{imsi}", responses={**NOT_FOUND},
              summary="Change MSISDN, barring or iFCs (PPR when registered)")  # fmt: skip
def patch_subscriber(imsi: ImsiPath, body: SubscriberPatch, ctx: Ctx) -> ProfileChangeOut:
    edit = _attributes(body.msisdn, "msisdn" in body.model_fields_set, body.barred, body.ifcs)
    return _changed(admin.change_profile(ctx.store, imsi, edit, ctx.now()))


@router.put("/subscribers/{imsi}", responses={**NOT_FOUND},
            summary="Replace MSISDN, barring and iFCs (PPR when registered)")  # fmt: skip
def put_subscriber(imsi: ImsiPath, body: SubscriberPut, ctx: Ctx) -> ProfileChangeOut:
    edit = _attributes(body.msisdn, True, body.barred, body.ifcs)
    return _changed(admin.change_profile(ctx.store, imsi, edit, ctx.now()))


@router.delete("/subscribers/{imsi}", responses={**NOT_FOUND},
               summary="Delete a subscriber (RTR first when registered)")  # fmt: skip
def delete_subscriber(imsi: ImsiPath, ctx: Ctx) -> DeletedOut:
    done = admin.delete(ctx.store, imsi, ctx.now())
    return DeletedOut(imsi=done.imsi, push=push_or_none(done.push), push_error=done.not_sent)


# -- authentication data (K, OP and OPc write-only) ---------------------------------------


@router.get("/subscribers/{imsi}/auth", responses={**NOT_FOUND}, tags=["auth"],
            summary="Authentication data, without K, OP or OPc")  # fmt: skip
def get_auth(imsi: ImsiPath, ctx: Ctx) -> AuthOut:
    return AuthOut.of(admin.get(ctx.store, imsi))


@router.patch("/subscribers/{imsi}/auth", responses={**NOT_FOUND}, tags=["auth"],
              summary="Change K, OP/OPc, AMF, schemes or the password")  # fmt: skip
def patch_auth(imsi: ImsiPath, body: AuthPatch, ctx: Ctx) -> AuthOut:
    remove_password = "password" in body.model_fields_set and body.password is None

    def edit(sub: Subscriber) -> Subscriber:
        return provision.with_auth(
            sub, domain=ctx.domain, k=body.k, op=body.op, opc=body.opc, amf=body.amf,
            schemes=body.schemes, password=body.password, remove_password=remove_password,
        )  # fmt: skip

    return AuthOut.of(admin.change_auth(ctx.store, imsi, edit))


# -- public identities: the implicit registration set -------------------------------------


def _identity(sub: Subscriber, impu: str) -> IdentityOut:
    ident = sub.identity(impu)
    if ident is None:
        raise provision.UnknownIdentity(f"{impu} is not a public identity of {sub.imsi}")
    return IdentityOut.of(ident)


@router.get("/subscribers/{imsi}/impus", responses={**NOT_FOUND}, tags=["identities"],
            summary="The public identities (one implicit registration set)")  # fmt: skip
def list_identities(imsi: ImsiPath, ctx: Ctx) -> list[IdentityOut]:
    return [IdentityOut.of(p) for p in admin.get(ctx.store, imsi).impus]


@router.post("/subscribers/{imsi}/impus", status_code=201, responses={**NOT_FOUND, **CONFLICT},
             tags=["identities"], summary="Add a public identity (PPR when registered)")
def add_identity(imsi: ImsiPath, body: IdentityCreate, ctx: Ctx) -> ProfileChangeOut:
    flag = [body.impu]

    def edit(sub: Subscriber) -> Subscriber:
        return provision.updated(sub, add_impus=flag, bar=flag if body.barred is True else (),
                                 unbar=flag if body.barred is False else ())

    return _changed(admin.change_profile(ctx.store, imsi, edit, ctx.now()))


@router.get("/subscribers/{imsi}/impus/{impu:path}", responses={**NOT_FOUND},
            tags=["identities"], summary="One public identity")  # fmt: skip
def get_identity(imsi: ImsiPath, impu: IdentityPath, ctx: Ctx) -> IdentityOut:
    return _identity(admin.get(ctx.store, imsi), impu)


@router.patch("/subscribers/{imsi}/impus/{impu:path}", responses={**NOT_FOUND},
              tags=["identities"], summary="Bar or unbar one identity (PPR when registered)")
def patch_identity(imsi: ImsiPath, impu: IdentityPath, body: IdentityPatch,
                   ctx: Ctx) -> ProfileChangeOut:
    def edit(sub: Subscriber) -> Subscriber:
        return provision.updated(sub, bar=[impu] if body.barred else (),
                                 unbar=() if body.barred else [impu])

    return _changed(admin.change_profile(ctx.store, imsi, edit, ctx.now()))


@router.delete("/subscribers/{imsi}/impus/{impu:path}", responses={**NOT_FOUND},
               tags=["identities"], summary="Remove a public identity (PPR when registered)")
def remove_identity(imsi: ImsiPath, impu: IdentityPath, ctx: Ctx) -> ProfileChangeOut:
    def edit(sub: Subscriber) -> Subscriber:
        return provision.updated(sub, remove_impus=[impu])

    return _changed(admin.change_profile(ctx.store, imsi, edit, ctx.now()))


# -- iFCs ---------------------------------------------------------------------------------


@router.get("/subscribers/{imsi}/ifcs", responses={**NOT_FOUND}, tags=["ifcs"],
            summary="The iFCs of the service profile")  # fmt: skip
def get_ifcs(imsi: ImsiPath, ctx: Ctx) -> list[Ifc]:
    return list(admin.get(ctx.store, imsi).ifcs)


@router.put("/subscribers/{imsi}/ifcs", responses={**NOT_FOUND}, tags=["ifcs"],
            summary="Replace the iFCs (PPR when registered)")  # fmt: skip
def put_ifcs(imsi: ImsiPath, body: Ifcs, ctx: Ctx) -> ProfileChangeOut:
    ifcs = ifcs_of(body)

    def edit(sub: Subscriber) -> Subscriber:
        return provision.updated(sub, ifcs=ifcs)

    return _changed(admin.change_profile(ctx.store, imsi, edit, ctx.now()))
