"""A SIP dialog (RFC 3261 §12) as either side holds it, sans-I/O: established by the 2xx
to a dialog-creating request (the UAC, §12.1.2) or by answering such a request (the UAS,
§12.1.1), used to build the requests within it (§12.2.1.1) and to check the ones that
arrive (§12.2.2).

:class:`Dialog` is a plain dataclass of strings, ints and tuples, so a store can keep it
as it is or write it out field by field. The requests it builds carry no Via: whoever
sends one adds its own (a UA, §8.1.1.7; a proxy core originating a request of its own).

The one sequence every receiver follows: check the request (:meth:`Dialog.matches`,
else 481; its own headers, else 4xx), then :meth:`Dialog.accept` (False: 500, out of
order), so a rejected request changes nothing in the dialog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .address import NameAddr, name_addr_view
from .errors import SipParseError
from .headers import Headers
from .message import Message, Request, Response
from .uri import SipUri

# Requests that move the remote target to their Contact: re-INVITE (§12.2), UPDATE
# (RFC 3311), SUBSCRIBE and NOTIFY (RFC 6665).
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})


@dataclass(slots=True)
class Dialog:
    """One dialog's state (§12.1). ``local_uri``/``remote_uri``: our From and To values
    without tags, as name-addrs (``<sip:…>``, a display name kept); ``remote_target``:
    the peer's Contact URI; ``route_set``: the Route values of our requests, in order;
    ``local_cseq``/``remote_cseq``: the last CSeq each way (None: none came yet).

    Until :attr:`remote_tag` is known (a UAC before the 2xx) it describes the first
    request: the remote target is its Request-URI, the route set its preloaded Route
    (§8.1.2)."""

    call_id: str
    local_uri: str
    local_tag: str
    remote_uri: str
    remote_target: str
    route_set: tuple[str, ...] = ()
    remote_tag: str | None = None
    local_cseq: int = 0
    remote_cseq: int | None = None

    @classmethod
    def uas(cls, request: Request, local_tag: str) -> Dialog:
        """§12.1.1: the dialog the UAS of ``request`` creates by answering it with a 2xx
        whose To tag is ``local_tag``: our URI its To, the remote URI its From, the remote
        target its Contact. SipParseError (400) without a From tag or without exactly one
        SIP or SIPS Contact (§8.1.1.8)."""
        target = _target(request)
        if target is None:
            raise SipParseError("Missing Contact")
        dialog = cls(request.call_id, _untagged(request.to_addr_view), local_tag,
                     _untagged(request.from_addr_view), target)
        dialog._establish(request, _from_tag(request), target)  # the Contact read once
        return dialog

    @property
    def established(self) -> bool:
        return self.remote_tag is not None

    # -- our requests ----------------------------------------------------------------------
    def request(self, method: str, headers: Sequence[tuple[str, str]] = (),
                body: bytes = b"") -> Request:
        """The next request (§12.2.1.1; §8.1.1 before the dialog is established), without
        a Via: a new local CSeq, the route set as Route, a strict router first handled as
        §12.2.1.1 says. ``headers`` follow the dialog's own, then Content-Length."""
        self.local_cseq += 1
        uri, routes = self._request_uri_and_route()
        h = Headers()
        h.add("Max-Forwards", "70")
        for value in routes:
            h.add("Route", value)
        h.add("From", f"{self.local_uri};tag={self.local_tag}")
        to_tag = f";tag={self.remote_tag}" if self.remote_tag is not None else ""
        h.add("To", f"{self.remote_uri}{to_tag}")
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{self.local_cseq} {method}")
        for name, value in headers:
            h.add(name, value)
        h.add("Content-Length", str(len(body)))
        return Request(method, uri, h, body)

    @property
    def strict_first(self) -> bool:
        """The first hop is a strict router: a request of this dialog goes to its
        Request-URI, not to its top Route (§8.1.2)."""
        if not self.route_set:
            return False
        first = name_addr_view(self.route_set[0]).uri
        return isinstance(first, SipUri) and not first.lr

    def _request_uri_and_route(self) -> tuple[str, tuple[str, ...]]:
        """§12.2.1.1: no route set, or a loose router (``lr``) first: the Request-URI is
        the remote target, Route the route set. A strict router first: the Request-URI
        is that router's URI (less what a Request-URI may not hold, §19.1.1), Route the
        rest of the route set and then the remote target."""
        if not self.route_set:
            return self.remote_target, ()
        first = name_addr_view(self.route_set[0]).uri
        if not isinstance(first, SipUri) or first.lr:
            return self.remote_target, self.route_set
        first = first.copy()  # edited below
        first.remove_param("method")
        first.headers = []
        return str(first), (*self.route_set[1:], f"<{self.remote_target}>")

    # -- establishing ----------------------------------------------------------------------
    def establish_by_response(self, response: Response) -> None:
        """§12.1.2, the UAC: the route set is the 2xx's Record-Route reversed, the remote
        target its Contact, the remote tag its To tag. SipParseError without a To tag or
        without exactly one SIP or SIPS Contact; then nothing changes."""
        tag = response.to_tag
        if not tag:
            raise SipParseError("Missing To tag")
        target = _target(response)
        if target is None:
            raise SipParseError("Missing Contact")
        self.remote_target = target
        self.route_set = tuple(reversed(response.headers.values("record-route")))
        self.remote_tag = tag

    def establish_by_request(self, request: Request) -> None:
        """§12.1.1 for the UAS of ``request`` (also a UAC's dialog a request reaches before
        the 2xx does: a NOTIFY overtaking the 2xx to SUBSCRIBE, RFC 6665 §4.1.2.4):
        Record-Route in order, its Contact (when it has one; a later 2xx brings it too),
        its From tag and CSeq. SipParseError without a From tag or with a bad Contact."""
        self._establish(request, _from_tag(request), _target(request))

    def _establish(self, request: Request, tag: str, target: str | None) -> None:
        seq = request.cseq.seq
        if target is not None:
            self.remote_target = target
        self.route_set = tuple(request.headers.values("record-route"))
        self.remote_tag = tag
        self.remote_cseq = seq

    # -- their requests --------------------------------------------------------------------
    def matches(self, request: Request) -> bool:
        """§12.2.2: ``request`` belongs here: its Call-ID, our tag as its To tag and a From
        tag, the remote tag once there is one. SipParseError for a malformed Call-ID, From
        or To."""
        if request.call_id != self.call_id or request.to_tag != self.local_tag:
            return False
        tag = request.from_tag
        return bool(tag) and (self.remote_tag is None or tag == self.remote_tag)

    def accept(self, request: Request) -> bool:
        """A request that :meth:`matches`, once the receiver has nothing else against it:
        False when it is out of order (§12.2.2: answer 500; nothing changes). Otherwise
        the remote CSeq follows it and a target refresh (:data:`TARGET_REFRESH`) moves the
        remote target; before the dialog is established it establishes it
        (:meth:`establish_by_request`). SipParseError for a bad Contact (nothing
        changes)."""
        if not self.established:
            self.establish_by_request(request)
            return True
        target = _target(request) if request.method in TARGET_REFRESH else None
        if not self.in_order(request):
            return False
        if target is not None:
            self.remote_target = target
        return True

    def in_order(self, request: Request) -> bool:
        """§12.2.2: a CSeq lower than the remote one is out of order (500); an equal or
        higher one is in order and becomes the remote sequence number."""
        seq = request.cseq.seq
        if self.remote_cseq is not None and seq < self.remote_cseq:
            return False
        self.remote_cseq = seq
        return True

    def refresh_target(self, message: Message) -> None:
        """§12.2: a target refresh (re-INVITE, NOTIFY, the 2xx to SUBSCRIBE) moves the remote
        target to its Contact, when it has one. SipParseError for a bad Contact."""
        target = _target(message)
        if target is not None:
            self.remote_target = target


def _target(message: Message) -> str | None:
    """The URI of the Contact of ``message``, None without one. §8.1.1.8: a request or
    response that creates or refreshes a dialog has exactly one, a SIP or SIPS URI."""
    if "contact" not in message.headers:
        return None
    contacts = message.contact_views()  # empty for "*"; only read here
    if len(contacts) != 1:
        raise SipParseError("More than one Contact" if contacts else "Bad Contact")
    uri = contacts[0].uri
    if not isinstance(uri, SipUri):
        raise SipParseError("Contact is not a SIP URI")
    return str(uri)


def _from_tag(request: Request) -> str:
    tag = request.from_tag
    if not tag:
        raise SipParseError("Missing From tag")
    return tag


def _untagged(view: NameAddr) -> str:
    """`view` (shared: its URI is kept, its param list copied) as text without a tag."""
    addr = NameAddr(view.uri, view.display_name, list(view.params))
    addr.remove_param("tag")
    return str(addr)
