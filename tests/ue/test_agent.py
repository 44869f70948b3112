"""The staying UE (``ims-core ue register --subscribe/--duration``) as a sans-I/O agent
driven with a fake clock: it registers, subscribes to its reg event along the P-CSCF and
the Service-Route, answers NOTIFYs, re-registers and refreshes on time, and ends with the
right exit status when the network de-registers it (TS 24.229 §5.1.1.3, §5.1.1.7)."""

from __future__ import annotations

import itertools

import pytest

from ims_core.sip import Request, Response, parse_message
from ims_core.transaction import TimedOut
from ims_core.ue import demo_profile
from ims_core.ue.agent import (
    EXIT_DEREGISTERED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REJECTED,
    MAX_RESUBSCRIBES,
    Agent,
    Registered,
)
from ims_core.ue.messages import Local

from .notifier import FakeNotifier, document, wire
from .registrar import DOMAIN, FakeRegistrar, demo_registrar

IMSI = "001010000000007"
IMPU = f"sip:{IMSI}@{DOMAIN}"
LOCAL = Local("udp", "127.0.0.78", 5070)
CONTACT = f"sip:{IMSI}@127.0.0.78:5070"
OUTBOUND = "<sip:127.0.0.77:5060;lr>"


class Net:
    """The registrar and the notifier behind the P-CSCF, answering the agent's outbox."""

    def __init__(self, agent: Agent, registrar: FakeRegistrar) -> None:
        self.agent = agent
        self.registrar = registrar
        self.notifier = FakeNotifier()
        self.subscribes: list[Request] = []
        self.subscribe_status = 200
        self.now = 0.0

    def run(self, now: float | None = None) -> None:
        """Answer everything the agent sends, at ``now``."""
        if now is not None:
            self.now = now
        for _ in range(20):
            if not self.agent.outbox:
                return
            req = self.agent.outbox.pop(0)
            seen = wire(req)
            assert isinstance(seen, Request)
            if seen.method == "REGISTER":
                reply = parse_message(self.registrar.handle(seen).to_bytes())
            else:
                self.subscribes.append(seen)
                reply = self.notifier.answer(seen, self.subscribe_status)
            assert isinstance(reply, Response)
            self.agent.on_result(req, reply, self.now)
        raise AssertionError("the agent kept sending")

    def notify(self, *args: object, **kwargs: object) -> Response | None:
        return self.agent.on_request(self.notifier.notify(*args, **kwargs),  # type: ignore[arg-type]
                                     self.now)

    def tick(self, until: float) -> None:
        """Fire the agent's timers up to ``until``, answering what they send."""
        while (t := self.agent.get_timer()) is not None and t <= until:
            self.now = t
            self.agent.handle_timer(t)
            self.run()
        self.now = until


def _agent(**kwargs: object) -> tuple[Agent, Net]:
    counter = itertools.count()
    agent = Agent(demo_profile(IMSI), LOCAL, OUTBOUND,
                  rng=lambda n: bytes((next(counter) + i) % 256 for i in range(n)),
                  **kwargs)  # type: ignore[arg-type]
    net = Net(agent, demo_registrar(IMSI))
    agent.start(0.0)
    net.run()
    return agent, net


def _subscribed(**kwargs: object) -> tuple[Agent, Net]:
    agent, net = _agent(**kwargs)
    assert net.notify(document(IMPU, CONTACT)).status == 200  # type: ignore[union-attr]
    return agent, net


def test_registers_then_subscribes_along_the_service_route() -> None:
    agent, net = _agent()
    first = agent.reports[0]
    assert isinstance(first, Registered) and first.initial and first.outcome.ok
    (sub,) = net.subscribes
    assert sub.uri_text == IMPU  # the first P-Associated-URI
    assert sub.headers.values("route") == [OUTBOUND, "<sip:orig@127.0.0.3:5060;lr>"]
    assert str(sub.contacts()[0].uri) == CONTACT
    assert sub.headers.get("expires") == "600000" and sub.headers.get("event") == "reg"
    assert agent.ending is None


def test_each_notify_is_reported_in_one_line() -> None:
    agent, _ = _subscribed()
    assert agent.reports[-1] == (f"NOTIFY version=0 full [active;expires=600000]: {IMPU} "
                                 f"active ({CONTACT} active/registered expires=600)")


