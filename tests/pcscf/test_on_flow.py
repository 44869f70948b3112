"""`on_flow`: which registration over a flow a UE's request belongs to, found through
the store's indexes (one SIPp socket carries thousands of UEs): the same answers as
`select` over every live registration on the flow, without listing them."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from ims_core.identity import impu_key
from ims_core.pcscf import MemoryRegistrationStore, Registration
from ims_core.pcscf.registrations import FlowKey, on_flow, select

from .test_store import on_flow as registration_on_flow

FLOW: FlowKey = ("UDP", "10.0.0.1", 5060)


def live(store: MemoryRegistrationStore, now: float) -> list[Registration]:
    return [r for r in store.by_flow(FLOW) if r.expires > now]


def test_the_cases_of_select() -> None:
    store = MemoryRegistrationStore()
    a, b = registration_on_flow("a", 100.0), registration_on_flow("b", 100.0)
    shared = replace(registration_on_flow("c", 100.0), impus=("sip:c@d", "tel:+1555"))
    also = replace(registration_on_flow("d", 100.0), impus=("sip:d@d", "tel:+1555", "sip:c@d"))
    assert on_flow(store, FLOW, ["sip:a@d"], 0.0) is None
    store.save(a)
    assert on_flow(store, FLOW, ["sip:b@d"], 0.0) == a  # one on the flow: that one
    for r in (b, shared, also):
        store.save(r)
    for claimed in (["sip:a@d"], ["sip:x@d", "sip:b@d"], ["sip:b@d", "sip:a@d"],
                    ["tel:+1555"], ["sip:c@d"], ["sip:x@d"], []):
        keys = [impu_key(c) for c in claimed]
        assert on_flow(store, FLOW, keys, 0.0) == select(live(store, 0.0), keys), claimed
    assert on_flow(store, FLOW, ["sip:x@d"], 0.0) == also
    assert on_flow(store, FLOW, ["sip:x@d"], 150.0) is None  # all lapsed


@pytest.mark.parametrize("seed", range(20))
def test_agrees_with_select_on_random_flows(seed: int) -> None:
    rng = random.Random(seed)
    store = MemoryRegistrationStore()
    users = [f"u{i}" for i in range(12)]
    for user in rng.sample(users, 8):
        extra = tuple(f"sip:{u}@d" for u in rng.sample(users, rng.randrange(3)))
        r = registration_on_flow(user, rng.choice([50.0, 100.0]))
        store.save(replace(r, impus=(r.impus[0], *(e for e in extra if e != r.impus[0]))))
    for now in (0.0, 75.0):
        for _ in range(30):
            claimed = [impu_key(f"sip:{u}@d") for u in rng.sample(users, rng.randrange(3))]
            assert on_flow(store, FLOW, claimed, now) == select(live(store, now), claimed)


class Counting(MemoryRegistrationStore):
    listed = 0

    def by_flow(self, flow: FlowKey) -> list[Registration]:
        self.listed += 1
        return super().by_flow(flow)


def test_thousands_on_one_flow_are_never_listed() -> None:
    store = Counting()
    for n in range(5000):
        store.save(registration_on_flow(f"ue{n}", 100.0))
    newest = registration_on_flow("ue4999", 100.0)
    assert on_flow(store, FLOW, [impu_key("sip:stranger@d")], 0.0) == newest
    found = on_flow(store, FLOW, [impu_key("sip:ue17@d")], 0.0)
    assert found is not None and found.registered_impu == "sip:ue17@d"
    assert store.listed == 0
