"""The calls in progress at the S-CSCF (``calls_active``), sans-I/O: the INVITE dialogs
it Record-Routed (RFC 3261 §12; TS 24.229 §5.4.3.2, §5.4.3.3).

A dialog counts from the first 2xx to an initial INVITE the S-CSCF Record-Routed that
passes it upstream: each 2xx of a forked INVITE is a dialog of its own (its To tag),
and one seen again (a retransmission; both legs of a call served by this S-CSCF)
counts once. It ends with the first BYE within it, from either side; a re-INVITE is no
new call. An ended dialog's key is remembered (the last ``ENDED_KEPT``): a 2xx
retransmission that arrives after the BYE (forwarded in RFC 6026's Accepted state) must
not count the call again, and a dialog id never comes back. So that a lost BYE cannot
keep a call counted for ever, a dialog is dropped
``max_age`` seconds after its INVITE arrived (12 h by default: longer calls are rare, and
they only drop out of the count) — checked, oldest first, when another call is answered
and each time the node handles its timers — and the oldest go beyond ``max_calls``.
"""

from __future__ import annotations

from ims_core.sip import Message, SipParseError

MAX_AGE = 12 * 3600.0  # seconds
MAX_CALLS = 100_000
ENDED_KEPT = 10_000  # ended dialogs remembered against late 2xx retransmissions

DialogKey = tuple[str, str, str]  # Call-ID and the two tags, in order: either side sends


def dialog_key(message: Message) -> DialogKey | None:
    """The key of the dialog `message` (a 2xx to the INVITE, a BYE) belongs to; None
    when its Call-ID, From or To cannot be read."""
    try:
        call_id, ours, theirs = message.call_id, message.from_tag or "", message.to_tag or ""
    except SipParseError:
        return None
    return (call_id, ours, theirs) if ours <= theirs else (call_id, theirs, ours)


class CallTracker:
    """Answered INVITE dialogs by key, oldest first (see the module docstring)."""

    def __init__(self, max_age: float = MAX_AGE, max_calls: int = MAX_CALLS) -> None:
        self.max_age = max_age
        self.max_calls = max_calls
        self._answered: dict[DialogKey, float] = {}  # when, in the order they came
        self._ended: dict[DialogKey, None] = {}  # the last ENDED_KEPT, oldest first

    def __len__(self) -> int:
        return len(self._answered)

    def answered(self, response: Message, now: float) -> None:
        """A 2xx to an initial INVITE we Record-Routed passed (`now`: when the INVITE
        came)."""
        key = dialog_key(response)
        if key is None or key in self._answered or key in self._ended:
            return
        self._answered[key] = now
        self.expire(now)
        while len(self._answered) > self.max_calls:
            del self._answered[next(iter(self._answered))]

    def ended(self, bye: Message) -> None:
        """A BYE within a dialog (either direction)."""
        key = dialog_key(bye)
        if key is not None and self._answered.pop(key, None) is not None:
            ended = self._ended
            ended[key] = None
            if len(ended) > ENDED_KEPT:
                del ended[next(iter(ended))]

    def expire(self, now: float) -> None:
        """Forget the dialogs answered `max_age` or more ago."""
        calls = self._answered
        oldest = now - self.max_age
        while calls:
            key, at = next(iter(calls.items()))
            if at > oldest:
                return
            del calls[key]
