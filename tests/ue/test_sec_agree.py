"""Registration and the staying Agent with IPsec sec-agree (TS 33.203 §7, TS 24.229
§5.1.1.2, §5.1.1.4.1, §5.1.1.6), no sockets: the fake registrar behind a fake P-CSCF
that adds Security-Server to each 401, the kernel a MemoryKernel the test drives as the
adapter would."""

from __future__ import annotations

import itertools

from ims_core.ipsec.kernel import MemoryKernel
from ims_core.sip import Request
from ims_core.sip.secagree import mechanisms
from ims_core.transaction import TimedOut
from ims_core.ue import Registration, State, demo_profile
from ims_core.ue.agent import EXIT_DEREGISTERED, EXIT_FAILED, EXIT_OK, Agent, Registered
from ims_core.ue.messages import Local
from ims_core.ue.profile import UeProfile
from ims_core.ue.protection import RETIRE_SECONDS, Protection

from .notifier import FakeNotifier, document, wire
from .registrar import DOMAIN, FakeRegistrar, Sub
from .secagree import PORT_PS, Pcscf, apply_effects

IMSI = "001010000000011"
IMPU = f"sip:{IMSI}@{DOMAIN}"
UE, PORT = "127.0.0.122", 5200
PCSCF = ("127.0.0.120", 5060)
LOCAL = Local("udp", UE, PORT)
CONTACT = f"sip:{IMSI}@{UE}:{PORT}"


def _register(pcscf: Pcscf, p: Protection, kernel: MemoryKernel,
              profile: UeProfile | None = None, expires: int = 600) -> Registration:
    r = Registration(profile or demo_profile(IMSI), LOCAL, expires=expires, protection=p)
    req: Request | None = r.start()
    for _ in range(6):
        if req is None:
            return r
        assert apply_effects(p, kernel) is None
        req = r.receive(pcscf.answer(req))
    raise AssertionError("registration did not finish")


def test_registration_sets_up_the_sas_and_verifies_the_server_list() -> None:
    pcscf, kernel = Pcscf(), MemoryKernel()
    p = Protection(UE, PORT, PCSCF)
    r = _register(pcscf, p, kernel)
    assert r.state is State.DONE and r.outcome.ok, r.outcome
    first, second = pcscf.seen
    for req in (first, second):
        assert req.headers.get("require") == req.headers.get("proxy-require") == "sec-agree"
        assert mechanisms(req, "security-client")[0].port_c == PORT + 1
        assert str(req.contacts()[0].uri) == CONTACT  # port_us
        assert req.top_via().port == PORT
        # TS 24.229 §5.2.2.1: integrity-protected is the P-CSCF's to write.
        assert req.auth_headers("authorization")[0].integrity_protected is None
    assert "security-verify" not in first.headers
    assert pcscf.sec.verified(second)
    assert kernel.count() == (4, 4) and p.current is not None
    assert p.current.remote.port_s == PORT_PS
    assert r.outcome.ipsec.startswith("ipsec-3gpp alg=hmac-sha-1-96 ealg=aes-cbc")
    assert r.outcome.as_dict()["ipsec"] == r.outcome.ipsec


def test_an_sqn_resync_sets_up_no_sa_until_the_fresh_challenge() -> None:
    pcscf, kernel = Pcscf(), MemoryKernel()
    p = Protection(UE, PORT, PCSCF)
    r = Registration(demo_profile(IMSI, sqn_ms=b"\xff" * 5 + b"\x00"), LOCAL, protection=p)
    req = r.start()
    req2 = r.receive(pcscf.answer(req))
    assert req2 is not None and req2.auth_headers("authorization")[0].auts is not None
    assert p.take_effects() == [] and p.pending is None
    assert p.route("REGISTER").protected is False  # TS 24.229 §5.1.1.5.3: no new SAs
    assert "security-verify" not in req2.headers
    req3 = r.receive(pcscf.answer(req2))
    assert req3 is not None and p.pending is not None
    assert apply_effects(p, kernel) is None and pcscf.sec.verified(wire(req3), -1)
    assert r.receive(pcscf.answer(req3)) is None and r.outcome.ok and r.outcome.resynced


