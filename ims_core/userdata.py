"""The IMS subscription profile (TS 29.228 Annex B, the IMSSubscription document Cx carries
in User-Data, §6.1.2): the one model of Initial Filter Criteria and service profiles, the
builder the HSS answers SAR with, the defensive parser the S-CSCF reads it with, and the
dict form the HSS stores iFCs in and imports them from. Sans-I/O, pure data.

The model:

- :class:`Spt` — a Service Point Trigger (Annex B.2.2 tSePoTri): the groups it belongs
  to (one SPT may be in several), negation, and exactly one condition: Method (for
  REGISTER optionally narrowed by RegistrationType, the SPT's Extension), RequestURI,
  SIPHeader (header, optional content), SessionCase or SessionDescription (SDP line type,
  optional content);
- :class:`Ifc` — an Initial Filter Criteria: priority, the AS (server name, default
  handling, service info, and in its Extension whether a third-party REGISTER carries
  the UE's REGISTER and our 200, IncludeRegisterRequest / IncludeRegisterResponse) and
  the trigger point (CNF or DNF over its SPTs; none at all is an unconditional iFC);
- :class:`PublicIdentity`, :class:`ServiceProfile`, :class:`Profile` — the public
  identities (with barring) and the iFCs they share; the whole subscription.

Every value is checked when it is made (``__post_init__`` raises ValueError), so what is
built is valid against the schema and what is parsed is usable. :func:`build` writes the
elements in the order of the Annex B schema sequences; :func:`parse` refuses documents
with a DOCTYPE (and so any entity declaration, internal or external) before the XML
parser sees them, and caps the size, so neither entity expansion nor an external fetch
can happen.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ims_core.identity import impu_key
from ims_core.sip import SipParseError, SipUri, TelUri, parse_uri

MAX_USER_DATA = 256 * 1024
_XS_INT_MAX = 2**31 - 1  # tPriority and tGroupID are xs:int
# XML 1.0 §2.2 characters, less the C0 controls other than TAB: a CR or LF in a value would
# not survive the parser's line-end normalisation, and no condition needs one.
_BAD_CHAR_RE = re.compile("[\x00-\x08\x0a-\x1f\ud800-\udfff\ufffe\uffff]")
_DIGITS_RE = re.compile(r"[0-9]+")


class UserDataError(ValueError):
    """User-Data that is not a usable IMSSubscription."""


class SessionCase(enum.IntEnum):
    """SPT SessionCase values (Annex B.2.2 tDirectionOfRequest)."""

    ORIGINATING = 0
    TERMINATING_REGISTERED = 1
    TERMINATING_UNREGISTERED = 2
    ORIGINATING_UNREGISTERED = 3


class DefaultHandling(enum.IntEnum):
    """What the S-CSCF does when the AS does not answer (Annex B.2.2 tDefaultHandling)."""

    SESSION_CONTINUED = 0
    SESSION_TERMINATED = 1


class RegistrationType(enum.IntEnum):
    """Which REGISTERs a Method=REGISTER SPT matches (Annex B.2.2 tRegistrationType, in
    the SPT's Extension); an SPT without one matches them all."""

    INITIAL_REGISTRATION = 0
    RE_REGISTRATION = 1
    DE_REGISTRATION = 2


class IdentityType(enum.IntEnum):
    """tIdentityType (Annex B.2.1)."""

    PUBLIC_USER_IDENTITY = 0
    DISTINCT_PSI = 1
    WILDCARDED_PSI = 2


def _text(what: str, value: object, *, empty: bool = False) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {type(value).__name__}")
    if not value and not empty:
        raise ValueError(f"{what} must not be empty")
    if _BAD_CHAR_RE.search(value):
        raise ValueError(f"{what} contains a control character")


def _number(what: str, value: object, top: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise ValueError(f"{what} must be an integer 0..{top}, not {value!r}")
    return value


def _sip_uri(what: str, value: object) -> None:
    _text(what, value)
    try:
        uri = parse_uri(str(value))
    except SipParseError as exc:
        raise ValueError(f"{what} {value!r} is not a SIP URI: {exc}") from None
    if not isinstance(uri, SipUri) or str(value) != str(value).strip():
        raise ValueError(f"{what} must be a sip: or sips: URI, not {value!r}")


# -- the model ------------------------------------------------------------------------

_CONDITIONS = ("method", "request_uri", "header", "session_case", "sdp_line")
# The third-party REGISTER flags and their tApplicationServerExtension elements, in
# schema order.
_INCLUDE_TAGS = (("include_register_request", "IncludeRegisterRequest"),
                 ("include_register_response", "IncludeRegisterResponse"))
_INCLUDES = tuple(name for name, _ in _INCLUDE_TAGS)


@dataclass(frozen=True, slots=True)
class Spt:
    """One Service Point Trigger; exactly one of ``method``, ``request_uri``, ``header``
    (with ``header_content``), ``session_case`` and ``sdp_line`` (with ``sdp_content``)
    is set. ``groups``: the groups it belongs to (Annex B.2.2 Group, 1..n).
    ``registration_types``: with ``method`` only, :class:`RegistrationType` values, kept
    once each; all three mean the same as none and are kept as none (the schema allows
    two at most)."""

    groups: tuple[int, ...] = (0,)
    negated: bool = False
    method: str | None = None
    request_uri: str | None = None
    header: str | None = None
    header_content: str | None = None
    session_case: int | None = None
    sdp_line: str | None = None
    sdp_content: str | None = None
    registration_types: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        groups = tuple(self.groups) if isinstance(self.groups, Sequence) else ()
        if not groups:
            raise ValueError("an SPT needs at least one group")
        for g in groups:
            _number("SPT group", g, _XS_INT_MAX)
        object.__setattr__(self, "groups", groups)
        if not isinstance(self.negated, bool):
            raise ValueError("SPT negated must be true or false")
        if sum(getattr(self, name) is not None for name in _CONDITIONS) != 1:
            raise ValueError("an SPT needs exactly one of method, request_uri, header, "
                             "session_case, sdp_line")
        for name in ("method", "request_uri", "header", "sdp_line"):
            if getattr(self, name) is not None:
                _text(f"SPT {name}", getattr(self, name))
        for name, owner in (("header_content", "header"), ("sdp_content", "sdp_line")):
            if getattr(self, name) is not None:
                if getattr(self, owner) is None:
                    raise ValueError(f"SPT {name} needs {owner}")
                _text(f"SPT {name}", getattr(self, name), empty=True)
        if self.session_case is not None:
            case = _number("SPT session_case", self.session_case, int(max(SessionCase)))
            object.__setattr__(self, "session_case", SessionCase(case))
        object.__setattr__(self, "registration_types", _registration_types(self))

    def to_dict(self) -> dict[str, Any]:
        """The stored / imported form: ``groups``, ``negated``, the set condition and any
        ``registration_types``."""
        out: dict[str, Any] = {"groups": list(self.groups), "negated": self.negated}
        for name in ("method", "request_uri", "header", "header_content", "session_case",
                     "sdp_line", "sdp_content"):
            value = getattr(self, name)
            if value is not None:
                out[name] = int(value) if name == "session_case" else value
        if self.registration_types:
            out["registration_types"] = [int(t) for t in self.registration_types]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spt:
        """An SPT from its dict form; ``group: N`` (one group) is accepted for
        ``groups: [N]``. Raises ValueError naming what is wrong."""
        fields = {"group", "groups", "negated", "method", "request_uri", "header",
                  "header_content", "session_case", "sdp_line", "sdp_content",
                  "registration_types"}
        _no_unknown("SPT", d, fields)
        if "group" in d and "groups" in d:
            raise ValueError("SPT: give group or groups, not both")
        groups = d["groups"] if "groups" in d else [d.get("group", 0)]
        if not isinstance(groups, list | tuple):
            raise ValueError("SPT groups must be a list of integers")
        types = d.get("registration_types", ())
        if not isinstance(types, list | tuple):
            raise ValueError("SPT registration_types must be a list of integers")
        kwargs = {k: v for k, v in d.items()
                  if k not in ("group", "groups", "registration_types")}
        return cls(groups=tuple(groups), registration_types=tuple(types), **kwargs)


def _registration_types(spt: Spt) -> tuple[RegistrationType, ...]:
    raw = spt.registration_types
    types = tuple(raw) if isinstance(raw, Sequence) and not isinstance(raw, str) else None
    if types is None:
        raise ValueError("SPT registration_types must be a list of integers")
    if types and spt.method is None:
        raise ValueError("SPT registration_types needs method")
    out = tuple(dict.fromkeys(RegistrationType(_number(
        "SPT registration_type", t, int(max(RegistrationType)))) for t in types))
    return () if len(out) == len(RegistrationType) else out


@dataclass(frozen=True, slots=True)
class Ifc:
    """An Initial Filter Criteria (Annex B.2.2). Without SPTs it has no TriggerPoint and
    always matches; ``condition_type_cnf`` is then moot and kept True.
    ``include_register_request`` / ``include_register_response``: the AS wants the UE's
    REGISTER / our 200 in its third-party REGISTER (tApplicationServerExtension,
    TS 24.229 §5.4.1.7)."""

    priority: int
    server_name: str
    default_handling: int = DefaultHandling.SESSION_CONTINUED
    condition_type_cnf: bool = True
    spts: tuple[Spt, ...] = ()
    service_info: str | None = None
    include_register_request: bool = False
    include_register_response: bool = False

    def __post_init__(self) -> None:
        _number("iFC priority", self.priority, _XS_INT_MAX)
        _sip_uri("iFC server_name", self.server_name)
        handling = _number("iFC default_handling", self.default_handling, 1)
        object.__setattr__(self, "default_handling", DefaultHandling(handling))
        if not isinstance(self.condition_type_cnf, bool):
            raise ValueError("iFC condition_type_cnf must be true or false")
        spts = tuple(self.spts) if isinstance(self.spts, Sequence) else None
        if spts is None or not all(isinstance(s, Spt) for s in spts):
            raise ValueError("iFC spts must be a list of SPTs")
        object.__setattr__(self, "spts", spts)
        if not spts:
            object.__setattr__(self, "condition_type_cnf", True)
        if self.service_info is not None:
            _text("iFC service_info", self.service_info, empty=True)
        for name in _INCLUDES:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"iFC {name} must be true or false")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "priority": self.priority, "server_name": self.server_name,
            "default_handling": int(self.default_handling),
            "condition_type_cnf": self.condition_type_cnf,
            "spts": [s.to_dict() for s in self.spts],
        }
        if self.service_info is not None:
            out["service_info"] = self.service_info
        for name in _INCLUDES:  # only when set: iFCs stored before them read the same
            if getattr(self, name):
                out[name] = True
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Ifc:
        """An iFC from its dict form (``spts`` a list of SPT dicts). Raises ValueError."""
        _no_unknown("iFC", d, {"priority", "server_name", "default_handling",
                               "condition_type_cnf", "spts", "service_info", *_INCLUDES})
        for key in ("priority", "server_name"):
            if key not in d:
                raise ValueError(f"iFC: {key} is required")
        spts = d.get("spts", ())
        if not isinstance(spts, list | tuple) or not all(isinstance(s, Mapping) for s in spts):
            raise ValueError("iFC spts must be a list of tables")
        fields = {k: v for k, v in d.items() if k != "spts"}
        return cls(**fields, spts=tuple(Spt.from_dict(s) for s in spts))


