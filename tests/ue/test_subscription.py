"""The UE's reg-event subscription as a sans-I/O machine with a fake clock: the SUBSCRIBE
it builds (TS 24.229 §5.1.1.3), its dialog established by the 2xx or by a NOTIFY that
overtook it (RFC 6665 §4.1.2.4), NOTIFY answers and refresh timing."""

from __future__ import annotations

import pytest

from ims_core.sip import Request
from ims_core.ue.messages import Local
from ims_core.ue.subscription import (
    REFRESH_RETRY,
    TRANSITIONS,
    Event,
    State,
    Subscription,
)

from .notifier import NOTIFIER, FakeNotifier, document, wire

IMPU = "sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
LOCAL = Local("udp", "127.0.0.78", 5070)
CONTACT = "sip:001010000000001@127.0.0.78:5070"
OUTBOUND = "<sip:127.0.0.77:5060;lr>"
SERVICE_ROUTE = "<sip:orig@127.0.0.3:5060;lr>"


def _new(expires: int = 600000) -> tuple[Subscription, Request]:
    sub = Subscription(LOCAL, IMPU, CONTACT, [OUTBOUND, SERVICE_ROUTE], expires=expires)
    req = wire(sub.start())
    assert isinstance(req, Request)
    return sub, req


def _active(expires: int = 600000) -> tuple[Subscription, FakeNotifier, Request]:
    sub, req = _new(expires)
    n = FakeNotifier()
    sub.on_response(n.answer(req), now=0.0)
    assert sub.state is State.ACTIVE
    return sub, n, req


def test_subscribe_is_built_as_ts_24_229_says() -> None:
    _, req = _new()
    assert req.method == "SUBSCRIBE" and req.uri_text == IMPU
    assert str(req.to_addr.uri) == IMPU and req.to_tag is None
    assert str(req.from_addr.uri) == IMPU and req.from_tag
    assert req.headers.values("route") == [OUTBOUND, SERVICE_ROUTE]
    assert str(req.contacts()[0].uri) == CONTACT
    assert req.headers.get("event") == "reg"
    assert req.headers.get("accept") == "application/reginfo+xml"
    assert req.headers.get("expires") == "600000"
    assert req.headers.get("p-preferred-identity") == f"<{IMPU}>"
    assert req.cseq.seq == 1 and req.cseq.method == "SUBSCRIBE"
    assert "authorization" not in req.headers
    via = req.top_via()
    assert via.branch is not None and via.branch.startswith("z9hG4bK")


def test_2xx_establishes_the_dialog_then_notify_is_accepted() -> None:
    sub, n, req = _active()
    d = sub.dialog
    assert d.remote_tag == n.tag and d.remote_target == NOTIFIER
    assert d.route_set == ("<sip:127.0.0.1:5060;lr;ims-leg=orig>",)  # reversed RR
    notify = n.notify(document(IMPU, CONTACT))
    assert sub.matches(notify)
    resp, said = sub.on_notify(notify, now=1.0)
    assert resp.status == 200 and str(resp.contacts()[0].uri) == CONTACT
    assert resp.to_tag == req.from_tag  # the NOTIFY's To tag, ours
    assert said is not None and said.info is not None and said.info.version == 0
    assert said.state.value == "active" and said.state.expires == 600000
    assert sub.state is State.ACTIVE


def test_notify_before_the_2xx_establishes_the_dialog() -> None:
    sub, req = _new()
    n = FakeNotifier()
    n.subscribe = req
    notify = n.notify(document(IMPU, CONTACT))
    assert sub.matches(notify)
    resp, said = sub.on_notify(notify, now=0.5)
    assert resp.status == 200 and said is not None
    assert sub.state is State.EARLY
    assert sub.dialog.remote_tag == n.tag and sub.dialog.remote_target == NOTIFIER
    assert sub.dialog.route_set == ()  # the NOTIFY had no Record-Route (§12.1.1)
    sub.on_response(n.answer(req), now=0.6)
    assert sub.state is State.ACTIVE and sub.expires_at == pytest.approx(600000.6)
    second = n.notify(document(IMPU, CONTACT, version=1))
    assert sub.on_notify(second, now=1.0)[0].status == 200


