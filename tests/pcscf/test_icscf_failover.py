"""A home network with several I-CSCFs (`home_networks` list): a REGISTER goes to the
next when one does not answer (RFC 3261 §16.6, §16.9; `ims_core.cscf.failover`). Fake
clock, no sockets."""

from __future__ import annotations

import pytest

from ims_core.config import ConfigError, from_dict
from ims_core.pcscf import PcscfConfig, PcscfCore
from ims_core.proxy import Send
from ims_core.sip import Response, parse_message
from ims_core.sip.addressing import Destination, Source
from tests.sipmsg import answer, requests, responses

from .messages import CHALLENGE, DOMAIN, ICSCF, UE, Harness, config, register

ICSCF2 = ("192.0.2.21", 5060)
ICSCF3 = ("192.0.2.22", 5060)
TIMEOUT = 3.0


def harness(*hops: tuple[str, int], timeout: float = TIMEOUT) -> Harness:
    listed = tuple(f"{h}:{p}" for h, p in (hops or (ICSCF, ICSCF2, ICSCF3)))
    return Harness(PcscfCore(config(home_networks={DOMAIN: listed}, icscf_timeout=timeout)))


def hop(send: Send) -> tuple[str, int]:
    return send.dest.host, send.dest.port


def first(h: Harness) -> Send:
    [send] = requests(h.rx(register()))
    return send


def reply(h: Harness, send: Send, status: int, extra: str = "") -> list[Send]:
    return h.rx(answer(send.data, status, extra=extra), Source("UDP", *hop(send)))


def test_the_single_string_form_still_loads() -> None:
    cfg = from_dict(PcscfConfig, {"home_networks": {DOMAIN: "192.0.2.20"}})
    assert cfg.i_cscf_lists() == {DOMAIN: (Destination("", "192.0.2.20", 5060),)}
    assert cfg.i_cscfs() == {DOMAIN: Destination("", "192.0.2.20", 5060)}


def test_a_list_loads_in_order_and_the_first_is_the_home_i_cscf() -> None:
    cfg = from_dict(PcscfConfig, {"home_networks": {DOMAIN.upper(): ["192.0.2.20",
                                                                      "192.0.2.21:5070"]}})
    assert cfg.i_cscf_lists() == {DOMAIN: (Destination("", "192.0.2.20", 5060),
                                           Destination("", "192.0.2.21", 5070))}
    assert cfg.i_cscfs() == {DOMAIN: Destination("", "192.0.2.20", 5060)}


@pytest.mark.parametrize(("value", "message"), [
    ([], "at least one I-CSCF"),
    (["192.0.2.20", "sip:bob@x"], "home_networks"),
])
def test_bad_lists_are_refused(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(PcscfConfig, {"home_networks": {DOMAIN: value}})


def test_icscf_timeout_is_checked() -> None:
    with pytest.raises(ConfigError, match="icscf_timeout"):
        config(icscf_timeout=-1)


def test_a_transport_error_moves_the_register_to_the_next_icscf() -> None:
    h = harness()
    send = first(h)
    assert hop(send) == ICSCF
    h.core.send_failed(send, h.now)
    [send2] = requests(h.core.data_to_send())
    assert hop(send2) == ICSCF2
    assert parse_message(send2.data).headers.get("path")  # the same REGISTER, as prepared
    [r] = responses(reply(h, send2, 401, f"WWW-Authenticate: {CHALLENGE}\r\n"))
    assert r.status == 401


def test_a_silent_icscf_is_left_after_icscf_timeout() -> None:
    h = harness()
    send = first(h)
    out = h.advance(TIMEOUT - 0.1)
    assert {hop(s) for s in out} <= {ICSCF}  # retransmissions to the first only
    out = h.advance(0.2)
    assert ICSCF2 in {hop(s) for s in requests(out)}
    # A late answer from the first goes nowhere.
    assert [s for s in reply(h, send, 401) if isinstance(parse_message(s.data), Response)] == []


def test_503_then_timeout_then_504_for_the_ue() -> None:
    h = harness()
    send = first(h)
    [send2] = requests(reply(h, send, 503))
    assert hop(send2) == ICSCF2
    out = h.advance(TIMEOUT + 0.1)
    [send3] = [s for s in requests(out) if hop(s) == ICSCF3]
    [r] = responses(reply(h, send3, 503))
    assert r.status == 504
    assert [s.dest for s in h.core.data_to_send()] == []


def test_an_answer_other_than_408_or_503_is_relayed() -> None:
    h = harness()
    send = first(h)
    [r] = responses(reply(h, send, 403))
    assert r.status == 403


def test_one_icscf_keeps_the_old_behaviour() -> None:
    h = harness(ICSCF)
    send = first(h)
    assert h.advance(TIMEOUT + 1) and not responses(h.core.data_to_send())
    h.core.send_failed(send, h.now)
    [r] = responses(h.core.data_to_send())
    assert r.status == 500  # RFC 3261 §16.7 step 6


def test_every_listed_icscf_is_a_core_node_and_registration_works() -> None:
    h = harness()
    assert h.register().status == 200
    assert all(h.core.from_core(Source("UDP", *a)) for a in (ICSCF, ICSCF2, ICSCF3))
    assert not h.core.from_core(Source("UDP", *UE))
