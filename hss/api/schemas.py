"""The JSON the provisioning API reads and writes (pydantic models → the OpenAPI document).

Field rules come from :mod:`hss.model` and :mod:`hss.provision` (IMSI and MSISDN patterns,
hex sizes, scheme names, what a public identity is); rules JSON Schema cannot say (exactly
one of OP and OPc, ``md5`` needs a password, an SPT has one condition) are checked where
they live and refused with the same 422 body. K, OP and OPc are write-only: no model
here that is returned has a field for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hss.cx import rtr
from hss.cx.push import describe
from hss.model import (
    IMSI_RE,
    MSISDN_RE,
    SCHEMES,
    Ifc,
    PublicIdentity,
    Push,
    PushKind,
    PushState,
    RegState,
    Subscriber,
    hex_pattern,
)
from hss.provision import identity_of
from hss.sqn import SQN_BITS

MAX_URI = 256  # characters of a public identity or AS URI
MAX_TEXT = 1024  # an SPT's header/SDP text, an iFC's service information
MAX_IFCS = 64
MAX_SPTS = 64
MAX_LISTED = 100  # IMPUs named in one RTR
MAX_WAIT = 30.0  # seconds a request may wait for an RTA
XS_INT_MAX = 2**31 - 1  # priorities and SPT groups are xs:int (TS 29.228 Annex B)


def _one_of(values: Iterable[str]) -> Any:
    """A check that the text is one of *values* (the schema lists them as an enum)."""
    allowed = tuple(values)

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return AfterValidator(check)


def _identity(value: str) -> str:
    identity_of(value)  # ProvisionError is a ValueError: a 422 naming the field
    return value


Imsi = Annotated[str, Field(pattern=IMSI_RE.pattern, examples=["001010000000001"])]
Msisdn = Annotated[str, Field(pattern=MSISDN_RE.pattern, examples=["15550000001"])]
Hex16 = Annotated[str, Field(pattern=hex_pattern(16), description="16 octets in hex")]
Hex2 = Annotated[str, Field(pattern=hex_pattern(2), description="2 octets in hex")]
Sqn = Annotated[int, Field(ge=0, lt=1 << SQN_BITS, description="SEQ ‖ IND, 48 bits")]
Identity = Annotated[str, Field(min_length=1, max_length=MAX_URI,
                                examples=["sip:alice@ims.mnc001.mcc001.3gppnetwork.org"]),
                     AfterValidator(_identity)]
Scheme = Annotated[str, Field(json_schema_extra={"enum": list(SCHEMES)}), _one_of(SCHEMES)]
Schemes = Annotated[list[Scheme], Field(min_length=1, max_length=len(SCHEMES))]
Password = Annotated[str, Field(min_length=1, max_length=128)]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
AnyText = Annotated[str, Field(max_length=MAX_TEXT)]
StateName = Literal["not_registered", "registered", "unregistered"]
ReasonName = Annotated[str, Field(json_schema_extra={"enum": sorted(rtr.REASONS)}),
                       _one_of(sorted(rtr.REASONS))]

STATE_NAMES: dict[RegState, StateName] = {
    RegState.NOT_REGISTERED: "not_registered",
    RegState.REGISTERED: "registered",
    RegState.UNREGISTERED: "unregistered",
}
STATES: dict[str, RegState] = {name: state for state, name in STATE_NAMES.items()}


class Strict(BaseModel):
    """A request body: unknown fields are refused, and no value is coerced ("1" is no
    integer, 1 no string)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- iFCs: the shape the store keeps (ims_core.userdata.Ifc.to_dict) ---------------------


class SptModel(Strict):
    """A Service Point Trigger: exactly one of method, request_uri, header (with
    header_content), session_case, sdp_line (with sdp_content)."""

    groups: list[Annotated[int, Field(ge=0, le=XS_INT_MAX)]] = Field(
        default=[0], min_length=1, max_length=32)
    negated: bool = False
    method: Text | None = None
    request_uri: Text | None = None
    header: Text | None = None
    header_content: AnyText | None = None
    session_case: Annotated[int, Field(ge=0, le=3)] | None = None
    sdp_line: Text | None = None
    sdp_content: AnyText | None = None
    registration_types: list[Annotated[int, Field(ge=0, le=2)]] = Field(
        default=[], max_length=3)


