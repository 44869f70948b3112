"""A dialog (RFC 3261 §12) from both sides: the UAC establishing it from the 2xx
(§12.1.2), the UAS from the request (§12.1.1), the requests built within it (§12.2.1.1,
strict routers included), and the checks on the ones that arrive (§12.2.2: matching,
CSeq order, target refresh)."""

from __future__ import annotations

import dataclasses

import pytest

from ims_core.sip import TARGET_REFRESH, Dialog, Request, Response, SipParseError
from tests.sipmsg import answer, build_request

ALICE = "sip:alice@example.com"
BOB = "sip:bob@example.net"
BOB_UA = "sip:bob@192.0.2.20:5070"
ALICE_UA = "sip:alice@192.0.2.10:5060"
OUTBOUND = "<sip:p1.example.com;lr>"
RR = ("<sip:p1.example.com;lr>", "<sip:p2.example.net;lr>")  # as the 2xx carries them
VIA = "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1"


def uac() -> Dialog:
    """Alice's dialog before the 2xx: it describes her first request."""
    return Dialog(call_id="c1@alice", local_uri=f'"Alice" <{ALICE}>', local_tag="a1",
                  remote_uri=f"<{BOB}>", remote_target=BOB, route_set=(OUTBOUND,))


def first_request(d: Dialog, method: str = "SUBSCRIBE") -> Request:
    req = d.request(method, (("Contact", f"<{ALICE_UA}>"), ("Event", "reg")))
    req.push_via(VIA)  # the UA adds its own Via
    return req


def ok(req: Request, *, contact: str | None = f"<{BOB_UA}>", to_tag: str | None = "b1",
       record_route: tuple[str, ...] = RR) -> Response:
    extra = "".join(f"Record-Route: {v}\r\n" for v in record_route)
    if contact is not None:
        extra += f"Contact: {contact}\r\n"
    return answer(req, 200, to_tag=to_tag, extra=extra)


def established_uac() -> Dialog:
    d = uac()
    d.establish_by_response(ok(first_request(d)))
    return d


def incoming(method: str = "NOTIFY", *, cseq: int = 1, call_id: str = "c1@alice",
             from_tag: str | None = "b1", to_tag: str = "a1",
             contact: str | None = f"<{BOB_UA}>", record_route: tuple[str, ...] = ()
             ) -> Request:
    """Bob's request in Alice's dialog."""
    headers = [f"Record-Route: {v}" for v in record_route]
    if contact is not None:
        headers.append(f"Contact: {contact}")
    from_ = f"<{BOB}>" + (f";tag={from_tag}" if from_tag is not None else "")
    return build_request(method, ALICE_UA, vias=["SIP/2.0/UDP 192.0.2.20:5070;branch=z9hG4bKb"],
                         from_=from_, to=f"<{ALICE}>;tag={to_tag}", call_id=call_id,
                         cseq=cseq, headers=headers)


def subscribe_in(*, contact: str | None = f"<{ALICE_UA}>", from_tag: str | None = "a1"
                 ) -> Request:
    """Alice's initial SUBSCRIBE as Bob, its UAS, receives it."""
    headers = [f"Record-Route: {v}" for v in RR] + ["Event: reg"]
    if contact is not None:
        headers.append(f"Contact: {contact}")
    from_ = f'"Alice" <{ALICE}>' + (f";tag={from_tag}" if from_tag is not None else "")
    return build_request("SUBSCRIBE", BOB, vias=[VIA], from_=from_, to=f"<{BOB}>;x=1",
                         call_id="c1@alice", cseq=7, headers=headers)


# -- the UAC ----------------------------------------------------------------------------
def test_the_first_request_uses_the_preloaded_route_and_no_via() -> None:
    d = uac()
    req = d.request("SUBSCRIBE", (("Event", "reg"),))
    assert "via" not in req.headers
    assert req.uri_text == BOB and req.headers.values("route") == [OUTBOUND]
    assert req.from_tag == "a1" and req.from_addr.display_name == "Alice"
    assert str(req.to_addr.uri) == BOB and req.to_tag is None
    assert req.call_id == "c1@alice" and (req.cseq.seq, req.cseq.method) == (1, "SUBSCRIBE")
    assert req.max_forwards == 70 and req.headers.get("event") == "reg"
    assert req.content_length == 0 and not d.established


