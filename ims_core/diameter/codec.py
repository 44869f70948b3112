"""Decoding Diameter messages in phases, and stream framing (RFC 6733 §3, §4, §7).

:func:`decode` works in three phases, each with its own errors:

1. *framing* — header, message length, AVP lengths and flag bits: 5015 INVALID_MESSAGE_LENGTH,
   5011 UNSUPPORTED_VERSION, 3008 INVALID_HDR_BITS, 5014 INVALID_AVP_LENGTH,
   3009 INVALID_AVP_BITS;
2. *dictionary* — the command and application are known (3001 COMMAND_UNSUPPORTED,
   3007 APPLICATION_UNSUPPORTED), every AVP is decoded by its type (5004, 5014); unknown AVPs
   without the M bit are kept as bytes, with it they are 5001 AVP_UNSUPPORTED (§4.1);
3. *command rules* — the required AVPs are present (5005 MISSING_AVP).

Every failure is a :class:`DiameterError`; nothing else escapes, whatever the input.
Encoding is :meth:`Message.encode`.
"""

from __future__ import annotations

import struct

from .avp import Avp, Grouped, fresh, missing_avp
from .datatypes import AvpType
from .dictionary import (
    AVP_FLAG_M,
    AVP_FLAG_V,
    AVP_RESERVED_BITS,
    DEFAULT,
    KIND_GROUPED,
    KIND_OCTETS,
    KIND_STRUCT,
    KIND_TEXT,
    RELAY_APPLICATION_ID,
    Dictionary,
    KeyRule,
    RuleKeys,
)
from .errors import DiameterError, ResultCode
from .header import FLAG_E, FLAG_P, FLAG_R, HEADER, HEADER_LENGTH, VERSION, Header, parse_header
from .message import Message

MAX_MESSAGE_LENGTH = 1 << 20  # our bound; the field allows 16 MiB
MAX_GROUP_DEPTH = 16

_AVP_HDR = struct.Struct(">II")
_U32 = struct.Struct(">I")
_SESSION_ID = 263
_FAILED_AVP = 279
_GROUPED = AvpType.GROUPED
_V_BIT = AVP_FLAG_V << 24
_RESERVED_BITS = AVP_RESERVED_BITS << 24


# A framed AVP: (code, vendor, flags, payload start, payload end, AVP start, AVP end)
_Framed = tuple[int, int, int, int, int, int, int]


def decode(
    data: bytes,
    dictionary: Dictionary = DEFAULT,
    *,
    check_rules: bool = True,
    max_length: int = MAX_MESSAGE_LENGTH,
) -> Message:
    """Decode one complete message. Raises :class:`DiameterError` (with ``header`` set once
    the header could be read) for anything malformed or unsupported."""
    data = bytes(data)
    if len(data) < HEADER_LENGTH or data[0] != VERSION:
        parse_header(data)  # raises 5015 or 5011, with the header when it could be read
    w0, w1, app, hbh, e2e = HEADER.unpack_from(data)
    length, flags, code = w0 & 0xFFFFFF, w1 >> 24, w1 & 0xFFFFFF
    try:
        # Phase 1: framing.
        if length != len(data) or length & 3 or length > max_length:
            raise DiameterError(
                ResultCode.INVALID_MESSAGE_LENGTH,
                f"Message Length {length}, {len(data)} octets received",
            )
        if flags & FLAG_R and flags & FLAG_E:
            raise DiameterError(ResultCode.INVALID_HDR_BITS, "E bit set on a request")
        cmd = dictionary.commands.get(code)
        fast = None
        if cmd is not None and (not flags & FLAG_P or cmd.proxiable) and (
            cmd.application_id == app or app == RELAY_APPLICATION_ID
        ):
            fast = _decode_well_formed(data, HEADER_LENGTH, len(data), dictionary, 0)
        if fast is not None and cmd is not None:  # the AVPs the phases below would give
            avps, present = fast[0], set(fast[1])
        else:
            framed = _frame_avps(data, HEADER_LENGTH, len(data), strict_end=True)
            # Phase 2: dictionary.
            if cmd is None:
                raise DiameterError(ResultCode.COMMAND_UNSUPPORTED, f"command {code}")
            if cmd.application_id != app and app != RELAY_APPLICATION_ID:
                raise DiameterError(
                    ResultCode.APPLICATION_UNSUPPORTED,
                    f"application {app} for {cmd.request_abbrev}",
                )
            if flags & FLAG_P and not cmd.proxiable:
                raise DiameterError(ResultCode.INVALID_HDR_BITS,
                                    f"P bit on {cmd.request_abbrev}")
            avps, present = _decode_avps(data, framed, dictionary, 0), None
        msg = Message(code, app, flags, hbh, e2e, avps, dictionary)
        # Phase 3: command rules (the one-pass decoder counted what each rule needs).
        if check_rules:
            heads, rules = _rules(dictionary, code, flags)
            if present is None:
                _check_keys(avps, rules, dictionary)
            elif not present.issuperset(heads):  # else each rule has its first AVP
                _check_present(present, rules, dictionary)
        return msg
    except DiameterError as err:
        err.header = Header(VERSION, length, flags, code, app, hbh, e2e)
        if err.session_id is None:
            err.session_id = find_session_id(data)
        raise