class IfcModel(Strict):
    """An Initial Filter Criteria (TS 29.228 Annex B.2.2) in a request, bounded; responses
    give the stored :class:`~ims_core.userdata.Ifc` itself, which has the same fields."""

    priority: Annotated[int, Field(ge=0, le=XS_INT_MAX)]
    server_name: Annotated[str, Field(min_length=1, max_length=MAX_URI,
                                      examples=["sip:as.example.org:5060"])]
    default_handling: Annotated[int, Field(ge=0, le=1)] = 0
    condition_type_cnf: bool = True
    spts: list[SptModel] = Field(default=[], max_length=MAX_SPTS)
    service_info: AnyText | None = None
    include_register_request: bool = False
    include_register_response: bool = False

    @model_validator(mode="after")
    def _valid(self) -> IfcModel:
        self.to_ifc()  # the model's own rules, once, here
        return self

    def to_ifc(self) -> Ifc:
        data = self.model_dump(exclude_none=True)
        return Ifc.from_dict(data)


Ifcs = Annotated[list[IfcModel], Field(max_length=MAX_IFCS)]


def ifcs_of(models: Iterable[IfcModel]) -> tuple[Ifc, ...]:
    return tuple(m.to_ifc() for m in models)


# -- requests -----------------------------------------------------------------------------


class SubscriberCreate(Strict):
    """A new subscriber. IMPI ``<imsi>@<domain>`` and the IMPUs ``sip:<imsi>@<domain>`` (and
    ``sip:+<msisdn>@<domain>``, ``tel:+<msisdn>`` with an MSISDN) are derived, as by
    ``ims-core subscriber add``. Exactly one of ``op`` and ``opc``; ``md5`` in ``schemes``
    needs ``password`` (kept as HA1 only). ``schemes`` left out: akav1, akav2 (and md5 with
    a password)."""

    imsi: Imsi
    k: Hex16
    op: Hex16 | None = None
    opc: Hex16 | None = None
    amf: Hex2 = "8000"
    sqn: Sqn = 0
    msisdn: Msisdn | None = None
    password: Password | None = None
    schemes: Schemes | None = None
    barred: bool = False
    ifcs: Ifcs = []


class SubscriberPatch(Strict):
    """Change some of the subscription: ``msisdn`` (null removes it; the IMPUs stay as
    they are), ``barred`` (a change bars or lifts the barring of the subscription and of
    all its identities, as ``ims-core subscriber update --barred``), ``ifcs`` (replaces
    them all). A PPR goes to the S-CSCF holding the subscriber."""

    msisdn: Msisdn | None = None
    barred: bool | None = None
    ifcs: Ifcs | None = None


class SubscriberPut(Strict):
    """Replace the subscription's attributes (identities and credentials have their own
    resources); rules as for PATCH."""

    msisdn: Msisdn | None
    barred: bool
    ifcs: Ifcs


class AuthPatch(Strict):
    """Change the authentication data; what is left out is kept. A new ``k`` recomputes
    OPc from a stored OP, and needs ``op`` or ``opc`` when only an OPc is stored;
    ``opc`` forgets a stored OP. ``password`` null removes the HA1 (``md5`` must go too).
    The SQN has its own action (reset-sqn)."""

    k: Hex16 | None = None
    op: Hex16 | None = None
    opc: Hex16 | None = None
    amf: Hex2 | None = None
    schemes: Schemes | None = None
    password: Password | None = None


class IdentityCreate(Strict):
    """A public identity added to the implicit registration set; ``barred`` left out:
    as the subscription."""

    impu: Identity
    barred: bool | None = None


class IdentityPatch(Strict):
    barred: bool


class DeregisterRequest(Strict):
    """Network-initiated de-registration (RTR, TS 29.228 §6.1.3). ``reason``: the
    Deregistration-Reason's Reason-Code (permanent: the UE must not re-register; the
    others ask it to); ``impus``: the IMPU-list form (default: every registration of the
    IMPI); ``wait``: seconds to wait for the S-CSCF's answer (0: return once queued)."""

    reason: ReasonName = "permanent"
    info: Annotated[str, Field(min_length=1, max_length=MAX_URI)] | None = None
    impus: list[Identity] = Field(default=[], max_length=MAX_LISTED)
    wait: Annotated[float, Field(ge=0, le=MAX_WAIT)] = 0.0