def _no_unknown(what: str, d: Mapping[str, Any], known: set[str]) -> None:
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")


@dataclass(frozen=True, slots=True)
class PublicIdentity:
    """A public identity of a service profile (Annex B.2.1 tPublicIdentity)."""

    identity: str
    barred: bool = False
    identity_type: int = IdentityType.PUBLIC_USER_IDENTITY
    # The identity as :func:`ims_core.identity.impu_key` indexes it, worked out once:
    # session routing looks identities up on every initial request.
    key: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _text("identity", self.identity)
        try:
            uri = parse_uri(self.identity)
        except SipParseError as exc:
            raise ValueError(f"identity {self.identity!r} is not a URI: {exc}") from None
        if not isinstance(uri, SipUri | TelUri) or self.identity != self.identity.strip():
            raise ValueError(f"identity must be a sip:, sips: or tel: URI: {self.identity!r}")
        if not isinstance(self.barred, bool):
            raise ValueError("barred must be true or false")
        kind = _number("identity_type", self.identity_type, int(max(IdentityType)))
        object.__setattr__(self, "identity_type", IdentityType(kind))
        object.__setattr__(self, "key", impu_key(uri))


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """Identities that share one set of iFCs (Annex B.2 tServiceProfile)."""

    identities: tuple[PublicIdentity, ...]
    ifcs: tuple[Ifc, ...] = ()

    def __post_init__(self) -> None:
        identities, ifcs = tuple(self.identities), tuple(self.ifcs)
        if not identities or not all(isinstance(p, PublicIdentity) for p in identities):
            raise ValueError("a service profile needs at least one public identity")
        if not all(isinstance(i, Ifc) for i in ifcs):
            raise ValueError("a service profile's ifcs must be iFCs")
        object.__setattr__(self, "identities", identities)
        object.__setattr__(self, "ifcs", ifcs)


