"""What a NOTIFY of the reg event package tells a UE, without I/O: whether it is one
(its Event), one printable line per NOTIFY, and whether the network de-registered the
UE (TS 24.229 §5.1.1.7; RFC 3680 §5.3 contact events). Its Subscription-State is read by
:func:`ims_core.sip.parse_subscription_state`."""

from __future__ import annotations

from dataclasses import dataclass

from ims_core.identity import same_identity, uri_equal
from ims_core.reginfo import EVENT_PACKAGE, Reginfo, RegistrationInfo
from ims_core.sip import SubscriptionState, is_event


def is_reg_event(value: str | None) -> bool:
    """An Event header naming the reg package without ``id``, as the UE's SUBSCRIBE
    does (RFC 6665 §4.1.2.4: a NOTIFY must match it)."""
    return is_event(value, EVENT_PACKAGE)


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