def test_notify_before_the_2xx_may_come_without_a_contact() -> None:
    sub, req = _new()
    n = FakeNotifier()
    n.subscribe = req
    resp, _ = sub.on_notify(n.notify(document(IMPU, CONTACT), contact=False), now=0.1)
    assert resp.status == 200 and sub.dialog.remote_target == IMPU  # until the 2xx
    sub.on_response(n.answer(req), now=0.2)
    assert sub.dialog.remote_target == NOTIFIER


def test_terminated_notify_before_the_2xx_ends_it_and_the_late_2xx_changes_nothing() -> None:
    sub, req = _new()
    n = FakeNotifier()
    n.subscribe = req
    resp, _ = sub.on_notify(n.notify(None, "terminated;reason=rejected"), now=0.1)
    assert resp.status == 200 and sub.state is State.TERMINATED
    sub.on_response(n.answer(req), now=0.2)
    assert sub.state is State.TERMINATED and sub.ended is not None
    assert sub.ended.reason == "rejected" and sub.ended.status == 0


@pytest.mark.parametrize("change", ["call-id", "to-tag", "from-tag", "event"])
def test_a_notify_of_another_dialog_or_package_does_not_match(change: str) -> None:
    sub, n, _ = _active()
    notify = n.notify(document(IMPU, CONTACT), event="presence" if change == "event"
                      else "reg")
    h = notify.headers
    if change == "call-id":
        h.set("Call-ID", "other@127.0.0.3")
    elif change == "to-tag":
        h.set("To", f"<{IMPU}>;tag=nottheone")
    elif change == "from-tag":
        h.set("From", f"<{IMPU}>;tag=anothernotifier")
    assert not sub.matches(wire(notify))  # type: ignore[arg-type]


@pytest.mark.parametrize(("body", "ctype", "status"), [
    (b"<reginfo", "application/reginfo+xml", 400),  # not well-formed
    (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" state="full"/>',
     "application/reginfo+xml", 400),  # no version
    (b"<presence/>", "application/pidf+xml", 415),
])
def test_a_bad_body_is_refused_and_changes_nothing(body: bytes, ctype: str,
                                                   status: int) -> None:
    sub, n, _ = _active()
    resp, said = sub.on_notify(n.notify(None, body=body, content_type=ctype), now=1.0)
    assert resp.status == status and said is None
    if status == 415:
        assert resp.headers.get("accept") == "application/reginfo+xml"
    assert sub.state is State.ACTIVE and sub.version is None
    assert sub.on_notify(n.notify(document(IMPU, CONTACT)), now=2.0)[0].status == 200


def test_missing_or_bad_subscription_state_is_400() -> None:
    sub, n, _ = _active()
    notify = n.notify(document(IMPU, CONTACT))
    notify.headers.remove("subscription-state")
    assert sub.on_notify(notify, now=1.0)[0].status == 400
    bad = n.notify(document(IMPU, CONTACT), "active;expires=soon")
    assert sub.on_notify(bad, now=1.0)[0].status == 400
    assert sub.state is State.ACTIVE


def test_an_out_of_order_notify_is_500() -> None:
    sub, n, _ = _active()
    assert sub.on_notify(n.notify(document(IMPU, CONTACT), cseq=5), now=1.0)[0].status == 200
    late = n.notify(document(IMPU, CONTACT), cseq=4)
    assert sub.on_notify(late, now=1.1)[0].status == 500


def test_an_old_version_is_reported_stale() -> None:
    sub, n, _ = _active()
    sub.on_notify(n.notify(document(IMPU, CONTACT, version=3)), now=1.0)
    _, said = sub.on_notify(n.notify(document(IMPU, CONTACT, version=2)), now=2.0)
    assert said is not None and said.stale and sub.version == 3


