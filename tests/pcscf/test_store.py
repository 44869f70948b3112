"""The in-memory registration store: indexes and the expiry heap."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ims_core.identity import uri_key
from ims_core.pcscf import Binding, MemoryRegistrationStore, Registration
from ims_core.pcscf.registrations import RegistrationStore, select
from ims_core.sip import SipParseError


def reg(port: int, expires: float, impus: tuple[str, ...] = ("sip:alice@d",)) -> Registration:
    return Registration(
        flow=("UDP", "10.0.0.1", port),
        bindings=(Binding(f"sip:alice@10.0.0.1:{port}", expires),),
        impus=impus, service_route=("<sip:orig@s;lr>",), path="<sip:term@p;lr>",
        registered_impu=impus[0],
    )


def test_it_satisfies_the_protocol() -> None:
    store: RegistrationStore = MemoryRegistrationStore()
    assert len(store) == 0


def test_lookups_by_flow_impu_and_contact() -> None:
    s = MemoryRegistrationStore()
    a, b = reg(5060, 100.0), reg(5062, 200.0, ("sip:alice@d", "tel:+1-555"))
    s.save(a)
    s.save(b)
    assert s.by_flow(("UDP", "10.0.0.1", 5060)) == [a]
    assert s.get(a.key) == a and a.key == (a.flow, "sip:alice@d")
    assert s.by_impu("sip:alice@D;user=phone") == [a, b]
    assert s.by_impu("tel:+1555") == [b]
    assert s.by_contact("sip:alice@10.0.0.1:5062") == b
    assert s.by_contact("sip:alice@10.0.0.1:5060") == a
    assert s.remove(a.key) == a
    assert s.remove(a.key) is None
    assert s.by_impu("sip:alice@d") == [b]
    assert s.by_contact("sip:alice@10.0.0.1:5060") is None
    assert s.by_flow(a.flow) == [] and s.get(a.key) is None


def test_replacing_a_record_reindexes_it() -> None:
    s = MemoryRegistrationStore()
    s.save(reg(5060, 100.0, ("sip:alice@d", "sip:old@d")))
    s.save(reg(5060, 150.0, ("sip:alice@d", "sip:new@d")))
    assert s.by_impu("sip:old@d") == []
    assert len(s.by_impu("sip:new@d")) == 1
    assert s.next_expiry() == 150.0  # the stale 100.0 entry is skipped
    assert s.expire(120.0) == []
    assert len(s) == 1


def test_a_refresh_with_the_same_identities_moves_only_its_contacts() -> None:
    s = MemoryRegistrationStore()
    first = reg(5060, 100.0, ("sip:alice@d", "tel:+1555"))
    s.save(first)
    moved = replace(first, bindings=(Binding("sip:alice@10.0.0.9:5070", 200.0),))
    s.save(moved)
    assert s.by_impu("tel:+1555") == [moved] and s.by_impu("sip:alice@d") == [moved]
    assert s.by_contact("sip:alice@10.0.0.1:5060") is None
    assert s.by_contact("sip:alice@10.0.0.9:5070") == moved
    assert s.remove(moved.key) == moved
    assert s.by_impu("tel:+1555") == [] and s.by_contact("sip:alice@10.0.0.9:5070") is None


def on_flow(user: str, expires: float, contact: str | None = None) -> Registration:
    """`user`'s registration over the one flow 10.0.0.1:5060 they all share."""
    return Registration(
        flow=("UDP", "10.0.0.1", 5060),
        bindings=(Binding(contact or f"sip:{user}@10.0.0.1:5060", expires),),
        impus=(f"sip:{user}@d",), service_route=(), path="<sip:term@p;lr>",
        registered_impu=f"sip:{user}@d")


def test_a_flow_carries_a_record_per_registered_identity() -> None:
    """RFC 3261 §10: several AORs register over one flow; each keeps its own record."""
    s = MemoryRegistrationStore()
    a, b, c = on_flow("a", 100.0), on_flow("b", 200.0), on_flow("c", 300.0)
    for r in (a, b, c):
        s.save(r)
    flow = a.flow
    assert len(s) == 3 and s.by_flow(flow) == [a, b, c]
    assert s.by_impu("sip:b@d") == [b] and s.by_contact("sip:b@10.0.0.1:5060") == b
    a2 = on_flow("a", 400.0)
    s.save(a2)  # a refresh keeps its place among the flow's records
    assert s.by_flow(flow) == [a2, b, c] and s.by_impu("sip:a@d") == [a2]
    assert s.remove(b.key) == b
    assert s.by_flow(flow) == [a2, c] and s.by_impu("sip:b@d") == []
    assert [r.registered_impu for r in s.expire(350.0)] == ["sip:c@d"]
    assert s.by_flow(flow) == [a2] and s.get(a2.key) == a2


