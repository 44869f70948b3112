"""The in-memory registration store: look-ups under every identity, expiry heap, nonces."""

from __future__ import annotations

from ims_core.scscf import Binding, Challenge, MemoryStore, Registration


def reg(*expiries: float) -> Registration:
    r = Registration("sip:a@x", "a@x", ("sip:a@x", "tel:+1"))
    for i, e in enumerate(expiries):
        r.bindings[f"sip:c{i}@h"] = Binding(f"sip:c{i}@h", e, "a@x", "cid", 1)
    return r


def challenge(nonce: str, stale: float = 10.0, forget: float = 20.0) -> Challenge:
    return Challenge("a@x", "sip:a@x", nonce, "AKAv1-MD5", "Digest-AKAv1-MD5", "x", stale,
                     forget)


def test_registration_found_under_each_identity_and_removed() -> None:
    s = MemoryStore()
    r = reg(100.0)
    s.save(r)
    assert s.get("sip:a@x") is r and s.get("tel:+1") is r
    s.remove(r)
    assert s.get("tel:+1") is None and s.next_deadline() is None


def test_due_skips_rescheduled_entries() -> None:
    s = MemoryStore()
    r = reg(100.0, 200.0)
    s.save(r)
    assert s.next_deadline() == 100.0
    r.bindings["sip:c0@h"].expires_at = 300.0  # refreshed
    s.save(r)
    assert s.next_deadline() == 200.0
    assert s.due(150.0) == []
    assert s.due(200.0) == [r]
    assert s.due(1000.0) == []  # each due once until saved again
    r.drop_expired(200.0)
    s.save(r)
    assert s.next_deadline() == 300.0


def test_challenges_are_bounded_per_user_taken_once_and_purged() -> None:
    s = MemoryStore(max_challenges_per_user=2)
    for n in ("n1", "n2", "n3"):
        s.add_challenge(challenge(n))
    assert s.get_challenge("a@x", "n1") is None  # the oldest was dropped
    assert s.take_challenge("a@x", "n2") is not None
    assert s.take_challenge("a@x", "n2") is None
    assert s.pending_challenges == 1
    assert s.challenges_for("a@x") == [challenge("n3")]
    assert s.purge(19.0) == [] and s.purge(20.0) == [challenge("n3")]
    assert s.pending_challenges == 0 and s.next_deadline() is None
    assert s.challenges_for("a@x") == []


def test_remaining_is_not_rounded_up_by_floating_point_noise() -> None:
    now = 15959.12444201375
    b = Binding("sip:c@h", now + 600, "a@x", "cid", 1)
    assert b.expires_at - now != 600  # the noise is real
    assert b.remaining(now) == 600 and b.remaining(now + 0.5) == 600
    assert b.remaining(now + 599.5) == 1 and b.remaining(now + 601) == 0