def check_required(msg: Message, rules: tuple[str | tuple[str, ...], ...]) -> None:
    """Raise 5005 for the first rule not satisfied (a tuple rule: one of its names)."""
    _check_keys(msg.avps, msg.dictionary.keys_of(rules), msg.dictionary)


def _rules(dictionary: Dictionary, code: int, flags: int) -> RuleKeys:
    """The required AVPs of a command's request or answer, with the first AVP of each rule;
    error answers (E bit) are only held to the base error rules (§7.2)."""
    if flags & FLAG_E:
        return dictionary.error_rule_keys
    return dictionary.rule_keys[(code, bool(flags & FLAG_R))]


def _check_keys(avps: list[Avp], rules: tuple[KeyRule, ...], dictionary: Dictionary) -> None:
    _check_present({(a.code, a.vendor) for a in avps}, rules, dictionary)


def _check_present(
    present: set[tuple[int, int]], rules: tuple[KeyRule, ...], dictionary: Dictionary
) -> None:
    for rule in rules:
        if rule[0] in present:  # most rules name one AVP
            continue
        for key in rule[1:]:
            if key in present:
                break
        else:
            d = dictionary.by_key[rule[0]]
            raise missing_avp(d)


def _frame_avps(
    data: bytes, pos: int, end: int, strict_end: bool, check_bits: bool = True
) -> list[_Framed]:
    """Phase 1 for one level: walk the AVP headers between *pos* and *end* (§4.1)."""
    out: list[_Framed] = []
    unpack = _AVP_HDR.unpack_from
    unpack_u32 = _U32.unpack_from
    while pos < end:
        if end - pos < 8:
            raise DiameterError(
                ResultCode.INVALID_AVP_LENGTH, "trailing octets shorter than an AVP header",
                failed_avp=data[pos:end],
            )  # fmt: skip
        code, word = unpack(data, pos)
        flags, length = word >> 24, word & 0xFFFFFF
        start = pos + (12 if flags & AVP_FLAG_V else 8)
        if length < start - pos or pos + length > end:
            raise DiameterError(
                ResultCode.INVALID_AVP_LENGTH, f"AVP {code} length {length}",
                failed_avp=data[pos : min(end, pos + max(length, 8))],
            )  # fmt: skip
        stop = pos + length
        if flags & AVP_RESERVED_BITS and check_bits:
            raise DiameterError(
                ResultCode.INVALID_AVP_BITS, f"AVP {code} flags {flags:#04x}",
                failed_avp=data[pos:stop],
            )  # fmt: skip
        vendor = unpack_u32(data, pos + 8)[0] if flags & AVP_FLAG_V else 0
        out.append((code, vendor, flags, start, stop, pos, stop))
        nxt = pos + ((length + 3) & ~3)
        if nxt > end:
            if strict_end:  # cannot happen when end and pos are multiples of 4
                raise DiameterError(ResultCode.INVALID_AVP_LENGTH, f"AVP {code} padding")
            nxt = end  # tolerated: a last sub-AVP of a Grouped without its padding
        pos = nxt
    return out


