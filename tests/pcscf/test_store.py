"""The in-memory registration store: indexes and the expiry heap."""

from __future__ import annotations

from ims_core.pcscf import Binding, MemoryRegistrationStore, Registration, contact_key, impu_key
from ims_core.pcscf.registrations import RegistrationStore
from ims_core.sip import parse_uri


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
    assert s.by_flow(("UDP", "10.0.0.1", 5060)) == a
    assert s.by_impu("sip:alice@D;user=phone") == [a, b]
    assert s.by_impu("tel:+1555") == [b]
    assert s.by_contact("sip:alice@10.0.0.1:5062;transport=udp") == b
    assert s.by_contact("sip:alice@10.0.0.1") == a  # port 5060 by default
    assert s.remove(a.flow) == a
    assert s.by_impu("sip:alice@d") == [b]
    assert s.by_contact("sip:alice@10.0.0.1:5060") is None


def test_replacing_a_record_reindexes_it() -> None:
    s = MemoryRegistrationStore()
    s.save(reg(5060, 100.0, ("sip:old@d",)))
    s.save(reg(5060, 150.0, ("sip:new@d",)))
    assert s.by_impu("sip:old@d") == []
    assert len(s.by_impu("sip:new@d")) == 1
    assert s.next_expiry() == 150.0  # the stale 100.0 entry is skipped
    assert s.expire(120.0) == []
    assert len(s) == 1


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
    assert len(s) == 1
    assert len(s._heap) <= 2 * len(s) + 65
    assert s.next_expiry() == 100.0 + 9_999


def test_identity_keys() -> None:
    assert impu_key("sip:Alice@EXAMPLE.com;user=phone") == "sip:Alice@example.com"
    assert impu_key("<tel:+1-555-0100;phone-context=x>") == "tel:+15550100"
    assert contact_key(parse_uri("sip:ue@[2001:db8::1]")) == "sip:ue@[2001:db8::1]:5060"
    assert contact_key(parse_uri("sips:ue@h")) == "sips:ue@h:5061"
