"""Calls and MESSAGEs between two of our UEs, sans-I/O with a fake clock: one side's
messages fed into the other through a fake chain of proxies that strips Route, adds
Via and, on the INVITE, Record-Route (RFC 3261 §16.6), as the P-CSCF and S-CSCF do."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from ims_core.sip import Request, Response, make_response, parse_message
from ims_core.transaction import TimedOut, TimerConfig, TransportFailed
from ims_core.ue import demo_profile
from ims_core.ue.call import (
    CALL_TRANSITIONS,
    CallPlan,
    CallState,
    IncomingCalls,
    MessagePlan,
    OutgoingCall,
    OutgoingMessage,
    target_uri,
)
from ims_core.ue.messages import Local, contact, outbound_proxy
from ims_core.ue.sdp import Media, streams

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
ALICE = demo_profile("001010000000001")
BOB = demo_profile("001010000000002")
A_LOCAL = Local("udp", "127.0.0.78", 5070)
B_LOCAL = Local("udp", "127.0.0.79", 5071)
A_CONTACT = contact(ALICE, A_LOCAL)
B_CONTACT = contact(BOB, B_LOCAL)
OUTBOUND = outbound_proxy("127.0.0.1", 5060, "udp")
SERVICE_ROUTE = "<sip:orig@127.0.0.3:5060;lr>"
# What the proxies record-route, top first as the callee sees it.
RR = ("<sip:127.0.0.3:5060;lr>", "<sip:127.0.0.1:5060;lr;ims-leg=orig>")
T1 = TimerConfig().t1


def counting_rng() -> Callable[[int], bytes]:
    counter = itertools.count()
    return lambda n: bytes((next(counter) + i) % 256 for i in range(n))


def rewired(request: Request, body: bytes | None = None, ctype: str | None = None
            ) -> Request:
    """A copy of ``request`` as it arrives, with another body if given."""
    out = parse_message(request.to_bytes())
    assert isinstance(out, Request)
    if body is not None:
        out.set_body(body, ctype)
    return out


def arrived(response: Response) -> Response:
    """A copy of ``response`` as it arrives."""
    out = parse_message(response.to_bytes())
    assert isinstance(out, Response)
    return out


class Proxies:
    """The P-CSCF and S-CSCF between the two UEs, as one loose-routing hop chain."""

    def __init__(self) -> None:
        self.routes: list[list[str]] = []  # the Route each request arrived with
        self.hops = itertools.count()

    def request(self, request: Request, *, record_route: bool = False) -> Request:
        req = rewired(request)
        self.routes.append(req.headers.values("route"))
        req.headers.remove("route")  # each proxy pops its own Route (§16.4)
        if record_route:
            for value in reversed(RR):
                req.push_address("Record-Route", value)
        req.push_via(f"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKhop{next(self.hops)}")
        return rewired(req)

    def response(self, response: Response) -> Response:
        resp = arrived(response)
        resp.pop_via()
        return resp


def caller(plan: CallPlan | None = None, identity: str | None = None) -> OutgoingCall:
    return OutgoingCall(plan or CallPlan(f"sip:001010000000002@{DOMAIN}", seconds=2.0),
                        profile=ALICE, local=A_LOCAL, contact=A_CONTACT,
                        route=[OUTBOUND, SERVICE_ROUTE], rng=counting_rng(),
                        identity=identity)


def callee(hang_up_after: float | None = None) -> IncomingCalls:
    return IncomingCalls(local=B_LOCAL, contact=B_CONTACT, rng=counting_rng(),
                         hang_up_after=hang_up_after)


def answered(net: Proxies, a: OutgoingCall, b: IncomingCalls, now: float = 0.0
             ) -> tuple[Request, list[Response], Request]:
    """INVITE → 180, 200 → ACK; returns what the callee got and sent, and the ACK."""
    invite = net.request(a.start(now), record_route=True)
    responses = b.on_request(invite, now)
    assert responses is not None and [r.status for r in responses] == [180, 200]
    assert a.on_response(net.response(responses[0]), now) == []
    acks = a.on_response(net.response(responses[1]), now)
    assert len(acks) == 1 and acks[0].method == "ACK"
    assert b.on_request(net.request(acks[0]), now) == []
    return invite, responses, acks[0]


def test_invite_carries_route_identity_contact_and_an_offer() -> None:
    a = caller(identity=f"sip:alias@{DOMAIN}")
    invite = rewired(a.start(0.0))
    assert invite.method == "INVITE" and invite.uri_text == f"sip:001010000000002@{DOMAIN}"
    assert invite.headers.values("route") == [OUTBOUND, SERVICE_ROUTE]
    assert invite.headers.get("p-preferred-identity") == f"<sip:alias@{DOMAIN}>"
    assert str(invite.from_addr.uri) == f"sip:alias@{DOMAIN}" and invite.from_tag
    assert invite.to_tag is None and str(invite.contacts()[0].uri) == A_CONTACT
    assert invite.cseq.seq == 1 and invite.cseq.method == "INVITE"
    via = invite.top_via()
    assert via.host == A_LOCAL.host and (via.branch or "").startswith("z9hG4bK")
    assert invite.headers.get("content-type") == "application/sdp"
    [stream] = streams(invite.body)
    assert (stream.media, stream.formats, stream.pcmu()) == ("audio", ["0"], "0")
    assert b"c=IN IP4 127.0.0.78\r\n" in invite.body
    assert a.state is CallState.CALLING and not a.finished


def test_a_call_from_invite_to_bye() -> None:
    net, a, b = Proxies(), caller(), callee()
    invite, (ringing, ok), ack = answered(net, a, b, now=10.0)
    assert net.routes[0] == [OUTBOUND, SERVICE_ROUTE]  # the INVITE's preloaded Route
    # The callee: the same To tag, its Contact and the Record-Route in both (§12.1.1).
    assert ringing.to_tag and ringing.to_tag == ok.to_tag
    for r in (ringing, ok):
        assert r.headers.values("record-route") == list(RR)
        assert str(r.contacts()[0].uri) == B_CONTACT
    assert ok.headers.get("content-type") == "application/sdp"
    assert [s.port for s in streams(ok.body)] == ["49170"]
    assert b.calls_answered == 1 and b.calls_ended == 0
    # The ACK: the INVITE's CSeq number, a branch of its own, the reversed Record-Route.
    assert ack.uri_text == B_CONTACT and ack.to_tag == ok.to_tag
    assert ack.cseq.seq == 1 and ack.cseq.method == "ACK"
    assert ack.top_via().branch != invite.vias()[-1].branch  # a transaction of its own
    assert net.routes[-1] == list(reversed(RR))
    assert a.outcome.answered and a.outcome.status == 200 and a.state is CallState.CONFIRMED
    # Hang up after `seconds`.
    assert a.get_timer() == 12.0
    assert a.handle_timer(11.9) == []
    [bye] = a.handle_timer(12.0)
    assert bye.method == "BYE" and bye.cseq.seq == 2 and bye.uri_text == B_CONTACT
    assert bye.top_via().branch not in (ack.top_via().branch, None)
    delivered = net.request(bye)
    assert net.routes[-1] == list(reversed(RR))
    [bye_ok] = b.on_request(delivered, 12.0) or []
    assert bye_ok.status == 200 and b.calls_ended == 1 and not b.calls
    assert a.on_response(net.response(bye_ok), 12.1) == []
    assert a.finished and a.get_timer() is None
    o = a.outcome
    assert (o.status, o.answered, o.hung_up_by, o.bye_status, o.error) == \
        (200, True, "local", 200, None)


def test_without_record_route_requests_go_to_the_contact_without_route() -> None:
    a, b = caller(), callee()
    invite = rewired(a.start(0.0))
    invite.headers.remove("route")
    [_, ok] = b.on_request(invite, 0.0) or []
    [ack] = a.on_response(arrived(ok), 0.0)
    assert ack.uri_text == B_CONTACT and ack.headers.values("route") == []


def test_a_refused_call_ends_with_its_status() -> None:
    a = caller()
    invite = a.start(0.0)
    assert a.on_response(make_response(invite, 100), 0.0) == []
    assert a.on_response(make_response(invite, 486, to_tag="busy"), 0.1) == []
    assert a.finished and a.get_timer() is None and a.handle_timer(99.0) == []
    o = a.outcome
    assert (o.status, o.reason, o.answered, o.hung_up_by) == (486, "Busy Here", False, None)


@pytest.mark.parametrize(("result", "status"), [(TimedOut("B"), 408), (TransportFailed(), 503)])
def test_no_final_response_is_our_own_status(result: TimedOut | TransportFailed,
                                              status: int) -> None:
    a = caller()
    invite = a.start(0.0)
    assert a.owns(invite)
    assert a.on_result(invite, result, 32.0) == []
    assert a.finished and a.outcome.status == status and a.outcome.error


def test_the_callee_hangs_up_first() -> None:
    net, a, b = Proxies(), caller(), callee(hang_up_after=0.5)
    answered(net, a, b, now=1.0)
    assert b.get_timer() == 1.5
    assert b.handle_timer(1.4) == []
    [bye] = b.handle_timer(1.5)
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.cseq.seq == 1 and bye.uri_text == A_CONTACT
    delivered = net.request(bye)
    assert net.routes[-1] == list(RR)  # the UAS's route set: Record-Route in order
    assert a.matches(delivered)
    response = a.on_request(delivered, 1.5)
    assert response is not None and response.status == 200
    assert a.finished and a.outcome.hung_up_by == "remote" and a.get_timer() is None
    assert b.calls_ended == 1 and b.get_timer() is None
    assert not a.matches(delivered)  # the call is over: a BYE again is not ours


def test_both_hang_up_at_once() -> None:
    net, a, b = Proxies(), caller(), callee(hang_up_after=2.0)
    answered(net, a, b)
    [a_bye] = a.handle_timer(2.0)
    [b_bye] = b.handle_timer(2.0)
    assert isinstance(b_bye, Request)
    response = a.on_request(net.request(b_bye), 2.0)
    assert response is not None and response.status == 200 and a.finished
    assert a.outcome.hung_up_by == "local"
    assert b.on_request(net.request(a_bye), 2.0) is None  # its dialog is gone: 481 elsewhere


def test_the_2xx_is_sent_again_until_the_ack() -> None:
    net, a, b = Proxies(), caller(), callee()
    invite = net.request(a.start(0.0), record_route=True)
    [_, ok] = b.on_request(invite, 0.0) or []
    times = []
    now = 0.0
    while (deadline := b.get_timer()) is not None and deadline < 5.0:
        now = deadline
        assert b.handle_timer(now) == [ok]
        times.append(now)
    assert times == [T1, 3 * T1, 7 * T1]  # T1, then doubling (§13.3.1.4)
    [ack] = a.on_response(net.response(ok), now)
    assert b.on_request(net.request(ack), now) == []
    assert b.get_timer() is None and b.handle_timer(100.0) == []


def test_no_ack_in_64_t1_ends_the_call_with_a_bye() -> None:
    net, a, b = Proxies(), caller(), callee()
    b.on_request(net.request(a.start(0.0), record_route=True), 0.0)
    out: list[Request | Response] = []
    while (deadline := b.get_timer()) is not None:
        out += b.handle_timer(deadline)
    assert deadline is None and isinstance(out[-1], Request) and out[-1].method == "BYE"
    assert all(isinstance(x, Response) and x.status == 200 for x in out[:-1])
    assert b.calls_answered == 1 and b.calls_ended == 1


def test_a_2xx_again_gets_the_same_ack_and_a_fork_gets_ack_and_bye() -> None:
    net, a, b = Proxies(), caller(), callee()
    invite = a.start(0.0)
    [_, ok] = b.on_request(net.request(invite, record_route=True), 0.0) or []
    [ack] = a.on_response(net.response(ok), 0.0)
    assert a.on_response(net.response(ok), 0.5) == [ack]  # §13.2.2.4
    fork = make_response(invite, 200, to_tag="other")
    fork.headers.add("Contact", "<sip:elsewhere@192.0.2.9:5060>")
    fork_ack, fork_bye = a.on_response(arrived(fork), 0.6)
    assert (fork_ack.method, fork_bye.method) == ("ACK", "BYE")
    assert fork_ack.to_tag == fork_bye.to_tag == "other"
    assert fork_ack.cseq.seq == 1 and fork_bye.cseq.seq == 2
    assert fork_bye.uri_text == "sip:elsewhere@192.0.2.9:5060"
    assert a.state is CallState.CONFIRMED and a.outcome.hung_up_by is None
    # The fork's BYE answered changes nothing of ours.
    assert a.on_response(make_response(fork_bye, 200), 0.7) == []
    assert not a.finished


def test_no_answer_in_time_cancels_once_a_provisional_came() -> None:
    a = caller(CallPlan("001010000000002", seconds=1.0, answer_timeout=5.0))
    invite = a.start(0.0)
    assert a.get_timer() == 5.0
    assert a.handle_timer(5.0) == []  # §9.1: no provisional yet, so no CANCEL
    assert a.get_timer() is None
    [cancel] = a.on_response(make_response(invite, 180, to_tag="b"), 6.0)
    assert cancel.method == "CANCEL" and cancel.cseq.seq == 1 and a.owns(cancel)
    assert cancel.top_via().branch == invite.top_via().branch
    assert cancel.headers.values("route") == [OUTBOUND, SERVICE_ROUTE]
    assert a.on_response(make_response(invite, 180, to_tag="b"), 6.1) == []  # one CANCEL
    assert a.on_response(make_response(cancel, 200), 6.2) == []
    assert a.on_response(make_response(invite, 487, to_tag="b"), 6.3) == []
    assert a.finished and a.outcome.status == 487 and "no answer" in (a.outcome.error or "")


def test_a_2xx_that_crosses_the_cancel_is_acked_and_hung_up() -> None:
    a = caller(CallPlan("001010000000002", answer_timeout=1.0))
    invite = a.start(0.0)
    a.on_response(make_response(invite, 180, to_tag="b"), 0.5)
    [cancel] = a.handle_timer(1.0)
    ok = make_response(invite, 200, to_tag="b")
    ok.headers.add("Contact", f"<{B_CONTACT}>")
    ack, bye = a.on_response(ok, 1.1)
    assert (cancel.method, ack.method, bye.method) == ("CANCEL", "ACK", "BYE")
    assert a.state is CallState.HANGING_UP and a.outcome.hung_up_by == "local"
    assert a.on_result(bye, TimedOut("F"), 33.0) == []
    assert a.finished and a.outcome.bye_status == 408


def test_an_unusable_2xx_ends_the_call() -> None:
    a = caller()
    invite = a.start(0.0)
    assert a.on_response(make_response(invite, 200, to_tag="b"), 0.1) == []  # no Contact
    assert a.finished and not a.outcome.answered and "Contact" in (a.outcome.error or "")


def test_cseq_in_the_dialog() -> None:
    net, a, b = Proxies(), caller(), callee()
    answered(net, a, b)
    call = next(iter(b.calls.values()))
    # A re-INVITE from the callee: the caller answers 200 with its SDP and Contact.
    reinvite = call.dialog.request("INVITE", [("Contact", f"<{B_CONTACT}>"),
                                              ("Content-Type", "application/sdp")],
                                   Media("127.0.0.79", 4000, 7).offer())
    reinvite.push_via("SIP/2.0/UDP 127.0.0.79:5071;branch=z9hG4bKre1")
    assert reinvite.cseq.seq == 1
    delivered = net.request(reinvite)
    assert a.matches(delivered)
    response = a.on_request(delivered, 0.5)
    assert response is not None and response.status == 200
    assert str(response.contacts()[0].uri) == A_CONTACT
    assert [s.pcmu() for s in streams(response.body)] == ["0"]
    assert a.dialog.remote_cseq == 1
    # The same CSeq is in order; a lower one is not (§12.2.2).
    options = call.dialog.request("OPTIONS")
    options.push_via("SIP/2.0/UDP 127.0.0.79:5071;branch=z9hG4bKo1")
    assert options.cseq.seq == 2
    ok = a.on_request(net.request(options), 0.6)
    assert ok is not None and ok.status == 200 and "INVITE" in (ok.headers.get("allow") or "")
    call.dialog.local_cseq = 0
    stale = call.dialog.request("UPDATE")
    stale.push_via("SIP/2.0/UDP 127.0.0.79:5071;branch=z9hG4bKu1")
    late = a.on_request(net.request(stale), 0.7)
    assert late is not None and late.status == 500 and a.dialog.remote_cseq == 2
    # The caller's own requests: INVITE 1, ACK 1, BYE 2.
    assert [r.method for r in a.handle_timer(2.0)] == ["BYE"]
    assert [(r.method, r.cseq.seq) for r in a.sent] == [("INVITE", 1), ("ACK", 1),
                                                        ("BYE", 2)]


def test_messages_both_ways_and_within_the_call() -> None:
    net = Proxies()
    to_bob = OutgoingMessage(MessagePlan("001010000000002", "hello bob"), profile=ALICE,
                             local=A_LOCAL, route=[OUTBOUND, SERVICE_ROUTE],
                             rng=counting_rng(), identity=ALICE.impu)
    req = to_bob.start(0.0)
    assert to_bob.owns(req) and req.method == "MESSAGE"
    assert req.uri_text == f"sip:001010000000002@{DOMAIN}"
    assert req.headers.get("p-preferred-identity") == f"<{ALICE.impu}>"
    assert req.headers.values("route") == [OUTBOUND, SERVICE_ROUTE]
    b = callee()
    [ok] = b.on_request(net.request(req), 0.0) or []
    assert ok.status == 200 and ok.to_tag
    assert b.messages_received == [(ALICE.impu, "hello bob")]
    to_bob.on_result(req, net.response(ok), 0.1)
    assert to_bob.finished and to_bob.outcome.ok and to_bob.outcome.answered
    # And back, to an IncomingCalls of Alice's.
    a_in = IncomingCalls(local=A_LOCAL, contact=A_CONTACT, rng=counting_rng())
    to_alice = OutgoingMessage(MessagePlan(ALICE.impu, "hi alice"), profile=BOB,
                               local=B_LOCAL, route=[OUTBOUND], rng=counting_rng())
    reply = to_alice.start(0.0)
    assert "p-preferred-identity" not in reply.headers
    [ok2] = a_in.on_request(net.request(reply), 0.2) or []
    assert ok2.status == 200 and a_in.messages_received == [(BOB.impu, "hi alice")]
    to_alice.on_response(net.response(ok2), 0.3)
    to_alice.on_result(reply, TimedOut("F"), 32.0)  # once finished, nothing changes
    assert to_alice.outcome.status == 200
    # Within a call, either way.
    a = caller()
    answered(net, a, b)
    call = next(iter(b.calls.values()))
    inside = call.dialog.request("MESSAGE", [("Content-Type", "text/plain")], b"in call")
    inside.push_via("SIP/2.0/UDP 127.0.0.79:5071;branch=z9hG4bKm1")
    answer = a.on_request(net.request(inside), 0.4)
    assert answer is not None and answer.status == 200
    assert a.messages_received == [(BOB.impu, "in call")]


def test_a_message_without_an_answer_fails_with_our_status() -> None:
    m = OutgoingMessage(MessagePlan("bob@example.net", "x"), profile=ALICE, local=A_LOCAL,
                        route=[], rng=counting_rng())
    req = m.start(0.0)
    assert req.uri_text == "sip:bob@example.net"
    m.on_result(req, TransportFailed(), 1.0)
    assert m.finished and m.outcome.status == 503 and not m.outcome.answered
    with pytest.raises(RuntimeError):
        m.start(1.0)


def test_malformed_requests_get_400_and_nothing_raises() -> None:
    a, b = caller(), callee()
    invite = rewired(a.start(0.0))
    invite.headers.remove("contact")
    [bad] = b.on_request(invite, 0.0) or []
    assert bad.status == 400 and bad.reason == "Missing Contact" and b.calls_answered == 0
    no_tag = rewired(caller().start(0.0))
    no_tag.headers.set("From", "<sip:x@y>")  # no From tag
    [bad2] = b.on_request(no_tag, 0.0) or []
    assert bad2.status == 400
    garbled = parse_message(b"MESSAGE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                            b"From: <sip:a@h>;tag=1\r\nTo: <<garbage\r\nCall-ID: c\r\n"
                            b"CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(garbled, Request)
    [bad3] = b.on_request(garbled, 0.0) or []
    assert bad3.status == 400 and bad3.headers.get("to") == "<<garbage"  # no tag added
    ack = parse_message(bytes(garbled).replace(b"MESSAGE", b"ACK"))
    assert isinstance(ack, Request) and b.on_request(ack, 0.0) is None  # never answered
    # Within a call: a re-INVITE with two Contacts.
    net, a2, b2 = Proxies(), caller(), callee()
    answered(net, a2, b2)
    call = next(iter(b2.calls.values()))
    two = call.dialog.request("INVITE", [("Contact", "<sip:x@h>, <sip:y@h>")])
    two.push_via("SIP/2.0/UDP 127.0.0.79:5071;branch=z9hG4bKtwo")
    response = a2.on_request(net.request(two), 0.5)
    assert response is not None and response.status == 400
    assert a2.state is CallState.CONFIRMED


def test_what_the_callee_refuses_or_leaves_alone() -> None:
    a, b = caller(), callee()
    invite = a.start(0.0)
    not_sdp = rewired(invite, b"hello", "text/plain")
    [r415] = b.on_request(not_sdp, 0.0) or []
    assert r415.status == 415 and r415.headers.get("accept") == "application/sdp"
    video = rewired(invite, b"v=0\r\nm=audio 4000 RTP/AVP 97\r\na=rtpmap:97 AMR/8000\r\n"
                    b"m=video 4002 RTP/AVP 96\r\n")
    [r488] = b.on_request(video, 0.0) or []
    assert r488.status == 488 and b.calls_answered == 0
    pictures = rewired(OutgoingMessage(MessagePlan("b", "x"), profile=ALICE, local=A_LOCAL,
                                       route=[], rng=counting_rng()).start(0.0),
                       b"\x89PNG", "image/png")
    [r415m] = b.on_request(pictures, 0.0) or []
    assert r415m.status == 415 and r415m.headers.get("accept") == "text/plain"
    # Not ours: other methods, other dialogs.
    options = rewired(invite)
    options.method = "OPTIONS"
    options.headers.set("CSeq", "1 OPTIONS")
    assert b.on_request(options, 0.0) is None
    stray = rewired(invite)
    stray.headers.set("To", f"<sip:001010000000002@{DOMAIN}>;tag=nobody")
    assert b.on_request(stray, 0.0) is None


def test_a_repeated_invite_and_a_cancel_after_the_answer() -> None:
    net, a, b = Proxies(), caller(), callee()
    invite = net.request(a.start(0.0), record_route=True)
    [_, ok] = b.on_request(invite, 0.0) or []
    assert b.on_request(invite, 0.1) == [ok] and b.calls_answered == 1
    cancel = parse_message(bytes(invite).replace(b"INVITE", b"CANCEL", 1)
                           .replace(b"1 INVITE", b"1 CANCEL"))
    assert isinstance(cancel, Request)
    [c200] = b.on_request(cancel, 0.2) or []
    assert c200.status == 200 and c200.to_tag == ok.to_tag  # §9.2: no effect
    other = parse_message(bytes(cancel).replace(b"CSeq: 1", b"CSeq: 9"))
    assert isinstance(other, Request)
    [c481] = b.on_request(other, 0.2) or []
    assert c481.status == 481


def test_sdp_answers_follow_the_offer() -> None:
    media = Media("2001:db8::1", 5000, 42)
    offer = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
             b"a=sendonly\r\nm=video 6000 RTP/AVP 96\r\nm=audio 6002 RTP/AVP 97 8\r\n"
             b"a=rtpmap:97 pcmu/8000\r\nm=audio 6004 RTP/AVP 0\r\n")
    answer = media.answer(offer)
    assert answer is not None
    text = answer.decode()
    assert "c=IN IP6 2001:db8::1\r\n" in text and "o=- 42 42 IN IP6 2001:db8::1" in text
    assert [(s.media, s.port, s.formats, s.direction) for s in streams(answer)] == [
        ("video", "0", ["96"], "sendrecv"), ("audio", "5000", ["97"], "recvonly"),
        ("audio", "0", ["0"], "sendrecv")]
    assert media.answer(b"v=0\r\nm=audio\r\n") is None  # a bad m-line: nothing to take
    assert media.answer(b"v=0\r\nm=audio 0 RTP/AVP 0\r\n") is None  # refused already


def test_targets_and_transitions() -> None:
    assert target_uri("001010000000002", DOMAIN) == f"sip:001010000000002@{DOMAIN}"
    assert target_uri("bob@example.net", DOMAIN) == "sip:bob@example.net"
    assert target_uri("tel:+15551234", DOMAIN) == "tel:+15551234"
    with pytest.raises(ValueError):
        caller(CallPlan("sip:"))
    # Every transition leads somewhere the table knows, or to DONE.
    states = {s for s, _ in CALL_TRANSITIONS} | {CallState.DONE}
    assert all(nxt in states for _, nxt in CALL_TRANSITIONS.values())
    a = caller()
    a.start(0.0)
    with pytest.raises(RuntimeError):
        a.start(0.0)