def _decode_avps(
    data: bytes, framed: list[_Framed], dictionary: Dictionary, depth: int
) -> list[Avp]:
    """Phase 2 for one level: typed values from the dictionary."""
    out: list[Avp] = []
    by_key = dictionary.by_key
    for code, vendor, flags, start, stop, a_start, a_stop in framed:
        d = by_key.get((code, vendor))
        if d is None:
            if flags & AVP_FLAG_M:
                raise DiameterError(
                    ResultCode.AVP_UNSUPPORTED, f"unknown mandatory AVP {code}/{vendor}",
                    failed_avp=data[a_start:a_stop],
                )  # fmt: skip
            out.append(Avp(code, vendor, flags, data[start:stop]))
            continue
        if code == _FAILED_AVP and vendor == 0:
            out.append(_decode_failed_avp(data, flags, start, stop, dictionary))
            continue
        try:
            if d.type is _GROUPED:
                if depth >= MAX_GROUP_DEPTH:
                    raise DiameterError(ResultCode.INVALID_AVP_VALUE, "Grouped nested too deep")
                if depth == 0:
                    value: object = _top_grouped(data, start, stop, dictionary)
                else:
                    inner = _frame_avps(data, start, stop, strict_end=False)
                    value = Grouped(_decode_avps(data, inner, dictionary, depth + 1), dictionary)
            else:
                value = d.decoder(data[start:stop])
        except DiameterError as err:
            if err.failed_avp is None:
                err.failed_avp = data[a_start:a_stop]
            raise
        out.append(Avp(code, vendor, flags, value, d))
    return out


def _decode_well_formed(
    data: bytes, pos: int, end: int, dictionary: Dictionary, depth: int
) -> tuple[list[Avp], list[tuple[int, int]]] | None:
    """Phases 1 and 2 of one level (the AVPs between *pos* and *end*, at *depth*) in one
    pass, for AVPs that pass both: the AVPs and their keys. None at the first thing out of
    the ordinary (an unknown AVP, a length, flag or value in error, Failed-AVP, nesting
    too deep): the phases then run one after the other and raise what they find first.
    Most messages are well formed; they pay one walk."""
    out: list[Avp] = []
    append = out.append
    keys: list[tuple[int, int]] = []
    add = keys.append
    plain = dictionary.one_pass_plain
    by_vendor = dictionary.one_pass_vendor
    unpack = _AVP_HDR.unpack_from
    unpack_u32 = _U32.unpack_from
    try:
        while pos < end:
            # Under 8 octets left: struct.error at the end of the message, else a length
            # that fails the checks below.
            code, word = unpack(data, pos)
            length = word & 0xFFFFFF
            stop = pos + length
            if word & _V_BIT:
                d = by_vendor.get((code, unpack_u32(data, pos + 8)[0]))
                start = pos + 12
            else:
                d = plain.get(code)
                start = pos + 8
            if d is None or word & _RESERVED_BITS or stop > end or stop < start:
                return None
            kind = d.kind
            if kind == KIND_TEXT:
                value: object = data[start:stop].decode()
            elif kind == KIND_STRUCT and stop - start == d.size:
                value = d.unpack(data, start)[0]  # type: ignore[misc]
            elif kind == KIND_OCTETS:
                value = data[start:stop]
            elif kind != KIND_GROUPED:
                value = d.decoder(data[start:stop])
            elif not depth:
                value = _top_grouped(data, start, stop, dictionary)
            else:
                inner = None if depth >= MAX_GROUP_DEPTH else _decode_well_formed(
                    data, start, stop, dictionary, depth + 1)
                if inner is None:
                    return None
                value = Grouped(inner[0], dictionary)
            append(Avp(code, d.vendor, word >> 24, value, d))
            add(d.key)
            pos += (length + 3) & ~3
    except (DiameterError, UnicodeDecodeError, struct.error):  # the phases below say which
        return None
    # The last AVP's padding may run past a Grouped (tolerated), not past the message.
    if pos != end and not depth:
        return None
    return out, keys


_MAX_DECODED_GROUPS = 1024  # payloads may come from anyone: keep a bounded number
# ... of bounded size: the recurring groups are a few dozen octets (an MAA's
# SIP-Auth-Data-Item under 200); without this a peer could pin 1024 groups of 1 MiB.
_MAX_MEMO_PAYLOAD = 512


