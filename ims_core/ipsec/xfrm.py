"""A sans-I/O codec of the NETLINK_XFRM messages that install, remove and list our ESP SAs
and policies (Linux ``include/uapi/linux/xfrm.h``, ``linux/netlink.h``).

Encoders return one whole netlink message (header included) for a sequence number;
decoders take the datagrams the kernel answers with. Layouts are those of 64-bit ABIs
(x86-64, arm64: ``__u64`` aligned to 8), in host byte order except SPIs and ports, which
the kernel keeps in network order. ``tests/ipsec/test_xfrm.py`` pins the sizes and the
offsets that matter.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .sa import Direction, Policy, SecurityAssociation

__all__ = [
    "AF_INET",
    "AF_INET6",
    "IPPROTO_ESP",
    "NLMSG_DONE",
    "NLMSG_ERROR",
    "XFRM_INF",
    "Ack",
    "Message",
    "PolicyInfo",
    "SaInfo",
    "Selector",
    "Template",
    "XfrmCodecError",
    "decode_ack",
    "decode_policy",
    "decode_sa",
    "del_policy",
    "del_sa",
    "dump_policies",
    "dump_sas",
    "family_of",
    "new_policy",
    "new_sa",
    "parse",
    "update_policy",
]

# linux/netlink.h
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_CAPPED = 0x100  # in an ack: the request's payload was left out
NLM_F_ACK_TLVS = 0x200  # in an ack: extended ack attributes follow
NLMSGERR_ATTR_MSG = 1  # the kernel's error text (extended ack)
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

# linux/xfrm.h
XFRM_MSG_NEWSA = 0x10
XFRM_MSG_DELSA = 0x11
XFRM_MSG_GETSA = 0x12
XFRM_MSG_NEWPOLICY = 0x13
XFRM_MSG_DELPOLICY = 0x14
XFRM_MSG_GETPOLICY = 0x15
XFRM_MSG_UPDPOLICY = 0x19
XFRMA_ALG_AUTH = 1
XFRMA_ALG_CRYPT = 2
XFRMA_TMPL = 5
XFRMA_ALG_AUTH_TRUNC = 20
XFRM_MODE_TRANSPORT = 0
XFRM_POLICY_ALLOW = 0
XFRM_SHARE_ANY = 0
XFRM_INF = 0xFFFFFFFFFFFFFFFF  # no byte/packet limit
ALL_ALGORITHMS = 0xFFFFFFFF  # template aalgos/ealgos/calgos: any (else inbound fails)
IPPROTO_ESP = 50
AF_INET = 2
AF_INET6 = 10
REPLAY_WINDOW = 32  # packets (RFC 4303 §3.4.3 recommends at least 32)

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid: 16
NLATTR = struct.Struct("=HH")  # len, type
ERRNO = struct.Struct("=i")
XFRM_ADDRESS = 16  # xfrm_address_t: an IPv4 address fills the first 4 bytes
# xfrm_selector: daddr, saddr, dport, dport_mask, sport, sport_mask (network order),
# family, prefixlen_d, prefixlen_s, proto, 3 padding, ifindex, user: 56
SELECTOR = struct.Struct("=16s16s2s2s2s2sHBBB3xiI")
XFRM_ID = struct.Struct("=16s4sB3x")  # daddr, spi (network order), proto: 24
LIFETIME_CFG = struct.Struct("=8Q")  # byte/packet limits soft+hard, expiry seconds: 64
LIFETIME_CUR = struct.Struct("=4Q")  # bytes, packets, add_time, use_time: 32
STATS = struct.Struct("=3I")  # replay_window, replay, integrity_failed: 12
# xfrm_usersa_info: sel, id, saddr, lft, curlft, stats, seq, reqid, family, mode,
# replay_window, flags, 7 padding: 224
USERSA_INFO = struct.Struct("=56s24s16s64s32s12sIIHBBB7x")
USERSA_ID = struct.Struct("=16s4sHBx")  # daddr, spi, family, proto: 24
# xfrm_userpolicy_info: sel, lft, curlft, priority, index, dir, action, flags, share,
# 4 padding: 168
USERPOLICY_INFO = struct.Struct("=56s64s32sIIBBBB4x")
USERPOLICY_ID = struct.Struct("=56sIB3x")  # sel, index, dir: 64
# xfrm_user_tmpl: id, family, 2 padding, saddr, reqid, mode, share, optional, 1 padding,
# aalgos, ealgos, calgos: 64
USER_TMPL = struct.Struct("=24sH2x16sIBBBxIII")
ALGO = struct.Struct("=64sI")  # xfrm_algo: name, key length in bits; the key follows
ALGO_AUTH = struct.Struct("=64sII")  # xfrm_algo_auth: ... and truncation in bits

# Limits off, no expiry (0 means none; XFRM_INF seconds would expire at once).
_NO_LIFETIME = LIFETIME_CFG.pack(XFRM_INF, XFRM_INF, XFRM_INF, XFRM_INF, 0, 0, 0, 0)


class XfrmCodecError(ValueError):
    """A netlink message that cannot be decoded (truncated, bad length)."""


# -- encoding ------------------------------------------------------------------------------


def family_of(host: str) -> int:
    """AF_INET or AF_INET6 for an address literal."""
    return AF_INET if ipaddress.ip_address(host).version == 4 else AF_INET6


def _addr(host: str) -> bytes:
    return ipaddress.ip_address(host).packed.ljust(XFRM_ADDRESS, b"\0")


def _port(port: int) -> bytes:
    return port.to_bytes(2, "big")


def _spi(spi: int) -> bytes:
    return spi.to_bytes(4, "big")


def _align(n: int) -> int:
    return (n + 3) & ~3


def _selector(src: str, dst: str, sport: int, dport: int) -> bytes:
    """Both full addresses; a port of 0 is any port; protocol any."""
    family = family_of(src)
    if family_of(dst) != family:
        raise ValueError(f"{src} and {dst} are not of one address family")
    bits = 32 if family == AF_INET else 128
    return SELECTOR.pack(_addr(dst), _addr(src), _port(dport), _port(0xFFFF if dport else 0),
                         _port(sport), _port(0xFFFF if sport else 0), family, bits, bits, 0,
                         0, 0)


def _attr(kind: int, payload: bytes) -> bytes:
    length = NLATTR.size + len(payload)
    return NLATTR.pack(length, kind) + payload + b"\0" * (_align(length) - length)


def _message(kind: int, flags: int, seq: int, payload: bytes) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(payload), kind, flags, seq, 0) + payload


def _name(name: str) -> bytes:
    raw = name.encode("ascii")
    if len(raw) >= 64:
        raise ValueError(f"algorithm name too long: {name!r}")
    return raw


def _xfrm_id(dst: str, spi: int) -> bytes:
    return XFRM_ID.pack(_addr(dst), _spi(spi), IPPROTO_ESP)


def new_sa(sa: SecurityAssociation, seq: int) -> bytes:
    """XFRM_MSG_NEWSA: ESP, transport mode, selector = the SA's addresses and ports with
    any protocol, no lifetime limits, integrity truncated to ``auth_trunc_bits``."""
    info = USERSA_INFO.pack(
        _selector(sa.src, sa.dst, sa.sport, sa.dport), _xfrm_id(sa.dst, sa.spi),
        _addr(sa.src), _NO_LIFETIME, bytes(LIFETIME_CUR.size), bytes(STATS.size), 0, 0,
        family_of(sa.dst), XFRM_MODE_TRANSPORT, REPLAY_WINDOW, 0)
    auth = ALGO_AUTH.pack(_name(sa.auth), len(sa.auth_key) * 8, sa.auth_trunc_bits)
    crypt = ALGO.pack(_name(sa.enc), len(sa.enc_key) * 8)
    payload = (info + _attr(XFRMA_ALG_AUTH_TRUNC, auth + sa.auth_key)
               + _attr(XFRMA_ALG_CRYPT, crypt + sa.enc_key))
    return _message(XFRM_MSG_NEWSA, NLM_F_REQUEST | NLM_F_ACK, seq, payload)


def del_sa(sa: SecurityAssociation, seq: int) -> bytes:
    """XFRM_MSG_DELSA: an SA is known by destination, SPI and protocol."""
    payload = USERSA_ID.pack(_addr(sa.dst), _spi(sa.spi), family_of(sa.dst), IPPROTO_ESP)
    return _message(XFRM_MSG_DELSA, NLM_F_REQUEST | NLM_F_ACK, seq, payload)


def _policy_payload(policy: Policy) -> bytes:
    info = USERPOLICY_INFO.pack(
        _selector(policy.src, policy.dst, policy.sport, policy.dport), _NO_LIFETIME,
        bytes(LIFETIME_CUR.size), 0, 0, policy.direction.value, XFRM_POLICY_ALLOW, 0,
        XFRM_SHARE_ANY)
    tmpl = USER_TMPL.pack(_xfrm_id(policy.dst, policy.spi), family_of(policy.dst),
                          _addr(policy.src), 0, XFRM_MODE_TRANSPORT, XFRM_SHARE_ANY, 0,
                          ALL_ALGORITHMS, ALL_ALGORITHMS, ALL_ALGORITHMS)
    return info + _attr(XFRMA_TMPL, tmpl)


def new_policy(policy: Policy, seq: int) -> bytes:
    """XFRM_MSG_NEWPOLICY: fails with EEXIST if a policy has the same selector and
    direction."""
    return _message(XFRM_MSG_NEWPOLICY, NLM_F_REQUEST | NLM_F_ACK, seq,
                    _policy_payload(policy))


def update_policy(policy: Policy, seq: int) -> bytes:
    """XFRM_MSG_UPDPOLICY: like NEWPOLICY but replaces a policy with the same selector
    and direction."""
    return _message(XFRM_MSG_UPDPOLICY, NLM_F_REQUEST | NLM_F_ACK, seq,
                    _policy_payload(policy))


def del_policy(policy: Policy, seq: int) -> bytes:
    """XFRM_MSG_DELPOLICY by selector and direction."""
    payload = USERPOLICY_ID.pack(_selector(policy.src, policy.dst, policy.sport, policy.dport),
                                 0, policy.direction.value)
    return _message(XFRM_MSG_DELPOLICY, NLM_F_REQUEST | NLM_F_ACK, seq, payload)


def dump_sas(seq: int) -> bytes:
    """XFRM_MSG_GETSA with NLM_F_DUMP: the answer is one XFRM_MSG_NEWSA per SA, then
    NLMSG_DONE."""
    return _message(XFRM_MSG_GETSA, NLM_F_REQUEST | NLM_F_DUMP, seq, b"")


def dump_policies(seq: int) -> bytes:
    """XFRM_MSG_GETPOLICY with NLM_F_DUMP: one XFRM_MSG_NEWPOLICY per policy, then
    NLMSG_DONE."""
    return _message(XFRM_MSG_GETPOLICY, NLM_F_REQUEST | NLM_F_DUMP, seq, b"")


# -- decoding ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    """An NLMSG_ERROR (or the status of an NLMSG_DONE): ``error`` 0 for success, else a
    positive errno; ``text`` the kernel's extended-ack message ("" without one)."""

    seq: int
    error: int
    text: str = ""