@pytest.mark.parametrize(("granted", "refresh"), [
    (600000, 600000 - 600),  # more than 1200 s: 600 s before it ends (TS 24.229 §5.1.1.3)
    (1200, 600),  # 1200 s or less: half-way
    (60, 30),
])
def test_refresh_before_expiry(granted: int, refresh: float) -> None:
    sub, req = _new()
    n = FakeNotifier()
    sub.on_response(n.answer(req, expires=granted), now=10.0)
    assert sub.get_timer() == pytest.approx(10.0 + refresh)
    assert sub.handle_timer(10.0 + refresh - 0.01) is None
    again = sub.handle_timer(10.0 + refresh)
    assert again is not None and sub.state is State.REFRESHING
    again = wire(again)  # type: ignore[assignment]
    assert isinstance(again, Request)
    assert again.uri_text == NOTIFIER  # the remote target (RFC 3261 §12.2.1.1)
    assert again.headers.values("route") == ["<sip:127.0.0.1:5060;lr;ims-leg=orig>"]
    assert again.to_tag == n.tag and again.from_tag == req.from_tag
    assert again.call_id == req.call_id and again.cseq.seq == req.cseq.seq + 1
    assert again.headers.get("event") == "reg"
    sub.on_response(n.answer(again, expires=granted), now=10.0 + refresh + 0.1)
    assert sub.state is State.ACTIVE and sub.refreshes == 1


def test_notify_expires_moves_the_refresh() -> None:
    sub, n, _ = _active()
    sub.on_notify(n.notify(document(IMPU, CONTACT), "active;expires=100"), now=5.0)
    assert sub.expires_at == pytest.approx(105.0) and sub.refresh_at == pytest.approx(55.0)


def _refreshing() -> tuple[Subscription, FakeNotifier, Request]:
    sub, n, _ = _active(expires=100)
    refresh = sub.handle_timer(50.0)
    assert refresh is not None
    return sub, n, refresh


def test_a_refresh_answered_481_ends_the_subscription() -> None:
    sub, n, refresh = _refreshing()
    sub.on_response(n.answer(wire(refresh), 481), now=50.1)  # type: ignore[arg-type]
    assert sub.state is State.TERMINATED and sub.ended is not None
    assert sub.ended.status == 481


def test_a_refresh_that_fails_otherwise_keeps_it_until_it_expires() -> None:
    sub, _, _ = _refreshing()
    sub.failed(408, "Request Timeout", now=50.5)  # RFC 6665 §4.1.2.2
    assert sub.state is State.ACTIVE and sub.get_timer() == pytest.approx(50.5 + REFRESH_RETRY)
    assert sub.handle_timer(50.5 + REFRESH_RETRY) is not None  # tried again
    sub.failed(500, "Server Internal Error", now=81.0)
    assert sub.handle_timer(100.0) is None
    assert sub.state is State.TERMINATED and sub.ended is not None
    assert sub.ended.reason == "expired"


def test_an_initial_failure_ends_it() -> None:
    sub, req = _new()
    sub.on_response(FakeNotifier().answer(req, 403), now=0.1)
    assert sub.state is State.TERMINATED and sub.ended is not None
    assert (sub.ended.status, sub.ended.reason) == (403, "Forbidden")
    assert not sub.confirmed


def test_every_live_state_ends_on_a_terminating_notify() -> None:
    live = [s for s in State if s not in (State.IDLE, State.TERMINATED)]
    assert all((s, Event.ENDED) in TRANSITIONS for s in live)
    assert all(TRANSITIONS[(s, Event.ENDED)][1] is State.TERMINATED for s in live)
    assert not any(s is State.TERMINATED for s, _ in TRANSITIONS)


def test_a_terminated_subscription_matches_nothing() -> None:
    sub, n, _ = _active()
    sub.on_notify(n.notify(document(IMPU, CONTACT), "terminated;reason=timeout"), now=1.0)
    assert sub.state is State.TERMINATED
    assert not sub.matches(n.notify(document(IMPU, CONTACT)))