@pytest.mark.parametrize(("reg_state", "event", "code"), [
    ("terminated", "rejected", EXIT_REJECTED),
    ("terminated", "deactivated", EXIT_DEREGISTERED),
    ("active", "deactivated", EXIT_DEREGISTERED),
])
def test_network_deregistration_ends_the_run(reg_state: str, event: str, code: int) -> None:
    agent, net = _subscribed()
    resp = net.notify(document(IMPU, CONTACT, version=1, reg_state=reg_state,
                               contact_state="terminated", event=event),
                      "terminated;reason=deactivated")
    assert resp is not None and resp.status == 200  # answered before the UE goes
    assert agent.ending is not None and agent.ending.code == code
    assert agent.ending.message.startswith(f"network de-registered {IMPU}: {event} (")
    assert agent.get_timer() is None and agent.outbox == []


def test_rejected_message() -> None:
    agent, net = _subscribed()
    net.notify(document(IMPU, CONTACT, version=1, reg_state="terminated",
                        contact_state="terminated", event="rejected"))
    assert agent.ending is not None
    assert agent.ending.message == \
        f"network de-registered {IMPU}: rejected (do not re-register)"


def test_deregistration_in_a_notify_that_overtook_the_2xx() -> None:
    counter = itertools.count()
    agent = Agent(demo_profile(IMSI), LOCAL, OUTBOUND,
                  rng=lambda n: bytes((next(counter) + i) % 256 for i in range(n)))
    net = Net(agent, demo_registrar(IMSI))
    agent.start(0.0)
    while agent.outbox[0].method == "REGISTER":  # register, but hold the SUBSCRIBE back
        req = agent.outbox.pop(0)
        seen = wire(req)
        assert isinstance(seen, Request)
        reply = parse_message(net.registrar.handle(seen).to_bytes())
        agent.on_result(req, reply, 0.0)  # type: ignore[arg-type]
    subscribe = agent.outbox.pop(0)
    seen = wire(subscribe)
    assert isinstance(seen, Request)
    early = net.notifier.notify(document(IMPU, CONTACT), subscribe=seen)
    assert agent.on_request(early, 0.1).status == 200  # type: ignore[union-attr]
    agent.on_result(subscribe, net.notifier.answer(seen), 0.2)
    assert agent.ending is None and agent.subscription is not None
    net.notify(document(IMPU, CONTACT, version=1, reg_state="terminated",
                        contact_state="terminated", event="deactivated"))
    assert agent.ending is not None and agent.ending.code == EXIT_DEREGISTERED