def test_the_2xx_establishes_the_dialog_as_the_uac() -> None:
    d = established_uac()
    assert d.established and d.remote_tag == "b1"
    assert d.remote_target == BOB_UA
    assert d.route_set == tuple(reversed(RR))  # §12.1.2: Record-Route reversed
    assert d.remote_cseq is None  # nothing from Bob yet


def test_requests_within_the_dialog() -> None:
    d = established_uac()
    req = d.request("NOTIFY", (("Event", "reg"),), b"hello")
    assert req.uri_text == BOB_UA and req.headers.values("route") == list(reversed(RR))
    assert req.to_tag == "b1" and req.from_tag == "a1" and req.call_id == "c1@alice"
    assert req.cseq.seq == 2 and d.local_cseq == 2
    assert req.body == b"hello" and req.content_length == 5
    assert d.request("SUBSCRIBE").cseq.seq == 3


@pytest.mark.parametrize(("contact", "to_tag"), [
    (None, "b1"), (f"<{BOB_UA}>", None), (f"<{BOB_UA}>, <sip:bob@192.0.2.21>", "b1"),
    ("<tel:+15550100>", "b1"), ("*", "b1"),
])
def test_an_unusable_2xx_establishes_nothing(contact: str | None, to_tag: str | None) -> None:
    d = uac()
    before = dataclasses.replace(d)
    with pytest.raises(SipParseError):
        d.establish_by_response(ok(first_request(d), contact=contact, to_tag=to_tag))
    assert dataclasses.replace(d, local_cseq=0) == before and not d.established


# -- strict routing ---------------------------------------------------------------------
def test_a_strict_router_first_takes_the_request_uri() -> None:
    d = established_uac()
    d.route_set = ("<sip:strict.example.com;method=INVITE?h=v>", "<sip:p2.example.net;lr>")
    req = d.request("NOTIFY")
    assert req.uri_text == "sip:strict.example.com"  # §12.2.1.1, less method and headers
    assert req.headers.values("route") == ["<sip:p2.example.net;lr>", f"<{BOB_UA}>"]
    assert d.route_set[0] == "<sip:strict.example.com;method=INVITE?h=v>"  # kept


def test_a_strict_router_alone() -> None:
    d = established_uac()
    d.route_set = ("<sip:strict.example.com>",)
    req = d.request("NOTIFY")
    assert req.uri_text == "sip:strict.example.com"
    assert req.headers.values("route") == [f"<{BOB_UA}>"]


def test_no_route_set_sends_to_the_remote_target() -> None:
    d = established_uac()
    d.route_set = ()
    req = d.request("NOTIFY")
    assert req.uri_text == BOB_UA and "route" not in req.headers


# -- the UAS ----------------------------------------------------------------------------
def test_the_uas_establishes_the_dialog_from_the_request() -> None:
    d = Dialog.uas(subscribe_in(), "b9")
    assert d.established and d.call_id == "c1@alice"
    assert d.local_tag == "b9" and d.remote_tag == "a1"
    assert d.local_uri == f"<{BOB}>;x=1"  # To less its tag
    assert d.remote_uri == f"Alice <{ALICE}>"  # From less its tag
    assert d.remote_target == ALICE_UA
    assert d.route_set == RR  # §12.1.1: Record-Route in order
    assert d.remote_cseq == 7 and d.local_cseq == 0
    notify = d.request("NOTIFY", (("Event", "reg"),))
    assert notify.uri_text == ALICE_UA and notify.headers.values("route") == list(RR)
    assert notify.from_tag == "b9" and notify.to_tag == "a1" and notify.cseq.seq == 1
    assert notify.to_addr.display_name == "Alice" and notify.from_addr.param("x") == "1"


@pytest.mark.parametrize("request_", [
    subscribe_in(contact=None), subscribe_in(from_tag=None), subscribe_in(contact="*"),
    subscribe_in(contact="<tel:+15550100>"),
])
def test_the_uas_needs_a_from_tag_and_one_sip_contact(request_: Request) -> None:
    with pytest.raises(SipParseError):
        Dialog.uas(request_, "b9")


