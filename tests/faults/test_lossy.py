"""Registrations and calls over UDP through lossy, jittery links (impairment relays).

P-CSCF 127.0.0.181, I-CSCF .182, S-CSCF .183, HSS .184; relays (5 % loss, 20-50 ms
jitter, 1 % duplication, each way): UEs → P-CSCF on .185, P-CSCF → I-CSCF and S-CSCF →
I-CSCF on .186, I-CSCF → S-CSCF on .187. SIPp UEs: ``N`` registering on .188, the
callee and the caller on .189. Every SIPp request carries ``rport``, so answers and
terminating requests come back through the relay too (RFC 3581). A request over 1300
bytes (an INVITE with SDP between the nodes) goes over TCP (RFC 3261 §18.1.1): the relays
pass TCP through unimpaired. SIPp runs with ``-default_behaviors all,-abortunexp``: over
UDP a 180 may well arrive after the 200 it preceded (jitter reorders them), which a UA
ignores (RFC 3261 §13.2.2.4 is about the 2xx; a stale provisional changes nothing) but the
scenarios would count as an unexpected message and abort the call. The callee's
scenario gets a ``<timewait>`` at its end (:func:`lingering_uas`): a UAS keeps answering a
retransmitted BYE for Timer J (RFC 3261 §17.2.2), while SIPp forgets a finished call and
leaves the caller retransmitting into silence when the 200 was lost. The hops the route
set names (Path, Service-Route, Record-Route) go to the nodes themselves.

Recovery is the transactions' own: SIPp's and the nodes' retransmissions (RFC 3261
§17.1.1.2, §17.1.2.2), the nodes absorbing the retransmitted and duplicated requests.
Shown: ≥ 99 % of the registrations and calls succeed, every registered UE has exactly
one binding at the S-CSCF, every call reaches the callee once and is over afterwards.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ims_lab.plan import DOMAIN, SIP_PORT, Addresses, imsi
from ims_lab.procs import Processes, free_port
from ims_lab.running import RunningLab
from tests.integration.conftest import REPO, SippResult, require_tools, run_sipp
from tests.integration.test_metrics_e2e import readyz, scrape, value

from .lab import Hops, start_rewired_lab, write_sipp_csvs
from .relay import Impairment, RelayCounters, UdpRelay, running_relays

pytestmark = pytest.mark.integration

P_HOST, I_HOST, S_HOST, HSS_HOST = "127.0.0.181", "127.0.0.182", "127.0.0.183", "127.0.0.184"
R_UE, R_ICSCF, R_SCSCF = "127.0.0.185", "127.0.0.186", "127.0.0.187"
UES, CALL_HOST = "127.0.0.188", "127.0.0.189"
N = 100  # registrations
M = 20  # calls
CALLEE, CALLER = N + 1, N + 2  # subscriber numbers (ims_lab.plan.imsi)
SCENARIOS = REPO / "config" / "sipp"
NODES = ("pcscf", "icscf", "scscf", "hss")
LOSSY = Impairment(loss=0.05, duplicate=0.01, delay=(0.020, 0.050))


@dataclass
class Run:
    lab: RunningLab
    reg: SippResult
    caller_reg: SippResult
    calls: SippResult
    contacts: dict[str, float]  # node → ims_contacts_active after the registrations
    calls_active: float  # the S-CSCF's, after the calls
    invites: list[str]  # Call-IDs of the INVITEs the callee's scenario saw
    relays: dict[str, RelayCounters]
    seconds: float

    def detail(self) -> str:
        return (f"relays: {self.relays}\nregistrations: {self.reg.screen[-1500:]}\n"
                f"calls: {self.calls.screen[-1500:]}\n{self.lab.logs(tail=2000)}")


def sipp(workdir: Path, name: str, scenario: str, csv: Path, host: str, port: int,
         calls: int, *extra: str, timeout: float = 60.0) -> list[str]:
    """A bounded SIPp UE over UDP, sending to the UE-side relay."""
    return ["sipp", f"{R_UE}:{SIP_PORT}", "-sf", str(SCENARIOS / scenario), "-inf", str(csv),
            "-i", host, "-p", str(port), "-t", "u1", "-m", str(calls), "-nostdin",
            "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err", "-error_file",
            str(workdir / f"{name}_errors.log"), "-default_behaviors", "all,-abortunexp",
            *extra]


TIMER_J_MS = 8000  # long enough for several BYE retransmissions (T1 500 ms doubling)


def lingering_uas(workdir: Path) -> Path:
    """config/sipp/uas_calls.xml with a ``<timewait>`` after its last step (unless it has
    one), written into ``workdir``."""
    text = (SCENARIOS / "uas_calls.xml").read_text()
    if "<timewait" not in text:
        end = '<label id="end"/>'
        assert text.count(end) == 1, "uas_calls.xml no longer ends at one label 'end'"
        text = text.replace(end, f'{end}\n  <timewait milliseconds="{TIMER_J_MS}"/>')
    path = workdir / "uas_calls_timewait.xml"
    path.write_text(text)
    return path


def wait_for(check: object, what: str, timeout: float, detail: RunningLab) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}\n{detail.logs()}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    require_tools("sipp")
    workdir = tmp_path_factory.mktemp("lossy")
    started = time.monotonic()
    plan = Addresses(P_HOST, I_HOST, S_HOST, HSS_HOST, metrics_port=free_port(P_HOST))
    relays = {
        "ue-pcscf": UdpRelay((R_UE, SIP_PORT), (P_HOST, SIP_PORT), LOSSY, seed=1,
                             tcp=True),
        "to-icscf": UdpRelay((R_ICSCF, SIP_PORT), (I_HOST, SIP_PORT), LOSSY, seed=2,
                             tcp=True),
        "icscf-scscf": UdpRelay((R_SCSCF, SIP_PORT), (S_HOST, SIP_PORT), LOSSY, seed=3,
                                tcp=True),
    }
    hops = Hops(pcscf_to_icscf=f"{R_ICSCF}:{SIP_PORT}", icscf_to_scscf=f"{R_SCSCF}:{SIP_PORT}",
                scscf_to_icscf=f"{R_ICSCF}:{SIP_PORT}")
    with running_relays(list(relays.values())) as thread:
        try:
            lab = start_rewired_lab(workdir, plan, hops, subscribers=CALLER, metrics=True,
                                    log_level="info")
        except RuntimeError as exc:
            pytest.fail(f"the lab did not start: {exc}")
        procs = Processes(workdir)
        try:
            wait_for(lambda: all(readyz(plan, n) == 200 for n in NODES), "nodes not ready",
                     30, lab)
            paths = write_sipp_csvs(workdir, lab, {"reg": range(1, N + 1),
                                                   "callee": range(CALLEE, CALLEE + 1),
                                                   "caller": range(CALLER, CALLER + 1)})

            reg = run_sipp(workdir, "register", sipp(
                workdir, "register", "register_aka.xml", paths["reg"], UES, 5070, N,
                "-r", "25", "-l", str(N)), timeout=90)
            # The P-CSCF's own reg subscriptions ride on the registrations: let them settle.
            wait_for(lambda: value(scrape(plan, "scscf"), "ims_reg_subscriptions_active")
                     >= reg.successful, "reg subscriptions", 30, lab)
            contacts = {n: value(scrape(plan, n), "ims_contacts_active")
                        for n in ("pcscf", "scscf")}

            log = workdir / "callee_logs.log"
            callee = procs.start("callee", [
                *sipp(workdir, "callee", "uas_aka.xml", paths["callee"], CALL_HOST, 5070, 1,
                      "-oocsf", str(lingering_uas(workdir)), "-d", "120000",
                      timeout=130), "-trace_logs", "-log_file", str(log)])
            wait_for(lambda: log.exists() and "registered" in log.read_text(errors="replace")
                     and callee.proc.poll() is None, "callee registration", 30, lab)
            route = f"<sip:{P_HOST}:{SIP_PORT};lr>,<sip:orig@{S_HOST}:{SIP_PORT};lr>"
            keys = ("-key", "callee", f"sip:{imsi(CALLEE)}@{DOMAIN}",
                    "-key", "route", route, "-key", "flow", "call")
            caller_reg = run_sipp(workdir, "caller_reg", sipp(
                workdir, "caller_reg", "uac_aka.xml", paths["caller"], CALL_HOST, 5071, 1,
                *keys, "-key", "mode", "reg"), timeout=60)
            calls = run_sipp(workdir, "calls", sipp(
                workdir, "calls", "uac_aka.xml", paths["caller"], CALL_HOST, 5071, M,
                *keys, "-key", "mode", "noreg", "-r", "10", "-l", str(M), "-d", "1000"),
                timeout=90)
            deadline = time.monotonic() + 40  # the failing test shows what stays
            while (value(scrape(plan, "scscf"), "ims_calls_active") != 0
                   and time.monotonic() < deadline):
                time.sleep(0.2)
            time.sleep(0.5)
            calls_active = value(scrape(plan, "scscf"), "ims_calls_active")
            text = log.read_text(errors="replace")
            invites = re.findall(r"^INVITE (\S+) Via:", text, re.MULTILINE)
            yield Run(lab, reg, caller_reg, calls, contacts, calls_active, invites,
                      dict(zip(relays, thread.counters(), strict=True)),
                      time.monotonic() - started)
        finally:
            procs.stop_all()
            lab.stop()


def test_the_links_were_lossy(run: Run) -> None:
    for name, c in run.relays.items():
        assert c.received > 0 and c.dropped > 0, (name, c)
        assert c.dropped / c.received == pytest.approx(LOSSY.loss, abs=0.03), (name, c)
    assert sum(c.duplicated for c in run.relays.values()) > 0
    assert sum(c.reordered for c in run.relays.values()) > 0


def test_registrations_succeed(run: Run) -> None:
    assert run.reg.successful + run.reg.failed == N, run.detail()
    assert run.reg.successful >= 0.99 * N, run.detail()


def test_one_binding_per_registered_ue(run: Run) -> None:
    # No retransmitted or duplicated REGISTER made a second contact.
    assert run.contacts["scscf"] == run.reg.successful, (run.contacts, run.detail())
    assert run.contacts["pcscf"] == run.reg.successful, (run.contacts, run.detail())


def test_calls_succeed_once_each(run: Run) -> None:
    assert run.caller_reg.successful == 1, run.detail()
    assert run.calls.successful + run.calls.failed == M, run.detail()
    assert run.calls.successful >= 0.99 * M, run.detail()
    # The callee saw each call's INVITE once (retransmissions absorbed on the way or by
    # SIPp as the same call): exactly M calls, M distinct Call-IDs.
    assert len(run.invites) == M and len(set(run.invites)) == M, (run.invites, run.detail())


def test_no_call_left_at_the_scscf(run: Run) -> None:
    assert run.calls_active == 0, run.detail()


def test_within_budget(run: Run) -> None:
    print(f"\nlossy: {run.reg.successful}/{N} registrations, {run.calls.successful}/{M} calls, "
          f"contacts {run.contacts}, {len(run.invites)} INVITEs at the callee, "
          f"{run.seconds:.1f} s; relays {run.relays}")
    assert run.seconds < 120, run.seconds
