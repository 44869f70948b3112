"""What a NOTIFY of the reg event package tells a UE, without I/O: its
Subscription-State (RFC 6665 §8.2.3), one printable line per NOTIFY, and whether the
network de-registered the UE (TS 24.229 §5.1.1.7; RFC 3680 §5.3 contact events)."""

from __future__ import annotations

from dataclasses import dataclass

from ims_core.identity import same_identity, uri_equal
from ims_core.reginfo import Reginfo, RegistrationInfo
from ims_core.sip import SipParseError
from ims_core.sip.params import parse_generic_params

EVENT = "reg"
SUBSCRIPTION_STATES = frozenset({"active", "pending", "terminated"})


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """``Subscription-State: active;expires=600`` or ``terminated;reason=deactivated``."""

    value: str
    expires: int | None = None
    reason: str | None = None
    retry_after: int | None = None

    @property
    def terminated(self) -> bool:
        return self.value == "terminated"

    def __str__(self) -> str:
        out = self.value
        for name, v in (("reason", self.reason), ("expires", self.expires),
                        ("retry-after", self.retry_after)):
            if v is not None:
                out += f";{name}={v}"
        return out


def parse_subscription_state(text: str) -> SubscriptionState:
    """The header value; SipParseError (400) for anything else. Unknown states count as
    ``pending`` (RFC 6665 §8.2.3 lets new ones appear); unknown parameters are ignored."""
    head, _, _ = text.partition(";")
    value = head.strip().lower()
    if not value or not value.replace("-", "").isalnum():
        raise SipParseError(f"Bad Subscription-State {text!r}")
    params = {n.lower(): v for n, v in parse_generic_params(text, len(head))}

    def number(name: str) -> int | None:
        raw = params.get(name)
        if raw is None:
            return None
        if not raw.isdigit():
            raise SipParseError(f"Bad Subscription-State {name} {raw!r}")
        return int(raw)

    return SubscriptionState(
        value=value if value in SUBSCRIPTION_STATES else "pending",
        expires=number("expires"), reason=params.get("reason"),
        retry_after=number("retry-after"))


def is_reg_event(value: str | None) -> bool:
    """An Event header naming the reg package (RFC 6665 §8.2.1; no ``id`` is used)."""
    if value is None:
        return False
    package, _, _ = value.partition(";")
    try:
        params = parse_generic_params(value, len(package))
    except SipParseError:
        return False
    return package.strip().lower() == EVENT and all(n.lower() != "id" for n, _ in params)


# -- one line per NOTIFY --------------------------------------------------------------------
def describe(info: Reginfo | None, state: SubscriptionState, *, stale: bool = False) -> str:
    """``NOTIFY version=1 full [active;expires=599]: sip:A active (sip:C active/registered
    expires=600); ...``: the document, each registration and its contacts."""
    head = "NOTIFY"
    if info is not None:
        head += f" version={info.version} {info.state}"
    head += f" [{state}]"
    if stale:
        return head + ": an old version, ignored"
    if info is None:
        return head + ": no body"
    return head + ": " + ("; ".join(_registration(r) for r in info.registrations) or "empty")


def _registration(reg: RegistrationInfo) -> str:
    contacts = ", ".join(
        f"{c.uri} {c.state}/{c.event}" + (f" expires={c.expires}" if c.expires is not None
                                          else "")
        for c in reg.contacts)
    return f"{reg.aor} {reg.state} ({contacts or 'no contacts'})"


# -- network-initiated de-registration -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Deregistered:
    """The network ended the UE's registration of ``aor``; ``event`` is what it said
    about the UE's contact (RFC 3680 §5.3), or ``terminated`` when it said nothing."""

    aor: str
    event: str

    @property
    def may_register_again(self) -> bool:
        # TS 24.229 §5.1.1.7: "rejected" forbids an automatic re-registration.
        return self.event != "rejected"

    @property
    def message(self) -> str:
        advice = ("do not re-register" if not self.may_register_again else
                  "register again later" if self.event == "probation" else "may register again")
        return f"network de-registered {self.aor}: {self.event} ({advice})"


def deregistration(info: Reginfo, aor: str, contact: str) -> Deregistered | None:
    """Whether ``info`` ends the registration of ``aor`` from ``contact``: its
    registration is terminated, or that contact is (TS 24.229 §5.1.1.7). A document
    that does not mention ``aor`` says nothing."""
    reg = next((r for r in info.registrations if same_identity(r.aor, aor)), None)
    if reg is None:
        return None
    mine = next((c for c in reg.contacts if uri_equal(c.uri, contact)), None)
    if mine is not None and not mine.active:
        return Deregistered(reg.aor, mine.event)
    if reg.state != "terminated":
        return None
    if mine is not None:
        return Deregistered(reg.aor, mine.event)
    # Our contact not named (written another way): the other contacts' word stands.
    events = {c.event for c in reg.contacts if not c.active}
    event = ("rejected" if "rejected" in events else
             events.pop() if len(events) == 1 else "terminated")
    return Deregistered(reg.aor, event)