def _top_grouped(data: bytes, start: int, stop: int, dictionary: Dictionary) -> Grouped:
    """A top-level Grouped value. Its members depend on its payload alone, and the same
    payloads keep coming (the Vendor-Specific-Application-Id of every Cx message, a MAR's
    SIP-Auth-Data-Item): each is decoded once more, then handed out as fresh copies. A
    payload seen once is only noted: many never come again (an MAA's vectors), and the
    copies kept would be wasted."""
    if stop - start > _MAX_MEMO_PAYLOAD:
        return Grouped(_members(data, start, stop, dictionary), dictionary)
    payload = data[start:stop]
    memo = dictionary.decoded_groups
    template = memo.get(payload, _UNSEEN)
    if isinstance(template, tuple):
        return Grouped([fresh(a) for a in template], dictionary)
    avps = _members(data, start, stop, dictionary)
    if len(memo) >= _MAX_DECODED_GROUPS:
        memo.clear()
    memo[payload] = None if template is _UNSEEN else tuple(fresh(a) for a in avps)
    return Grouped(avps, dictionary)


def _members(data: bytes, start: int, stop: int, dictionary: Dictionary) -> list[Avp]:
    """The members of a top-level Grouped AVP: in one pass, else by the phases (which
    raise what is wrong)."""
    one_pass = _decode_well_formed(data, start, stop, dictionary, 1)
    if one_pass is not None:
        return one_pass[0]
    return _decode_avps(data, _frame_avps(data, start, stop, strict_end=False), dictionary, 1)


_UNSEEN = object()  # decoded_groups: a payload not seen yet


def _decode_failed_avp(
    data: bytes, flags: int, start: int, stop: int, dictionary: Dictionary
) -> Avp:
    """Failed-AVP holds what the peer found wrong (§7.5): decode its contents best-effort,
    keeping whatever does not decode as raw bytes, and never fail on it."""
    try:
        framed = _frame_avps(data, start, stop, strict_end=False, check_bits=False)
    except DiameterError:
        return Avp(_FAILED_AVP, 0, flags, data[start:stop])
    inner: list[Avp] = []
    for f in framed:
        try:
            inner += _decode_avps(data, [f], dictionary, MAX_GROUP_DEPTH - 2)
        except DiameterError:
            inner.append(Avp(f[0], f[1], f[2], data[f[3] : f[4]]))
    return Avp(_FAILED_AVP, 0, flags, Grouped(inner, dictionary), dictionary.lookup(_FAILED_AVP))


def find_session_id(data: bytes) -> str | None:
    """A best-effort Session-Id for an error answer to a message that failed to decode."""
    pos, end = HEADER_LENGTH, len(data)
    while end - pos >= 8:
        code, word = _AVP_HDR.unpack_from(data, pos)
        length = word & 0xFFFFFF
        if length < 8 or pos + length > end:
            return None
        if code == _SESSION_ID and not word & (AVP_FLAG_V << 24):
            try:
                return data[pos + 8 : pos + length].decode()
            except UnicodeDecodeError:
                return None
        pos += (length + 3) & ~3
    return None


class Framer:
    """Splits a TCP byte stream into messages by the header's Message Length (§3).

    :meth:`feed` returns complete messages (as bytes) and keeps the rest. A header that cannot
    start a message (wrong version, length under 20 or over the bound, not a multiple of 4)
    raises :class:`DiameterError`: the stream cannot be resynchronised and must be closed.
    """

    __slots__ = ("_buf", "max_length")

    def __init__(self, max_length: int = MAX_MESSAGE_LENGTH) -> None:
        self._buf = bytearray()
        self.max_length = max_length

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        with memoryview(buf) as view:  # one copy per message (a bytearray slice is two)
            while n - pos >= 4:
                word = _U32.unpack_from(buf, pos)[0]
                version, length = word >> 24, word & 0xFFFFFF
                if version != VERSION:
                    raise DiameterError(ResultCode.UNSUPPORTED_VERSION, f"version {version}")
                if length < HEADER_LENGTH or length & 3 or length > self.max_length:
                    raise DiameterError(ResultCode.INVALID_MESSAGE_LENGTH, f"length {length}")
                if n - pos < length:
                    break
                out.append(bytes(view[pos : pos + length]))
                pos += length
        if pos:
            del buf[:pos]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)


def peek_header(data: bytes) -> Header | None:
    """The header of *data* without any checks, or ``None`` if shorter than 20 octets."""
    if len(data) < HEADER_LENGTH:
        return None
    w0, w1, app, hbh, e2e = HEADER.unpack_from(data)
    return Header(w0 >> 24, w0 & 0xFFFFFF, w1 >> 24, w1 & 0xFFFFFF, app, hbh, e2e)
