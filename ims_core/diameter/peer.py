"""The peer state machine, sans I/O (RFC 6733 §5.6, watchdog RFC 3539 §3.4).

Theory of operation
-------------------
One :class:`Peer` is one Diameter peer seen from this node, for the life of the node
(initiator) or of one accepted connection (responder). The adapter feeds it:

* ``start(now)`` (initiator) and ``connection_made(now, remote_host)`` /
  ``connection_failed(now)`` / ``connection_lost(now)`` for the transport (``remote_host``:
  the peer's IP address as the socket sees it, when known);
* ``receive_data(data, now)`` for bytes read;
* ``handle_timer(now)`` when ``get_timer()`` is reached;
* ``send_request(msg, now)`` / ``send_answer(msg)`` / ``stop(now)`` from the application;

and after each call collects ``data_to_send()`` and ``next_event()`` (see :mod:`.events`)
and re-arms one timer at ``get_timer()``.

States follow RFC 6733 §5.6 for one connection (no election: one connection per peer):
Closed, Wait-Conn-Ack, Wait-I-CEA, Wait-CER (responder), Open, Closing. Each
``(state, input)`` pair maps to an action and the next state in :data:`_TABLE`; the action may
override the next state (e.g. a CEA with an error sends us to Closed). Pairs not in the table
are ignored. Inside Open the RFC 3539 watchdog runs OKAY → SUSPECT → DOWN on the single
state timer; Closed with a timer armed means "reconnect after backoff" (initiator only).

A CER without Host-IP-Address is accepted, with a warning, the connection's address standing
in for it, unless ``DiameterConfig.require_host_ip_address`` asks for the strict 5005.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from .. import log
from . import capabilities as caps
from .codec import Framer, decode
from .config import DiameterConfig
from .dictionary import BASE_APPLICATION_ID, DEFAULT, Dictionary
from .errors import DiameterError, DiameterUnavailable, ResultCode
from .events import (
    AnswerReceived,
    CloseRequested,
    ConnectRequested,
    Event,
    PeerDown,
    PeerRecovered,
    PeerSuspect,
    PeerUp,
    RequestFailed,
    RequestReceived,
)
from .header import Header
from .ids import EndToEnd, HopByHop
from .message import Message, error_answer
from .peerstates import (
    BASE_INPUT,
    DO_NOT_WANT_TO_TALK_TO_YOU,
    REBOOTING,
    Input,
    Role,
    State,
    Watchdog,
)

__all__ = ["Input", "Peer", "Role", "State", "Watchdog"]


_Action = Callable[["Peer", Message | None, float], "State | None"]

_log = log.get("diameter")


class Peer:
    """One Diameter peer connection's state machine (see the module docstring)."""

    def __init__(
        self,
        config: DiameterConfig,
        role: Role,
        *,
        end_to_end: EndToEnd,
        dictionary: Dictionary = DEFAULT,
        rng: random.Random | None = None,
        name: str = "",
    ) -> None:
        self.config = config
        self.role = role
        self.dictionary = dictionary
        self.name = name  # for logs: the configured address until CER/CEA tells us more
        self.state = State.CLOSED
        self.watchdog = Watchdog.OKAY
        self.capabilities: caps.Capabilities | None = None
        self.remote_host: str | None = None  # the connection's peer address, when known
        self.assumed_host_ip: str | None = None  # stood in for a CER's missing Host-IP-Address
        self.applications: frozenset[int] = frozenset()
        self.stopped = False
        self._rng = rng or random.Random()
        self._e2e = end_to_end
        self._hbh = HopByHop(self._rng.getrandbits(32))
        self._framer = Framer(config.max_message_length)
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._deadline: float | None = None
        self._backoff = config.reconnect_min
        self._dwr_pending = False
        self._last_rx = 0.0
        self._tw = config.watchdog_interval
        self._pending: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []

    # ----- adapter inputs
    def start(self, now: float) -> None:
        """Initiator: begin connecting (RFC 6733 §5.6 Start)."""
        self._input(Input.START, None, now)

    def connection_made(self, now: float, remote_host: str | None = None) -> None:
        """The transport is up; ``remote_host`` is the peer's IP address on it."""
        self.remote_host = remote_host
        self._input(Input.CONN_ACK, None, now)

    def connection_failed(self, now: float) -> None:
        self._input(Input.CONN_FAILED, None, now)

    def connection_lost(self, now: float) -> None:
        self._framer = Framer(self.config.max_message_length)
        self._input(Input.PEER_DISC, None, now)

    def stop(self, now: float, cause: int = REBOOTING) -> None:
        """Shut down: DPR if Open (then wait for DPA), else just close; no reconnection."""
        self.stopped = True
        self._disconnect_cause = cause
        self._input(Input.STOP, None, now)

    def receive_data(self, data: bytes, now: float,
                     seen: Callable[[bytes], None] | None = None) -> None:
        """Feed bytes read; ``seen`` (a capture) gets each whole message read, first."""
        if self.is_closed:  # closing: what still arrives is dropped
            return
        try:
            frames = self._framer.feed(data)
        except DiameterError as err:  # the stream cannot be resynchronised
            self._close(f"bad framing: {err}", now)
            return
        for frame in frames:
            if seen is not None:
                seen(frame)
            self._receive_frame(frame, now)
            if self.is_closed:
                return

    def handle_timer(self, now: float) -> None:
        pending, heap = self._pending, self._heap
        while heap and heap[0][0] <= now:
            deadline, hbh = heapq.heappop(heap)
            if pending.get(hbh) == deadline:
                del pending[hbh]
                self._events.append(RequestFailed(hbh, "no answer in time", timed_out=True))
        if self._deadline is not None and self._deadline <= now:
            self._deadline = None
            self._input(Input.TIMEOUT, None, now)

    # ----- adapter outputs
    def get_timer(self) -> float | None:
        heap, pending = self._heap, self._pending
        while heap and pending.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        t = self._deadline
        if heap and (t is None or heap[0][0] < t):
            return heap[0][0]
        return t

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def messages_to_send(self) -> list[bytes]:
        """What :meth:`data_to_send` would return, one whole message per item (capture)."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # ----- application
    @property
    def is_open(self) -> bool:
        return self.state is State.OPEN

    @property
    def is_closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def is_usable(self) -> bool:
        """Open and not SUSPECT: a good target for new requests."""
        return self.state is State.OPEN and self.watchdog is Watchdog.OKAY

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def send_request(self, msg: Message, now: float, timeout: float | None = None) -> int:
        """Queue *msg* with fresh identifiers; returns its Hop-by-Hop id (see
        :class:`AnswerReceived` / :class:`RequestFailed`). Raises
        :class:`DiameterUnavailable` unless Open."""
        if self.state is not State.OPEN:
            raise DiameterUnavailable(f"peer {self.name} is {self.state.name}")
        hbh = self._hbh()
        msg.hop_by_hop = hbh
        if not msg.end_to_end:
            msg.end_to_end = self._e2e()
        self._fill_identity(msg)
        self._out.append(msg.encode())
        deadline = now + (self.config.request_timeout if timeout is None else timeout)
        self._pending[hbh] = deadline
        heapq.heappush(self._heap, (deadline, hbh))
        return hbh

    def cancel_request(self, hbh: int) -> None:
        """Forget a pending request (its answer, if any, will be dropped)."""
        self._pending.pop(hbh, None)

    def send_answer(self, msg: Message) -> None:
        """Queue an answer (Origin-Host/Realm are added if missing); dropped unless connected."""
        if self.state not in (State.OPEN, State.CLOSING):
            return
        self._fill_identity(msg)
        self._out.append(msg.encode())

    # ----- internals
    def _fill_identity(self, msg: Message) -> None:
        if msg.find_code(264) is None:
            msg.add("Origin-Host", self.config.origin_host)
        if msg.find_code(296) is None:
            msg.add("Origin-Realm", self.config.origin_realm)

    def _input(self, inp: Input, msg: Message | None, now: float) -> None:
        entry = _TABLE.get((self.state, inp))
        if entry is None:
            return
        action, nxt = entry
        override = action(self, msg, now)
        self.state = override if override is not None else nxt

    def _receive_frame(self, frame: bytes, now: float) -> None:
        try:
            msg = decode(frame, self.dictionary)
        except DiameterError as err:
            lenient = self._lenient_cer(frame, err)
            if isinstance(lenient, DiameterError):
                self._decode_failed(lenient, now)
                return
            msg = lenient
        self._last_rx = now
        if self.watchdog is Watchdog.SUSPECT and self.state is State.OPEN:
            self.watchdog = Watchdog.OKAY
            self._dwr_pending = False
            self._events.append(PeerRecovered())
        inp = (
            BASE_INPUT.get((msg.command_code, msg.is_request), Input.RCV_MSG)
            if msg.application_id == BASE_APPLICATION_ID
            else Input.RCV_MSG
        )
        self._input(inp, msg, now)

    def _lenient_cer(self, frame: bytes, err: DiameterError) -> Message | DiameterError:
        """A CER refused only for a missing AVP, read again without requiring
        Host-IP-Address (unless configured strict): the message, or the error to answer."""
        h = err.header
        if (self.config.require_host_ip_address or err.result_code != ResultCode.MISSING_AVP
                or h is None or not h.is_request or h.command_code != caps.CER):
            return err
        try:
            return caps.decode_cer_without_host_ip(frame, self.dictionary)
        except DiameterError as again:
            return again

    def _decode_failed(self, err: DiameterError, now: float) -> None:
        h = err.header
        if h is None:
            self._close(f"undecodable message: {err}", now)
        elif not h.is_request:
            if self.state is State.WAIT_CEA:
                self._close(f"bad CEA: {err}", now)
            elif self._pending.pop(h.hop_by_hop, None) is not None:
                self._events.append(RequestFailed(h.hop_by_hop, f"bad answer: {err}"))
        elif self.state is State.WAIT_CER and h.command_code == caps.CER:
            cfg = self.config
            cea = error_answer(
                h, err, origin_host=cfg.origin_host, origin_realm=cfg.origin_realm,
                dictionary=self.dictionary,
            )  # fmt: skip
            if not cea.is_error:
                caps.add_capabilities(cea, cfg, identity=False)
            self._send(cea)
            self._close(f"bad CER: {err}", now)
        elif self.state in (State.OPEN, State.CLOSING):
            self._error_answer(h, err)
        else:
            self._close(f"bad message in {self.state.name}: {err}", now)

    def _error_answer(self, request: Message | Header, err: DiameterError) -> None:
        cfg = self.config
        ans = error_answer(
            request, err, origin_host=cfg.origin_host, origin_realm=cfg.origin_realm,
            dictionary=self.dictionary,
        )  # fmt: skip
        self._out.append(ans.encode())

    def _send(self, msg: Message) -> None:
        self._out.append(msg.encode())

    def _close(self, reason: str, now: float) -> None:
        """Give up on this connection; the initiator will reconnect after backoff."""
        was_open = self.state in (State.OPEN, State.CLOSING)
        self._events.append(CloseRequested(reason))
        self._fail_pending(reason)
        if was_open:
            self._events.append(PeerDown(reason))
        self.state = State.CLOSED
        self._schedule_reconnect(now)

    def _fail_pending(self, reason: str) -> None:
        for hbh in list(self._pending):
            self._events.append(RequestFailed(hbh, reason))
        self._pending.clear()
        self._heap.clear()

    def _schedule_reconnect(self, now: float) -> None:
        if self.role is Role.INITIATOR and not self.stopped:
            self._deadline = now + self._backoff
            self._backoff = min(self._backoff * 2, self.config.reconnect_max)
        else:
            self._deadline = None

    def _arm_watchdog(self, now: float) -> None:
        j = self.config.watchdog_jitter
        self._tw = self.config.watchdog_interval + (self._rng.uniform(-j, j) if j else 0.0)
        self._deadline = now + self._tw

    # ----- actions (each returns an overriding next state or None)
    def _a_connect(self, msg: Message | None, now: float) -> State | None:
        if self.stopped:
            return State.CLOSED
        self._deadline = now + self.config.cer_timeout  # connect timeout
        self._events.append(ConnectRequested())
        return None

    def _a_conn_failed(self, msg: Message | None, now: float) -> State | None:
        self._schedule_reconnect(now)
        return None

    def _a_accepted(self, msg: Message | None, now: float) -> State | None:
        if self.role is Role.INITIATOR:  # a connection that outlived its attempt
            self._events.append(CloseRequested("connection no longer expected"))
            return State.CLOSED
        self._deadline = now + self.config.cer_timeout
        return None

    def _a_send_cer(self, msg: Message | None, now: float) -> State | None:
        cer = caps.build_cer(self.config, self.dictionary)
        cer.hop_by_hop, cer.end_to_end = self._hbh(), self._e2e()
        self._send(cer)
        self._deadline = now + self.config.cer_timeout
        return None

    def _a_error(self, msg: Message | None, now: float) -> State | None:
        what = msg.name if msg is not None else "timeout"
        self._close(f"{what} in {self.state.name}", now)
        return State.CLOSED

    def _a_lost(self, msg: Message | None, now: float) -> State | None:
        was_open = self.state in (State.OPEN, State.CLOSING)
        self._fail_pending("connection lost")
        if was_open:
            self._events.append(PeerDown("connection lost"))
        self._schedule_reconnect(now)
        return None

    def _a_stop_closed(self, msg: Message | None, now: float) -> State | None:
        self._deadline = None
        return None

    def _a_stop_connecting(self, msg: Message | None, now: float) -> State | None:
        self._close("stopped", now)
        return None

    def _a_process_cea(self, msg: Message | None, now: float) -> State | None:
        assert msg is not None
        rc = msg.result_code
        if rc != ResultCode.SUCCESS:
            self._close(f"CEA Result-Code {rc}", now)
            return State.CLOSED
        return self._capabilities_done(caps.read_capabilities(msg), now)

    def _a_process_cer(self, msg: Message | None, now: float) -> State | None:
        assert msg is not None
        peer = caps.read_capabilities(msg)
        if not self.config.allows(peer.origin_host):
            self._send(caps.build_cea(self.config, msg, ResultCode.UNKNOWN_PEER))
            self._close(f"unknown peer {peer.origin_host}", now)
            return State.CLOSED
        if not caps.common_applications(self.config.applications, peer.applications):
            self._send(caps.build_cea(self.config, msg, ResultCode.NO_COMMON_APPLICATION))
            self._close("no common application", now)
            return State.CLOSED
        self._send(caps.build_cea(self.config, msg, ResultCode.SUCCESS))
        return self._capabilities_done(self._with_host_ip(msg, peer), now)

    def _with_host_ip(self, msg: Message, peer: caps.Capabilities) -> caps.Capabilities:
        """An accepted CER without Host-IP-Address (only a lenient read lets one through):
        the connection's address stands in for it, with a warning."""
        if msg.get(caps.HOST_IP_ADDRESS) is not None:
            return peer
        self.assumed_host_ip = self.remote_host
        _log.warning("diameter_cer_without_host_ip", peer=peer.origin_host,
                     assumed_address=self.remote_host or "unknown")
        if self.remote_host is None:
            return peer
        return replace(peer, host_ip_addresses=(self.remote_host,))

    def _capabilities_done(self, peer: caps.Capabilities, now: float) -> State | None:
        if not self.config.allows(peer.origin_host):
            self._close(f"unknown peer {peer.origin_host}", now)
            return State.CLOSED
        apps = caps.common_applications(self.config.applications, peer.applications)
        if not apps:
            self._close("no common application", now)
            return State.CLOSED
        self.capabilities, self.applications = peer, apps
        self.name = peer.origin_host
        self._backoff = self.config.reconnect_min
        self.watchdog, self._dwr_pending, self._last_rx = Watchdog.OKAY, False, now
        self._arm_watchdog(now)
        self._events.append(PeerUp(peer, apps))
        return State.OPEN

    def _a_cer_again(self, msg: Message | None, now: float) -> State | None:
        assert msg is not None  # R-Open + R-Rcv-CER: answer again (§5.6)
        self._send(caps.build_cea(self.config, msg, ResultCode.SUCCESS))
        return None

    def _a_deliver(self, msg: Message | None, now: float) -> State | None:
        assert msg is not None
        if not msg.is_request:
            if self._pending.pop(msg.hop_by_hop, None) is not None:
                self._events.append(AnswerReceived(msg.hop_by_hop, msg))
            return None  # unmatched answers are discarded (§6.2)
        if self.state is State.CLOSING:
            err = DiameterError(ResultCode.UNABLE_TO_DELIVER, "peer is disconnecting")
            self._error_answer(msg, err)
            return None
        if msg.application_id not in self.applications:
            err = DiameterError(ResultCode.APPLICATION_UNSUPPORTED)
            self._error_answer(msg, err)
            return None
        self._events.append(RequestReceived(msg))
        return None

    def _a_dwr(self, msg: Message | None, now: float) -> State | None:
        assert msg is not None
        self._send(caps.build_dwa(self.config, msg))
        return None

    def _a_dwa(self, msg: Message | None, now: float) -> State | None:
        self._dwr_pending = False
        return None

    def _a_dpr(self, msg: Message | None, now: float) -> State | None:
        assert msg is not None
        self._send(caps.build_dpa(self.config, msg))
        cause = msg.get_int("Disconnect-Cause")
        if cause == DO_NOT_WANT_TO_TALK_TO_YOU:
            self._backoff = self.config.reconnect_max
        self._close(f"DPR (cause {cause})", now)
        return State.CLOSED

    def _a_watchdog(self, msg: Message | None, now: float) -> State | None:
        """RFC 3539 §3.4 timeout in Open: traffic seen → re-arm; else DWR; else SUSPECT;
        else DOWN (close and reconnect)."""
        if now < self._last_rx + self._tw:
            self._deadline = self._last_rx + self._tw
            return None
        if self.watchdog is Watchdog.OKAY:
            if self._dwr_pending:
                self.watchdog = Watchdog.SUSPECT
                self._events.append(PeerSuspect())
            else:
                dwr = caps.build_dwr(self.config, self.dictionary)
                dwr.hop_by_hop, dwr.end_to_end = self._hbh(), self._e2e()
                self._send(dwr)
                self._dwr_pending = True
            self._arm_watchdog(now)
            return None
        self._close("watchdog: peer down", now)
        return State.CLOSED

    def _a_send_dpr(self, msg: Message | None, now: float) -> State | None:
        dpr = caps.build_dpr(self.config, self._disconnect_cause, self.dictionary)
        dpr.hop_by_hop, dpr.end_to_end = self._hbh(), self._e2e()
        self._send(dpr)
        self._deadline = now + self.config.dpa_timeout
        return None

    def _a_dpa(self, msg: Message | None, now: float) -> State | None:
        self._close("disconnected (DPA)", now)
        return State.CLOSED

    _disconnect_cause = REBOOTING