def test_a_contact_shared_by_identities_finds_the_newest() -> None:
    s = MemoryRegistrationStore()
    contact = "sip:ue@10.0.0.1:5060"
    a, b = on_flow("a", 100.0, contact), on_flow("b", 200.0, contact)
    s.save(a)
    s.save(b)
    assert s.all_by_contact(contact) == [a, b] and s.by_contact(contact) == b
    a = on_flow("a", 300.0, contact)
    s.save(a)  # a refresh keeps its place
    assert s.all_by_contact(contact) == [a, b] and s.by_contact(contact) == b
    s.remove(b.key)
    assert s.all_by_contact(contact) == [a] and s.by_contact(contact) == a
    s.remove(a.key)
    assert s.all_by_contact(contact) == [] and s.by_contact(contact) is None


def test_expire_pops_only_due_records() -> None:
    s = MemoryRegistrationStore()
    for i in range(5):
        s.save(reg(6000 + i, 100.0 + i))
    assert [r.flow[2] for r in s.expire(102.0)] == [6000, 6001, 6002]
    assert s.next_expiry() == 103.0
    assert len(s) == 2


def test_heap_stays_bounded_under_refreshes() -> None:
    s = MemoryRegistrationStore()
    for i in range(10_000):
        s.save(reg(5060, 100.0 + i))
    assert len(s) == 1 and len(s.by_flow(("UDP", "10.0.0.1", 5060))) == 1
    assert s._expiry.size <= 2 * len(s) + 65
    assert s.next_expiry() == 100.0 + 9_999


def test_contacts_match_as_uris() -> None:
    """RFC 3261 §19.1.4: what the S-CSCF sends to a contact as registered finds it (host
    case, escapes and other parameters aside); an absent port is not 5060 and a
    transport parameter on one side only makes another URI."""
    s = MemoryRegistrationStore()
    a = reg(5060, 100.0)
    s.save(a)
    assert s.by_contact("sip:alice@10.0.0.1:5060") == a
    assert s.by_contact("sip:%61lice@10.0.0.1:5060;ob") == a
    assert s.by_contact("sip:alice@10.0.0.1") is None
    assert s.by_contact("sip:alice@10.0.0.1:5060;transport=tcp") is None
    assert s.by_contact("sip:Alice@10.0.0.1:5060") is None  # the user part is case-sensitive
    assert a.binding_for("sip:alice@10.0.0.1:5060;ob") == a.bindings[0]
    assert a.binding_for("sip:alice@10.0.0.1") is None
    portless = Registration(
        flow=("UDP", "10.0.0.2", 5060), bindings=(Binding("sip:bob@EXAMPLE.net", 100.0),),
        impus=("sip:bob@d",), service_route=(), path="<sip:term@p;lr>",
        registered_impu="sip:bob@d")
    s.save(portless)
    assert s.by_contact("sip:bob@example.net") == portless
    assert s.by_contact("sip:bob@example.net:5060") is None


def test_a_binding_carries_its_uri_key() -> None:
    """Worked out once, when the binding is made (or taken as given, already worked out),
    and kept by a copy with another expiry."""
    b = Binding("sip:%61lice@EXAMPLE.net:5060;ob", 100.0)
    assert b.key == uri_key("sip:alice@example.net:5060")
    assert replace(b, expires=5.0).key == b.key
    assert Binding(b.uri, 1.0, "given").key == "given"
    with pytest.raises(SipParseError):
        Binding("not a uri", 1.0)
    a = reg(5060, 100.0)
    key = uri_key("sip:alice@10.0.0.1:5060")
    assert a.binding_for("ignored when the key is given", key) == a.bindings[0]


def test_identities_match_as_public_identities() -> None:
    s = MemoryRegistrationStore()
    b = reg(5062, 200.0, ("sip:alice@d", "tel:+1-555"))
    s.save(b)
    assert s.by_impu("<sip:alice@D;user=phone>") == [b]
    assert s.by_impu("tel:+1.555") == [b]
    assert s.by_impu("sip:alice@d:5070") == []  # an explicit port names another identity


def test_select_by_claimed_identity_else_the_newest() -> None:
    a, b = on_flow("a", 100.0), on_flow("b", 100.0)
    shared = replace(on_flow("c", 100.0), impus=("sip:c@d", "tel:+1555"))
    also = replace(on_flow("d", 100.0), impus=("sip:d@d", "tel:+1555", "sip:c@d"))
    regs = [a, b, shared, also]
    assert select([], ["sip:a@d"]) is None
    assert select([a], ["sip:b@d"]) == a  # one on the flow: that one, whatever is claimed
    assert select(regs, ["sip:a@d"]) == a
    assert select(regs, ["sip:x@d", "sip:b@d"]) == b  # the first claimed one served
    assert select(regs, ["sip:b@d", "sip:a@d"]) == b
    assert select(regs, ["tel:+1555"]) == also  # in two implicit sets: the newer
    assert select(regs, ["sip:c@d"]) == shared  # its own registration before a set
    assert select(regs, ["sip:x@d"]) == also  # nothing served: the newest
    assert select(regs, []) == also
