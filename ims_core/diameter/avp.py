"""AVPs and lists of AVPs (RFC 6733 §4.1, §4.4).

An :class:`Avp` holds code, vendor, flags and a Python value (see :mod:`.datatypes`); a Grouped
AVP's value is a :class:`Grouped`, itself a list of AVPs. AVPs we have no definition for keep
their payload as ``bytes`` and re-encode unchanged.

:class:`AvpList` is the by-name access shared by messages and grouped values::

    msg.add("User-Name", "alice@ims.example")
    msg.add("Vendor-Specific-Application-Id", {"Vendor-Id": 10415, "Auth-Application-Id": 16777216})
    msg.get("Session-Id"); msg.get_all("Public-Identity"); msg.find_code(601, 10415)

A grouped value may be given as a mapping (a ``list`` value there means repeated AVPs) or as a
sequence of ``(name, value)`` pairs and :class:`Avp` objects.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from .datatypes import AvpType
from .dictionary import AVP_FLAG_M, AVP_FLAG_V, DEFAULT, AvpDef, Dictionary
from .errors import DiameterError, ResultCode

_HDR = struct.Struct(">II")  # code, flags << 24 | length
_HDR_V = struct.Struct(">III")  # ... vendor
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")
_T = TypeVar("_T")
_MIN_SIZE = {
    AvpType.INTEGER32: 4, AvpType.UNSIGNED32: 4, AvpType.FLOAT32: 4, AvpType.ENUMERATED: 4,
    AvpType.TIME: 4, AvpType.INTEGER64: 8, AvpType.UNSIGNED64: 8, AvpType.FLOAT64: 8,
    AvpType.ADDRESS: 6,
}  # fmt: skip


class Avp:
    """One AVP. ``defn`` is its dictionary definition, ``None`` for unknown (or raw) AVPs."""

    __slots__ = ("_value", "_wire", "code", "defn", "flags", "vendor")

    def __init__(
        self,
        code: int,
        vendor: int,
        flags: int,
        value: Any,
        defn: AvpDef | None = None,
        wire: bytes | None = None,
    ) -> None:
        self.code = code
        self.vendor = vendor
        self.flags = flags
        self._value = value
        self.defn = defn
        self._wire = wire  # the encoded AVP, when known; must match the fields above

    @property
    def value(self) -> Any:
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value = value
        self._wire = None

    @classmethod
    def of(
        cls,
        name: str | AvpDef,
        value: Any,
        dictionary: Dictionary = DEFAULT,
        *,
        mandatory: bool | None = None,
    ) -> Avp:
        """Build an AVP by name; the value is checked and encoded now.

        A Grouped value is encoded now too: build a :class:`Grouped` completely before
        adding it (changing it afterwards does not change the AVP)."""
        if name.__class__ is str or isinstance(name, str):
            found = dictionary.by_name.get(name)
            if found is None:
                raise KeyError(f"unknown AVP name {name!r}")
            d = found
        else:
            d = name
        cls_ = value.__class__
        if cls_ is str and d.is_text:  # the common cases first
            payload = value.encode()
        elif cls_ is bytes and d.is_text:  # OctetString, or text already encoded
            payload = value
        elif cls_ is int and d.pack is not None:  # an int of a fixed-size type, packed here
            try:
                payload = d.pack(value)
            except struct.error:  # out of range: the encoder raises what it says about it
                payload = d.encoder(value)
        elif d.is_grouped:
            value = make_grouped(value, dictionary)
            payload = value.encode()
        else:
            if d.is_enum and value.__class__ is str:
                value = d.enum_value(value)
            payload = d.encoder(value)
        if mandatory is None:  # the common case, inlined
            n = len(payload)
            if d.fixed_head is not None:  # the encoder checked the value, so n is the size
                return cls(d.code, d.vendor, d.flags, value, d, d.fixed_head + payload)
            if d.vendor:
                head = _HDR_V.pack(d.code, d.word + n, d.vendor)
            else:
                head = _HDR.pack(d.code, d.word + n)
            return cls(d.code, d.vendor, d.flags, value, d, head + payload + _PAD[n & 3])
        flags = (d.flags | AVP_FLAG_M) if mandatory else (d.flags & ~AVP_FLAG_M)
        return cls(d.code, d.vendor, flags, value, d, _frame(d.code, d.vendor, flags, payload))

    @classmethod
    def from_raw(cls, raw: bytes) -> Avp:
        """An opaque AVP from its wire form (for Failed-AVP); a short header is zero-filled."""
        raw = bytes(raw).ljust(8, b"\0")
        code, word = _HDR.unpack_from(raw)
        flags, length = word >> 24, word & 0xFFFFFF
        if flags & AVP_FLAG_V and len(raw) >= 12:
            start, vendor = 12, int.from_bytes(raw[8:12], "big")
        else:
            start, vendor, flags = 8, 0, flags & ~AVP_FLAG_V
        if not start <= length <= len(raw):
            length = len(raw)
        return cls(code, vendor, flags, raw[start:length])

    def copy(self) -> Avp:
        """A new AVP with the same contents (the value object itself is shared)."""
        return Avp(self.code, self.vendor, self.flags, self._value, self.defn, self._wire)

    @property
    def name(self) -> str:
        return self.defn.name if self.defn else f"AVP({self.code}/{self.vendor})"

    @property
    def mandatory(self) -> bool:
        return bool(self.flags & AVP_FLAG_M)

    def encode(self) -> bytes:
        """The AVP on the wire, header and padding included."""
        if self._wire is not None:
            return self._wire
        value = self._value
        if isinstance(value, Grouped):
            payload = value.encode()
        else:
            payload = value if self.defn is None else self.defn.encoder(value)
        self._wire = _frame(self.code, self.vendor, self.flags, payload)
        return self._wire

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Avp):
            return NotImplemented
        return (self.code, self.vendor, self.flags, self._value) == (
            other.code, other.vendor, other.flags, other._value,
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self.name}: {self._value!r}>"


def _frame(code: int, vendor: int, flags: int, payload: bytes) -> bytes:
    """Header + payload + padding to 32 bits (§4.1: AVP Length excludes the padding)."""
    n = len(payload)
    if vendor or flags & AVP_FLAG_V:
        head = _HDR_V.pack(code, ((flags | AVP_FLAG_V) << 24) | (n + 12), vendor)
    else:
        head = _HDR.pack(code, (flags << 24) | (n + 8))
    return head + payload + _PAD[n & 3]


class AvpList:
    """An ordered list of AVPs with access by name (messages and Grouped values)."""

    __slots__ = ("avps", "dictionary")

    def __init__(self, avps: list[Avp] | None = None, dictionary: Dictionary = DEFAULT) -> None:
        self.avps: list[Avp] = avps if avps is not None else []
        self.dictionary = dictionary

    # --- building
    def add(self, name: str, value: Any, *, mandatory: bool | None = None) -> Avp:
        """Append AVP *name* with *value*; returns the new AVP."""
        avp = Avp.of(name, value, self.dictionary, mandatory=mandatory)
        self.avps.append(avp)
        return avp

    def add_avp(self, avp: Avp) -> Avp:
        self.avps.append(avp)
        return avp

    def extend(self, items: Mapping[str, Any] | Sequence[tuple[str, Any] | Avp]) -> None:
        """Append AVPs given as a mapping or a sequence of pairs (see module docstring)."""
        self.avps.extend(make_grouped(items, self.dictionary).avps)

    def remove(self, name: str) -> int:
        """Remove every AVP *name*; returns how many were removed."""
        code, vendor = self._key(name)
        before = len(self.avps)
        self.avps = [a for a in self.avps if a.code != code or a.vendor != vendor]
        return before - len(self.avps)

    # --- reading
    def _key(self, name: str) -> tuple[int, int]:
        d = self.dictionary.by_name.get(name)
        if d is None:
            raise KeyError(f"unknown AVP name {name!r}")
        return d.key

    def find(self, name: str) -> Avp | None:
        """The first AVP *name*, or ``None``."""
        d = self.dictionary.by_name.get(name)
        if d is None:
            raise KeyError(f"unknown AVP name {name!r}")
        code, vendor = d.code, d.vendor
        for a in self.avps:  # find_code, inlined: several look-ups per Cx request
            if a.code == code and a.vendor == vendor:
                return a
        return None

    def find_code(self, code: int, vendor: int = 0) -> Avp | None:
        """The first AVP with this code and vendor (known to the dictionary or not)."""
        for a in self.avps:
            if a.code == code and a.vendor == vendor:
                return a
        return None

    def find_all(self, name: str) -> list[Avp]:
        code, vendor = self._key(name)
        return [a for a in self.avps if a.code == code and a.vendor == vendor]

    def get(self, name: str, default: Any = None) -> Any:
        """The value of the first AVP *name*, or *default*."""
        a = self.find(name)
        return default if a is None else a._value

    def first_values(self, names: tuple[str, ...]) -> list[Any]:
        """The value of the first AVP of each of *names* (None where there is none), in
        one pass over the AVPs however many are asked for: how a Cx handler reads its
        request."""
        where = self.dictionary.positions(names)
        out: list[Any] = [None] * len(names)
        for a in self.avps:
            i = where.get((a.code, a.vendor))
            if i is not None and out[i] is None:
                out[i] = a._value
        return out

    def get_all(self, name: str) -> list[Any]:
        return [a.value for a in self.find_all(name)]

    def require(self, name: str) -> Any:
        """The value of AVP *name*; raises :class:`DiameterError` 5005 (MISSING_AVP) if absent."""
        a = self.find(name)
        if a is None:
            raise missing_avp(self.dictionary.avp(name))
        return a._value

    def get_str(self, name: str) -> str | None:
        return typed(self.get(name), str, name)

    def get_int(self, name: str) -> int | None:
        return typed(self.get(name), int, name)

    def get_bytes(self, name: str) -> bytes | None:
        return typed(self.get(name), bytes, name)

    def get_grouped(self, name: str) -> Grouped | None:
        return typed(self.get(name), Grouped, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __iter__(self) -> Iterator[Avp]:
        return iter(self.avps)

    def __len__(self) -> int:
        return len(self.avps)

    def encode(self) -> bytes:
        return b"".join([a.encode() for a in self.avps])


class Grouped(AvpList):
    """The value of a Grouped AVP (RFC 6733 §4.4)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AvpList):
            return NotImplemented
        return self.avps == other.avps

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "{" + ", ".join(repr(a) for a in self.avps) + "}"