def test_an_md5_challenge_cannot_protect_anything() -> None:
    reg = FakeRegistrar()
    reg.add(Sub(impi=f"bob@{DOMAIN}", k=b"", opc=b"", password="pw", md5=True))
    pcscf = Pcscf(reg)
    p = Protection(UE, PORT, PCSCF)
    r = Registration(UeProfile(f"bob@{DOMAIN}", f"sip:bob@{DOMAIN}", password="pw"), LOCAL,
                     protection=p)
    assert r.receive(pcscf.answer(r.start())) is None
    assert r.state is State.FAILED and "IMS-AKA" in r.outcome.error
    assert p.offer is None and p.take_effects() == []


def test_a_refused_install_fails_the_registration() -> None:
    pcscf, kernel = Pcscf(), MemoryKernel(fail_next=PermissionError(1, "no"))
    p = Protection(UE, PORT, PCSCF)
    r = Registration(demo_profile(IMSI), LOCAL, protection=p)
    assert r.receive(pcscf.answer(r.start())) is not None
    error = apply_effects(p, kernel)
    assert error is not None
    r.install_failed(error)
    assert r.state is State.FAILED and r.outcome.status == 503
    assert r.outcome.error.startswith("IPsec: ") and kernel.count() == (0, 0)
    assert p.installed == [] and p.client_ports == set()


def test_no_protection_changes_nothing() -> None:
    req = Registration(demo_profile(IMSI), LOCAL).start()
    assert "security-client" not in req.headers and "require" not in req.headers
    assert req.auth_headers("authorization")[0].integrity_protected == "no"


# -- the Agent ---------------------------------------------------------------------------------
class Net:
    """The fake P-CSCF, registrar and notifier answering the agent's outbox; the kernel
    work done before each send, as the adapter does."""

    def __init__(self, agent: Agent, kernel: MemoryKernel) -> None:
        self.agent = agent
        self.kernel = kernel
        self.pcscf = Pcscf()
        self.notifier = FakeNotifier()
        self.subscribes: list[Request] = []
        self.now = 0.0

    def run(self) -> None:
        p = self.agent.protection
        assert p is not None
        for _ in range(30):
            error = apply_effects(p, self.kernel)
            if error is not None:
                self.agent.install_failed(error, self.now)
                apply_effects(p, self.kernel)
            if not self.agent.outbox:
                return
            req = self.agent.outbox.pop(0)
            if req.method == "REGISTER":
                reply = self.pcscf.answer(req)
            else:
                seen = wire(req)
                assert isinstance(seen, Request)
                self.subscribes.append(seen)
                reply = self.notifier.answer(seen)
            self.agent.on_result(req, reply, self.now)
        raise AssertionError("the agent kept sending")

    def tick(self, until: float) -> None:
        while (t := self.agent.get_timer()) is not None and t <= until:
            self.now = t
            self.agent.handle_timer(t)
            self.run()
        self.now = until


def _agent(kernel: MemoryKernel | None = None, **kwargs: object) -> tuple[Agent, Net]:
    counter = itertools.count()
    agent = Agent(demo_profile(IMSI), LOCAL, "<sip:127.0.0.120:5060;lr>",
                  rng=lambda n: bytes((next(counter) + i) % 256 for i in range(n)),
                  protection=Protection(UE, PORT, PCSCF), expires=600,
                  **kwargs)  # type: ignore[arg-type]
    net = Net(agent, kernel or MemoryKernel())
    agent.start(0.0)
    net.run()
    return agent, net


def test_the_agent_subscribes_over_the_sas_through_the_protected_port() -> None:
    _, net = _agent()
    (sub,) = net.subscribes
    assert sub.headers.values("route")[0] == f"<sip:127.0.0.120:{PORT_PS};lr>"
    assert net.pcscf.sec.verified(sub)
    assert sub.headers.get("require") == "sec-agree" and sub.top_via().port == PORT
    assert str(sub.contacts()[0].uri) == CONTACT
    assert net.kernel.count() == (4, 4)