_Entry = tuple[ServiceProfile, PublicIdentity, tuple[Ifc, ...]]


@dataclass(frozen=True, slots=True)
class Profile:
    """The IMS subscription: one private identity, its service profiles."""

    private_id: str
    service_profiles: tuple[ServiceProfile, ...]
    # identity key -> (service profile, entry, its iFCs by priority), built once: the S-CSCF
    # asks on every initial request (the first entry of a key wins, as a scan would).
    _index: dict[str, _Entry] = field(default_factory=dict, init=False, repr=False,
                                      compare=False)

    def __post_init__(self) -> None:
        _text("private_id", self.private_id)
        if self.private_id.split() != [self.private_id]:  # any str.isspace() character
            raise ValueError(f"private_id must not contain spaces: {self.private_id!r}")
        profiles = tuple(self.service_profiles)
        if not profiles or not all(isinstance(sp, ServiceProfile) for sp in profiles):
            raise ValueError("a subscription needs at least one service profile")
        object.__setattr__(self, "service_profiles", profiles)
        for sp in profiles:
            ordered = tuple(sorted(sp.ifcs, key=lambda i: i.priority))
            for p in sp.identities:
                self._index.setdefault(p.key, (sp, p, ordered))

    @property
    def identities(self) -> tuple[PublicIdentity, ...]:
        """Every public identity: together the implicit registration set."""
        return tuple(p for sp in self.service_profiles for p in sp.identities)

    def find(self, identity: str) -> tuple[ServiceProfile, PublicIdentity] | None:
        """The service profile and entry of *identity* (compared as public identities)."""
        found = self._entry(identity)
        return (found[0], found[1]) if found else None

    def _entry(self, identity: str) -> _Entry | None:
        found = self._index.get(identity)  # already in key form (impu_key is idempotent)
        try:
            return found if found is not None else self._index.get(impu_key(identity))
        except SipParseError:
            return None

    def ifcs_for(self, identity: str) -> tuple[Ifc, ...]:
        """The iFCs of the service profile holding *identity*, by priority."""
        found = self._entry(identity)
        return found[2] if found else ()

    def is_barred(self, identity: str) -> bool:
        found = self.find(identity)
        return found is not None and found[1].barred


# -- IMSSubscription XML (userdata_xml.py; imported when first used: it needs this model) --
def build(profile: Profile) -> bytes:
    """The IMSSubscription document of `profile` (TS 29.228 Annex B)."""
    from ims_core.userdata_xml import build as build_xml
    return build_xml(profile)


def parse(data: bytes | str) -> Profile:
    """A Profile from an IMSSubscription document; UserDataError when it is not one."""
    from ims_core.userdata_xml import parse as parse_xml
    return parse_xml(data)
