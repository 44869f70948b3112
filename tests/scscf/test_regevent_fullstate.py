"""The reginfo elements of a NOTIFY (RFC 3680 §5; TS 24.229 §5.4.2.1.2): `full_state`
writes the text without building the document model, and must write exactly what
`reginfo.encode_registrations` writes for the model `registrations` builds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims_core import reginfo
from ims_core.scscf import Registration, regevent
from ims_core.scscf.store import Binding

NOW = 1000.0
IDENTITIES = ("sip:user@home.test", "sip:+15550001@home.test", "tel:+15550001")
INSTANCE = ("+sip.instance", '"<urn:gsma:imei:35209900-176148-0>"')  # & < > to escape


def _binding(n: int, expires_in: float, params: tuple[tuple[str, str | None], ...] = ()
             ) -> Binding:
    return Binding(uri=f"sip:user@192.0.2.{n}:5060;transport=udp", expires_at=NOW + expires_in,
                   impi="user@home.test", call_id=f"c{n}", cseq=1, params=params)


def _registration(bindings: list[Binding], barred: frozenset[str] = frozenset()
                  ) -> Registration:
    reg = Registration(IDENTITIES[0], "user@home.test", IDENTITIES, barred=barred)
    for b in bindings:
        reg.bindings[b.uri.lower()] = b
    return reg


def _reference(reg: Registration, change: regevent.Change) -> str:
    return reginfo.encode_registrations(regevent.registrations(reg, change, NOW))


def test_a_refresh_reads_as_the_model() -> None:
    reg = _registration([_binding(1, 600)])
    change = regevent.Change(events={"sip:user@192.0.2.1:5060;transport=udp": "refreshed"})
    text = regevent.full_state(reg, change, NOW)
    assert text == _reference(reg, change)
    assert text.count('event="refreshed"') == len(IDENTITIES)


CASES = {
    "no change": regevent.Change(),
    "new contact": regevent.Change(events={"sip:user@192.0.2.2:5060;transport=udp":
                                           "registered"}),
    "contact gone": regevent.Change(gone=(("k9", _binding(9, 0), "unregistered"),)),
    "identity added": regevent.Change(added=frozenset({IDENTITIES[2]})),
    "identity dropped": regevent.Change(dropped=("sip:old@home.test",)),
    "ended": regevent.Change(gone=(("k1", _binding(1, 0), "deactivated"),), ended=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_kind_of_change_reads_as_the_model(name: str) -> None:
    reg = _registration([_binding(1, 600, (INSTANCE,)), _binding(2, 300), _binding(3, 300.5)],
                        barred=frozenset({IDENTITIES[1]}))
    change = CASES[name]
    assert regevent.full_state(reg, change, NOW) == _reference(reg, change)


def test_no_identity_left_writes_nothing() -> None:
    reg = _registration([_binding(1, 600)], barred=frozenset(IDENTITIES))
    assert regevent.full_state(reg, regevent.Change(), NOW) == "" == _reference(
        reg, regevent.Change())


_EVENTS = st.sampled_from(sorted(reginfo.CONTACT_EVENTS))
_PARAMS = st.lists(st.tuples(st.sampled_from(["+sip.instance", "reg-id", "video", "x&y"]),
                             st.none() | st.text("a<>&\"' 1", max_size=6)), max_size=2)


@given(expiries=st.lists(st.floats(-5, 4000), min_size=0, max_size=3),
       params=_PARAMS, events=st.lists(_EVENTS, max_size=3), gone=st.integers(0, 2),
       added=st.sets(st.sampled_from(IDENTITIES)), dropped=st.integers(0, 2),
       ended=st.booleans(), barred=st.sets(st.sampled_from(IDENTITIES)))
def test_full_state_is_the_model_written_out(
        expiries: list[float], params: list[tuple[str, str | None]], events: list[str],
        gone: int, added: set[str], dropped: int, ended: bool, barred: set[str]) -> None:
    bindings = [_binding(n, e, tuple(params)) for n, e in enumerate(expiries)]
    reg = _registration(bindings, frozenset(barred))
    keys = list(reg.bindings)
    change = regevent.Change(
        events={k: e for k, e in zip(keys, events, strict=False)},
        gone=tuple((f"g{n}", _binding(50 + n, 0, tuple(params)), "expired")
                   for n in range(gone)),
        added=frozenset(added), dropped=tuple(f"sip:d{n}@home.test" for n in range(dropped)),
        ended=ended)
    assert regevent.full_state(reg, change, NOW) == _reference(reg, change)
