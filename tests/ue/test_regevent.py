"""What a reg-event NOTIFY tells the UE: Subscription-State (RFC 6665 §8.2.3), the line
printed per NOTIFY, and network-initiated de-registration (TS 24.229 §5.1.1.7)."""

from __future__ import annotations

import pytest

from ims_core.reginfo import ContactInfo, Reginfo, RegistrationInfo
from ims_core.sip import (
    SipParseError,
    SubscriptionState,
    parse_subscription_state,
    refresh_delay,
)
from ims_core.ue.regevent import deregistration, describe, is_reg_event

from .notifier import document

IMPU = "sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
CONTACT = "sip:001010000000001@127.0.0.78:5070"


@pytest.mark.parametrize(("text", "expected"), [
    ("active;expires=600000", SubscriptionState("active", 600000)),
    ("Active ; expires=5", SubscriptionState("active", 5)),
    ("terminated;reason=deactivated", SubscriptionState("terminated", reason="deactivated")),
    ("terminated;reason=probation;retry-after=30",
     SubscriptionState("terminated", reason="probation", retry_after=30)),
    ("pending", SubscriptionState("pending")),
    ("someday;x=y", SubscriptionState("pending")),  # unknown states count as pending
])
def test_subscription_state(text: str, expected: SubscriptionState) -> None:
    assert parse_subscription_state(text) == expected


@pytest.mark.parametrize("text", ["", ";expires=4", "active;expires=-1", "active;;",
                                  "act ive"])
def test_bad_subscription_state(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_subscription_state(text)


def test_subscription_state_prints_back() -> None:
    assert str(parse_subscription_state("terminated;reason=rejected")) == \
        "terminated;reason=rejected"


@pytest.mark.parametrize(("value", "ours"), [
    ("reg", True), ("Reg ;foo=bar", True), ("reg;id=7", False), ("presence", False),
    (None, False), ("reg;=", False),
])
def test_reg_event_header(value: str | None, ours: bool) -> None:
    assert is_reg_event(value) is ours


def test_describe_names_each_registration_and_contact() -> None:
    tel = RegistrationInfo(aor="tel:+15550000001", id="r2", state="active", contacts=(
        ContactInfo(id="c2", state="active", event="created", uri=CONTACT, expires=599),))
    line = describe(document(IMPU, CONTACT, version=4, others=(tel,)),
                    parse_subscription_state("active;expires=600000"))
    assert line == (f"NOTIFY version=4 full [active;expires=600000]: {IMPU} active "
                    f"({CONTACT} active/registered expires=600); tel:+15550000001 active "
                    f"({CONTACT} active/created expires=599)")
    assert describe(None, SubscriptionState("pending")) == "NOTIFY [pending]: no body"


@pytest.mark.parametrize(("reg_state", "event", "expected", "again"), [
    ("terminated", "rejected", "rejected", False),  # RTR PERMANENT_TERMINATION
    ("terminated", "deactivated", "deactivated", True),  # e.g. NEW_SERVER_ASSIGNED
    ("active", "deactivated", "deactivated", True),  # our contact only
    ("terminated", "expired", "expired", True),
    ("active", "probation", "probation", True),
])
def test_the_network_ending_our_registration(reg_state: str, event: str, expected: str,
                                             again: bool) -> None:
    info = document(IMPU, CONTACT, reg_state=reg_state, contact_state="terminated",
                    event=event)
    gone = deregistration(info, IMPU, CONTACT)
    assert gone is not None and gone.event == expected and gone.may_register_again is again
    assert gone.message.startswith(f"network de-registered {IMPU}: {expected} (")
    if not again:
        assert gone.message.endswith("rejected (do not re-register)")


def test_a_terminated_registration_with_our_contact_unnamed() -> None:
    info = document(IMPU, "sip:001010000000001@10.9.9.9:5060", reg_state="terminated",
                    contact_state="terminated", event="rejected")
    gone = deregistration(info, IMPU, CONTACT)
    assert gone is not None and gone.event == "rejected"
    empty = Reginfo(0, "full", (RegistrationInfo(IMPU, "r1", "terminated"),))
    gone = deregistration(empty, IMPU, CONTACT)
    assert gone is not None and gone.event == "terminated" and gone.may_register_again


def test_other_changes_are_no_deregistration() -> None:
    assert deregistration(document(IMPU, CONTACT), IMPU, CONTACT) is None
    other = document(IMPU, "sip:001010000000001@10.9.9.9:5060", contact_state="terminated",
                     event="unregistered")  # another device of ours left
    assert deregistration(other, IMPU, CONTACT) is None
    assert deregistration(document("sip:else@example.com", CONTACT, reg_state="terminated",
                                   contact_state="terminated", event="rejected"),
                          IMPU, CONTACT) is None
    # The same contact and identity written other ways still count (RFC 3261 §19.1.4).
    upper = document(IMPU.replace("ims.mnc001", "IMS.MNC001"), CONTACT.replace("sip:", "SIP:"),
                     contact_state="terminated", event="deactivated")
    assert deregistration(upper, IMPU, CONTACT) is not None


@pytest.mark.parametrize(("granted", "delay"), [(3600, 3000), (1201, 601), (1200, 600),
                                                 (3, 1.5)])
def test_refresh_delay(granted: int, delay: float) -> None:
    assert refresh_delay(granted) == delay
