"""The message model for application code (RFC 6733 §3, §6.2, §7.2, §8.8).

::

    req = make_request("MAR", origin_host="scscf.ims.example", origin_realm="ims.example",
                       destination_realm="ims.example")
    req.add("User-Name", impi)
    ...
    ans = make_answer(req, experimental=CxResult.ERROR_USER_UNKNOWN)

Hop-by-Hop and End-to-End identifiers are left at 0 by :func:`make_request`; the peer fills
them when it sends the request. A node that builds requests holds a :class:`.SessionIds`
and passes it as ``session_ids`` (this module keeps no state of its own).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .avp import Avp, AvpList, Grouped, fresh, grouped_avp
from .dictionary import CX_APPLICATION_ID, DEFAULT, VENDOR_3GPP, CommandDef, Dictionary
from .errors import DiameterError, is_protocol_error
from .header import FLAG_E, FLAG_P, FLAG_R, FLAG_T, HEADER_LENGTH, Header, pack_header
from .ids import SessionIds


class Message(AvpList):
    """A Diameter request or answer: header fields plus an :class:`AvpList`."""

    __slots__ = ("application_id", "command_code", "end_to_end", "flags", "hop_by_hop")

    def __init__(
        self,
        command_code: int,
        application_id: int = 0,
        flags: int = FLAG_R,
        hop_by_hop: int = 0,
        end_to_end: int = 0,
        avps: list[Avp] | None = None,
        dictionary: Dictionary = DEFAULT,
    ) -> None:
        # AvpList.__init__, inlined: one of these per message decoded or built.
        self.avps = avps if avps is not None else []
        self.dictionary = dictionary
        self.command_code = command_code
        self.application_id = application_id
        self.flags = flags
        self.hop_by_hop = hop_by_hop
        self.end_to_end = end_to_end

    # --- header flags
    @property
    def is_request(self) -> bool:
        return bool(self.flags & FLAG_R)

    @property
    def is_proxiable(self) -> bool:
        return bool(self.flags & FLAG_P)

    @property
    def is_error(self) -> bool:
        return bool(self.flags & FLAG_E)

    @property
    def is_retransmit(self) -> bool:
        return bool(self.flags & FLAG_T)

    @property
    def command(self) -> CommandDef | None:
        return self.dictionary.command(self.command_code)

    @property
    def name(self) -> str:
        """``"MAR"``, ``"MAA"``…, or ``"Request(999)"`` for commands not in the dictionary."""
        c = self.command
        if c is not None:
            return c.abbrev(self.is_request)
        return f"{'Request' if self.is_request else 'Answer'}({self.command_code})"

    # --- common AVPs
    @property
    def session_id(self) -> str | None:
        return self.get_str("Session-Id")

    @property
    def origin_host(self) -> str | None:
        return self.get_str("Origin-Host")

    @property
    def origin_realm(self) -> str | None:
        return self.get_str("Origin-Realm")

    @property
    def result_code(self) -> int | None:
        """The base Result-Code AVP, if present."""
        return self.get_int("Result-Code")

    @property
    def experimental_result(self) -> tuple[int, int] | None:
        """``(vendor, code)`` from Experimental-Result, if present."""
        g = self.get_grouped("Experimental-Result")
        if g is None:
            return None
        return (g.get_int("Vendor-Id") or 0, g.get_int("Experimental-Result-Code") or 0)

    @property
    def result(self) -> int | None:
        """The outcome code: Result-Code, else Experimental-Result-Code."""
        kind = self.result_kind
        return None if kind is None else kind[1]

    @property
    def result_kind(self) -> tuple[str, int] | None:
        """``("base", Result-Code)``, else ``("experimental", Experimental-Result-Code)``,
        else None; one pass over the top-level AVPs (read for every answer counted)."""
        er: Avp | None = None
        for a in self.avps:
            if a.vendor:
                continue
            code = a.code
            if code == 268:
                value = a.value
                if isinstance(value, int):
                    return ("base", value)
            elif code == 297 and er is None:
                er = a
        if er is None:
            return None
        g = er.value
        exp = g.get_int("Experimental-Result-Code") if isinstance(g, AvpList) else None
        return ("experimental", exp or 0)

    def encode(self) -> bytes:
        """The message on the wire."""
        body = b"".join([a._wire or a.encode() for a in self.avps])  # most know their wire
        head = pack_header(
            HEADER_LENGTH + len(body), self.flags, self.command_code, self.application_id,
            self.hop_by_hop, self.end_to_end,
        )  # fmt: skip
        return head + body

    def __repr__(self) -> str:
        avps = ", ".join(repr(a) for a in self.avps)
        return f"<{self.name} hbh={self.hop_by_hop:#x} e2e={self.end_to_end:#x} {avps}>"


def new_session_id(
    origin_host: str, optional: str | None = None, *, rng: Callable[[int], bytes] = os.urandom
) -> str:
    """One Session-Id from a generator used once (RFC 6733 §8.8 layout, see
    :class:`.SessionIds`): 63 random bits from *rng*, no state kept anywhere. Unique with
    overwhelming probability; a node sending many requests holds a :class:`.SessionIds`,
    whose ids are unique by construction."""
    return SessionIds(rng)(origin_host, optional)


def make_request(
    command: str | int,
    *,
    origin_host: str | None = None,
    origin_realm: str | None = None,
    destination_realm: str | None = None,
    destination_host: str | None = None,
    session_id: str | bool | None = None,
    avps: Mapping[str, Any] | Sequence[tuple[str, Any] | Avp] | None = None,
    dictionary: Dictionary = DEFAULT,
    session_ids: SessionIds | None = None,
) -> Message:
    """A request for *command* (``"MAR"`` or a code) with R and P set per the dictionary.

    For a Cx command the Session-Id (``session_id=True`` or omitted: a new one; a string: that
    one), ``Vendor-Specific-Application-Id {10415, 16777216}`` and
    ``Auth-Session-State NO_STATE_MAINTAINED`` are added first, as TS 29.229 §6.1 requires.
    A new Session-Id comes from *session_ids*, the sending node's generator; without one it
    is :func:`new_session_id`'s (random from ``os.urandom``, nothing remembered).
    Origin-Host/Realm may be left out: the node adds its own when sending.
    """
    cmd = (
        dictionary.command_by_abbrev(command)
        if isinstance(command, str)
        else dictionary.command(command)
    )
    if cmd is None:
        raise KeyError(f"unknown command {command!r}")
    msg = Message(
        cmd.code, cmd.application_id, FLAG_R | (FLAG_P if cmd.proxiable else 0),
        dictionary=dictionary,
    )  # fmt: skip
    cx = cmd.application_id == CX_APPLICATION_ID
    if session_id is None:
        session_id = cx
    if session_id is not False:
        if session_id is True:
            if origin_host is None:
                raise ValueError("a new Session-Id needs origin_host")
            new_id = new_session_id if session_ids is None else session_ids
            session_id = new_id(origin_host)
        msg.add("Session-Id", session_id)
    if cx:
        msg.avps += [fresh(a) for a in dictionary.cx_request_avps]
    for name, value in (
        ("Origin-Host", origin_host),
        ("Origin-Realm", origin_realm),
        ("Destination-Host", destination_host),
        ("Destination-Realm", destination_realm),
    ):
        if value.__class__ is str:  # a node's own names and its peers': encoded once
            msg.avps.append(dictionary.constant(name, value))
        elif value is not None:
            msg.add(name, value)
    if avps:
        msg.extend(avps)
    return msg


# Copied from request to answer by make_answer (Cx answers echo them, TS 29.229 §6.1):
# Vendor-Specific-Application-Id and Auth-Session-State, vendor 0.
_ECHOED = (260, 277)


def make_answer(
    request: Message,
    result_code: int | None = None,
    *,
    experimental: int | None = None,
    experimental_vendor: int = VENDOR_3GPP,
    origin_host: str | None = None,
    origin_realm: str | None = None,
    error_message: str | None = None,
    failed_avp: bytes | None = None,
) -> Message:
    """The answer to *request* (RFC 6733 §6.2).

    Copies the command code, application, P flag, Hop-by-Hop and End-to-End identifiers,
    Session-Id, Vendor-Specific-Application-Id and Auth-Session-State, and Proxy-Info AVPs (in
    order). Adds Result-Code *or* ``Experimental-Result {experimental_vendor, experimental}``;
    3xxx result codes set the E bit (§7.1.3). With neither, add the result yourself.
    """
    flags = request.flags & FLAG_P
    if result_code is not None and is_protocol_error(result_code):
        flags |= FLAG_E
    dictionary = request.dictionary
    ans = Message(
        request.command_code, request.application_id, flags, request.hop_by_hop,
        request.end_to_end, dictionary=dictionary,
    )  # fmt: skip
    sid: Avp | None = None
    echoed: list[Avp] = []
    proxy_info: list[Avp] = []
    echo = not flags & FLAG_E
    for a in request.avps:  # one pass for everything the answer copies
        if a.vendor:
            continue
        code = a.code
        if code == 263:
            if sid is None:
                sid = a
        elif code in _ECHOED:
            if echo:
                echoed.append(a)
        elif code == 284:
            proxy_info.append(a)
    out = ans.avps
    if sid is not None:
        out.append(sid)
    out += echoed
    if result_code is not None:
        out.append(dictionary.constant("Result-Code", int(result_code)))
    if experimental is not None:  # of members encoded once, as the values repeat
        out.append(grouped_avp(dictionary.by_name["Experimental-Result"], [
            dictionary.constant("Vendor-Id", experimental_vendor),
            dictionary.constant("Experimental-Result-Code", int(experimental)),
        ], dictionary))  # fmt: skip
    if origin_host is not None:
        out.append(dictionary.constant("Origin-Host", origin_host))
    if origin_realm is not None:
        out.append(dictionary.constant("Origin-Realm", origin_realm))
    if error_message:
        ans.add("Error-Message", error_message)
    if failed_avp is not None:
        ans.add("Failed-AVP", Grouped([Avp.from_raw(failed_avp)], dictionary))
    out += proxy_info
    return ans


def error_answer(
    request: Message | Header,
    error: DiameterError,
    *,
    origin_host: str | None = None,
    origin_realm: str | None = None,
    dictionary: Dictionary = DEFAULT,
) -> Message:
    """The answer for a :class:`DiameterError` raised while decoding or handling *request*.

    *request* is the decoded :class:`Message` or, when decoding failed, the
    :class:`~.header.Header` the decoder attached to the error (``error.header``).
    """
    if not isinstance(request, Message):
        h = request
        request = Message(
            h.command_code, h.application_id, h.flags & (FLAG_R | FLAG_P), h.hop_by_hop,
            h.end_to_end, dictionary=dictionary,
        )  # fmt: skip
        if error.session_id is not None:
            request.add("Session-Id", error.session_id)
    ans = make_answer(
        request,
        error.result_code,
        origin_host=origin_host,
        origin_realm=origin_realm,
        error_message=error.text or None,
        failed_avp=error.failed_avp,
    )
    if error.e_bit:
        ans.flags |= FLAG_E
    else:
        ans.flags &= ~FLAG_E
    return ans
