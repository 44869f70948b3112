"""Fuzz targets: one function per parser, each taking the raw bytes a peer (or an operator's
file) could supply.

A target lets through only the errors its parser documents (``Target.allowed``), and
`run_one` checks those carry a protocol answer (a SIP status, a Diameter Result-Code).
Anything else escaping — another exception, a hang, a huge allocation — is a bug. On
success each target also drives what a node does next with the result (validate, build an
answer, re-encode), since a parser that accepts what the rest cannot handle is a bug too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hss.config import HssConfig
from ims_core import config as config_mod
from ims_core import reginfo, userdata_xml
from ims_core.diameter import DiameterError, Framer, decode, error_answer
from ims_core.diameter.errors import ResultCode
from ims_core.reginfo import ReginfoError
from ims_core.scscf.config import ScscfConfig
from ims_core.sip.digest import parse_auth
from ims_core.sip.errors import SipParseError
from ims_core.sip.events import (
    delta_seconds,
    parse_event,
    parse_subscription_state,
    response_expires,
    response_retry_after,
)
from ims_core.sip.framer import StreamFramer
from ims_core.sip.inbound import request_source
from ims_core.sip.message import Request, Response
from ims_core.sip.parser import Limits, error_response, is_keepalive, parse_message
from ims_core.sip.secagree import mechanisms
from ims_core.userdata import UserDataError

# Statuses a SipParseError may carry (errors.py: syntax, version, limits).
SIP_STATUSES = frozenset({400, 505, 513})
RESULT_CODES = frozenset(int(c) for c in ResultCode)


def sip_datagram(data: bytes) -> None:
    """One UDP datagram (RFC 3261 §18.3), as `inbound.receive` takes it: parse, then the
    full header check, the response a rejected request gets, the Via marking (§18.2.1).
    Allowed: SipParseError (400/505/513)."""
    if is_keepalive(data):
        return
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        answer = error_response(exc)
        if answer is not None:
            answer.to_bytes()
        raise
    msg.to_bytes()
    msg.validate(full=True)
    if isinstance(msg, Request):
        reply_to = request_source(msg, "udp", "192.0.2.1", 5060).reply_to
        if reply_to is not None and not 0 <= reply_to.port <= 65535:
            # a socket refuses such a port: asyncio then closes the whole UDP listener
            raise AssertionError(f"responses would go to port {reply_to.port}")
    msg.to_bytes()
    _read_extension_headers(msg)


def _read_extension_headers(msg: Request | Response) -> None:
    """The headers a CSCF reads beyond `validate`: sec-agree (RFC 3329) and the event
    framework (RFC 6665). Each raises SipParseError alone when malformed."""
    for name in ("security-client", "security-server", "security-verify"):
        with contextlib.suppress(SipParseError):
            mechanisms(msg, name, need_sa=name != "security-client")
    for value in msg.headers.get_all("event"):
        with contextlib.suppress(SipParseError):
            parse_event(value)
    for value in msg.headers.get_all("subscription-state"):
        with contextlib.suppress(SipParseError):
            parse_subscription_state(value)
    for value in msg.headers.get_all("expires"):
        with contextlib.suppress(SipParseError):
            delta_seconds(value)
    if isinstance(msg, Response):
        response_expires(msg)
        response_retry_after(msg)


# Limits scaled down so that inputs of a few kB reach them (513 paths included).
STREAM_LIMITS = Limits(max_message_size=2048, max_headers=24, max_line_length=512)


def sip_stream(data: bytes) -> None:
    """A TCP byte stream cut in two reads at a point the first octet picks; every framed
    message parsed with stream rules (§18.3), under STREAM_LIMITS.
    Allowed: SipParseError (400/513)."""
    cut = data[0] if data else 0
    framer = StreamFramer(STREAM_LIMITS)
    for chunk in (data[1 : 1 + cut], data[1 + cut :]):
        framer.feed(chunk)
        while (frame := framer.next_frame()) is not None:
            if isinstance(frame, bytes):
                if len(frame) > STREAM_LIMITS.max_message_size:
                    raise AssertionError(f"framed {len(frame)} octets, beyond the limit")
                parse_message(frame, STREAM_LIMITS, stream=True)


# The accessors a registrar or proxy reads (RFC 2617, RFC 3261 §22.4, TS 33.203 AKA).
_AUTH_PROPS = ("username", "realm", "nonce", "uri", "response", "algorithm", "qop", "nc",
               "cnonce", "opaque", "auts", "is_digest")


def digest_header(data: bytes) -> None:
    """An Authorization / WWW-Authenticate value (RFC 2617 §3.2, RFC 3261 §25.1); what the
    parser hands over is text decoded with surrogateescape and never holds CR or LF
    (folding is undone). Parsed, read, written back and re-parsed to the same params.
    Allowed: SipParseError (400)."""
    value = data.decode("utf-8", "surrogateescape").replace("\r", " ").replace("\n", " ")
    header = parse_auth(value)
    for name in _AUTH_PROPS:
        getattr(header, name, None)
    again = parse_auth(str(header))
    if [(p.name, p.value) for p in again.params] != [(p.name, p.value) for p in header.params]:
        raise AssertionError(f"{value!r} -> {header} does not read back the same")


def diameter_message(data: bytes) -> None:
    """A Diameter byte stream (RFC 6733 §3): decoded whole, then framed and each message
    decoded in full (grouped AVPs included) and re-encoded; a rejected one gets its error
    answer built and encoded. The input is also decoded with its Message Length patched
    to fit (padded to 4 octets), so mutations reach the AVPs instead of stopping at 5015.
    Allowed: DiameterError with an RFC 6733 §7.1 Result-Code."""
    errors: list[DiameterError] = []
    runs: tuple[tuple[Callable[[bytes], None], bytes], ...] = (
        (_decode_one, data), (_frame_all, data), (_decode_one, _fit_length(data)))
    for run, arg in runs:
        try:
            run(arg)
        except DiameterError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


def _frame_all(data: bytes) -> None:
    for frame in Framer().feed(data):
        _decode_one(frame)


def _fit_length(data: bytes) -> bytes:
    data = data + b"\0" * (-len(data) % 4)
    if len(data) < 20 or len(data) > 0xFFFFFF:
        return data
    return data[:1] + len(data).to_bytes(3, "big") + data[4:]


def _decode_one(data: bytes) -> None:
    try:
        msg = decode(data)
    except DiameterError as exc:
        if exc.header is not None:
            error_answer(exc.header, exc, origin_host="h", origin_realm="r").encode()
        raise
    msg.encode()


def userdata_doc(data: bytes) -> None:
    """A Cx User-Data IMSSubscription document (TS 29.228 Annex E); what parses is built
    again and must parse. Allowed: UserDataError."""
    profile = userdata_xml.parse(data)
    userdata_xml.parse(userdata_xml.build(profile))


def reginfo_doc(data: bytes) -> None:
    """An application/reginfo+xml body (RFC 3680 §5); what parses is encoded again and
    must parse. Allowed: ReginfoError."""
    info = reginfo.parse(data)
    reginfo.parse(reginfo.encode(info))


_CONFIG_CLASSES: tuple[type[object], ...] = (ScscfConfig, HssConfig)
_config_files: list[Path] = []


def _config_file() -> Path:
    """One scratch file per process (`load` reads a path): in $IMS_FUZZ_SCRATCH when
    set (run.py's output directory: libFuzzer exits without running atexit), else a
    temporary file removed at exit."""
    if not _config_files:
        scratch = os.environ.get("IMS_FUZZ_SCRATCH")
        if scratch:
            _config_files.append(Path(scratch, "config.toml"))
        else:
            fd, name = tempfile.mkstemp(prefix="ims-fuzz-", suffix=".toml")
            os.close(fd)
            _config_files.append(Path(name))
            atexit.register(_config_files[0].unlink, missing_ok=True)
    return _config_files[0]


def config_toml(data: bytes) -> None:
    """A TOML config file read by `config.load` as the S-CSCF and the HSS read theirs.
    Allowed: ConfigError."""
    path = _config_file()
    path.write_bytes(data)
    for cls in _CONFIG_CLASSES:
        config_mod.load(cls, path, environ={})


def _sip_ok(exc: BaseException) -> bool:
    return isinstance(exc, SipParseError) and exc.status in SIP_STATUSES


def _diameter_ok(exc: BaseException) -> bool:
    return isinstance(exc, DiameterError) and exc.result_code in RESULT_CODES


def _any(exc: BaseException) -> bool:
    return True


@dataclass(frozen=True)
class Target:
    name: str
    fn: Callable[[bytes], None]
    allowed: tuple[type[BaseException], ...]
    check: Callable[[BaseException], bool] = _any  # an allowed error must also pass this


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("sip_datagram", sip_datagram, (SipParseError,), _sip_ok),
    Target("sip_stream", sip_stream, (SipParseError,), _sip_ok),
    Target("digest", digest_header, (SipParseError,), _sip_ok),
    Target("diameter", diameter_message, (DiameterError,), _diameter_ok),
    Target("userdata", userdata_doc, (UserDataError,)),
    Target("reginfo", reginfo_doc, (ReginfoError,)),
    Target("config", config_toml, (config_mod.ConfigError,)),
)}


class FuzzBug(AssertionError):
    """An allowed error type that does not carry a valid protocol answer."""


def run_one(target: Target, data: bytes) -> None:
    """Feed *data* to *target*: returns quietly, or raises what is a bug."""
    try:
        target.fn(data)
    except target.allowed as exc:
        if not target.check(exc):
            raise FuzzBug(f"{target.name}: {exc!r} carries no valid answer") from exc