@dataclass(frozen=True, slots=True)
class Selector:
    src: str
    dst: str
    sport: int  # 0: any
    dport: int
    proto: int  # 0: any
    family: int


@dataclass(frozen=True, slots=True)
class SaInfo:
    """One dumped SA. Algorithm names are the kernel's, None when absent."""

    selector: Selector
    src: str
    dst: str
    spi: int
    proto: int
    mode: int
    reqid: int
    replay_window: int
    auth: str | None
    auth_key: bytes
    auth_trunc_bits: int | None
    enc: str | None
    enc_key: bytes
    octets: int  # carried so far (current lifetime)
    packets: int


@dataclass(frozen=True, slots=True)
class Template:
    src: str
    dst: str
    spi: int
    proto: int
    mode: int
    reqid: int


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One dumped policy; ``dir`` is the raw XFRM_POLICY_* value (2 = fwd)."""

    selector: Selector
    dir: int
    priority: int
    index: int
    action: int
    templates: tuple[Template, ...]

    @property
    def direction(self) -> Direction | None:
        """IN or OUT; None for forward (and socket) policies."""
        return next((d for d in Direction if d.value == self.dir), None)


def parse(data: bytes) -> list[Message]:
    """The netlink messages of one datagram."""
    out: list[Message] = []
    at = 0
    while at < len(data):
        if len(data) - at < NLMSGHDR.size:
            raise XfrmCodecError(f"{len(data) - at} stray bytes after the last message")
        length, kind, flags, seq, pid = NLMSGHDR.unpack_from(data, at)
        if length < NLMSGHDR.size or at + length > len(data):
            raise XfrmCodecError(f"message length {length} at offset {at} of {len(data)}")
        out.append(Message(kind, flags, seq, pid, data[at + NLMSGHDR.size:at + length]))
        at += _align(length)
    return out


def _attributes(data: bytes) -> Iterator[tuple[int, bytes]]:
    at = 0
    while len(data) - at >= NLATTR.size:
        length, kind = NLATTR.unpack_from(data, at)
        if length < NLATTR.size or at + length > len(data):
            raise XfrmCodecError(f"attribute length {length} at offset {at} of {len(data)}")
        yield kind & NLA_TYPE_MASK, data[at + NLATTR.size:at + length]
        at += _align(length)


def decode_ack(message: Message) -> Ack:
    """The status an NLMSG_ERROR or NLMSG_DONE carries."""
    if message.type not in (NLMSG_ERROR, NLMSG_DONE):
        raise XfrmCodecError(f"message type {message.type} is not an ack")
    payload = message.payload
    if len(payload) < ERRNO.size:
        if message.type == NLMSG_DONE:  # some kernels send a bare NLMSG_DONE
            return Ack(message.seq, 0)
        raise XfrmCodecError("ack without an error code")
    (code,) = ERRNO.unpack_from(payload)
    text = ""
    if message.type == NLMSG_ERROR and message.flags & NLM_F_ACK_TLVS:
        at = ERRNO.size + NLMSGHDR.size
        if not message.flags & NLM_F_CAPPED and len(payload) >= at:
            (inner,) = struct.unpack_from("=I", payload, ERRNO.size)
            at = ERRNO.size + _align(inner)
        for kind, value in _attributes(payload[at:]):
            if kind == NLMSGERR_ATTR_MSG:
                text = value.split(b"\0", 1)[0].decode("utf-8", "replace")
    return Ack(message.seq, -code, text)


def _address(raw: bytes, family: int) -> str:
    if family == AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    if family == AF_INET6:
        return str(ipaddress.IPv6Address(raw[:16]))
    return ""  # AF_UNSPEC (a wildcard selector)


def _decode_selector(raw: bytes) -> Selector:
    daddr, saddr, dport, _, sport, _, family, _, _, proto, _, _ = SELECTOR.unpack(raw)
    return Selector(_address(saddr, family), _address(daddr, family),
                    int.from_bytes(sport, "big"), int.from_bytes(dport, "big"), proto, family)


def _fixed(message: Message, layout: struct.Struct, kind: int) -> tuple[bytes, bytes]:
    if message.type != kind:
        raise XfrmCodecError(f"message type {message.type}, expected {kind}")
    if len(message.payload) < layout.size:
        raise XfrmCodecError(f"{len(message.payload)} bytes, expected at least {layout.size}")
    return message.payload[:layout.size], message.payload[_align(layout.size):]


def _algorithm(raw: bytes, layout: struct.Struct) -> tuple[str, int, bytes, int | None]:
    """(name, key bits, key, truncation bits or None) of an xfrm_algo(_auth)."""
    if len(raw) < layout.size:
        raise XfrmCodecError("algorithm attribute too short")
    fields = layout.unpack_from(raw)
    name = fields[0].split(b"\0", 1)[0].decode("ascii", "replace")
    key_bits = fields[1]
    key = raw[layout.size:layout.size + (key_bits + 7) // 8]
    return name, key_bits, key, fields[2] if len(fields) > 2 else None


def decode_sa(message: Message) -> SaInfo:
    """An XFRM_MSG_NEWSA of a GETSA dump."""
    fixed, rest = _fixed(message, USERSA_INFO, XFRM_MSG_NEWSA)
    sel, xid, saddr, _, cur, _, _, reqid, family, mode, window, _ = USERSA_INFO.unpack(fixed)
    daddr, spi, proto = XFRM_ID.unpack(xid)
    octets, packets, _, _ = LIFETIME_CUR.unpack(cur)
    attrs = dict(_attributes(rest))
    auth: tuple[str, int, bytes, int | None] | None = None
    if XFRMA_ALG_AUTH_TRUNC in attrs:
        auth = _algorithm(attrs[XFRMA_ALG_AUTH_TRUNC], ALGO_AUTH)
    elif XFRMA_ALG_AUTH in attrs:
        auth = _algorithm(attrs[XFRMA_ALG_AUTH], ALGO)
    enc = _algorithm(attrs[XFRMA_ALG_CRYPT], ALGO) if XFRMA_ALG_CRYPT in attrs else None
    return SaInfo(
        selector=_decode_selector(sel), src=_address(saddr, family),
        dst=_address(daddr, family), spi=int.from_bytes(spi, "big"), proto=proto, mode=mode,
        reqid=reqid, replay_window=window, auth=auth[0] if auth else None,
        auth_key=auth[2] if auth else b"", auth_trunc_bits=auth[3] if auth else None,
        enc=enc[0] if enc else None, enc_key=enc[2] if enc else b"", octets=octets,
        packets=packets)


def decode_policy(message: Message) -> PolicyInfo:
    """An XFRM_MSG_NEWPOLICY of a GETPOLICY dump."""
    fixed, rest = _fixed(message, USERPOLICY_INFO, XFRM_MSG_NEWPOLICY)
    sel, _, _, priority, index, direction, action, _, _ = USERPOLICY_INFO.unpack(fixed)
    templates: list[Template] = []
    for kind, value in _attributes(rest):
        if kind != XFRMA_TMPL:
            continue
        if len(value) % USER_TMPL.size:
            raise XfrmCodecError(f"template attribute of {len(value)} bytes")
        for at in range(0, len(value), USER_TMPL.size):
            xid, family, saddr, reqid, mode, *_ = USER_TMPL.unpack_from(value, at)
            daddr, spi, proto = XFRM_ID.unpack(xid)
            templates.append(Template(_address(saddr, family), _address(daddr, family),
                                      int.from_bytes(spi, "big"), proto, mode, reqid))
    return PolicyInfo(_decode_selector(sel), direction, priority, index, action,
                      tuple(templates))
