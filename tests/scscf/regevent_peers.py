"""Subscribers of the S-CSCF's reg event package for the sans-I/O tests: the UE (through
its P-CSCF, on the originating leg), the P-CSCF itself and an Application Server, on a
:class:`~tests.scscf.helpers.Harness` that also keeps the NOTIFYs the core sends."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hss.model import Subscriber
from ims_core import reginfo
from ims_core.proxy import Send
from ims_core.scscf import ScscfCore
from ims_core.scscf.config import RegEventSettings
from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Source
from tests.sipmsg import answer, build_request, responses

from .helpers import DOMAIN, IMPU, Harness, Ue, challenge_of, config

PCSCF = ("127.0.0.1", 5060)
PCSCF_URI = f"sip:{PCSCF[0]}:{PCSCF[1]}"
PCSCF_RR = f"<{PCSCF_URI};lr>"
SERVICE_ROUTE = "<sip:orig@127.0.0.3:5060;lr>"
OUR_CONTACT = "sip:127.0.0.3:5060"
UE_CONTACT = "sip:ue1@192.0.2.50:5060"
AS = ("192.0.2.80", 5060)
_n = itertools.count(1)


class RegHarness(Harness):
    """The S-CSCF harness with [regevent] settings; every NOTIFY the core sends is kept
    in ``notified`` (request and where it went) until taken."""

    def __init__(self, tmp_path: Path, subs: list[Subscriber] | None = None,
                 **regevent: object) -> None:
        super().__init__(tmp_path, subs)
        settings = dataclasses.replace(RegEventSettings(), **regevent)  # type: ignore[arg-type]
        self.core = ScscfCore(dataclasses.replace(config(), regevent=settings),
                              rng=self.rng.randbytes)
        self.notified: list[tuple[Request, Send]] = []
        self.ue = Ue()  # the registering UE of helpers.IMPU

    def _pump(self) -> list[Send]:
        out = super()._pump()
        for send in out:
            msg = parse_message(send.data)
            if isinstance(msg, Request) and msg.method == "NOTIFY":
                self.notified.append((msg, send))
        return out

    def rx_from(self, msg: Request, src: tuple[str, int], transport: str = "UDP") -> Response:
        """Deliver *msg* from *src*; its one final response."""
        self.core.receive(msg, Source(transport, *src, None, None), self.now)
        finals = [r for r in responses(self._pump()) if r.status >= 200]
        assert len(finals) == 1, finals
        return finals[0]

    def notifies(self) -> list[tuple[Request, Send]]:
        """The NOTIFYs sent since the last call (each transmission once: a retransmission
        of the same transaction is skipped), the core's output collected first (what it
        sent when a test called it directly)."""
        self._pump()
        seen: set[str] = set()
        out = []
        for req, send in self.notified:
            branch = req.top_via().branch or ""
            if branch not in seen:
                seen.add(branch)
                out.append((req, send))
        self.notified = []
        return out

    def reply(self, notify: Request, status: int, extra: str = "") -> None:
        """The subscriber's answer to a NOTIFY."""
        resp = answer(notify, status, to_tag=None, extra=extra)
        self.core.receive(resp, Source("UDP", *PCSCF, None, None), self.now)
        self._pump()

    def subscription_count(self) -> int:
        store = self.core.store
        count = getattr(store, "subscription_count", None)
        assert isinstance(count, int)
        return count


