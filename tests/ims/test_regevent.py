"""The reg event package end to end with the four real processes (TS 24.229 §5.4.2.1,
§5.2.3, §5.4.1.5; RFC 3680, RFC 6665) and the Cx procedures that drive it (RTR, PPR).

Each test registers a subscriber of its own with our UE (``ims-core ue register``), then
takes over the UE's address with a bare socket (:class:`RawUe`) to subscribe, answer or
ignore NOTIFYs, and place requests, while the operator acts with ``ims-core subscriber``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from hss.provision import demo_msisdn
from ims_core import reginfo
from ims_core.sip import Request, Response
from ims_lab.plan import Addresses, split_sipp_csv
from ims_lab.procs import IMS_CORE
from tests.integration.conftest import (
    Processes,
    require_tools,
    run_sipp,
    wait_for_log,
)

from .conftest import (
    AS_HOST,
    AS_IMSI,
    AS_PORT,
    DOMAIN,
    P_HOST,
    SCENARIOS,
    SIP_PORT,
    SIPP_HOST,
    UE_HOST,
    Lab,
    _start_lab,
    imsi,
)
from .rawue import RawUe, RegSubscription

pytestmark = pytest.mark.integration

# The short-T1 lab's address plan (no other test uses these) and its UE's address.
QUICK_PLAN = Addresses("127.0.0.226", "127.0.0.227", "127.0.0.228", "127.0.0.229")
QUICK_UE = "127.0.0.230"


def implicit_set(n: int) -> set[str]:
    msisdn = demo_msisdn(imsi(n))
    return {f"sip:{imsi(n)}@{DOMAIN}", f"sip:+{msisdn}@{DOMAIN}", f"tel:+{msisdn}"}


def register(lab: Lab, n: int, expires: int = 600) -> RawUe:
    port = lab.next_ue_port()
    r = lab.ue("register", "--imsi", imsi(n), "--expires", str(expires), local_port=port)
    assert r.code == 0, r.output + lab.logs()
    routes = r.data["service_route"]
    assert isinstance(routes, list) and routes
    return RawUe(lab.ue_host, port, f"sip:{imsi(n)}@{DOMAIN}", (lab.plan.pcscf, SIP_PORT),
                 str(routes[0]))


@pytest.fixture
def ues() -> Iterator[list[RawUe]]:
    made: list[RawUe] = []
    yield made
    for ue in made:
        ue.close()


def subscribed(ue: RawUe) -> tuple[RegSubscription, reginfo.Reginfo, Request]:
    """SUBSCRIBE for the UE's own identity; the 200 and the first NOTIFY, in either order
    (RFC 6665 §4.1.2.4)."""
    sub = RegSubscription(ue)
    req = sub.subscribe()
    ok = ue.response_to(req)
    assert ok.status == 200, ok
    assert int(ok.headers.get("expires") or 0) > 0
    sub.established(ok)
    notify = sub.notify()
    assert (notify.headers.get("event") or "").split(";")[0].strip() == "reg"
    assert notify.headers.get("content-type") == reginfo.CONTENT_TYPE
    return sub, reginfo.parse(notify.body), notify


def test_ue_subscription_gets_full_state(lab: Lab, ues: list[RawUe]) -> None:
    ues.append(ue := register(lab, 420))
    _, doc, notify = subscribed(ue)
    assert (notify.headers.get("subscription-state") or "").startswith("active")
    assert doc.state == "full" and doc.version == 0
    assert {r.aor for r in doc.registrations} == implicit_set(420)
    for reg in doc.registrations:
        assert reg.state == "active"
        (contact,) = reg.active_contacts
        assert contact.uri == f"sip:ue@{UE_HOST}:{ue.port}" or ue.host in contact.uri
        assert contact.expires is not None and 0 < contact.expires <= 600


def test_refresh_and_unsubscribe(lab: Lab, ues: list[RawUe]) -> None:
    ues.append(ue := register(lab, 421))
    sub, first, _ = subscribed(ue)
    refresh = sub.subscribe(expires=3600)  # inside the dialog (RFC 6665 §4.1.2.2)
    assert ue.response_to(refresh).status == 200
    again = reginfo.parse(sub.notify().body)
    assert again.version == first.version + 1 and again.state == "full"
    bye = sub.subscribe(expires=0)  # §4.1.2.3: unsubscribe → a final NOTIFY
    assert ue.response_to(bye).status == 200
    last = sub.notify()
    assert (last.headers.get("subscription-state") or "").startswith("terminated")


def test_subscribe_for_someone_elses_identity_is_403(lab: Lab, ues: list[RawUe]) -> None:
    ues.append(ue := register(lab, 422))
    ues.append(register(lab, 423))
    snoop = RegSubscription(ue, resource=f"sip:{imsi(423)}@{DOMAIN}")
    resp = ue.response_to(snoop.subscribe())
    assert resp.status == 403, resp


def test_rtr_notifies_ue_and_pcscf_then_the_pcscf_refuses_the_ue(
        lab: Lab, ues: list[RawUe]) -> None:
    ues.append(ue := register(lab, 424))
    sub, _, _ = subscribed(ue)
    out = lab.ims_core("subscriber", "-c", str(lab.configs["hss"]), "deregister", imsi(424),
                       "--reason", "permanent", "--info", "test")
    assert out.returncode == 0, out.stdout + out.stderr + lab.logs()
    assert "2001" in out.stdout, out.stdout
    notify = sub.notify()
    assert (notify.headers.get("subscription-state") or "").startswith("terminated")
    doc = reginfo.parse(notify.body)
    assert {r.aor for r in doc.registrations} == implicit_set(424)
    for reg in doc.registrations:
        assert reg.state == "terminated"
        assert reg.contacts and all(c.state == "terminated" and c.event == "rejected"
                                    for c in reg.contacts)
    # The P-CSCF learnt it from its own subscription: the UE is no longer served.
    invite = ue.build("INVITE", f"sip:{imsi(425)}@{DOMAIN}", to=f"<sip:{imsi(425)}@{DOMAIN}>")
    ue.send(invite)
    resp = ue.response_to(invite)
    assert resp.status == 403, resp
    impus = [line for line in lab.subscriber(imsi(424)).splitlines()
             if line.startswith("IMPU:")]
    assert impus and all(line.endswith("NOT_REGISTERED") for line in impus), impus


def test_profile_update_pushes_ppr_and_notifies_the_new_implicit_set(
        lab: Lab, ues: list[RawUe]) -> None:
    ues.append(ue := register(lab, 426))
    sub, doc, _ = subscribed(ue)
    extra = f"sip:extra-{imsi(426)}@{DOMAIN}"
    out = lab.ims_core("subscriber", "-c", str(lab.configs["hss"]), "update", imsi(426),
                       "--add-impu", extra)
    assert out.returncode == 0, out.stdout + out.stderr + lab.logs()
    notify = sub.notify()
    new = reginfo.parse(notify.body)
    assert new.version > doc.version
    assert extra in {r.aor for r in new.registrations if r.state == "active"}, new


def _call(caller: RawUe, callee: RawUe) -> None:
    """INVITE → 200 → ACK → BYE → 200 between two registered raw UEs."""
    invite = caller.build("INVITE", callee.impu, to=f"<{callee.impu}>")
    caller.send(invite)
    got = callee.request("INVITE", call_id=invite.call_id)
    callee.answer(got, 200, f"Contact: {callee.contact}", tag="callee1")
    ok = caller.response_to(invite)
    assert ok.status == 200, ok
    route = list(reversed([str(v) for v in ok.addresses("record-route")]))
    target = str(ok.contacts()[0].uri)
    to = f"<{callee.impu}>;tag={ok.to_addr.tag}"
    from_tag = invite.from_addr.tag
    ack = caller.build("ACK", target, to=to, call_id=invite.call_id, from_tag=from_tag,
                       route=route)
    caller.send(ack)
    bye = caller.build("BYE", target, to=to, call_id=invite.call_id, from_tag=from_tag,
                       cseq=2, route=route)
    caller.send(bye)
    got_bye = callee.request("BYE", call_id=invite.call_id)
    callee.answer(got_bye, 200)
    assert caller.response_to(bye).status == 200


@pytest.fixture(scope="module")
def quick_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab of its own whose CSCFs run with T1 = 0.1 s: Timer F (64*T1) is 6.4 s, not 32."""
    the_lab = _start_lab(tmp_path_factory.mktemp("quick_t1_lab"), QUICK_PLAN, QUICK_UE, t1=0.1)
    try:
        yield the_lab
    finally:
        the_lab.procs.stop_all()


