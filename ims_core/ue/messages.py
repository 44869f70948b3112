"""Requests a UE sends (RFC 3261 §8.1.1, §10.2; TS 24.229 §5.1.1.2): REGISTER, the
headers of its reg-event SUBSCRIBE (§5.1.1.3) and, for tests, out-of-dialog requests such
as MESSAGE."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ims_core.reginfo import CONTENT_TYPE as REGINFO
from ims_core.reginfo import EVENT_PACKAGE
from ims_core.sip import Headers, Request
from ims_core.sip.fields import MAGIC_COOKIE

from .profile import UeProfile

USER_AGENT = "ims-core-ue"


@dataclass(frozen=True, slots=True)
class Local:
    """Where the UE is: transport (``udp``/``tcp``) and its address as seen in Via/Contact."""

    transport: str
    host: str
    port: int

    @property
    def contact_uri(self) -> str:
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"{self.host}:{self.port}{suffix}"


Rng = Callable[[int], bytes]  # randomness is passed in (os.urandom in a real UE)


def contact(profile: UeProfile, local: Local) -> str:
    """The UE's contact URI (the same in REGISTER and SUBSCRIBE)."""
    return f"sip:{profile.user}@{local.contact_uri}"


def outbound_proxy(host: str, port: int, transport: str) -> str:
    """The P-CSCF as the first Route of an initial request (TS 24.229 §5.1.2A.1.1)."""
    suffix = ";transport=tcp" if transport == "tcp" else ""
    return f"<sip:{host}:{port};lr{suffix}>"


def subscribe_headers(contact_uri: str, expires: int, identity: str | None = None
                      ) -> list[tuple[str, str]]:
    """What a SUBSCRIBE to the reg event carries besides the dialog's own headers
    (TS 24.229 §5.1.1.3, RFC 3680 §4): Event, Accept, Expires, Contact and, when given,
    the identity the UE prefers (P-Preferred-Identity, RFC 3325 §9.2)."""
    out = [("Contact", f"<{contact_uri}>"), ("Event", EVENT_PACKAGE), ("Accept", REGINFO),
           ("Expires", str(expires)), ("Allow", "NOTIFY")]
    if identity is not None:
        out.append(("P-Preferred-Identity", f"<{identity}>"))
    out.append(("User-Agent", USER_AGENT))
    return out


def new_branch(rng: Rng) -> str:
    return MAGIC_COOKIE + rng(8).hex()


def new_tag(rng: Rng) -> str:
    return rng(5).hex()


def new_call_id(local: Local, rng: Rng) -> str:
    return f"{rng(10).hex()}@{local.host}"


def via(local: Local, branch: str) -> str:
    # RFC 3581: rport so the P-CSCF answers to the port we send from.
    return f"SIP/2.0/{local.transport.upper()} {local.host}:{local.port};branch={branch};rport"


@dataclass(slots=True)
class Dialogless:
    """Call-ID, From tag and CSeq shared by the REGISTERs of one registration
    (RFC 3261 §10.2.4: the same Call-ID for all registrations to a registrar)."""

    call_id: str
    from_tag: str
    cseq: int = 0

    def next_cseq(self) -> int:
        self.cseq += 1
        return self.cseq


def register(profile: UeProfile, local: Local, ids: Dialogless, *, expires: int,
             authorization: str | None, contact_star: bool = False,
             rng: Rng = os.urandom) -> Request:
    """A REGISTER to ``sip:<domain>`` (TS 24.229 §5.1.1.2.1)."""
    uri = f"sip:{profile.domain}"
    h = Headers()
    h.add("Via", via(local, new_branch(rng)))
    h.add("Max-Forwards", "70")
    h.add("From", f"<{profile.impu}>;tag={ids.from_tag}")
    h.add("To", f"<{profile.impu}>")
    h.add("Call-ID", ids.call_id)
    h.add("CSeq", f"{ids.next_cseq()} REGISTER")
    if contact_star:
        h.add("Contact", "*")  # RFC 3261 §10.2.2: remove all bindings (Expires: 0)
    else:
        h.add("Contact", f"<{contact(profile, local)}>;expires={expires}")
    h.add("Expires", str(expires))
    if authorization is not None:
        h.add("Authorization", authorization)
    h.add("Supported", "path")
    h.add("User-Agent", USER_AGENT)
    h.add("Content-Length", "0")
    return Request("REGISTER", uri, h)


def message(profile: UeProfile, local: Local, target: str, text: str,
            route: list[str] | None = None, *, rng: Rng = os.urandom) -> Request:
    """An out-of-dialog MESSAGE (RFC 3428) to ``target``, with the Service-Route as a
    preloaded Route set (TS 24.229 §5.1.2A.1)."""
    h = Headers()
    h.add("Via", via(local, new_branch(rng)))
    h.add("Max-Forwards", "70")
    for r in route or ():
        h.add("Route", r)
    h.add("From", f"<{profile.impu}>;tag={new_tag(rng)}")
    h.add("To", f"<{target}>")
    h.add("Call-ID", new_call_id(local, rng))
    h.add("CSeq", "1 MESSAGE")
    h.add("User-Agent", USER_AGENT)
    body = text.encode("utf-8")
    h.add("Content-Type", "text/plain")
    h.add("Content-Length", str(len(body)))
    return Request("MESSAGE", target, h, body)
