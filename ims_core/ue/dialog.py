"""A UA's dialog (RFC 3261 §12) as the subscriber holds it: built for its first
request, established by the 2xx to it (§12.1.2) or, for a subscription, by a NOTIFY that
overtook that 2xx (RFC 6665 §4.1.2.4; the UE is then the UAS of §12.1.1), and used to
build the requests within it (§12.2.1.1) and to check the ones that arrive (§12.2.2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ims_core.proxy.routing import apply_strict_route
from ims_core.sip import Headers, Message, Request, Response, SipParseError

from . import messages
from .messages import Local, Rng


@dataclass(slots=True)
class Dialog:
    """Until :attr:`remote_tag` is known this describes the first request: the remote
    target is its Request-URI and the route set its preloaded Route (§8.1.2)."""

    call_id: str
    local_uri: str
    local_tag: str
    remote_uri: str
    remote_target: str
    route_set: tuple[str, ...] = ()
    remote_tag: str | None = None
    local_cseq: int = 0
    remote_cseq: int | None = None

    @property
    def established(self) -> bool:
        return self.remote_tag is not None

    def request(self, method: str, local: Local, rng: Rng,
                headers: Sequence[tuple[str, str]] = ()) -> Request:
        """The next request (§12.2.1.1; §8.1.1 before the dialog exists): a new CSeq,
        the route set as Route, strict routing (no ``lr``) handled as §12.2.1.1 says."""
        self.local_cseq += 1
        h = Headers()
        h.add("Via", messages.via(local, messages.new_branch(rng)))
        h.add("Max-Forwards", "70")
        for value in self.route_set:
            h.add("Route", value)
        h.add("From", f"<{self.local_uri}>;tag={self.local_tag}")
        to_tag = f";tag={self.remote_tag}" if self.remote_tag is not None else ""
        h.add("To", f"<{self.remote_uri}>{to_tag}")
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{self.local_cseq} {method}")
        for name, value in headers:
            h.add(name, value)
        h.add("Content-Length", "0")
        req = Request(method, self.remote_target, h)
        apply_strict_route(req)
        return req

    def establish_by_response(self, response: Response) -> None:
        """§12.1.2: the route set is the 2xx's Record-Route reversed, the remote target
        its Contact, the remote tag its To tag. SipParseError when it lacks either."""
        tag = response.to_tag
        if not tag:
            raise SipParseError("Missing To tag")
        self.remote_target = _contact(response)
        self.route_set = tuple(reversed(response.headers.values("record-route")))
        self.remote_tag = tag

    def establish_by_request(self, request: Request) -> None:
        """§12.1.1 for the UAS of ``request`` (a NOTIFY before the 2xx): Record-Route in
        order, its Contact (if it has one: the 2xx will bring it too), its From tag and
        CSeq."""
        tag = request.from_tag
        if not tag:
            raise SipParseError("Missing From tag")
        self.refresh_target(request)
        self.route_set = tuple(request.headers.values("record-route"))
        self.remote_tag = tag
        self.remote_cseq = request.cseq.seq

    def matches(self, request: Request) -> bool:
        """§12.2.2: the request belongs here (Call-ID, our tag as its To tag, and the
        remote tag once there is one)."""
        if request.headers.get("call-id") != self.call_id or request.to_tag != self.local_tag:
            return False
        return self.remote_tag is None or request.from_tag == self.remote_tag

    def in_order(self, request: Request) -> bool:
        """§12.2.2: a CSeq lower than the last one seen is out of order (500); otherwise
        it becomes the remote sequence number."""
        seq = request.cseq.seq
        if self.remote_cseq is not None and seq < self.remote_cseq:
            return False
        self.remote_cseq = seq
        return True

    def refresh_target(self, message: Message) -> None:
        """§12.2: a target refresh (NOTIFY, SUBSCRIBE's 2xx) moves the remote target to
        its Contact, when it has one."""
        if message.headers.get("contact") is not None:
            self.remote_target = _contact(message)


def _contact(message: Message) -> str:
    contacts = message.contacts()
    if len(contacts) != 1:
        raise SipParseError("Missing Contact" if not contacts else "More than one Contact")
    return str(contacts[0].uri)
