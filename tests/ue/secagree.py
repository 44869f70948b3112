"""The P-CSCF's part of sec-agree as the UE tests need it (TS 33.203 §7.2, RFC 3329):
a 401 gets a Security-Server answering the REGISTER's Security-Client, with new SPIs and
the next of the client ports each time; the fake registrar behind such a P-CSCF; and the
kernel work an adapter does with a protection's effects."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from ims_core.ipsec.algorithms import ENCRYPTION, INTEGRITY
from ims_core.ipsec.kernel import MemoryKernel
from ims_core.ipsec.sa import Endpoint
from ims_core.sip import Request, Response
from ims_core.sip.secagree import (
    Mechanism,
    choose,
    mechanisms,
    server_mechanism,
    verify_matches,
)
from ims_core.ue.protection import Install, Protection

from .notifier import wire
from .registrar import FakeRegistrar, demo_registrar

PORT_PS = 5064


@dataclass
class FakeSecAgree:
    host: str = "127.0.0.120"
    port_s: int = PORT_PS
    client_ports: Sequence[int] = (5066, 5067)
    integrity: Sequence[str] = INTEGRITY
    encryption: Sequence[str] = ENCRYPTION
    spis: itertools.count[int] = field(default_factory=lambda: itertools.count(5000, 2))
    turn: int = 0
    servers: list[list[Mechanism]] = field(default_factory=list)  # every one sent
    clients: list[list[Mechanism]] = field(default_factory=list)  # every one received
    endpoints: list[Endpoint] = field(default_factory=list)  # the P-CSCF's, per 401

    def on_response(self, request: Request, response: Response) -> Response:
        """Add the Security-Server to a 401 answering ``request`` (what the P-CSCF does
        on its way back to the UE)."""
        offer = mechanisms(request, "security-client")
        self.clients.append(offer)
        if response.status != 401 or not offer:
            return response
        choice = choose(offer, self.integrity, self.encryption)
        assert choice is not None, offer
        spi_c, port_c = next(self.spis), self.client_ports[self.turn % len(self.client_ports)]
        spi_s = spi_c + 1
        self.turn += 1
        server = server_mechanism(choice, spi_c=spi_c, spi_s=spi_s, port_c=port_c,
                                  port_s=self.port_s)
        self.servers.append([server])
        self.endpoints.append(Endpoint(self.host, port_c, self.port_s, spi_c, spi_s))
        response.headers.add("Security-Server", server.format())
        return response

    def verified(self, request: Request, index: int = -1) -> bool:
        """``request``'s Security-Verify repeats Security-Server ``index``."""
        return verify_matches(mechanisms(request, "security-verify"), self.servers[index])


def apply_effects(p: Protection, kernel: MemoryKernel) -> str | None:
    """What the adapter does before sending: the kernel work, in order."""
    error = None
    for e in p.take_effects():
        if isinstance(e, Install):
            try:
                kernel.add(e.sa_set)
            except OSError as exc:
                p.install_failed(e.sa_set)
                error = str(exc)
        else:
            kernel.remove(e.sa_set)
    return error


class Pcscf:
    """The fake registrar behind a fake P-CSCF doing sec-agree; keeps every request."""

    def __init__(self, registrar: FakeRegistrar | None = None,
                 imsi: str = "001010000000011") -> None:
        self.registrar = registrar or demo_registrar(imsi)
        self.sec = FakeSecAgree()
        self.seen: list[Request] = []

    def answer(self, request: Request) -> Response:
        seen = wire(request)
        assert isinstance(seen, Request)
        self.seen.append(seen)
        resp = self.sec.on_response(seen, self.registrar.handle(seen))
        out = wire(resp)
        assert isinstance(out, Response)
        return out
