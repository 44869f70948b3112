"""The registration store's other indexes: registrations by IMPI (RTR, PPR) and
reg-event subscriptions by dialog, with their expiries on the store's deadline heap."""

from __future__ import annotations

from ims_core.scscf import MemoryStore, Registration
from ims_core.scscf.store import Subscription
from ims_core.sip import Dialog

from .test_store import reg


def subscription(key: str, expires_at: float) -> Subscription:
    dialog = Dialog(call_id=key, local_uri="<sip:a@x>", local_tag="l", remote_uri="<sip:a@x>",
                    remote_target="sip:ue@192.0.2.1", remote_tag="r", remote_cseq=1)
    return Subscription(key=key, resource="sip:a@x", subscriber=("sip:a@x",), dialog=dialog,
                        transport="UDP", event="reg", expires_at=expires_at)


def test_registrations_by_impi() -> None:
    s = MemoryStore()
    one, two = reg(100.0), Registration("sip:b@x", "a@x", ("sip:b@x",))
    other = Registration("sip:c@x", "c@x", ("sip:c@x",))
    for r in (one, two, other):
        s.save(r)
    s.save(one)  # saved again: still once
    assert s.by_impi("a@x") == [one, two] and s.by_impi("c@x") == [other]
    s.remove(one)
    assert s.by_impi("a@x") == [two]
    s.remove(two)
    assert s.by_impi("a@x") == []


def test_subscriptions_found_by_dialog_expire_and_go_with_the_registration() -> None:
    s = MemoryStore()
    r = reg(1000.0)
    r.subscriptions["d1"] = subscription("d1", 100.0)
    r.subscriptions["d2"] = subscription("d2", 200.0)
    s.save(r)
    assert s.by_dialog("d1") is r and s.by_dialog("nope") is None
    assert s.next_deadline() == 100.0
    assert s.due_subscriptions(99.0) == []
    assert s.due_subscriptions(100.0) == [(r, r.subscriptions["d1"])]
    assert s.remove_subscription(r, "d1") is not None
    assert "d1" not in r.subscriptions and s.by_dialog("d1") is None
    r.subscriptions["d2"].expires_at = 300.0  # refreshed
    s.save(r)
    assert s.next_deadline() == 300.0
    s.remove(r)
    assert s.by_dialog("d2") is None and s.next_deadline() is None
    assert s.subscription_count == 0


def test_a_new_implicit_set_keeps_the_subscriptions() -> None:
    """The core re-indexes a registration whose identities change by remove + save."""
    s = MemoryStore()
    r = reg(1000.0)
    r.subscriptions["d1"] = subscription("d1", 100.0)
    s.save(r)
    s.remove(r)
    r.identities = ("sip:a@x", "sip:new@x")
    s.save(r)
    assert s.get("sip:new@x") is r and s.get("tel:+1") is None
    assert s.by_dialog("d1") is r and s.by_impi("a@x") == [r]
    assert s.next_deadline() == 100.0
