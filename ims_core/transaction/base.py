"""The engine shared by the four RFC 3261 §17 state machines.

Theory of operation: each transaction class has a transition table mapping
`(state, input) -> (actions, next_state)`. An input is a message from the network, a
response (or news of a CANCEL sent) from the TU, a transport error or a timer firing.
The engine looks the pair up, runs the actions in order, then enters the next state,
which cancels every timer that state does not keep. A missing entry means "not
allowed": ignored when the peer or a stale timer caused it (the RFC's "absorb"), an
error when the TU did.

Nothing here does I/O. Time is passed in as `now` (seconds, any monotonic origin).
Outputs pile up until drained: `data_to_send()` (bytes for the transport) and
`next_event()` (events for the TU). `get_timer()` says when `handle_timer()` is due.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from ims_core.deadlines import DeadlineHeap
from ims_core.metrics import SipMetrics
from ims_core.sip import Message, Request

from .config import TimerConfig
from .events import Event, TimedOut, TransactionTerminated, TransportFailed


class TransactionError(Exception):
    """The TU asked for something the transaction's state does not allow."""


class State(enum.Enum):
    # Hashed by identity (members are singletons): Enum's own __hash__ is Python code,
    # run twice per lookup in the transition table.
    __hash__ = object.__hash__

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"  # RFC 6026
    TERMINATED = "Terminated"


class Input(enum.Enum):
    __hash__ = object.__hash__  # as State's

    RESPONSE_1XX = "1xx from network"
    RESPONSE_2XX = "2xx from network"
    RESPONSE_3XX_6XX = "300-699 from network"
    REQUEST = "request retransmission"
    ACK = "ACK"
    TU_1XX = "1xx from TU"
    TU_2XX = "2xx from TU"
    TU_3XX_6XX = "300-699 from TU"
    TU_CANCEL = "CANCEL sent by TU"
    TRANSPORT_ERROR = "transport error"
    TIMER_A = "A"
    TIMER_B = "B"
    TIMER_D = "D"
    TIMER_E = "E"
    TIMER_F = "F"
    TIMER_G = "G"
    TIMER_H = "H"
    TIMER_I = "I"
    TIMER_J = "J"
    TIMER_K = "K"
    TIMER_L = "L"
    TIMER_M = "M"
    TIMER_CANCEL = "cancel"  # §9.1: 64*T1 after the TU's CANCEL; RFC 3261 names no letter
    # A non-INVITE server transaction still without a final response 64*T1 after it
    # began (the client's Timer F has fired, §17.1.2.2) asks the TU for one ("guard"),
    # and ends 64*T1 later ("abandon") if the TU gives none. RFC 3261 names neither.
    TIMER_GUARD = "guard"
    TIMER_ABANDON = "abandon"


# The members read per message, bound once as module names: reading a member off its
# Enum class goes through EnumType and costs about four times a global's lookup.
CALLING = State.CALLING
COMPLETED = State.COMPLETED
CONFIRMED = State.CONFIRMED
ACCEPTED = State.ACCEPTED
TERMINATED = State.TERMINATED

TIMER_INPUTS = {i.value: i for i in Input if i.name.startswith("TIMER_")}
_TU_INPUTS = frozenset({Input.TU_1XX, Input.TU_2XX, Input.TU_3XX_6XX, Input.TU_CANCEL})


class Action(enum.Enum):
    """Each value names the method that performs the action."""

    RESEND_REQUEST = "_resend_request"
    SEND_ACK = "_send_ack"
    PASS_RESPONSE = "_pass_response"
    SEND_RESPONSE = "_send_response"
    RESEND_RESPONSE = "_resend_response"
    PASS_ACK = "_pass_ack"
    REPORT_TIMEOUT = "_report_timeout"
    REPORT_TRANSPORT_ERROR = "_report_transport_error"
    START_A = "_start_a"
    DOUBLE_A = "_double_a"
    START_B = "_start_b"
    START_D = "_start_d"
    START_E = "_start_e"
    DOUBLE_E = "_double_e"
    E_TO_T2 = "_e_to_t2"
    START_F = "_start_f"
    START_K = "_start_k"
    START_M = "_start_m"
    START_CANCEL_GUARD = "_start_cancel_guard"
    START_ABANDON = "_start_abandon"
    START_G = "_start_g"
    DOUBLE_G = "_double_g"
    START_H = "_start_h"
    START_I = "_start_i"
    START_J = "_start_j"
    START_L = "_start_l"


