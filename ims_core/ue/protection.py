"""The UE's side of sec-agree with IPsec (TS 33.203 §7, TS 24.229 §5.1.1.2, RFC 3329)
as a sans-I/O state machine: what it offers, which SA sets it holds, the headers its
requests carry and where each request goes.

Theory of operation: every REGISTER exchange starts with :meth:`Protection.begin`,
which takes a new protected client port (port_uc) and two new SPIs (TS 33.203 §7.4);
:meth:`register_headers` gives the Security-Client offering them, the Security-Verify of
the set in use and the sec-agree option tags. A 401 goes to :meth:`challenged` with the
CK and IK of the UE's own AKA computation: the P-CSCF's Security-Server picks the
algorithms and names its SPIs and ports, and the UE's new SA set is built (it becomes
*pending*). A 2xx confirms it (:meth:`confirmed`: pending → current, the former current
→ old, removed :data:`RETIRE_SECONDS` after :meth:`retire_old`); a failure drops it
(:meth:`abandoned`). :meth:`close` removes everything.

The kernel is not touched here: :attr:`effects` lists, in order, the :class:`Install`
and :class:`Remove` of SA sets for the adapter to carry out before it sends the next
request (and :meth:`install_failed` when the kernel refused one).

Sets and the requests that use them (TS 33.203 §7.4, TS 24.229 §5.1.1.4.1):

=========  ================================  ==========================================
set        made by                           carries
=========  ================================  ==========================================
(none)     —                                 the first REGISTER: unprotected, from the
                                             offered port_uc to the P-CSCF's address
pending    a 401 with Security-Server        the REGISTER answering that 401
current    the 2xx that confirmed it         every other request, and a re-REGISTER
old        a newer set confirmed             nothing new; removed a little later
=========  ================================  ==========================================

Requests go from port_uc to the P-CSCF's port_ps; the P-CSCF's requests arrive on
port_us, which never changes and is what the Contact and the Via name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ims_core.ipsec.algorithms import ENCRYPTION, INTEGRITY, AlgorithmError
from ims_core.ipsec.alloc import PortAllocator, SpiAllocator
from ims_core.ipsec.sa import Endpoint, SaSet, build_sa_set
from ims_core.sip import Response, SipParseError
from ims_core.sip.secagree import (
    MIN_USABLE_SPI,
    SEC_AGREE,
    Mechanism,
    choose,
    format_mechanisms,
    mechanisms,
    offer_mechanisms,
)

from . import messages

CLIENT_PORTS = 16  # port_uc takes turns over port_us+1 .. port_us+16
# SPIs of the UE's inbound SAs: random, below the kernel's probe SPIs and readable as a
# signed 32-bit number by tools that print them so.
SPI_RANGE = (MIN_USABLE_SPI, 0x7FFFFFFF)
RETIRE_SECONDS = 2.0  # an old set outlives its successor's 2xx this long (late messages)
# Require/Proxy-Require are not allowed in a CANCEL, nor in the ACK of a non-2xx
# (RFC 3261 §8.2.2.3); an ACK for a 2xx, which nothing can reject, does without them too.
NO_OPTION_TAGS = frozenset({"ACK", "CANCEL"})


class ProtectionError(Exception):
    """sec-agree cannot go on: the 401 named nothing the UE offered, no CK/IK, ..."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: from the UE's ``local_port`` to ``host:port``;
    ``protected``: over an SA set."""

    local_port: int
    host: str
    port: int
    protected: bool


@dataclass(frozen=True, slots=True)
class SecuritySet:
    """One negotiated SA set: both endpoints, the algorithms, the Security-Server list
    that made it (what Security-Verify repeats) and the kernel objects."""

    local: Endpoint
    remote: Endpoint
    alg: str
    ealg: str
    server: tuple[Mechanism, ...]
    sa_set: SaSet

    @property
    def route(self) -> Route:
        return Route(self.local.port_c, self.remote.host, self.remote.port_s, True)


@dataclass(frozen=True, slots=True)
class Install:
    sa_set: SaSet


@dataclass(frozen=True, slots=True)
class Remove:
    sa_set: SaSet


Effect = Install | Remove


@dataclass(slots=True)
class _Old:
    """A set a newer one replaced; removed at ``due`` (None: not yet scheduled)."""

    set: SecuritySet
    due: float | None = None


class Protection:
    """sec-agree for a UE at ``host`` whose protected server port is ``port_us``, with
    the P-CSCF at ``pcscf`` (its unprotected address, where the first REGISTER goes),
    offering every (alg, ealg) pair of ``integrity`` and ``encryption`` in that order."""

    def __init__(self, host: str, port_us: int, pcscf: tuple[str, int], *,
                 integrity: Sequence[str] = INTEGRITY,
                 encryption: Sequence[str] = ENCRYPTION,
                 rng: Callable[[int], bytes] = os.urandom,
                 retire_seconds: float = RETIRE_SECONDS) -> None:
        if not integrity or not encryption:
            raise ValueError("offer at least one integrity and one encryption algorithm")
        if port_us + CLIENT_PORTS > 65535:
            raise ValueError(f"port_us {port_us} leaves no room for {CLIENT_PORTS} client "
                             "ports above it")
        self.host = host
        self.port_us = port_us
        self.pcscf = pcscf
        self.integrity = tuple(a.lower() for a in integrity)
        self.encryption = tuple(e.lower() for e in encryption)
        self.retire_seconds = retire_seconds
        self._ports = PortAllocator(port_us, range(port_us + 1, port_us + 1 + CLIENT_PORTS))
        self._spis = SpiAllocator(*SPI_RANGE, rng)
        self.offer: Endpoint | None = None  # the UE's side offered in this exchange
        self.pending: SecuritySet | None = None
        self.current: SecuritySet | None = None
        self._old: list[_Old] = []
        self.effects: list[Effect] = []

    # -- one REGISTER exchange -------------------------------------------------------------
    def begin(self) -> None:
        """A new REGISTER exchange: a new port_uc (not the current one) and new SPIs for
        the sets it will make (TS 33.203 §7.4)."""
        self.drop_pending()
        self._release_offer()
        avoid = self.current.local.port_c if self.current is not None else None
        port_uc = self._ports.allocate(avoid)
        spi_uc = self._spis.allocate()
        spi_us = self._spis.allocate()
        self.offer = Endpoint(self.host, port_uc, self.port_us, spi_uc, spi_us)

    def register_headers(self) -> list[tuple[str, str]]:
        """What the next REGISTER carries (TS 24.229 §5.1.1.2.1, §5.1.1.4.1): the offer,
        the Security-Verify of the set it goes over, and sec-agree as required."""
        if self.offer is None:
            raise RuntimeError("begin() the exchange first")
        o = self.offer
        offer = offer_mechanisms(self.integrity, self.encryption, spi_c=o.spi_c,
                                 spi_s=o.spi_s, port_c=o.port_c, port_s=o.port_s)
        out = [("Security-Client", format_mechanisms(offer))]
        over = self.pending or self.current
        if over is not None:
            out.append(("Security-Verify", format_mechanisms(over.server)))
        return out + _option_tags()

    def challenged(self, response: Response, *, ck: bytes | None, ik: bytes | None) -> None:
        """A 401 that the UE answers with a fresh AKA response (it accepted AUTN): build
        the SA set from its Security-Server with CK and IK (TS 33.203 §7.2, Annex I);
        it becomes pending and :attr:`effects` gets its Install (after the Remove of a
        pending set it replaces, e.g. for a stale nonce). ProtectionError when that
        cannot be done."""
        if self.offer is None:
            raise RuntimeError("begin() the exchange first")
        if ck is None or ik is None:
            raise ProtectionError("the 401 is no AKA challenge: IPsec needs IMS-AKA's "
                                  "CK and IK (TS 33.203 §6.1)")
        try:
            server = mechanisms(response, "security-server")
        except SipParseError as exc:
            raise ProtectionError(f"{exc.reason} in the 401") from None
        if not server:
            raise ProtectionError("the 401 has no Security-Server (TS 24.229 §5.1.1.5.1)")
        picked = self._pick(server)
        if picked is None:
            raise ProtectionError("the Security-Server names nothing the UE offered: "
                                  + format_mechanisms(server))
        mech, alg, ealg = picked
        assert None not in (mech.port_c, mech.port_s, mech.spi_c, mech.spi_s)
        try:
            remote = Endpoint(self.pcscf[0], mech.port_c or 0, mech.port_s or 0,
                              mech.spi_c or 0, mech.spi_s or 0)
            sa_set = build_sa_set(self.offer, remote, alg=alg, ealg=ealg, ck=ck, ik=ik)
        except (AlgorithmError, ValueError) as exc:
            raise ProtectionError(f"cannot build the SA set: {exc}") from None
        if self.pending is not None:
            self.effects.append(Remove(self.pending.sa_set))
        self._retire_clashing(remote)
        self.pending = SecuritySet(self.offer, remote, alg, ealg, tuple(server), sa_set)
        self.effects.append(Install(sa_set))

    def confirmed(self) -> None:
        """The 2xx to the exchange's REGISTER: its pending set becomes current, the
        former current becomes old (TS 33.203 §7.4)."""
        if self.pending is None:
            self._release_offer()  # a 2xx without a challenge: nothing new was set up
            return
        if self.current is not None:
            self._old.append(_Old(self.current))
        self.current, self.pending, self.offer = self.pending, None, None

    def abandoned(self) -> None:
        """The exchange failed: what it set up goes, the current set stays."""
        self.drop_pending()
        self._release_offer()

    def install_failed(self, sa_set: SaSet) -> None:
        """The kernel refused ``sa_set`` (and undid its part): forget it."""
        if self.pending is not None and self.pending.sa_set == sa_set:
            self.pending = None

    # -- time ---------------------------------------------------------------------------------
    def retire_old(self, now: float) -> None:
        """Start the clock of the old sets that have none (call after a confirmation)."""
        for old in self._old:
            if old.due is None:
                old.due = now + self.retire_seconds

    def get_timer(self) -> float | None:
        return min((o.due for o in self._old if o.due is not None), default=None)

    def handle_timer(self, now: float) -> None:
        for old in [o for o in self._old if o.due is not None and o.due <= now]:
            self._old.remove(old)
            self._remove(old.set)

    def close(self) -> None:
        """Remove every set (de-registration, the end of the run)."""
        self.drop_pending()
        self._release_offer()
        for s in [*(o.set for o in self._old), *([self.current] if self.current else [])]:
            self._remove(s)
        self._old = []
        self.current = None

    # -- what the adapter and the other requests need ----------------------------------------
    def take_effects(self) -> list[Effect]:
        out, self.effects = self.effects, []
        return out

    def route(self, method: str) -> Route:
        """Where a request goes: a REGISTER over the set its exchange set up (else like
        any request); any request over the current set; before there is one, unprotected
        from the offered port_uc to the P-CSCF's address (TS 24.229 §5.1.1.2.1)."""
        first = self.pending if method == "REGISTER" else self.current
        for s in (first, self.current, self.pending):
            if s is not None:
                return s.route
        port = self.offer.port_c if self.offer is not None else self.port_us
        return Route(port, self.pcscf[0], self.pcscf[1], False)

    def request_headers(self, method: str) -> list[tuple[str, str]]:
        """What a request other than REGISTER carries once a set is in use (RFC 3329
        §2.3.1, TS 24.229 §5.1.2A.1.1): Security-Verify and the sec-agree option tags."""
        if self.current is None:
            return []
        out = [("Security-Verify", format_mechanisms(self.current.server))]
        return out if method in NO_OPTION_TAGS else out + _option_tags()

    def outbound_proxy(self, transport: str) -> str | None:
        """The P-CSCF's protected server port as the Route of initial requests
        (TS 24.229 §5.1.2A.1.1); None before a set is in use."""
        if self.current is None:
            return None
        r = self.current.remote
        return messages.outbound_proxy(r.host, r.port_s, transport)

    @property
    def routes(self) -> set[Route]:
        """The routes of every set held and the one the next REGISTER takes (the
        adapter's connections)."""
        return {s.route for s in self._sets()} | {self.route("REGISTER")}

    @property
    def client_ports(self) -> set[int]:
        """The port_uc of every set held and of the offer (the adapter's sockets)."""
        ends = [s.local for s in self._sets()] + ([self.offer] if self.offer else [])
        return {e.port_c for e in ends}

    def describe(self) -> str:
        """One line about the current set (what ``ims-core ue`` prints)."""
        c = self.current
        if c is None:
            return ""
        u, p = c.local, c.remote
        return (f"ipsec-3gpp alg={c.alg} ealg={c.ealg} UE {u.host} port_uc={u.port_c} "
                f"port_us={u.port_s} spi_uc={u.spi_c} spi_us={u.spi_s}; P-CSCF {p.host} "
                f"port_pc={p.port_c} port_ps={p.port_s} spi_pc={p.spi_c} spi_ps={p.spi_s}")

    @property
    def installed(self) -> list[SaSet]:
        """What the kernel holds for this UE, once :attr:`effects` are carried out."""
        return [s.sa_set for s in self._sets()]

    # -- internals ---------------------------------------------------------------------------
    def _pick(self, server: Sequence[Mechanism]) -> tuple[Mechanism, str, str] | None:
        """The P-CSCF's most preferred entry (highest q, then first; RFC 3329 §2.2) that
        names a pair the UE offered and can be installed."""
        ranked = sorted(server, key=lambda m: -(m.q or 0.0))
        for mech in ranked:
            choice = choose([mech], self.integrity, self.encryption)
            if choice is not None:
                return mech, choice.alg, choice.ealg
        return None

    def _retire_clashing(self, remote: Endpoint) -> None:
        """An old set whose P-CSCF client port comes back in a new one would share its
        policies' selectors (port_pc <-> port_us): it goes now rather than later."""
        for old in [o for o in self._old if o.set.remote.port_c == remote.port_c]:
            self._old.remove(old)
            self._remove(old.set)

    def _sets(self) -> list[SecuritySet]:
        return [s for s in (*(o.set for o in self._old), self.current, self.pending)
                if s is not None]

    def drop_pending(self) -> None:
        """Remove the pending set (a 401 the UE could not accept sets up none)."""
        if self.pending is not None:
            self.effects.append(Remove(self.pending.sa_set))
            if self.pending.local != self.offer:
                self._release(self.pending.local)
            self.pending = None

    def _release_offer(self) -> None:
        if self.offer is not None and all(s.local != self.offer for s in self._sets()):
            self._release(self.offer)
        self.offer = None

    def _remove(self, s: SecuritySet) -> None:
        self.effects.append(Remove(s.sa_set))
        self._release(s.local)

    def _release(self, local: Endpoint) -> None:
        self._spis.release(local.spi_c)
        self._spis.release(local.spi_s)


def _option_tags() -> list[tuple[str, str]]:
    return [("Require", SEC_AGREE), ("Proxy-Require", SEC_AGREE)]
