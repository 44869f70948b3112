"""What the P-CSCF learns about one request while it proxies it (the proxy core's
per-request state, `RequestContext.state`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .registrations import Registration

if TYPE_CHECKING:
    from ims_core.sip.secagree import Choice

    from .ipsec import ProtectedSet


class Leg(enum.Enum):
    """Which of the P-CSCF's cases a request is (see `core`'s module docstring)."""

    REGISTER = "register"  # TS 24.229 §5.2.2
    ORIG = "orig"  # initial request from a registered UE (§5.2.6.3)
    TERM = "term"  # initial request from the core towards a UE (§5.2.6.4)
    DIALOG = "dialog"  # within a dialog we Record-Routed, either way


@dataclass(slots=True, init=False)
class PcscfRequest:
    """`leg`: the case, once routed. `via_path`: the top Route was our Path URI (RFC 3327
    §5.3). `record_route_leg` / `ue_transport`: our Record-Route's `ims-leg` and the
    transport of the UE's side, for dialog-creating requests (RFC 3261 §16.6 step 4).
    `registration`: the served UE's registration. `from_ue` / `to_ue`: the request came
    from a UE (its credentials stay here) / goes to one (its responses are outside the
    trust domain). `protected`: the IPsec SA set the request came over; `sec_offer`:
    the ipsec-3gpp offer of a REGISTER we accept; `ue_protected`: the UE's side of this
    request runs over SAs (our Record-Route then names our protected server port)."""

    leg: Leg | None = None
    via_path: bool = False
    record_route_leg: Leg | None = None
    ue_transport: str = "UDP"
    registration: Registration | None = None
    from_ue: bool = False
    to_ue: bool = False
    protected: ProtectedSet | None = None
    sec_offer: Choice | None = None
    ue_protected: bool = False

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, leg: Leg | None = None, via_path: bool = False,
                 record_route_leg: Leg | None = None, ue_transport: str = "UDP",
                 registration: Registration | None = None, from_ue: bool = False,
                 to_ue: bool = False, protected: ProtectedSet | None = None,
                 sec_offer: Choice | None = None, ue_protected: bool = False) -> None:
        self.leg = leg
        self.via_path = via_path
        self.record_route_leg = record_route_leg
        self.ue_transport = ue_transport
        self.registration = registration
        self.from_ue = from_ue
        self.to_ue = to_ue
        self.protected = protected
        self.sec_offer = sec_offer
        self.ue_protected = ue_protected
