"""Multimedia-Auth (MAR/MAA), S-CSCF → HSS: TS 29.228 §6.3, TS 29.229 §6.1.7.

AKA items carry SIP-Authenticate = RAND ‖ AUTN, SIP-Authorization = XRES,
Confidentiality-Key, Integrity-Key; a SIP-Authorization of RAND ‖ AUTS in the request asks
for resynchronisation (TS 33.102 §6.3.5). SIP Digest items carry SIP-Digest-Authenticate
with Digest-HA1 (TS 29.229 §6.3.36).
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

from hss import vectors
from hss.cx.common import (
    SUCCESS,
    CxContext,
    Outcome,
    Rejected,
    answer,
    base,
    exp,
    required_text,
    subscriber_for,
    text_value,
)
from hss.model import SCHEME_BY_NAME, SCHEME_WIRE_NAME, Subscriber
from hss.sqn import SqnExhausted
from ims_core.diameter import Avp, AvpDef, CxResult, Dictionary, Grouped, Message, ResultCode
from ims_core.diameter.avp import grouped_avp, typed

UNKNOWN_SCHEME = "unknown"  # TS 29.228 §6.3.1: the HSS picks the subscriber's scheme


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class MarRequest:
    impi: str
    impu: str
    scheme: str  # as received
    n: int = 1
    server_name: str = ""
    authorization: bytes | None = None  # RAND ‖ AUTS on resync

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, impi: str, impu: str, scheme: str, n: int = 1, server_name: str = "",
                 authorization: bytes | None = None) -> None:
        object.__setattr__(self, "impi", impi)
        object.__setattr__(self, "impu", impu)
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "server_name", server_name)
        object.__setattr__(self, "authorization", authorization)


@dataclasses.dataclass(frozen=True, slots=True)
class DigestItem:
    realm: str
    ha1: str
    algorithm: str = "MD5"
    qop: str = "auth"


@dataclasses.dataclass(frozen=True, slots=True)
class MarAnswer:
    outcome: Outcome
    impi: str = ""
    impu: str = ""
    scheme: str = ""  # wire name of the scheme used
    vectors: tuple[vectors.AkaVector, ...] = ()
    digest: DigestItem | None = None


def _scheme(req_scheme: str, sub: Subscriber) -> tuple[str, str] | None:
    """The stored scheme keyword for the requested SIP-Authentication-Scheme and the name
    to answer with, or None (→ 5006 DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED).

    TS 29.228 §6.3.1: "Unknown" (or nothing) lets the HSS choose: the subscriber's
    first scheme, answered under its own name; a named scheme the subscriber does not
    have (e.g. "SIP Digest" without md5) is refused; a known one is echoed as sent."""
    name = req_scheme.strip().lower()
    if name == UNKNOWN_SCHEME or not name:
        default = sub.schemes[0]
        return default, SCHEME_WIRE_NAME[default]
    scheme = SCHEME_BY_NAME.get(name)
    return (scheme, req_scheme) if scheme in sub.schemes else None


def decide(req: MarRequest, ctx: CxContext) -> MarAnswer:
    try:
        sub, _ = subscriber_for(ctx.store, req.impi, req.impu)
    except Rejected as r:
        return MarAnswer(r.outcome, req.impi, req.impu)
    chosen = _scheme(req.scheme, sub)
    if chosen is None:
        return MarAnswer(exp(CxResult.ERROR_AUTH_SCHEME_NOT_SUPPORTED), req.impi, req.impu)
    scheme, wire = chosen
    resync = req.authorization is not None and scheme != "md5"
    if resync:
        assert req.authorization is not None
        resynced = vectors.resynchronise(ctx.store, sub, req.authorization)
        ctx.metrics.sqn_resyncs.inc(resynced.value)
        if resynced is not vectors.Resync.OK:
            # MAC-S failed or malformed AUTS: no vectors (TS 33.102 §6.3.5).
            return MarAnswer(base(ResultCode.AUTHENTICATION_REJECTED), req.impi, req.impu)
    elif req.server_name and req.server_name != sub.scscf_name:
        # §6.3.1 / §8.1: the HSS stores (or overwrites) the S-CSCF name on a MAR that
        # is not a resynchronisation, so the next UAR routes to this S-CSCF.
        ctx.store.update_registration(sub.imsi, {}, scscf_name=req.server_name)
    if scheme == "md5":
        assert sub.ha1 is not None
        item = DigestItem(realm=ctx.cx.domain, ha1=sub.ha1)
        return MarAnswer(SUCCESS, req.impi, req.impu, wire, digest=item)
    n = max(1, min(req.n, ctx.cx.max_vectors))
    try:
        vs = vectors.issue(
            ctx.store, sub, n,
            avoid_res_zero_octet=ctx.cx.avoid_res_zero_octet, rand_source=ctx.rand_source,
        )  # fmt: skip
    except SqnExhausted:
        return MarAnswer(base(ResultCode.UNABLE_TO_COMPLY), req.impi, req.impu)
    return MarAnswer(SUCCESS, req.impi, req.impu, wire, vectors=tuple(vs))


_FIELDS = ("SIP-Auth-Data-Item", "User-Name", "Public-Identity", "SIP-Number-Auth-Items",
           "Server-Name")  # fmt: skip


def parse(msg: Message) -> MarRequest:
    item, impi, impu, n, server = msg.first_values(_FIELDS)  # one pass over the AVPs
    item = typed(item, Grouped, _FIELDS[0])
    scheme, authz = "", None
    if item is not None:
        scheme = item.get_str("SIP-Authentication-Scheme") or ""
        authz = item.get_bytes("SIP-Authorization")
    return MarRequest(
        impi=required_text(msg, impi, "User-Name"),
        impu=required_text(msg, impu, "Public-Identity"),
        scheme=scheme,
        n=typed(n, int, "SIP-Number-Auth-Items") or 1,
        server_name=text_value(server, "Server-Name") or "",
        authorization=authz or None,
    )


def handle(msg: Message, ctx: CxContext) -> Message:
    res = decide(parse(msg), ctx)
    ans = answer(msg, ctx, res.outcome)
    dictionary = ans.dictionary
    by_name = dictionary.by_name
    out = ans.avps
    # Echo User-Name and Public-Identity (TS 29.229 §6.1.8; Kamailio needs them).
    if res.impi:
        out.append(Avp.of(by_name["User-Name"], res.impi, dictionary))
    if res.impu:
        out.append(Avp.of(by_name["Public-Identity"], res.impu, dictionary))
    if not res.outcome.ok:
        return ans
    if res.digest is not None:
        d = res.digest
        out.append(dictionary.constant("SIP-Number-Auth-Items", 1))
        out.append(_auth_data_item(dictionary, 1, res.scheme, [
            ("SIP-Digest-Authenticate", [
                ("Digest-Realm", d.realm),
                ("Digest-Algorithm", d.algorithm),
                ("Digest-QoP", d.qop),
                ("Digest-HA1", d.ha1),
            ]),
        ]))  # fmt: skip
        return ans
    out.append(dictionary.constant("SIP-Number-Auth-Items", len(res.vectors)))
    # The four AKA values of each item, by definition (no look-up by name per value).
    authenticate, authorization, ck, ik = _aka_values(by_name)
    for i, v in enumerate(res.vectors, 1):
        out.append(_auth_data_item(dictionary, i, res.scheme, [
            (authenticate, v.sip_authenticate), (authorization, v.xres), (ck, v.ck), (ik, v.ik),
        ]))  # fmt: skip
    return ans


_aka_values = operator.itemgetter(
    "SIP-Authenticate", "SIP-Authorization", "Confidentiality-Key", "Integrity-Key"
)


def _auth_data_item(
    dictionary: Dictionary, number: int, scheme: str, values: list[tuple[str | AvpDef, Any]]
) -> Avp:
    """SIP-Auth-Data-Item (TS 29.229 §6.3.13): the number and scheme, which repeat from
    answer to answer, are encoded once (:meth:`Dictionary.constant`); only the values are
    encoded anew."""
    of = Avp.of
    children = [
        dictionary.constant("SIP-Item-Number", number),
        dictionary.constant("SIP-Authentication-Scheme", scheme),
    ]
    children += [of(name, value, dictionary) for name, value in values]
    return grouped_avp(dictionary.by_name["SIP-Auth-Data-Item"], children, dictionary)