# -- what arrives -----------------------------------------------------------------------
@pytest.mark.parametrize(("kw", "ours"), [
    ({}, True), ({"call_id": "other@x"}, False), ({"to_tag": "zz"}, False),
    ({"from_tag": "zz"}, False), ({"from_tag": None}, False),
])
def test_matching(kw: dict[str, str | None], ours: bool) -> None:
    d = established_uac()
    assert d.matches(incoming(**kw)) is ours  # type: ignore[arg-type]


def test_before_the_2xx_any_remote_tag_matches() -> None:
    d = uac()
    assert d.matches(incoming(from_tag="whoever"))
    assert not d.matches(incoming(from_tag=None))


def test_cseq_order_lower_is_out_equal_and_higher_are_in() -> None:
    d = established_uac()
    assert d.in_order(incoming(cseq=5)) and d.remote_cseq == 5  # none before: in order
    assert d.in_order(incoming(cseq=5)) and d.remote_cseq == 5  # equal: not out of order
    assert d.in_order(incoming(cseq=9)) and d.remote_cseq == 9
    assert not d.in_order(incoming(cseq=8)) and d.remote_cseq == 9


def test_accept_refreshes_the_target_of_a_target_refresh_only() -> None:
    d = established_uac()
    assert d.accept(incoming("NOTIFY", cseq=1, contact="<sip:bob@192.0.2.30>"))
    assert d.remote_target == "sip:bob@192.0.2.30" and d.remote_cseq == 1
    assert d.accept(incoming("BYE", cseq=2, contact="<sip:bob@192.0.2.31>"))
    assert d.remote_target == "sip:bob@192.0.2.30" and d.remote_cseq == 2
    assert d.accept(incoming("NOTIFY", cseq=3, contact=None))
    assert d.remote_target == "sip:bob@192.0.2.30"
    assert {"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"} == TARGET_REFRESH


def test_accept_refuses_out_of_order_and_changes_nothing() -> None:
    d = established_uac()
    assert d.accept(incoming(cseq=4))
    assert not d.accept(incoming(cseq=3, contact="<sip:bob@192.0.2.30>"))
    assert d.remote_target == BOB_UA and d.remote_cseq == 4


def test_accept_with_a_bad_contact_raises_and_changes_nothing() -> None:
    d = established_uac()
    assert d.accept(incoming(cseq=4))
    with pytest.raises(SipParseError):
        d.accept(incoming(cseq=5, contact="<sip:a@192.0.2.1>, <sip:b@192.0.2.2>"))
    assert d.remote_target == BOB_UA and d.remote_cseq == 4


def test_a_request_before_the_2xx_establishes_the_dialog_as_its_uas() -> None:
    # RFC 6665 §4.1.2.4: a NOTIFY may overtake the 2xx to SUBSCRIBE.
    d = uac()
    assert d.accept(incoming(cseq=3, record_route=RR))
    assert d.remote_tag == "b1" and d.remote_target == BOB_UA
    assert d.route_set == RR and d.remote_cseq == 3  # §12.1.1: in order
    d.refresh_target(ok(first_request(d), contact="<sip:bob@192.0.2.40>"))  # the late 2xx
    assert d.remote_target == "sip:bob@192.0.2.40" and d.route_set == RR


def test_a_request_before_the_2xx_may_lack_a_contact_but_not_a_from_tag() -> None:
    d = uac()
    d.establish_by_request(incoming(contact=None))
    assert d.remote_target == BOB and d.remote_tag == "b1"  # until the 2xx brings one
    with pytest.raises(SipParseError):
        uac().establish_by_request(incoming(from_tag=None))


def test_the_dialog_is_a_plain_record() -> None:
    # A registration store keeps it (the S-CSCF's, to be written out to a shared store).
    d = Dialog.uas(subscribe_in(), "b9")
    fields = dataclasses.asdict(d)
    assert all(isinstance(v, str | int | tuple | None) for v in fields.values())
    assert Dialog(**fields) == d