def test_an_unanswered_notify_does_not_disturb_the_scscf(quick_lab: Lab,
                                                         ues: list[RawUe]) -> None:
    lab = quick_lab
    ues.append(mute := register(lab, 427))
    sub = RegSubscription(mute)
    ok = mute.response_to(sub.subscribe())
    assert ok.status == 200
    sub.notify(answer=False)  # and every retransmission of it, never answered
    begin = time.monotonic()
    # Meanwhile the S-CSCF registers and routes calls as ever.
    ues.append(a := register(lab, 428))
    ues.append(b := register(lab, 429))
    _call(a, b)
    ues.append(register(lab, 430))
    # Timer F (64*T1) later the S-CSCF gives up on that NOTIFY and ends the subscription:
    # that one subscription only (RFC 6665 §4.2.2).
    scscf = lab.children["scscf"]
    impu = f"sip:{imsi(427)}@{DOMAIN}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        dropped = [line for line in scscf.output().splitlines()
                   if "regevent_dropped" in line and impu in line]
        if dropped:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the unanswered NOTIFY never ended its subscription\n" + lab.logs())
    # Not before Timer F: the retransmissions were sent, not given up on early.
    assert time.monotonic() - begin > 64 * 0.1 * 0.8, dropped
    assert "408" in dropped[0], dropped
    assert scscf.proc.poll() is None
    ues.append(register(lab, 430))  # and it still registers