def typed(value: Any, kind: type[_T], name: str) -> _T | None:
    """*value* (of AVP *name*) if None or a *kind*; else 5004 INVALID_AVP_VALUE."""
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise DiameterError(ResultCode.INVALID_AVP_VALUE, f"{name} is not {kind.__name__}")


def fresh(avp: Avp) -> Avp:
    """A copy of *avp* sharing nothing mutable with it (Grouped values are copied too) and
    keeping its encoding: how templates (AVPs built or decoded once) are handed out."""
    value = avp._value
    if isinstance(value, Grouped):
        value = Grouped([fresh(a) for a in value.avps], value.dictionary)
    wire = avp._wire
    return Avp(avp.code, avp.vendor, avp.flags, value, avp.defn,
               avp.encode() if wire is None else wire)


def make_grouped(value: Any, dictionary: Dictionary = DEFAULT) -> Grouped:
    """A :class:`Grouped` from a Grouped, a mapping, or a sequence of pairs and AVPs."""
    cls = value.__class__
    if cls is list or cls is tuple:  # the common case: neither a Grouped nor a mapping
        return Grouped(_of_pairs(value, dictionary), dictionary)
    if isinstance(value, Grouped):
        return value
    if cls is dict or isinstance(value, Mapping):
        of = Avp.of
        out: list[Avp] = []
        for name, v in value.items():
            if v.__class__ is list:
                out += [of(name, item, dictionary) for item in v]
            else:
                out.append(of(name, v, dictionary))
        return Grouped(out, dictionary)
    if isinstance(value, (list, tuple)):
        return Grouped(_of_pairs(value, dictionary), dictionary)
    raise TypeError(f"a Grouped value needs a mapping or pairs, not {type(value).__name__}")


