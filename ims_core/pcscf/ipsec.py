"""IPsec security agreement with UEs at the P-CSCF (TS 33.203 §7, TS 24.229 §5.2.2,
RFC 3329), without I/O but for the kernel it is handed (`ims_core.ipsec.Kernel`).

Theory of operation. A UE's initial REGISTER offers `Security-Client: ipsec-3gpp;…`
(`offer`). When the registrar's 401 comes back, `challenge` picks our SPIs and a client
port, builds the four SAs and their policies from the CK/IK the 401 carries
(`ims_core.ipsec.build_sa_set`), installs them and returns the `Security-Server` entry
for the 401: a *pending* set, keyed by the UE's address and protected client port.
The UE's next REGISTER must come over it: on our protected server port, from that
address and port (the kernel's inbound policy guarantees ESP then), with a
`Security-Verify` equal to what we sent (`verify`). Its 2xx makes the set *active*
(`confirm`) and retires the set the exchange came over, if any (a re-registration,
§7.4); a failure removes it (`reject`). A set lapses when nobody registers over its flow
any more (`sweep`); retired sets linger `retire_seconds` so transactions under way can
finish, pending ones give up after `pending_seconds` (`handle_timer`).
Requests towards a UE with an active set go from our client port to its server port
(`destination`); responses to what came over a set go back over it (the transport
answers a protected port from that port).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ims_core import log
from ims_core.deadlines import DeadlineHeap
from ims_core.ipsec import Endpoint, Kernel, SaSet, build_sa_set
from ims_core.ipsec.alloc import ExhaustedError, PortAllocator, SpiAllocator
from ims_core.sip import Request, Response, SipParseError
from ims_core.sip.addressing import Destination, Source
from ims_core.sip.secagree import (
    SEC_AGREE,
    Choice,
    Mechanism,
    choose,
    mechanisms,
    server_mechanism,
    supported_mechanisms,
    verify_matches,
)

from .config import IpsecConfig
from .pheaders import aka_keys

_log = log.get("pcscf.ipsec")

SetKey = tuple[str, int]  # the UE's address and protected client port


class SetState(enum.Enum):
    PENDING = "pending"  # installed with a 401; waits for the protected REGISTER
    ACTIVE = "active"  # a registration rides it
    RETIRING = "retiring"  # replaced or unused; removed at its deadline


@dataclass(slots=True)
class ProtectedSet:
    """One UE's four SAs with us (TS 33.203 §7.1). `ue`: its address, port_uc/port_us and
    spi_uc/spi_us; `ours`: our address, port_pc/port_ps and spi_pc/spi_ps. `server`: the
    Security-Server we sent, which every Security-Verify must equal (RFC 3329 §2.3.1).
    `replaces`: the set the exchange that set this one up came over (§7.4)."""

    ue: Endpoint
    ours: Endpoint
    server: tuple[Mechanism, ...]
    sa_set: SaSet
    state: SetState
    deadline: float | None
    replaces: ProtectedSet | None = field(default=None, repr=False)

    @property
    def key(self) -> SetKey:
        return (self.ue.host, self.ue.port_c)


class SecAgreeRejected(Exception):
    """The request cannot go on: answer `status` with `headers` (e.g. a 494's
    Security-Server list, RFC 3329 §2.3.1)."""

    def __init__(self, status: int, reason: str,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


class IpsecUnavailable(Exception):
    """No SA set can be set up now (SPIs, ports or `max_sas` exhausted, or the kernel
    refused): the UE gets a 5xx instead of a challenge it could not answer."""


def requires_sec_agree(request: Request) -> bool:
    """RFC 3329 §2.3.1: the UE demands a security agreement (Require or Proxy-Require)."""
    for name in ("require", "proxy-require"):
        for value in request.headers.values(name):
            if any(t.strip().lower() == SEC_AGREE for t in value.split(",")):
                return True
    return False


class IpsecTable:
    """The SA sets of the UEs we serve. `host`: our address as UEs reach it; `kernel`
    installs and removes sets; `rng` picks SPIs."""

    def __init__(self, config: IpsecConfig, host: str, kernel: Kernel,
                 rng: Callable[[int], bytes]) -> None:
        self.config = config
        self.host = host
        self.kernel = kernel
        self.sets: dict[SetKey, ProtectedSet] = {}
        self._hosts: dict[str, dict[SetKey, None]] = {}  # UE address -> its sets, in order
        # The deadlines of the sets in `sets` that have one: asked after every message,
        # so no scan of every set (a P-CSCF has one per registered UE).
        self._deadlines: DeadlineHeap[SetKey] = DeadlineHeap()
        self._spis = SpiAllocator(config.spi_min, config.spi_max, rng)
        self._ports = PortAllocator(config.port_s, config.client_port_range())

    @property
    def port_s(self) -> int:
        return self.config.port_s

    def supported_headers(self) -> tuple[tuple[str, str], ...]:
        return tuple(("Security-Server", m.format()) for m in supported_mechanisms(
            self.config.integrity, self.config.encryption))

    # -- requests ----------------------------------------------------------------------
    def offer(self, request: Request) -> Choice | None:
        """The UE's ipsec-3gpp offer we accept (TS 33.203 §7.2), or None when it makes
        none. A malformed Security-Client raises SipParseError (400); one with nothing we
        accept, from a UE that requires sec-agree, is answered 494 with our list."""
        if "security-client" not in request.headers:
            return None
        offered = mechanisms(request, "security-client")
        choice = choose(offered, self.config.integrity, self.config.encryption)
        if choice is None and requires_sec_agree(request):
            raise SecAgreeRejected(494, "Security Agreement Required",
                                   self.supported_headers())
        if choice is not None and (choice.offer.port_c == choice.offer.port_s
                                   or choice.offer.spi_c == choice.offer.spi_s):
            # TS 33.203 §7.1: two SAs each way need two ports and two SPIs.
            raise SipParseError("Bad Security-Client")
        return choice

    def unprotected_verify(self, source: Source) -> None:
        """A REGISTER that repeats a Security-Verify but did not come over the SAs it
        names (the UE thinks they exist): refused with 494 (RFC 3329 §2.3.1), and the
        temporary SAs set up for that UE port go (TS 24.229 §5.2.2.1)."""
        pset = self.sets.get((source.host, source.port))
        if pset is not None and pset.state is SetState.PENDING:
            self._remove(pset)
        raise SecAgreeRejected(494, "Security-Verify Without Protection",
                               self.supported_headers())

    def arrival(self, source: Source) -> ProtectedSet | None:
        """The set a message came over: it arrived on our protected server port from the
        UE address and client port of a set (the kernel's policy then demanded ESP)."""
        if source.local_port != self.config.port_s:
            return None
        return self.sets.get((source.host, source.port))

    def verify(self, request: Request, pset: ProtectedSet) -> None:
        """A REGISTER over `pset` must repeat our Security-Server in Security-Verify
        (RFC 3329 §2.3.1 step 5, TS 24.229 §5.2.2.1): else 494, and a pending set goes
        (TS 24.229 §5.2.2.1: the temporary SAs are deleted)."""
        try:
            verify = mechanisms(request, "security-verify")
        except SipParseError:
            verify = []
        if verify and verify_matches(verify, list(pset.server)):
            return
        if pset.state is SetState.PENDING:
            self._remove(pset)
        raise SecAgreeRejected(494, "Security-Verify Mismatch", self.supported_headers())

    def protects(self, host: str) -> bool:
        """A UE at `host` has a set with us: its requests must come over one."""
        return any(p.state is not SetState.PENDING for p in self._by_host(host))

    # -- the registrar's answers ----------------------------------------------------------
    def secure_challenge(self, response: Response, choice: Choice, ue_host: str,
                         came_over: ProtectedSet | None, now: float) -> None:
        """A 401 to a REGISTER offering IPsec: set up its SAs from the challenge's CK/IK
        and tell the UE our side (Security-Server, TS 33.203 §7.2); without keys or SAs
        the UE could not answer over them, so it gets a 5xx instead."""
        try:
            keys = aka_keys(response)
            if keys is None:
                raise IpsecUnavailable("the challenge carries no ck/ik")
            server = self.challenge(choice, ue_host, came_over, *keys, now)
        except (IpsecUnavailable, SecAgreeRejected) as exc:
            _log.warning("pcscf.ipsec_unavailable", error=str(exc),
                         call_id=response.headers.get("call-id"))
            response.status, response.reason = 503, "Service Unavailable - IPsec"
            response.headers.remove("www-authenticate")
            return
        response.headers.add("Security-Server", server.format())

    def challenge(self, choice: Choice, ue_host: str, came_over: ProtectedSet | None,
                  ck: bytes, ik: bytes, now: float) -> Mechanism:
        """Set up a pending set for the offer `choice` from `ue_host` with the keys of a
        401 (TS 33.203 §7.2 step 2); returns the Security-Server entry for the 401.
        Raises IpsecUnavailable when it cannot."""
        offer = choice.offer
        assert offer.spi_c is not None and offer.spi_s is not None
        assert offer.port_c is not None and offer.port_s is not None
        key = (ue_host, offer.port_c)
        old = self.sets.get(key)
        if old is not None and old is came_over:
            # §7.4: a new set needs a new protected client port from the UE.
            raise SecAgreeRejected(494, "New port-c Needed", self.supported_headers())
        if old is not None:
            self._remove(old)  # a stale set on that port: the UE started afresh
        if (len(self.sets) + 1) * 4 > self.config.max_sas:
            raise IpsecUnavailable(f"max_sas ({self.config.max_sas}) reached")
        try:
            spi_c = self._spis.allocate()
            try:
                spi_s = self._spis.allocate()
            except ExhaustedError:
                self._spis.release(spi_c)
                raise
        except ExhaustedError as exc:
            raise IpsecUnavailable(f"no SPI free: {exc}") from None
        port_c = self._ports.allocate(avoid=came_over.ours.port_c if came_over else None)
        try:
            # Endpoint refuses equal ports or SPIs of one side (ValueError).
            ue = Endpoint(ue_host, offer.port_c, offer.port_s, offer.spi_c, offer.spi_s)
            ours = Endpoint(self.host, port_c, self.config.port_s, spi_c, spi_s)
            sa_set = build_sa_set(ours, ue, alg=choice.alg, ealg=choice.ealg, ck=ck, ik=ik)
            self.kernel.add(sa_set)
        except Exception as exc:  # ValueError, AlgorithmError, XfrmError
            self._spis.release(spi_c)
            self._spis.release(spi_s)
            _log.error("ipsec.add_failed", ue=f"{ue_host}:{offer.port_c}", error=str(exc))
            raise IpsecUnavailable(str(exc)) from None
        server = server_mechanism(choice, spi_c=spi_c, spi_s=spi_s, port_c=port_c,
                                  port_s=self.config.port_s)
        deadline = now + self.config.pending_seconds
        pset = ProtectedSet(ue, ours, (server,), sa_set, SetState.PENDING, deadline, came_over)
        self.sets[key] = pset
        self._hosts.setdefault(ue_host, {})[key] = None
        self._deadlines.set(key, deadline)
        _log.debug("ipsec.pending", ue=f"{ue_host}:{offer.port_c}", spi_c=spi_c, spi_s=spi_s,
                   alg=choice.alg, ealg=choice.ealg)
        return server

    def confirm(self, pset: ProtectedSet, now: float) -> None:
        """A 2xx to a REGISTER over `pset`: it carries the registration now, and the set
        that exchange replaced retires (TS 33.203 §7.4)."""
        if pset.state is SetState.PENDING:
            pset.state, pset.deadline = SetState.ACTIVE, None
            if self.sets.get(pset.key) is pset:
                self._deadlines.discard(pset.key)
            _log.debug("ipsec.active", ue=f"{pset.ue.host}:{pset.ue.port_c}")
        old, pset.replaces = pset.replaces, None
        if old is not None and old is not pset and self.sets.get(old.key) is old:
            self.retire(old, now)

    def reject(self, pset: ProtectedSet) -> None:
        """A final failure to the REGISTER over a pending set: its SAs go at once."""
        if pset.state is SetState.PENDING:
            self._remove(pset)

    def retire(self, pset: ProtectedSet, now: float) -> None:
        if pset.state is not SetState.RETIRING:
            pset.state = SetState.RETIRING
            pset.deadline = now + self.config.retire_seconds
            if self.sets.get(pset.key) is pset:
                self._deadlines.set(pset.key, pset.deadline)
            _log.debug("ipsec.retiring", ue=f"{pset.ue.host}:{pset.ue.port_c}")

    def sweep(self, in_use: Callable[[ProtectedSet], bool], now: float,
              host: str | None = None) -> None:
        """Retire every active set (of UE address `host`) no registration rides any more."""
        for pset in list(self.sets.values() if host is None else self._by_host(host)):
            if pset.state is SetState.ACTIVE and not in_use(pset):
                self.retire(pset, now)

    # -- towards the UE -------------------------------------------------------------------
    def destination(self, host: str, port_c: int, transport: str,
                    conn: object | None) -> Destination | None:
        """Where a request for the UE registered over flow `host:port_c` goes: its
        protected server port, from our client port (TS 33.203 §7.1); over TCP the UE's
        own connection while it is open. None without an active set on that flow."""
        pset = self.sets.get((host, port_c))
        if pset is None or pset.state is SetState.PENDING:
            return None
        return Destination(transport, host, pset.ue.port_s, conn, pset.ours.port_c)

    # -- time --------------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        return self._deadlines.peek()

    def handle_timer(self, now: float) -> None:
        due = self._deadlines.peek()
        if due is None or due > now:
            return  # asked on every timer of the node: no scan unless a set is due
        for pset in list(self.sets.values()):  # in the order they were set up
            if pset.deadline is not None and pset.deadline <= now:
                self._remove(pset)

    def close(self) -> None:
        """Remove every set (the node stops)."""
        for pset in list(self.sets.values()):
            self._remove(pset)

    # -- internals ---------------------------------------------------------------------------
    def _by_host(self, host: str) -> Iterator[ProtectedSet]:
        return (self.sets[k] for k in self._hosts.get(host, ()))

    def _remove(self, pset: ProtectedSet) -> None:
        if self.sets.get(pset.key) is not pset:
            return
        del self.sets[pset.key]
        self._deadlines.discard(pset.key)
        mine = self._hosts.get(pset.ue.host)
        if mine is not None:
            mine.pop(pset.key, None)
            if not mine:
                del self._hosts[pset.ue.host]
        self._spis.release(pset.ours.spi_c)
        self._spis.release(pset.ours.spi_s)
        try:
            self.kernel.remove(pset.sa_set)
        except Exception as exc:  # best effort: the kernel may have lost them already
            _log.warning("ipsec.remove_failed", ue=f"{pset.ue.host}:{pset.ue.port_c}",
                         error=str(exc))
        _log.debug("ipsec.removed", ue=f"{pset.ue.host}:{pset.ue.port_c}",
                   state=pset.state.value)