def test_a_notify_answered_481_ends_only_that_subscription(lab: Lab, ues: list[RawUe]) -> None:
    ues.append(ue := register(lab, 431))
    sub = RegSubscription(ue)
    ok = ue.response_to(sub.subscribe())
    sub.established(ok)
    notify = sub.notify(answer=False)
    ue.answer(notify, 481)
    fresh = RegSubscription(ue)  # a new subscription still works
    again = fresh.subscribe()
    assert ue.response_to(again).status == 200
    assert isinstance(fresh.notify(), Request)
    assert not [m for m in ue.backlog if isinstance(m, Response) and m.status >= 500]


def test_third_party_register_reaches_a_sipp_as(lab: Lab) -> None:
    """TS 24.229 §5.4.1.7: the REGISTER iFC's AS gets the S-CSCF's REGISTER after the 200."""
    require_tools("sipp")
    procs = Processes(lab.workdir)
    log = lab.workdir / "as_register.log"
    try:
        sipp = procs.start("sipp-as", [
            "sipp", "-sf", str(SCENARIOS / "as_register_uas.xml"), "-i", AS_HOST, "-p",
            str(AS_PORT), "-t", "u1", "-m", "1", "-nostdin", "-timeout", "30s",
            "-trace_logs", "-log_file", str(log)])
        time.sleep(0.5)  # SIPp binds its socket
        r = lab.ue("register", "--imsi", AS_IMSI, "--expires", "600")
        assert r.code == 0, r.output + lab.logs()
        assert sipp.proc.wait(30) == 0, sipp.output() + lab.logs()
    finally:
        procs.stop_all()
    text = log.read_text()
    assert f"<sip:{AS_IMSI}@{DOMAIN}>" in text and "Expires:600" in text, text
    assert "application/3gpp-ims+xml" in text, text


def test_our_ue_watches_its_registration_and_leaves_when_rejected(lab: Lab) -> None:
    """``ims-core ue register --subscribe``: NOTIFYs printed; exit 4 on RTR
    PERMANENT_TERMINATION (event ``rejected``, TS 24.229 §5.1.1.5)."""
    procs = Processes(lab.workdir)
    sub = imsi(432)
    try:
        ue = procs.start("ue-subscribe", [
            *IMS_CORE, "ue", "register", "--pcscf", f"{P_HOST}:{SIP_PORT}", "--local",
            f"{UE_HOST}:{lab.next_ue_port()}", "--imsi", sub, "--subscribe", "--duration",
            "60", "--timeout", "8"])
        wait_for_log(ue, "NOTIFY version=0", timeout=20)
        out = lab.ims_core("subscriber", "-c", str(lab.configs["hss"]), "deregister", sub)
        assert out.returncode == 0, out.stdout + out.stderr
        assert ue.proc.wait(20) == 4, ue.output()
    finally:
        procs.stop_all()
    assert "rejected" in ue.output().strip().splitlines()[-1], ue.output()


def test_sipp_ues_register_and_subscribe(lab: Lab) -> None:
    """config/sipp/subscribe_reg.xml: REGISTER with AKA, SUBSCRIBE, the first NOTIFY."""
    users = lab.workdir / "subscribe_users.csv"
    users.write_text(split_sipp_csv(lab.sipp_csv, {"u": range(433, 440)})["u"])
    argv = ["sipp", f"{P_HOST}:{SIP_PORT}", "-sf", str(SCENARIOS / "subscribe_reg.xml"),
            "-inf", str(users), "-i", SIPP_HOST, "-p", "15172", "-t", "u1", "-m", "7",
            "-r", "4", "-nostdin", "-timeout", "60s", "-timeout_error", "-recv_timeout",
            "10000"]  # bounded: -m, -timeout, and run_sipp's own timeout
    result = run_sipp(lab.workdir, "sipp-subscribe", argv, timeout=90)
    assert result.successful == 7 and result.failed == 0, result.screen[-3000:] + lab.logs()


def test_barring_by_ppr_refuses_the_next_originating_request(
        lab: Lab, ues: list[RawUe]) -> None:
    """TS 29.228 §6.2.2: a PPR bars the registered identity. The S-CSCF would refuse
    its requests (403 "Served User Barred", tests/scscf); here the P-CSCF already knows
    from its reg NOTIFY that the identity is gone and refuses the UE's next INVITE."""
    ues.append(ue := register(lab, 444))
    out = lab.ims_core("subscriber", "-c", str(lab.configs["hss"]), "update", imsi(444),
                       "--bar", ue.impu)
    assert out.returncode == 0 and "PPA 2001" in out.stdout, out.stdout + out.stderr
    callee = f"sip:{imsi(445)}@{DOMAIN}"
    invite = ue.build("INVITE", callee, to=f"<{callee}>")
    ue.send(invite)
    resp = ue.response_to(invite)
    assert (resp.status, resp.reason) == (403, "Forbidden - Not Registered"), resp