def _of_pairs(items: Sequence[tuple[str, Any] | Avp], dictionary: Dictionary) -> list[Avp]:
    """``(name, value)`` pairs as new AVPs, AVPs as they are."""
    of = Avp.of
    out: list[Avp] = []
    append = out.append
    for item in items:
        if item.__class__ is not tuple and isinstance(item, Avp):
            append(item)
        else:
            name, v = item
            append(of(name, v, dictionary))
    return out


def grouped_avp(d: AvpDef, children: list[Avp], dictionary: Dictionary = DEFAULT) -> Avp:
    """Grouped AVP *d* of *children* (built, each knowing its encoding): what
    ``Avp.of(d, Grouped(children))`` gives, framed straight from the children's octets."""
    body = b"".join([a._wire or a.encode() for a in children])  # padded: no padding here
    n = len(body)
    head = _HDR_V.pack(d.code, d.word + n, d.vendor) if d.vendor else _HDR.pack(d.code, d.word + n)
    return Avp(d.code, d.vendor, d.flags, Grouped(children, dictionary), d, head + body)


def missing_avp(d: AvpDef) -> DiameterError:
    """5005 with an example of the missing AVP as Failed-AVP: "of correct minimum length
    and contain[ing] zeroes" (RFC 6733 §7.5)."""
    example = _frame(d.code, d.vendor, d.flags, bytes(_MIN_SIZE.get(d.type, 0)))
    return DiameterError(ResultCode.MISSING_AVP, f"missing {d.name}", failed_avp=example)