S, In, P = State, Input, Peer
# (state, input) -> (action, next state). RFC 6733 §5.6 for one connection.
_TABLE: dict[tuple[State, Input], tuple[_Action, State]] = {
    (S.CLOSED, In.START): (P._a_connect, S.WAIT_CONN_ACK),
    (S.CLOSED, In.TIMEOUT): (P._a_connect, S.WAIT_CONN_ACK),  # reconnect timer (Tc)
    (S.CLOSED, In.CONN_ACK): (P._a_accepted, S.WAIT_CER),  # responder: accepted
    (S.CLOSED, In.STOP): (P._a_stop_closed, S.CLOSED),
    (S.WAIT_CONN_ACK, In.CONN_ACK): (P._a_send_cer, S.WAIT_CEA),
    (S.WAIT_CONN_ACK, In.CONN_FAILED): (P._a_conn_failed, S.CLOSED),
    (S.WAIT_CONN_ACK, In.TIMEOUT): (P._a_error, S.CLOSED),
    (S.WAIT_CONN_ACK, In.STOP): (P._a_stop_connecting, S.CLOSED),
    (S.WAIT_CEA, In.RCV_CEA): (P._a_process_cea, S.OPEN),
    (S.WAIT_CEA, In.RCV_CER): (P._a_error, S.CLOSED),  # election unsupported
    (S.WAIT_CEA, In.RCV_DWR): (P._a_error, S.CLOSED),
    (S.WAIT_CEA, In.RCV_DWA): (P._a_error, S.CLOSED),
    (S.WAIT_CEA, In.RCV_DPR): (P._a_error, S.CLOSED),
    (S.WAIT_CEA, In.RCV_DPA): (P._a_error, S.CLOSED),
    (S.WAIT_CEA, In.RCV_MSG): (P._a_error, S.CLOSED),
    (S.WAIT_CEA, In.TIMEOUT): (P._a_error, S.CLOSED),
    (S.WAIT_CEA, In.PEER_DISC): (P._a_lost, S.CLOSED),
    (S.WAIT_CEA, In.STOP): (P._a_stop_connecting, S.CLOSED),
    (S.WAIT_CER, In.RCV_CER): (P._a_process_cer, S.OPEN),
    (S.WAIT_CER, In.RCV_CEA): (P._a_error, S.CLOSED),
    (S.WAIT_CER, In.RCV_DWR): (P._a_error, S.CLOSED),
    (S.WAIT_CER, In.RCV_DWA): (P._a_error, S.CLOSED),
    (S.WAIT_CER, In.RCV_DPR): (P._a_error, S.CLOSED),
    (S.WAIT_CER, In.RCV_DPA): (P._a_error, S.CLOSED),
    (S.WAIT_CER, In.RCV_MSG): (P._a_error, S.CLOSED),
    (S.WAIT_CER, In.TIMEOUT): (P._a_error, S.CLOSED),
    (S.WAIT_CER, In.PEER_DISC): (P._a_lost, S.CLOSED),
    (S.WAIT_CER, In.STOP): (P._a_stop_connecting, S.CLOSED),
    (S.OPEN, In.RCV_MSG): (P._a_deliver, S.OPEN),
    (S.OPEN, In.RCV_CER): (P._a_cer_again, S.OPEN),
    (S.OPEN, In.RCV_DWR): (P._a_dwr, S.OPEN),
    (S.OPEN, In.RCV_DWA): (P._a_dwa, S.OPEN),
    (S.OPEN, In.RCV_DPR): (P._a_dpr, S.CLOSED),
    (S.OPEN, In.TIMEOUT): (P._a_watchdog, S.OPEN),
    (S.OPEN, In.PEER_DISC): (P._a_lost, S.CLOSED),
    (S.OPEN, In.STOP): (P._a_send_dpr, S.CLOSING),
    (S.CLOSING, In.RCV_MSG): (P._a_deliver, S.CLOSING),  # answers still arrive
    (S.CLOSING, In.RCV_DWR): (P._a_dwr, S.CLOSING),
    (S.CLOSING, In.RCV_DPR): (P._a_dpr, S.CLOSED),
    (S.CLOSING, In.RCV_DPA): (P._a_dpa, S.CLOSED),
    (S.CLOSING, In.TIMEOUT): (P._a_dpa, S.CLOSED),
    (S.CLOSING, In.PEER_DISC): (P._a_lost, S.CLOSED),
}
del S, In, P
