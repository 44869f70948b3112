"""The Diameter dictionary: AVP and command definitions as data (RFC 6733 §4.5, §3.3).

A :class:`Dictionary` is built from plain tables (see :mod:`.dict_base` and :mod:`.dict_cx`)
and answers two questions quickly: what is AVP ``(code, vendor)`` / AVP ``name``, and what
is command ``code``. Each :class:`AvpDef` precomputes what the encoder needs (flags,
header size, the type's encoder and decoder).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .datatypes import DECODERS, ENCODERS, STRUCTS, AvpType, Decoder, Encoder

if TYPE_CHECKING:
    from .avp import Avp

AVP_FLAG_V = 0x80
AVP_FLAG_M = 0x40
AVP_FLAG_P = 0x20
AVP_RESERVED_BITS = 0x1F

VENDOR_3GPP = 10415
CX_APPLICATION_ID = 16777216
BASE_APPLICATION_ID = 0
RELAY_APPLICATION_ID = 0xFFFFFFFF
# Vendor-Specific-Application-Id of every Cx message (TS 29.229 §6.1)
CX_VSAI: Mapping[str, int] = MappingProxyType(
    {"Vendor-Id": VENDOR_3GPP, "Auth-Application-Id": CX_APPLICATION_ID}
)


_TEXT_TYPES = frozenset(
    {AvpType.UTF8_STRING, AvpType.DIAMETER_IDENTITY, AvpType.DIAMETER_URI, AvpType.OCTET_STRING}
)


_FIXED_SIZE = {
    AvpType.INTEGER32: 4, AvpType.UNSIGNED32: 4, AvpType.ENUMERATED: 4, AvpType.FLOAT32: 4,
    AvpType.TIME: 4, AvpType.INTEGER64: 8, AvpType.UNSIGNED64: 8, AvpType.FLOAT64: 8,
}  # fmt: skip


# How the codec's one-pass decoder reads a payload (``AvpDef.kind``): as UTF-8 text, as
# the octets themselves, as Grouped, by ``AvpDef.unpack`` when of the type's size, or by
# the type's decoder.
KIND_TEXT, KIND_OCTETS, KIND_GROUPED, KIND_STRUCT, KIND_OTHER = range(5)
_KINDS = {
    AvpType.UTF8_STRING: KIND_TEXT, AvpType.DIAMETER_IDENTITY: KIND_TEXT,
    AvpType.DIAMETER_URI: KIND_TEXT, AvpType.OCTET_STRING: KIND_OCTETS,
    AvpType.GROUPED: KIND_GROUPED,
}  # fmt: skip


_FAILED_AVP_KEY = (279, 0)  # Failed-AVP (RFC 6733 §7.5)
_MAX_CONSTANTS = 1024  # Dictionary.constant's templates (values may come from peers)


@dataclass(frozen=True, slots=True, eq=False)
class AvpDef:
    """One AVP definition: name, code, vendor (0 = IETF), type and the M bit we send.

    On receipt the M bit of a *known* AVP is accepted either way: peers disagree about it
    for the Cx AVPs (TS 29.229 §6.3 vs. older dictionaries), and it changes nothing for an
    AVP we understand. Only unknown AVPs are judged by their M bit (RFC 6733 §4.1).
    """

    name: str
    code: int
    vendor: int
    type: AvpType
    mandatory: bool = True
    enum: Mapping[str, int] = field(default_factory=dict)
    flags: int = field(init=False)
    encoder: Encoder = field(init=False, repr=False)
    decoder: Decoder = field(init=False, repr=False)
    is_grouped: bool = field(init=False, repr=False)
    is_enum: bool = field(init=False, repr=False)
    is_text: bool = field(init=False, repr=False)  # str values encode as UTF-8
    word: int = field(init=False, repr=False)  # flags << 24 | header length, for the encoder
    key: tuple[int, int] = field(init=False, repr=False)
    # The whole header (no padding needed) for types of one fixed size, else None.
    fixed_head: bytes | None = field(init=False, repr=False)
    kind: int = field(init=False, repr=False)  # KIND_*
    # KIND_STRUCT: the payload's size and its reader (``unpack_from(data, start)[0]``)
    size: int = field(init=False, repr=False)
    unpack: Callable[[bytes, int], tuple[Any, ...]] | None = field(init=False, repr=False)
    pack: Callable[..., bytes] | None = field(init=False, repr=False)  # its writer

    def __post_init__(self) -> None:
        flags = (AVP_FLAG_V if self.vendor else 0) | (AVP_FLAG_M if self.mandatory else 0)
        set_ = object.__setattr__
        set_(self, "flags", flags)
        set_(self, "encoder", ENCODERS[self.type])
        set_(self, "decoder", DECODERS[self.type])
        set_(self, "is_grouped", self.type is AvpType.GROUPED)
        set_(self, "is_enum", self.type is AvpType.ENUMERATED)
        set_(self, "is_text", self.type in _TEXT_TYPES)
        set_(self, "word", (flags << 24) | (12 if self.vendor else 8))
        set_(self, "key", (self.code, self.vendor))
        size = _FIXED_SIZE.get(self.type)
        head = None
        if size is not None:
            word = ((flags << 24) | (12 if self.vendor else 8)) + size
            head = word.to_bytes(4, "big")
            head = self.code.to_bytes(4, "big") + head + (
                self.vendor.to_bytes(4, "big") if self.vendor else b"")
        set_(self, "fixed_head", head)
        st = STRUCTS.get(self.type)
        set_(self, "kind", KIND_STRUCT if st else _KINDS.get(self.type, KIND_OTHER))
        set_(self, "size", st.size if st else 0)
        set_(self, "unpack", st.unpack_from if st else None)
        set_(self, "pack", st.pack if st else None)

    def enum_value(self, value: int | str) -> int:
        """An Enumerated value given by number or by its name in the dictionary."""
        if isinstance(value, str):
            try:
                return self.enum[value]
            except KeyError:
                raise ValueError(f"{self.name} has no value named {value!r}") from None
        return value

    def enum_name(self, value: int) -> str | None:
        for k, v in self.enum.items():
            if v == value:
                return k
        return None


# A command rule entry: one AVP name, or a tuple of names of which one must be present.
Rule = str | tuple[str, ...]
# The same with (code, vendor) keys, as the decoder checks them.
KeyRule = tuple[tuple[int, int], ...]
RuleKeys = tuple[frozenset[tuple[int, int]], tuple[KeyRule, ...]]


def _with_heads(rules: tuple[KeyRule, ...]) -> RuleKeys:
    return frozenset(r[0] for r in rules), rules


@dataclass(frozen=True, slots=True)
class CommandDef:
    """A command (RFC 6733 §3.2): code, application, abbreviations and the required AVPs.

    ``request_rules`` / ``answer_rules`` list the AVPs that must be present; error answers
    (E bit) are only held to the base rules (§7.2).
    """

    name: str
    code: int
    application_id: int
    request_abbrev: str
    answer_abbrev: str
    proxiable: bool
    request_rules: tuple[Rule, ...] = ()
    answer_rules: tuple[Rule, ...] = ()

    def abbrev(self, is_request: bool) -> str:
        return self.request_abbrev if is_request else self.answer_abbrev


@dataclass(frozen=True, slots=True)
class Application:
    """A Diameter application: id, vendor (0 for IETF applications) and name."""

    application_id: int
    vendor: int
    name: str


class Dictionary:
    """AVP and command definitions indexed for the codec and the message model."""

    def __init__(
        self,
        avps: Iterable[AvpDef],
        commands: Iterable[CommandDef],
        applications: Iterable[Application],
    ) -> None:
        self.by_key: dict[tuple[int, int], AvpDef] = {}
        self.by_name: dict[str, AvpDef] = {}
        self.commands: dict[int, CommandDef] = {}
        self._by_abbrev: dict[str, CommandDef] = {}  # the first command of each name
        self.applications: dict[int, Application] = {}
        # (command code, is request) -> required AVPs as keys, with the first key of each
        # rule (all present: every rule holds); and the same for error answers
        self.rule_keys: dict[tuple[int, bool], RuleKeys] = {}
        self._constants: dict[tuple[str, type, object], Avp] = {}
        self._positions: dict[tuple[str, ...], dict[tuple[int, int], int]] = {}
        # The codec's: top-level Grouped payloads -> their members, decoded once (None:
        # seen once so far).
        self.decoded_groups: dict[bytes, tuple[Avp, ...] | None] = {}
        # The codec's one-pass decoder reads these AVPs: without the V bit by code
        # (vendor 0), with it by (code, vendor). Failed-AVP is left out: it is decoded
        # best-effort, by the phases (RFC 6733 §7.5).
        self.one_pass_plain: dict[int, AvpDef] = {}
        self.one_pass_vendor: dict[tuple[int, int], AvpDef] = {}
        self.extend(avps, commands, applications)
        # Error answers (E bit) are held only to the base error rules (RFC 6733 §7.2).
        self.error_rule_keys = _with_heads(
            self.keys_of(("Origin-Host", "Origin-Realm", "Result-Code")))

    def extend(
        self,
        avps: Iterable[AvpDef] = (),
        commands: Iterable[CommandDef] = (),
        applications: Iterable[Application] = (),
    ) -> None:
        """Add definitions; a name or code defined twice is a programming error."""
        for a in avps:
            if a.key in self.by_key or a.name in self.by_name:
                raise ValueError(f"AVP {a.name} ({a.code}/{a.vendor}) defined twice")
            self.by_key[a.key] = a
            self.by_name[a.name] = a
            if a.key != _FAILED_AVP_KEY:
                self.one_pass_vendor[a.key] = a
                if not a.vendor:
                    self.one_pass_plain[a.code] = a
        for c in commands:
            if c.code in self.commands:
                raise ValueError(f"command {c.code} defined twice")
            self.commands[c.code] = c
            self._by_abbrev.setdefault(c.request_abbrev, c)
            self._by_abbrev.setdefault(c.answer_abbrev, c)
        for app in applications:
            self.applications[app.application_id] = app
        for c in self.commands.values():
            self.rule_keys[(c.code, True)] = _with_heads(self.keys_of(c.request_rules))
            self.rule_keys[(c.code, False)] = _with_heads(self.keys_of(c.answer_rules))
        self.__dict__.pop("cx_request_avps", None)  # new definitions: encode it anew
        self._constants.clear()
        self._positions.clear()
        self.decoded_groups.clear()

    @cached_property
    def cx_request_avps(self) -> tuple[Avp, ...]:
        """``Vendor-Specific-Application-Id {10415, Cx}`` and ``Auth-Session-State
        NO_STATE_MAINTAINED``, which every Cx request carries after its Session-Id
        (TS 29.229 §6.1), encoded by this dictionary once. Templates: messages get
        copies (``make_request`` makes them), never these objects."""
        from .avp import Avp  # avp imports this module

        return (
            Avp.of("Vendor-Specific-Application-Id", CX_VSAI, self),
            Avp.of("Auth-Session-State", 1, self),
        )

    def constant(self, name: str, value: int | str | bytes) -> Avp:
        """A fresh copy of AVP *name* = *value*, encoded once by this dictionary: for the
        values messages keep repeating (result codes, our identity, item numbers). The
        value is a scalar; a bounded number of them are kept."""
        key = (name, value.__class__, value)
        template = self._constants.get(key)
        if template is None:
            from .avp import Avp

            template = Avp.of(name, value, self)
            if len(self._constants) >= _MAX_CONSTANTS:
                self._constants.clear()
            self._constants[key] = template
        return template.copy()

    def positions(self, names: tuple[str, ...]) -> Mapping[tuple[int, int], int]:
        """Each of *names* as its (code, vendor) key -> its place in *names* (for
        :meth:`AvpList.first_values`), worked out once per tuple of names."""
        where = self._positions.get(names)
        if where is None:
            where = {}
            for i, name in enumerate(names):
                if where.setdefault(self.avp(name).key, i) != i:
                    raise ValueError(f"{name} asked for twice")
            if len(self._positions) >= _MAX_CONSTANTS:
                self._positions.clear()
            self._positions[names] = where
        return where

    def keys_of(self, rules: Iterable[Rule]) -> tuple[KeyRule, ...]:
        """Rules by name -> rules by (code, vendor); unknown names are an error."""
        return tuple(
            tuple(self.avp(n).key for n in ((r,) if isinstance(r, str) else r)) for r in rules
        )

    def avp(self, name: str) -> AvpDef:
        """The definition of AVP *name*; ``KeyError`` with a clear message if unknown."""
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"unknown AVP name {name!r}") from None

    def lookup(self, code: int, vendor: int = 0) -> AvpDef | None:
        return self.by_key.get((code, vendor))

    def command(self, code: int) -> CommandDef | None:
        return self.commands.get(code)

    def command_by_abbrev(self, abbrev: str) -> CommandDef:
        c = self._by_abbrev.get(abbrev)
        if c is None:
            raise KeyError(f"unknown command {abbrev!r}")
        return c


def avps_from_table(
    rows: Iterable[tuple[int, str, AvpType, bool]],
    vendor: int,
    enums: Mapping[str, Mapping[str, int]] | None = None,
) -> list[AvpDef]:
    """AvpDefs from ``(code, name, type, mandatory)`` rows sharing one vendor."""
    enums = enums or {}
    return [AvpDef(name, code, vendor, t, m, enums.get(name, {})) for code, name, t, m in rows]


def _default() -> Dictionary:
    from . import dict_base, dict_cx

    return Dictionary(
        [*dict_base.AVPS, *dict_cx.AVPS],
        [*dict_base.COMMANDS, *dict_cx.COMMANDS],
        [*dict_base.APPLICATIONS, *dict_cx.APPLICATIONS],
    )


DEFAULT: Dictionary = _default()
"""The base protocol plus Cx/Dx: what the IMS nodes use."""
