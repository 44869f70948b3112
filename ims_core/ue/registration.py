"""One registration (or de-registration) as a sans-I/O state machine.

Theory of operation: :meth:`Registration.start` gives the first REGISTER; every final
response goes to :meth:`Registration.receive`, which gives the next REGISTER to send or
None when the exchange is over (then :attr:`Registration.outcome` says how it ended).
The adapter owns sockets, transactions and the clock; it calls
:meth:`Registration.timed_out` when no final response came (Timer F) and
:meth:`Registration.transport_failed` when the flow failed (RFC 3261 §8.1.3.1).

The first REGISTER carries the empty Authorization of an IMS UE (TS 24.229 §5.1.1.2.1),
or none at all when the UE plays a softphone (``first=FirstRegister.SOFTPHONE``).

With a :class:`~ims_core.ue.protection.Protection` (IPsec sec-agree, TS 33.203 §7) every
REGISTER carries its headers, each exchange offers a new SA set, an AKA 401 sets it up
from the Security-Server with the CK/IK of the answer, and the 2xx confirms it (a
failure drops it). The kernel work that implies is the adapter's: it carries out
``protection.effects`` before sending the next REGISTER and calls
:meth:`Registration.install_failed` when the kernel refused.

Transitions (TS 24.229 §5.1.1.2 and §5.1.1.5, RFC 3310 §3, TS 33.102 §6.3.3):

=================  ==========  =========================================================
state              response    action → next state
=================  ==========  =========================================================
TRYING             401         answer the challenge → ANSWERED, RESYNCING (auts sent)
RESYNCING          401         answer the fresh challenge → ANSWERED
ANSWERED           401         stale=true: answer once more → ANSWERED; else → FAILED
any                2xx         → DONE (registered, or de-registered for expires 0)
any                3xx-6xx     → FAILED
=================  ==========  =========================================================
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from ims_core.sip import AuthHeader, NameAddr, Request, Response, SipUri

from . import messages
from .challenge import (
    UNPROTECTED,
    Answer,
    ChallengeError,
    FirstRegister,
    Kind,
    answer_challenge,
    initial_credentials,
)
from .messages import Dialogless, Local
from .profile import UeProfile
from .protection import Protection, ProtectionError


class State(Enum):
    IDLE = "idle"
    TRYING = "trying"
    RESYNCING = "resyncing"
    ANSWERED = "answered"
    DONE = "done"
    FAILED = "failed"


class Event(Enum):
    CHALLENGE = "401"
    SUCCESS = "2xx"
    FAILURE = "final"


class Action(Enum):
    ANSWER = "answer"
    ANSWER_IF_STALE = "answer-if-stale"
    SUCCEED = "succeed"
    FAIL = "fail"


TRANSITIONS: dict[tuple[State, Event], Action] = {
    (State.TRYING, Event.CHALLENGE): Action.ANSWER,
    (State.RESYNCING, Event.CHALLENGE): Action.ANSWER,
    (State.ANSWERED, Event.CHALLENGE): Action.ANSWER_IF_STALE,
    **{(s, Event.SUCCESS): Action.SUCCEED
       for s in (State.TRYING, State.RESYNCING, State.ANSWERED)},
    **{(s, Event.FAILURE): Action.FAIL
       for s in (State.TRYING, State.RESYNCING, State.ANSWERED)},
}

MAX_RESYNCS = 1
MAX_STALE = 1


@dataclass(slots=True)
class Outcome:
    """How the exchange ended, with what the 200 OK told the UE (RFC 3608, RFC 3455)."""

    status: int = 0
    reason: str = ""
    error: str = ""
    challenges: int = 0
    resynced: bool = False
    mac_failure: bool = False
    algorithm: str = ""
    sqn: bytes | None = None
    service_routes: list[str] = field(default_factory=list)
    associated_uris: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    contact_expires: int | None = None
    ipsec: str = ""  # the SA set in use after the exchange, if any
    final: Response | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status, "reason": self.reason, "error": self.error,
            "challenges": self.challenges, "resynced": self.resynced,
            "mac_failure": self.mac_failure, "algorithm": self.algorithm,
            "service_route": self.service_routes, "p_associated_uri": self.associated_uris,
            "path": self.paths, "contact": self.contacts,
            "contact_expires": self.contact_expires, "ipsec": self.ipsec,
        }


class Registration:
    """REGISTER ``profile`` at ``sip:<domain>`` from ``local``; ``expires=0`` de-registers
    (with ``contact_star``: ``Contact: *``, RFC 3261 §10.2.2)."""

    def __init__(self, profile: UeProfile, local: Local, *, expires: int = 600,
                 contact_star: bool = False, ids: Dialogless | None = None,
                 first: FirstRegister = FirstRegister.IMS,
                 rng: Callable[[int], bytes] = os.urandom,
                 protection: Protection | None = None) -> None:
        self.profile = profile
        self.first = first
        self.protection = protection
        self.local = local
        self.expires = expires
        self.contact_star = contact_star
        self.rng = rng  # Call-ID, tags, branches and cnonce
        self.ids = ids or Dialogless(messages.new_call_id(local, rng), messages.new_tag(rng))
        self.state = State.IDLE
        self.outcome = Outcome()
        self._resyncs = 0
        self._stale = 0
        self._nc = 0
        self._cnonce = rng(8).hex()
        self.sent: list[Request] = []

    @property
    def uri(self) -> str:
        return f"sip:{self.profile.domain}"

    def start(self) -> Request:
        if self.state is not State.IDLE:
            raise RuntimeError("registration already started")
        self.state = State.TRYING
        if self.protection is not None:
            self.protection.begin()
        creds = initial_credentials(self.profile, self.uri, self.first,
                                    integrity_protected=self._integrity_protected)
        return self._send(None if creds is None else str(creds))

    def receive(self, response: Response) -> Request | None:
        """Feed a final response to the last REGISTER; returns the next one, or None."""
        if response.status < 200:
            return None  # provisional: the adapter keeps waiting
        event = (Event.SUCCESS if response.status < 300 else
                 Event.CHALLENGE if response.status == 401 else Event.FAILURE)
        action = TRANSITIONS.get((self.state, event))
        if action is None:
            raise RuntimeError(f"response {response.status} in state {self.state.value}")
        if action is Action.SUCCEED:
            self._finish(State.DONE, response)
            return None
        if action is Action.FAIL:
            self._finish(State.FAILED, response)
            return None
        challenges = [h for h in response.auth_headers("www-authenticate") if h.is_digest]
        self.outcome.challenges += 1
        if not challenges:
            return self._fail(response, "401 without a Digest challenge")
        challenge = challenges[0]
        if action is Action.ANSWER_IF_STALE:
            stale = (challenge.stale or "").strip('"').lower() == "true"
            if not stale or self._stale >= MAX_STALE:
                return self._fail(response, "credentials rejected with a new challenge")
            self._stale += 1
        try:
            answer = self._answer(challenge)
            self._protect(response, answer)
        except (ChallengeError, ProtectionError) as exc:
            return self._fail(response, str(exc))
        if answer.kind is Kind.RESYNC:
            if self._resyncs >= MAX_RESYNCS:
                return self._fail(response, "SQN still out of range after resynchronisation")
            self._resyncs += 1
            self.outcome.resynced = True
            self.state = State.RESYNCING
        else:
            self.state = State.ANSWERED
            if answer.kind is Kind.MAC_FAILURE:
                self.outcome.mac_failure = True
        return self._send(str(answer.authorization))

    def timed_out(self, error: str = "no final response") -> None:
        """Timer F fired: the UE's own 408 (RFC 3261 §8.1.3.1)."""
        self._local_failure(408, "Request Timeout", error)

    def transport_failed(self, error: str = "transport error") -> None:
        """The flow failed under the transaction: the UE's own 503 (RFC 3261 §8.1.3.1)."""
        self._local_failure(503, "Service Unavailable", error)

    def install_failed(self, error: str) -> None:
        """The kernel refused the SA set the last 401 set up: the REGISTER answering it
        was not sent; the UE's own 503, as for a flow that failed."""
        self._local_failure(503, "Service Unavailable", f"IPsec: {error}")

    @property
    def finished(self) -> bool:
        return self.state in (State.DONE, State.FAILED)

    # -- internals -------------------------------------------------------------------
    @property
    def _integrity_protected(self) -> str | None:
        return None if self.protection is not None else UNPROTECTED

    def _protect(self, response: Response, answer: Answer) -> None:
        """TS 33.203 §7.2: a 401 the UE accepts sets up a new SA set; one it does not
        (MAC or SQN failure) sets up none, and the answer goes where the exchange's
        first REGISTER went (TS 24.229 §5.1.1.5.2, §5.1.1.5.3)."""
        p = self.protection
        if p is None:
            return
        if answer.kind is Kind.AKA or answer.kind is Kind.MD5:
            p.challenged(response, ck=answer.ck, ik=answer.ik)
        else:
            p.drop_pending()

    def _answer(self, challenge: AuthHeader) -> Answer:
        self._nc += 1
        answer = answer_challenge(self.profile, challenge, "REGISTER", self.uri,
                                  cnonce=self._cnonce, nc=self._nc,
                                  integrity_protected=self._integrity_protected)
        self.outcome.algorithm = answer.authorization.algorithm or ""
        if answer.sqn is not None:
            self.outcome.sqn = answer.sqn
        return answer

    def _local_failure(self, status: int, reason: str, error: str) -> None:
        if self.protection is not None:
            self.protection.abandoned()
        self.state = State.FAILED
        o = self.outcome
        o.status, o.reason, o.error = status, reason, error

    def _send(self, authorization: str | None) -> Request:
        req = messages.register(self.profile, self.local, self.ids, expires=self.expires,
                                authorization=authorization, contact_star=self.contact_star,
                                rng=self.rng)
        if self.protection is not None:
            for name, value in self.protection.register_headers():
                req.headers.add(name, value)
        self.sent.append(req)
        return req

    def _fail(self, response: Response, error: str) -> Request | None:
        """Finish as FAILED with ``error``; returns None (nothing more to send)."""
        self._finish(State.FAILED, response)
        self.outcome.error = error
        return None

    def _finish(self, state: State, response: Response) -> None:
        self.state = state
        o = self.outcome
        o.status, o.reason, o.final = response.status, response.reason, response
        p = self.protection
        if state is State.FAILED:
            if p is not None:
                p.abandoned()
            return
        if p is not None:
            p.confirmed()
            o.ipsec = p.describe()
        h = response.headers
        o.service_routes = [str(a) for a in response.service_routes()]
        o.associated_uris = [str(a) for a in response.addresses("p-associated-uri")]
        o.paths = [str(a) for a in response.paths()]
        contacts = response.contacts()
        o.contacts = [str(c) for c in contacts]
        o.contact_expires = self._own_expires(contacts, h.get("expires"))

    def _own_expires(self, contacts: list[NameAddr], header: str | None) -> int | None:
        """Our binding's expires from the 200 (RFC 3261 §10.2.4), else the Expires header."""
        mine = f"{self.local.host}:{self.local.port}"
        for c in contacts:
            uri = c.uri
            if isinstance(uri, SipUri) and uri.hostport == mine:
                value = c.param("expires")
                if value is not None and value.isdigit():
                    return int(value)
        if header is not None and header.strip().isdigit():
            return int(header.strip())
        return None
