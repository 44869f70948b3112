"""A fake reg-event notifier (what the S-CSCF does, RFC 6665 §4.2, RFC 3680) for the UE
tests: it answers a SUBSCRIBE and writes NOTIFYs in its dialog, with reginfo bodies; and
a fake P-CSCF that puts it behind one address with the fake registrar."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ims_core import reginfo
from ims_core.reginfo import ContactInfo, Reginfo, RegistrationInfo
from ims_core.sip import Request, Response, make_response, parse_message
from tests.sipnet import Reply

from .registrar import FakeRegistrar

NOTIFIER = "sip:127.0.0.3:5060"  # the S-CSCF's Contact


def wire(message: Request | Response) -> Request | Response:
    """Through bytes and back, as the other side sees it."""
    parsed = parse_message(message.to_bytes())
    assert isinstance(parsed, type(message))
    return parsed


def document(aor: str, contact: str, *, version: int = 0, reg_state: str = "active",
             contact_state: str = "active", event: str = "registered",
             expires: int | None = 600,
             others: tuple[RegistrationInfo, ...] = ()) -> Reginfo:
    """A full-state document: ``aor`` with one contact, and ``others``."""
    c = ContactInfo(id="c1", state=contact_state, event=event, uri=contact,
                    expires=expires if contact_state == "active" else None)
    return Reginfo(version=version, state="full",
                   registrations=(RegistrationInfo(aor=aor, id="r1", state=reg_state,
                                                   contacts=(c,)), *others))


@dataclass
class FakeNotifier:
    """The notifier's side of one subscription, from the SUBSCRIBE it got."""

    tag: str = "scscf1"
    cseq: int = 0
    record_route: list[str] = field(default_factory=lambda: [
        "<sip:127.0.0.1:5060;lr;ims-leg=orig>"])
    subscribe: Request | None = None

    def answer(self, subscribe: Request, status: int = 200, *, expires: int | None = None,
               extra: tuple[tuple[str, str], ...] = ()) -> Response:
        """The response to ``subscribe`` as it arrives at the UE: the P-CSCF's
        Record-Route copied (RFC 3261 §12.1.1), our Contact and the granted Expires."""
        self.subscribe = subscribe
        resp = make_response(subscribe, status, to_tag=self.tag)
        if 200 <= status < 300:
            for value in self.record_route:
                resp.headers.add("Record-Route", value)
            resp.headers.add("Contact", f"<{NOTIFIER}>")
            granted = expires if expires is not None else subscribe.headers.get("expires")
            resp.headers.add("Expires", str(granted))
        for name, value in extra:
            resp.headers.add(name, value)
        out = wire(resp)
        assert isinstance(out, Response)
        return out

    def notify(self, info: Reginfo | None, state: str = "active;expires=600000", *,
               body: bytes | None = None, content_type: str = reginfo.CONTENT_TYPE,
               event: str = "reg", cseq: int | None = None, contact: bool = True,
               subscribe: Request | None = None) -> Request:
        """A NOTIFY in the subscription's dialog as the UE receives it (RFC 6665 §4.2.2,
        RFC 3261 §12.2.1.1 from the notifier's side: Request-URI the subscriber's
        Contact, From its To with our tag, To its From)."""
        sub = subscribe or self.subscribe
        assert sub is not None
        self.cseq = cseq if cseq is not None else self.cseq + 1
        payload = body if body is not None else (
            reginfo.encode(info) if info is not None else b"")
        lines = [
            f"NOTIFY {sub.contacts()[0].uri} SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKpcscf" + str(self.cseq),
            "Via: SIP/2.0/UDP 127.0.0.3:5060;branch=z9hG4bKscscf" + str(self.cseq),
            "Max-Forwards: 69",
            f"From: {sub.headers.get('to')};tag={self.tag}",
            f"To: {sub.headers.get('from')}",
            f"Call-ID: {sub.call_id}",
            f"CSeq: {self.cseq} NOTIFY",
            f"Event: {event}",
            f"Subscription-State: {state}",
        ]
        if contact:
            lines.append(f"Contact: <{NOTIFIER}>")
        if payload:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(payload)}")
        msg = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        assert isinstance(msg, Request)
        return msg


class FakePcscf:
    """Registrar and notifier behind one address, for a peer of tests.sipnet: the first
    SUBSCRIBE gets its 200 and a first NOTIFY for ``impu`` (in the order asked); with an
    ``event``, ``later`` seconds on a NOTIFY ends the registration with that event."""

    def __init__(self, registrar: FakeRegistrar, impu: str, *, notify_first: bool,
                 event: str | None = None, later: float = 0.2) -> None:
        self.registrar = registrar
        self.impu = impu
        self.notifier = FakeNotifier()
        self.notify_first = notify_first
        self.event = event
        self.later = later
        self.answers: list[Response] = []  # the UE's responses to our NOTIFYs
        self.subscribes: list[Request] = []

    def handle(self, data: bytes, reply: Reply) -> None:
        msg = parse_message(data, stream=True)
        if isinstance(msg, Response):
            self.answers.append(msg)
            return
        assert isinstance(msg, Request)
        if msg.method == "REGISTER":
            reply(self.registrar.handle(msg).to_bytes())
            return
        assert msg.method == "SUBSCRIBE"
        self.subscribes.append(msg)
        if len(self.subscribes) > 1:
            return  # a retransmission: the answer is on its way
        ok = self.notifier.answer(msg).to_bytes()
        contact = str(msg.contacts()[0].uri)
        first = self.notifier.notify(document(self.impu, contact), subscribe=msg).to_bytes()
        for out in ((first, ok) if self.notify_first else (ok, first)):
            reply(out)
        if self.event is None:
            return
        gone = self.notifier.notify(
            document(self.impu, contact, version=1, reg_state="terminated",
                     contact_state="terminated", event=self.event),
            "terminated;reason=deactivated").to_bytes()
        asyncio.get_running_loop().call_later(self.later, reply, gone)