@dataclass
class Watcher:
    """One subscriber. ``kind``: ``ue`` (SUBSCRIBE from the UE, through the P-CSCF, which
    Record-Routes it and asserts the identity), ``pcscf`` or ``as`` (sent directly, no
    Route). ``identity``: P-Asserted-Identity and From."""

    kind: str = "ue"
    identity: str = IMPU
    contact: str = UE_CONTACT
    call_id: str = field(default_factory=lambda: f"sub-{next(_n)}@w")
    tag: str = field(default_factory=lambda: f"w{next(_n)}")
    pai: bool = True
    cseq: int = 0
    remote_tag: str | None = None
    remote_target: str | None = None
    source: tuple[str, int] = PCSCF

    def subscribe(self, resource: str = IMPU, expires: int | None = 600000,
                  event: str = "reg", headers: tuple[str, ...] = (),
                  accept: str | None = reginfo.CONTENT_TYPE) -> Request:
        """An initial SUBSCRIBE, or one inside the dialog once it is established."""
        self.cseq += 1
        n = next(_n)
        in_dialog = self.remote_tag is not None
        vias = [f"SIP/2.0/UDP {self.source[0]}:{self.source[1]};branch=z9hG4bKw{n}"]
        lines = [f"Contact: <{self.contact}>", f"Event: {event}", *headers]
        if accept is not None:
            lines.append(f"Accept: {accept}")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if self.kind == "ue":
            vias.append(f"SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKu{n}")
            if not in_dialog:
                lines.append(f"Record-Route: {PCSCF_RR}")
        if not in_dialog and self.kind != "as":
            lines.append(f"Route: {SERVICE_ROUTE}")
        if self.pai and not in_dialog:
            lines.append(f"P-Asserted-Identity: <{self.identity}>")
        to = f"<{resource}>" + (f";tag={self.remote_tag}" if in_dialog else "")
        uri = self.remote_target if in_dialog and self.remote_target else resource
        return build_request("SUBSCRIBE", uri, vias=vias, from_=f"<{self.identity}>;tag={self.tag}",
                             to=to, call_id=self.call_id, cseq=self.cseq, headers=lines)

    def established(self, ok: Response) -> None:
        """RFC 3261 §12.1.2: the dialog from the 200."""
        self.remote_tag = ok.to_tag
        self.remote_target = str(ok.contacts()[0].uri)

    def join(self, h: RegHarness, resource: str = IMPU, expires: int = 600000) -> Request:
        """Subscribe and establish; the first NOTIFY (answered 200)."""
        ok = h.rx_from(self.subscribe(resource, expires), self.source)
        assert ok.status == 200, ok
        self.established(ok)
        [(notify, _)] = h.notifies()
        h.reply(notify, 200)
        return notify


def pcscf() -> Watcher:
    return Watcher(kind="pcscf", identity=PCSCF_URI, contact=PCSCF_URI)


def app_server(host: str = AS[0]) -> Watcher:
    return Watcher(kind="as", identity=f"sip:{host}", contact=f"sip:{host}:5060",
                   pai=False, source=(host, 5060))


def body(notify: Request) -> reginfo.Reginfo:
    assert notify.headers.get("content-type") == reginfo.CONTENT_TYPE
    return reginfo.parse(notify.body)


def state_of(notify: Request) -> str:
    return notify.headers.get("subscription-state") or ""


def register(h: RegHarness, ue: Ue | None = None, contact: str | None = None,
             expires: int = 600) -> Response:
    """A full AKA registration (of ``h.ue`` unless given), with a Contact header value of
    one's own if given."""
    ue = ue or h.ue
    r401 = h.send(ue.register(authorization=ue.empty_authorization(), expires=expires,
                              contact=contact))
    assert r401.status == 401, r401
    ok = h.send(ue.register(authorization=ue.answer(challenge_of(r401)), expires=expires,
                            contact=contact))
    assert ok.status == 200, ok
    return ok


def registered(tmp_path: Path) -> Iterator[RegHarness]:
    """A harness with ``h.ue`` registered, closed afterwards (the tests' fixture)."""
    harness = RegHarness(tmp_path)
    register(harness)
    yield harness
    harness.close()


def implicit_set(imsi: str = "001010000000001", msisdn: str = "15550000001") -> set[str]:
    return {f"sip:{imsi}@{DOMAIN}", f"sip:+{msisdn}@{DOMAIN}", f"tel:+{msisdn}"}