def test_reregistration_moves_to_a_new_set_and_retires_the_old_one() -> None:
    agent, net = _agent()
    p = agent.protection
    assert p is not None and p.current is not None
    first = p.current
    refresh = agent.get_timer()
    assert refresh is not None
    net.tick(refresh)  # the re-REGISTER, its 401, the answer over the new set, the 200
    rereg, answer = net.pcscf.seen[2:]
    assert net.pcscf.sec.verified(rereg, 0) and net.pcscf.sec.verified(answer, 1)
    assert mechanisms(rereg, "security-client")[0].port_c == PORT + 2
    assert p.current is not None and p.current.local.port_c == PORT + 2
    assert isinstance(agent.reports[-1], Registered) and agent.reports[-1].outcome.ok
    assert net.kernel.count() == (8, 8)
    assert agent.get_timer() == refresh + RETIRE_SECONDS
    net.tick(refresh + RETIRE_SECONDS)
    assert net.kernel.count() == (4, 4)
    assert not net.kernel.sas & set(first.sa_set.sas)


def test_then_deregister_at_the_end_of_the_duration() -> None:
    agent, net = _agent(duration=30.0, deregister=True, subscribe=False)
    net.tick(30.0)
    dereg = net.pcscf.seen[-2:]
    assert [r.headers.get("expires") for r in dereg] == ["0", "0"]
    assert not dereg[0].is_contact_star() and str(dereg[0].contacts()[0].uri) == CONTACT
    assert net.pcscf.sec.verified(dereg[0], 0) and net.pcscf.sec.verified(dereg[1], 1)
    assert agent.ending is not None and agent.ending.code == EXIT_OK
    assert agent.ending.message == "de-registered: 200 OK"
    assert not net.pcscf.registrar.bindings


def test_then_deregister_without_anything_to_stay_for() -> None:
    agent, net = _agent(deregister=True, subscribe=False)
    assert [r.headers.get("expires") for r in net.pcscf.seen] == ["600", "600", "0", "0"]
    assert agent.ending is not None and agent.ending.code == EXIT_OK


def test_our_own_deregistration_is_no_network_deregistration() -> None:
    agent, net = _agent(duration=30.0, deregister=True)
    assert agent.subscription is not None
    net.tick(30.0)
    resp = agent.on_request(net.notifier.notify(
        document(IMPU, CONTACT, version=1, reg_state="terminated",
                 contact_state="terminated", event="unregistered"),
        "terminated;reason=noresource"), 30.5)
    assert resp is not None and resp.status == 200
    assert agent.ending is not None and agent.ending.code == EXIT_OK


def test_a_network_deregistration_still_ends_the_run() -> None:
    agent, net = _agent()
    agent.on_request(net.notifier.notify(document(
        IMPU, CONTACT, version=1, reg_state="terminated", contact_state="terminated",
        event="deactivated")), 5.0)
    assert agent.ending is not None and agent.ending.code == EXIT_DEREGISTERED


def test_a_refused_install_ends_the_run() -> None:
    agent, net = _agent(MemoryKernel(fail_next=PermissionError(1, "no")))
    assert agent.ending is not None and agent.ending.code == EXIT_FAILED
    assert "IPsec" in agent.ending.message and net.kernel.count() == (0, 0)


def test_a_reregistration_that_times_out_keeps_nothing_new() -> None:
    agent, net = _agent()
    refresh = agent.get_timer()
    assert refresh is not None
    agent.handle_timer(refresh)
    (rereg,) = agent.outbox
    agent.outbox.clear()
    agent.on_result(rereg, TimedOut("F"), refresh + 32)
    p = agent.protection
    assert p is not None
    apply_effects(p, net.kernel)
    assert agent.ending is not None and agent.ending.code == EXIT_FAILED
    assert p.offer is None and p.pending is None and net.kernel.count() == (4, 4)
    p.close()
    apply_effects(p, net.kernel)
    assert net.kernel.count() == (0, 0)



def test_a_stop_with_then_deregister_deregisters_first() -> None:
    agent, net = _agent(duration=100.0, deregister=True, subscribe=False)
    agent.stop(5.0)  # SIGTERM
    assert agent.ending is None and agent.get_timer() is None  # no more --duration
    net.run()
    assert net.pcscf.seen[-1].headers.get("expires") == "0"
    assert agent.ending is not None and agent.ending.message == "de-registered: 200 OK"


def test_a_second_stop_ends_at_once() -> None:
    agent, _ = _agent(duration=100.0, deregister=True, subscribe=False)
    agent.stop(5.0)
    (dereg,) = agent.outbox
    assert dereg.headers.get("expires") == "0"
    agent.stop(5.1)  # the impatient second Ctrl-C
    assert agent.ending is not None and (agent.ending.code, agent.ending.message) == (
        EXIT_OK, "stopped") and agent.outbox == []