Table = dict[tuple[State, Input], tuple[tuple[Action, ...], State]]
Keeps = dict[State, frozenset[str]]
ActionMethod = Callable[[Any, float, Message | None], None]
Steps = dict[tuple[State, Input], tuple[tuple[ActionMethod, ...], State]]


class Owner(Protocol):
    """The transaction table: keeps each live transaction's earliest deadline in
    `timers`, is told when one terminates, and holds the `metrics` its transactions
    count what they send and absorb in (see `TransactionTable`)."""

    @property
    def timers(self) -> DeadlineHeap[Transaction]: ...
    @property
    def metrics(self) -> SipMetrics: ...
    def _forget(self, tx: Transaction) -> None: ...


class Transaction:
    """Base of the four transaction kinds; see the module docstring.

    A transaction that has its final response may live on for a while (Timers D, I, J,
    K, L, M) to absorb or answer retransmissions; all it keeps then is what that needs
    (its key, flow and the bytes to send again), not the request: `request` raises
    TransactionError once it is `released`. With thousands of registrations a second
    and Timer J at 64*T1, these are most of the transactions alive."""

    __slots__ = (
        "__weakref__", "_deadlines", "_events", "_firing", "_intervals", "_moved", "_out",
        "_owner", "_request", "_scheduled", "config", "flow", "key", "method", "reliable",
        "state",
    )

    TABLE: ClassVar[Table]
    KEEPS_TIMERS: ClassVar[Keeps]
    INITIAL: ClassVar[State]
    _STEPS: ClassVar[Steps]  # TABLE with each action's method found once per class

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: Table | None = getattr(cls, "TABLE", None)
        if table is not None:
            cls._STEPS = {key: (tuple(getattr(cls, a.value) for a in actions), state)
                          for key, (actions, state) in table.items()}

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        config: TimerConfig | None = None,
        key: tuple[object, ...] | None = None,
    ) -> None:
        self._request: Request | None = request
        self.method = request.method
        self.reliable = reliable
        self.config = config if config is not None else TimerConfig()
        self.key = key
        self.state = self.INITIAL
        self.flow: object = None  # opaque to us: the transport's connection / peer
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._moved = False  # a deadline changed since the owner last heard
        self._scheduled: float | None = None  # the deadline the owner's heap holds for us
        self._firing = ""
        # Outboxes made on first use and dropped when drained: a transaction kept in
        # Completed for Timer J or K holds neither, and every list it held would be one
        # more object for each collector pass to scan (transactions are kept by the
        # thousand). Lists, not deques: rarely more than two events wait.
        self._out: list[bytes] | None = None
        self._events: list[Event] | None = None
        self._owner: Owner | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.state.value} {self.key}>"

    @property
    def request(self) -> Request:
        """The request that created the transaction, while it still keeps it."""
        if self._request is None:
            raise TransactionError(f"{self!r} no longer keeps its request")
        return self._request

    @property
    def released(self) -> bool:
        """True once the transaction has let go of its request (see the class doc)."""
        return self._request is None

    # -- outputs -----------------------------------------------------------------------
    def data_to_send(self) -> list[bytes]:
        """Messages (serialised) to hand to the transport, oldest first; drains."""
        out = self._out
        if out is None:
            return []
        self._out = None
        return out

    @property
    def has_output(self) -> bool:
        """Whether `data_to_send()` has anything (spares draining an empty outbox)."""
        return self._out is not None

    def next_event(self) -> Event | None:
        """The next event for the TU, or None."""
        events = self._events
        if events is None:
            return None
        event = events.pop(0)
        if not events:
            self._events = None
        return event

    def _emit(self, data: bytes) -> None:
        """Queue bytes for `data_to_send()`."""
        if (out := self._out) is None:
            self._out = [data]
        else:
            out.append(data)

    def _tell(self, event: Event) -> None:
        """Queue an event for `next_event()`."""
        if (events := self._events) is None:
            self._events = [event]
        else:
            events.append(event)

    def get_timer(self) -> float | None:
        """When `handle_timer` should next be called, or None."""
        return min(self._deadlines.values()) if self._deadlines else None

    @property
    def terminated(self) -> bool:
        return self.state is TERMINATED

    # -- inputs ------------------------------------------------------------------------
    def handle_timer(self, now: float) -> None:
        """Fire every timer due at `now`, earliest first."""
        deadlines = self._deadlines
        if not deadlines or min(deadlines.values()) > now:
            return  # the usual case after a message: nothing due
        while deadlines:
            name = min(deadlines, key=deadlines.__getitem__)
            at = deadlines[name]
            if at > now:
                break
            del deadlines[name]
            self._moved = True
            self._firing = name
            # Restarted timers are measured from when this one was due, not from `now`.
            self._input(TIMER_INPUTS[name], at, None)
        if self._moved:
            self._sync()

    def transport_error(self, now: float) -> None:
        """The transport failed to send this transaction's message (§17.1.4, §17.2.4)."""
        self._input(Input.TRANSPORT_ERROR, now, None)
        self._fire_due(now)

    def _fire_due(self, now: float) -> None:
        """After an input: fire what is due already (a timer of length 0, e.g. Timer J or
        K over a reliable transport). An owned transaction's earliest deadline is the one
        `_sync` gave its owner: no need to look through its timers again."""
        due = self._scheduled if self._owner is not None else self.get_timer()
        if due is not None and due <= now:
            self.handle_timer(now)

    def _input(self, inp: Input, now: float, msg: Message | None) -> None:
        entry = self._STEPS.get((self.state, inp))
        if entry is None:
            if inp in _TU_INPUTS:
                raise TransactionError(f"{inp.value} not allowed in state {self.state.value}")
            return  # absorbed
        actions, next_state = entry
        for action in actions:
            action(self, now, msg)
        if next_state is not self.state:
            self._enter(next_state)
        if self._moved:
            self._sync()

    def _sync(self) -> None:
        """Give the owner our earliest deadline if it moved (once per input that
        touched a timer)."""
        self._moved = False
        owner = self._owner
        if owner is None or self.state is TERMINATED:
            return
        deadlines = self._deadlines
        earliest = min(deadlines.values()) if deadlines else None
        if earliest != self._scheduled:
            self._scheduled = earliest
            if earliest is None:
                owner.timers.discard(self)
            else:
                owner.timers.set(self, earliest)

    def _enter(self, state: State) -> None:
        self.state = state
        if state is TERMINATED:
            self._deadlines.clear()
            self._tell(TransactionTerminated())
            if self._owner is not None:
                self._owner._forget(self)
            return
        deadlines = self._deadlines
        if deadlines:
            stale = deadlines.keys() - self.KEEPS_TIMERS[state]
            if stale:
                for name in stale:
                    del deadlines[name]
                self._moved = True

    # -- timer helpers -------------------------------------------------------------------
    def _start(self, name: str, duration: float, now: float) -> None:
        self._deadlines[name] = now + duration
        self._intervals[name] = duration
        self._moved = True

    def _report_timeout(self, now: float, msg: Message | None) -> None:
        self._tell(TimedOut(self._firing))

    def _report_transport_error(self, now: float, msg: Message | None) -> None:
        self._tell(TransportFailed())

    def _retransmission(self, direction: str) -> None:
        """Count one retransmission, "sent" or "received" (absorbed), in the owner's
        metrics (rare: nothing per ordinary message)."""
        if self._owner is not None:
            self._owner.metrics.retransmissions.inc(direction)