def test_unknown_dialogs_and_methods() -> None:
    agent, net = _subscribed()
    stray = net.notifier.notify(document(IMPU, CONTACT))
    stray.headers.set("Call-ID", "nobody@127.0.0.3")
    resp = agent.on_request(wire(stray), 1.0)  # type: ignore[arg-type]
    assert resp is not None and resp.status == 481
    options = parse_message(
        b"OPTIONS " + CONTACT.encode() + b" SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.77:5060;"
        b"branch=z9hG4bKo\r\nFrom: <sip:x@y>;tag=1\r\nTo: <" + CONTACT.encode() +
        b">\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    resp = agent.on_request(options, 1.0)  # type: ignore[arg-type]
    assert resp is not None and resp.status == 200  # RFC 3261 §11.2
    assert "MESSAGE" in (resp.headers.get("allow") or "")
    assert resp.to_tag  # an out-of-dialog answer gets our tag (RFC 3261 §8.2.6.2)
    publish = parse_message(options.to_bytes().replace(b"OPTIONS", b"PUBLISH"))
    resp = agent.on_request(publish, 1.0)  # type: ignore[arg-type]
    assert resp is not None and resp.status == 405 and resp.to_tag
    assert (resp.headers.get("allow") or "").endswith("MESSAGE, NOTIFY")
    bad = net.notifier.notify(None, body=b"<reginfo>", content_type="application/reginfo+xml")
    resp = agent.on_request(bad, 1.0)
    assert resp is not None and resp.status == 400
    assert agent.ending is None


def test_reregisters_and_refreshes_before_expiry() -> None:
    agent, net = _agent(expires=600, subscribe_expires=1000)
    net.notify(document(IMPU, CONTACT), "active;expires=1000")
    registers = len(net.registrar.seen)
    assert agent.get_timer() == pytest.approx(300.0)  # half of 600 s (§5.1.1.4.1)
    net.tick(299.0)
    assert len(net.registrar.seen) == registers
    net.tick(300.0)
    again = net.registrar.seen[registers]
    assert again.call_id == net.registrar.seen[0].call_id  # RFC 3261 §10.2.4
    assert again.cseq.seq > net.registrar.seen[registers - 1].cseq.seq
    last = agent.reports[-1]
    assert isinstance(last, Registered) and not last.initial and last.outcome.ok
    net.tick(500.0)  # the subscription, granted 1000 s, is refreshed half-way
    assert len(net.subscribes) == 2
    refresh = net.subscribes[1]
    assert refresh.to_tag == net.notifier.tag and refresh.call_id == net.subscribes[0].call_id
    assert refresh.uri_text == "sip:127.0.0.3:5060"
    assert agent.ending is None


def test_duration_ends_with_0() -> None:
    agent, net = _subscribed(duration=42.0)
    net.tick(41.9)
    assert agent.ending is None
    net.tick(42.0)
    assert agent.ending is not None and agent.ending.code == EXIT_OK


def test_without_subscribe_it_only_stays() -> None:
    agent, net = _agent(subscribe=False, duration=10.0, expires=4)
    net.tick(10.0)
    assert net.subscribes == [] and agent.ending is not None and agent.ending.code == EXIT_OK
    assert sum(isinstance(r, Registered) for r in agent.reports) == 5  # at 0, 2, 4, 6, 8


def test_a_refused_subscribe_ends_with_1() -> None:
    counter = itertools.count()
    agent = Agent(demo_profile(IMSI), LOCAL, OUTBOUND,
                  rng=lambda n: bytes((next(counter) + i) % 256 for i in range(n)))
    net = Net(agent, demo_registrar(IMSI))
    net.subscribe_status = 403
    agent.start(0.0)
    net.run()
    assert agent.ending is not None and agent.ending.code == EXIT_FAILED
    assert agent.ending.message == "SUBSCRIBE failed: 403 Forbidden"


def test_a_failed_registration_ends_with_1() -> None:
    agent = Agent(demo_profile("001019999999999"), LOCAL, OUTBOUND)
    net = Net(agent, demo_registrar(IMSI))
    agent.start(0.0)
    net.run()
    assert agent.ending is not None and agent.ending.code == EXIT_FAILED
    assert agent.ending.message.startswith("registration failed: 403")


def test_a_reregistration_timeout_ends_with_1() -> None:
    agent, _ = _subscribed(expires=100)
    agent.handle_timer(50.0)
    (register,) = agent.outbox
    agent.on_result(register, TimedOut("F"), 82.0)
    assert agent.ending is not None and agent.ending.code == EXIT_FAILED
    assert "re-registration failed: 408" in agent.ending.message


def test_a_deactivated_subscription_is_made_again() -> None:
    agent, net = _subscribed()
    net.notify(document(IMPU, CONTACT, version=1), "terminated;reason=deactivated")
    assert agent.ending is None
    net.run()
    assert len(net.subscribes) == 2
    assert net.subscribes[1].call_id != net.subscribes[0].call_id  # a new dialog
    assert net.subscribes[1].to_tag is None
    assert "subscribing again" in str(agent.reports[-1])


def test_probation_waits_for_retry_after() -> None:
    agent, net = _subscribed()
    net.notify(None, "terminated;reason=probation;retry-after=20")
    net.run()
    assert len(net.subscribes) == 1 and agent.get_timer() == pytest.approx(20.0)
    net.tick(20.0)
    assert len(net.subscribes) == 2


def test_resubscribing_is_bounded() -> None:
    agent, net = _subscribed()
    for _ in range(MAX_RESUBSCRIBES + 1):
        net.notify(None, "terminated;reason=timeout")
        net.run()
    assert agent.ending is not None and agent.ending.code == EXIT_FAILED
    assert len(net.subscribes) == MAX_RESUBSCRIBES + 1


def test_a_subscription_rejected_by_the_notifier_ends_with_1() -> None:
    agent, net = _subscribed()
    net.notify(None, "terminated;reason=rejected")
    assert agent.ending is not None and agent.ending.code == EXIT_FAILED
    assert agent.ending.message == "subscription terminated: rejected"
