"""What the S-CSCF learns about one request while it handles it (the proxy core's typed
per-request state, ``RequestContext.state``)."""

from __future__ import annotations

from dataclasses import dataclass

from ims_core.proxy import Target
from ims_core.sip import AuthHeader
from ims_core.userdata import Ifc

from .legs import Leg
from .registrar import ContactUpdate


@dataclass(slots=True, init=False)
class Registering:
    """A REGISTER once its identities are known: the private identity to authenticate,
    the public one (``impu_key`` form), what it asks for, and its Digest credentials."""

    impi: str
    impu: str
    update: ContactUpdate
    cred: AuthHeader | None

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, impi: str, impu: str, update: ContactUpdate,
                 cred: AuthHeader | None) -> None:
        self.impi = impi
        self.impu = impu
        self.update = update
        self.cred = cred


@dataclass(slots=True)
class AsHop:
    """The forward to an Application Server that is pending: the iFC (its index in the
    profile) on the leg it fired for, and the Target it went to — its branch is the one
    with ``branch.target is target``."""

    leg: str
    index: int
    ifc: Ifc
    target: Target


@dataclass(slots=True, init=False)
class ScscfRequest:
    """``leg``: the leg the Route naming us put the request on (None: no marker);
    ``register``: a REGISTER's identities; ``record_route``: the leg to Record-Route the
    forwarded copies with (None: no Record-Route); ``as_hop``: the AS forward pending;
    ``ifc_done``: the index of the last iFC dealt with on this pass (an AS that failed
    with SESSION_CONTINUED)."""

    leg: Leg | None = None
    register: Registering | None = None
    record_route: str | None = None
    as_hop: AsHop | None = None
    ifc_done: int | None = None

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, leg: Leg | None = None, register: Registering | None = None,
                 record_route: str | None = None, as_hop: AsHop | None = None,
                 ifc_done: int | None = None) -> None:
        self.leg = leg
        self.register = register
        self.record_route = record_route
        self.as_hop = as_hop
        self.ifc_done = ifc_done