class SqnReset(Strict):
    sqn: Sqn = 0


# -- responses ----------------------------------------------------------------------------


class IdentityOut(BaseModel):
    impu: str
    barred: bool
    identity_type: int
    state: StateName

    @classmethod
    def of(cls, p: PublicIdentity) -> IdentityOut:
        return cls(impu=p.impu, barred=p.barred, identity_type=int(p.identity_type),
                   state=STATE_NAMES[p.state])


class AuthOut(BaseModel):
    """Authentication data without K, OP or OPc: ``op_kind`` says which of OP (OPc
    derived) or OPc was provisioned, ``password_set`` whether an HA1 is stored."""

    schemes: list[str]
    amf: str
    sqn: int
    op_kind: Literal["op", "opc"]
    password_set: bool

    @classmethod
    def of(cls, s: Subscriber) -> AuthOut:
        return cls(schemes=list(s.schemes), amf=s.amf.hex(), sqn=s.sqn,
                   op_kind="op" if s.op is not None else "opc", password_set=bool(s.ha1))


class RegistrationOut(BaseModel):
    """The implicit registration set's state, the S-CSCF holding it (its SIP name and the
    Diameter host RTR/PPR go to) and each identity's state."""

    state: StateName
    scscf_name: str | None
    scscf_host: str | None
    impus: list[IdentityOut]

    @classmethod
    def of(cls, s: Subscriber) -> RegistrationOut:
        return cls(state=STATE_NAMES[s.state], scscf_name=s.scscf_name,
                   scscf_host=s.scscf_host, impus=[IdentityOut.of(p) for p in s.impus])


class SubscriberOut(BaseModel):
    imsi: str
    impi: str
    msisdn: str | None
    barred: bool
    auth: AuthOut
    registration: RegistrationOut
    ifcs: list[Ifc]  # as stored: what PUT .../ifcs takes back (the model's own dataclass)

    @classmethod
    def of(cls, s: Subscriber) -> SubscriberOut:
        return cls(imsi=s.imsi, impi=s.impi, msisdn=s.msisdn, barred=s.barred,
                   auth=AuthOut.of(s), registration=RegistrationOut.of(s),
                   ifcs=list(s.ifcs))


class SubscriberPage(BaseModel):
    """``next``: the ``after`` of the next page; null on the last one."""

    items: list[SubscriberOut]
    next: str | None


class PushOut(BaseModel):
    """An RTR or PPR in the outbox: pending (queued) → sent (an HSS took it) → done |
    failed, with the answer's Result-Code or Experimental-Result-Code; ``outcome`` says
    it for people."""

    id: int
    kind: PushKind
    state: PushState
    imsi: str
    impi: str
    destination_host: str
    impus: list[str]
    reason_code: int | None
    reason_info: str | None
    result_code: int | None
    experimental_code: int | None
    detail: str | None
    outcome: str

    @classmethod
    def of(cls, p: Push) -> PushOut:
        return cls(id=p.id, kind=p.kind, state=p.state, imsi=p.imsi, impi=p.impi,
                   destination_host=p.destination_host, impus=list(p.impus),
                   reason_code=p.reason_code, reason_info=p.reason_info,
                   result_code=p.result_code, experimental_code=p.experimental_code,
                   detail=p.detail, outcome=describe(p))


def push_or_none(p: Push | None) -> PushOut | None:
    return None if p is None else PushOut.of(p)


class ProfileChangeOut(BaseModel):
    """The subscriber after a profile change, and the PPR queued for it: null when
    nothing changed or no S-CSCF holds the subscriber, or ``push_error`` says why none
    could be sent (the change is stored all the same)."""

    subscriber: SubscriberOut
    changed: bool
    push: PushOut | None
    push_error: str | None


class DeletedOut(BaseModel):
    """The RTR queued before the deletion (null: no S-CSCF held the subscriber, or
    ``push_error`` says why none could be sent)."""

    imsi: str
    push: PushOut | None
    push_error: str | None


class DeregisterOut(BaseModel):
    imsi: str
    push: PushOut | None
    detail: str


class SqnResetOut(BaseModel):
    imsi: str
    previous: int
    sqn: int


class ErrorOut(BaseModel):
    detail: str


class HealthOut(BaseModel):
    status: str
    reasons: list[str] = []
