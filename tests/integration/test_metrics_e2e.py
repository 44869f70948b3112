"""The four nodes' /metrics agree exactly with the traffic SIPp sent through them.

A lab of its own with every metrics listener on: P-CSCF 127.0.0.131, I-CSCF .132,
S-CSCF .133, HSS .134 (metrics on each node's address); SIPp UEs registering 127.0.0.135,
the callee .136, the caller .137. Scraped before and after each phase:

A. ``N`` IMS-AKA registrations (config/sipp/register_aka.xml), each REGISTER / 401 /
   REGISTER / 200, then the P-CSCF's reg-event SUBSCRIBE and the S-CSCF's NOTIFY.
B. The callee (uas_aka.xml, which stays up and serves calls) and the caller
   (uac_aka.xml, call 1 only) register: two more of the same.
C. ``M`` calls from the registered caller (uac_aka.xml ``-key mode noreg``, flow
   ``call``: INVITE / 100 / 180 / 200 / ACK / hold / BYE / 200), held long enough that
   all are up at once: UE → P-CSCF → S-CSCF (orig) → I-CSCF (LIR) → S-CSCF (term) →
   P-CSCF → UE. The I-CSCF does not Record-Route; the S-CSCF's two Record-Route entries
   (orig, term) are adjacent in the route set, so an ACK or BYE reaches it once (it
   consumes both, RFC 3261 §16.4) and the P-CSCF twice; the S-CSCF counts each call
   once in ``ims_calls_active``, though both its legs pass it.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ims_lab.plan import DOMAIN, SIP_PORT, Addresses, imsi, split_sipp_csv
from ims_lab.procs import Processes, free_port
from ims_lab.running import RunningLab, start_lab

from .conftest import REPO, require_tools, run_sipp

pytestmark = pytest.mark.integration

P_HOST, I_HOST, S_HOST, HSS_HOST = "127.0.0.131", "127.0.0.132", "127.0.0.133", "127.0.0.134"
UES, CALLEE_HOST, CALLER_HOST = "127.0.0.135", "127.0.0.136", "127.0.0.137"
N = 20  # registrations in phase A
M = 5  # calls in phase C
CALLEE, CALLER = N + 1, N + 2  # subscriber numbers (ims_lab.plan.imsi)
HOLD_MS = 3000  # each call is held this long: all M are up together
SCENARIOS = REPO / "config" / "sipp"
NODES = ("pcscf", "icscf", "scscf", "hss")

Key = tuple[str, tuple[tuple[str, str], ...]]
Scrape = dict[Key, float]


def scrape(plan: Addresses, node: str) -> Scrape:
    host, port = plan.metrics(node)
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    assert response.status == 200, text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def readyz(plan: Addresses, node: str) -> int:
    host, port = plan.metrics(node)
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def value(s: Scrape, name: str, **labels: str) -> float:
    return s.get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass
class Phase:
    """Each node's scrape before and after."""

    before: dict[str, Scrape]
    after: dict[str, Scrape] = field(default_factory=dict)

    def delta(self, node: str, name: str, **labels: str) -> float:
        return value(self.after[node], name, **labels) - value(self.before[node], name, **labels)

    def deltas(self, node: str, name: str, label: str) -> dict[str, float]:
        """Every non-zero change of ``name`` by the value of ``label`` (others summed)."""
        out: dict[str, float] = {}
        for (n, labels), v in self.after[node].items():
            if n == name:
                key = dict(labels).get(label, "")
                out[key] = out.get(key, 0.0) + v - self.before[node].get((n, labels), 0.0)
        return {k: v for k, v in out.items() if v}


@dataclass
class Run:
    lab: RunningLab
    plan: Addresses
    a: Phase
    b: Phase
    c: Phase
    peak_calls: float
    notes: list[str]

    def detail(self) -> str:
        return "\n".join(self.notes) + "\n" + self.lab.logs(tail=3000)


def scrape_all(plan: Addresses) -> dict[str, Scrape]:
    return {node: scrape(plan, node) for node in NODES}


def settle(plan: Addresses, done: Callable[[dict[str, Scrape]], bool],
           timeout: float = 15.0) -> dict[str, Scrape]:
    """Scrape until ``done`` (the follow-up exchanges are over), then once more after a
    pause that would show any straggler."""
    deadline = time.monotonic() + timeout
    while True:
        now = scrape_all(plan)
        if done(now) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    return scrape_all(plan)


def notified(before: dict[str, Scrape], registrations: int
             ) -> Callable[[dict[str, Scrape]], bool]:
    """True once the P-CSCF has answered one NOTIFY per new registration."""
    def check(now: dict[str, Scrape]) -> bool:
        got = (value(now["pcscf"], "ims_sip_responses_sent_total", method="NOTIFY", **{
            "class": "2xx"}) - value(before["pcscf"], "ims_sip_responses_sent_total",
                                     method="NOTIFY", **{"class": "2xx"}))
        return got >= registrations
    return check


class Peak:
    """The S-CSCF's ims_calls_active, sampled while the calls run."""

    def __init__(self, plan: Addresses) -> None:
        self.plan = plan
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                got = value(scrape(self.plan, "scscf"), "ims_calls_active")
            except (OSError, AssertionError):
                got = 0.0
            self.peak = max(self.peak, got)
            self._stop.wait(0.05)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def sipp(workdir: Path, name: str, scenario: str, csv: Path, host: str, port: int,
         calls: int, *extra: str, timeout: float = 60.0) -> list[str]:
    """A bounded SIPp client run against the P-CSCF; its argv."""
    return ["sipp", f"{P_HOST}:{SIP_PORT}", "-sf", str(SCENARIOS / scenario), "-inf", str(csv),
            "-i", host, "-p", str(port), "-t", "u1", "-m", str(calls), "-nostdin",
            "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err", "-error_file",
            str(workdir / f"{name}_errors.log"), *extra]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    require_tools("sipp")
    workdir = tmp_path_factory.mktemp("metrics_e2e")
    plan = Addresses(P_HOST, I_HOST, S_HOST, HSS_HOST, metrics_port=free_port(P_HOST))
    try:
        lab = start_lab(workdir, plan, subscribers=CALLER, metrics=True)
    except RuntimeError as exc:
        pytest.fail(f"the lab did not start: {exc}")
    procs = Processes(workdir)
    notes: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while not all(readyz(plan, node) == 200 for node in NODES):  # Cx connections open
            assert time.monotonic() < deadline, lab.logs()
            time.sleep(0.1)
        csv = split_sipp_csv(lab.sipp_csv, {"reg": range(1, N + 1),
                                            "callee": range(CALLEE, CALLEE + 1),
                                            "caller": range(CALLER, CALLER + 1)})
        paths = {name: workdir / f"{name}.csv" for name in csv}
        for name, text in csv.items():
            paths[name].write_text(text)

        # A: N registrations.
        a = Phase(scrape_all(plan))
        reg = run_sipp(workdir, "register", sipp(
            workdir, "register", "register_aka.xml", paths["reg"], UES, 5070, N,
            "-r", "20"), timeout=90)
        notes.append(f"A: SIPp exit {reg.returncode}, {reg.successful} ok, {reg.failed} "
                     f"failed")
        a.after = settle(plan, notified(a.before, N))

        # B: the callee (stays up, serves the calls) and the caller register.
        b = Phase(a.after)
        log = workdir / "callee_logs.log"
        callee = procs.start("callee", [
            *sipp(workdir, "callee", "uas_aka.xml", paths["callee"], CALLEE_HOST, 5070, 1,
                  "-oocsf", str(SCENARIOS / "uas_calls.xml"), "-d", "120000",
                  timeout=130),
            "-trace_logs", "-log_file", str(log)])
        deadline = time.monotonic() + 20
        while not (log.exists() and "registered" in log.read_text(errors="replace")):
            assert callee.proc.poll() is None and time.monotonic() < deadline, \
                callee.output() + lab.logs()
            time.sleep(0.05)
        route = f"<sip:{P_HOST}:{SIP_PORT};lr>,<sip:orig@{S_HOST}:{SIP_PORT};lr>"
        keys = ("-key", "callee", f"sip:{imsi(CALLEE)}@{DOMAIN}",
                "-key", "route", route, "-key", "flow", "call")
        caller_reg = run_sipp(workdir, "caller_reg", sipp(
            workdir, "caller_reg", "uac_aka.xml", paths["caller"], CALLER_HOST, 5071, 1,
            *keys, "-key", "mode", "reg"), timeout=60)
        notes.append(f"B: caller registration exit {caller_reg.returncode}")
        b.after = settle(plan, notified(b.before, 2))

        # C: M calls, all up together for a while.
        c = Phase(b.after)
        with Peak(plan) as peak:
            calls = run_sipp(workdir, "calls", sipp(
                workdir, "calls", "uac_aka.xml", paths["caller"], CALLER_HOST, 5071, M,
                *keys, "-key", "mode", "noreg", "-r", "20", "-l", str(M),
                "-d", str(HOLD_MS), "-recv_timeout", "10000"), timeout=90)
        notes.append(f"C: SIPp exit {calls.returncode}, {calls.successful} ok, "
                     f"{calls.failed} failed")

        def calls_over(now: dict[str, Scrape]) -> bool:
            return value(now["scscf"], "ims_calls_active") == 0

        c.after = settle(plan, calls_over)
        for name, result in (("A", reg), ("B", caller_reg), ("C", calls)):
            assert result.returncode == 0 and result.failed == 0, \
                f"phase {name}: {result.screen[-2000:]}\n{lab.logs()}"
        yield Run(lab, plan, a, b, c, peak.peak, notes)
    finally:
        procs.stop_all()
        lab.stop()


# -- A: registrations ------------------------------------------------------------------------


def test_registrations_at_the_pcscf(run: Run) -> None:
    a, d = run.a, run.detail()
    assert a.deltas("pcscf", "ims_sip_requests_received_total", "method") == {
        "REGISTER": 2 * N, "NOTIFY": N}, d
    assert a.deltas("pcscf", "ims_sip_requests_sent_total", "method") == {
        "REGISTER": 2 * N, "SUBSCRIBE": N}, d
    assert a.delta("pcscf", "ims_sip_responses_sent_total", method="REGISTER",
                   **{"class": "4xx"}) == N, d
    assert a.delta("pcscf", "ims_sip_responses_sent_total", method="REGISTER",
                   **{"class": "2xx"}) == N, d
    assert a.delta("pcscf", "ims_sip_responses_received_total", method="SUBSCRIBE",
                   **{"class": "2xx"}) == N, d
    assert a.delta("pcscf", "ims_sip_transaction_seconds_count", method="REGISTER") == 2 * N
    for gauge in ("ims_registrations_active", "ims_contacts_active",
                  "ims_reg_subscriptions_active"):
        assert value(a.after["pcscf"], gauge) == N, (gauge, d)


def test_registrations_at_the_icscf(run: Run) -> None:
    a, d = run.a, run.detail()
    assert a.deltas("icscf", "ims_sip_requests_received_total", "method") == {
        "REGISTER": 2 * N}, d
    assert a.deltas("icscf", "ims_cx_requests_total", "command") == {"UAR": 2 * N}, d
    assert a.delta("icscf", "ims_sip_responses_sent_total", method="REGISTER",
                   **{"class": "4xx"}) == N, d
    assert a.delta("icscf", "ims_sip_responses_sent_total", method="REGISTER",
                   **{"class": "2xx"}) == N, d


def test_registrations_at_the_scscf(run: Run) -> None:
    a, d = run.a, run.detail()
    assert a.deltas("scscf", "ims_sip_requests_received_total", "method") == {
        "REGISTER": 2 * N, "SUBSCRIBE": N}, d
    assert a.deltas("scscf", "ims_sip_requests_sent_total", "method") == {"NOTIFY": N}, d
    assert a.delta("scscf", "ims_sip_responses_sent_total", method="REGISTER",
                   **{"class": "4xx"}) == N, d
    assert a.delta("scscf", "ims_sip_responses_sent_total", method="REGISTER",
                   **{"class": "2xx"}) == N, d
    assert a.delta("scscf", "ims_sip_responses_sent_total", method="SUBSCRIBE",
                   **{"class": "2xx"}) == N, d
    for command in ("MAR", "SAR"):
        assert a.delta("scscf", "ims_cx_requests_total", role="client", command=command,
                       result_kind="base", result="2001") == N, (command, d)
    assert a.deltas("scscf", "ims_cx_requests_total", "command") == {"MAR": N, "SAR": N}, d
    assert a.delta("scscf", "ims_sip_transaction_seconds_count", method="REGISTER") == 2 * N
    assert a.delta("scscf", "ims_sip_transaction_seconds_count", method="SUBSCRIBE") == N
    # One IMPU registered per subscriber (its IMSI one), one contact each.
    for gauge in ("ims_registrations_active", "ims_contacts_active",
                  "ims_reg_subscriptions_active"):
        assert value(a.after["scscf"], gauge) == N, (gauge, d)


def test_registrations_at_the_hss(run: Run) -> None:
    a, d = run.a, run.detail()
    for command in ("MAR", "SAR"):
        assert a.delta("hss", "ims_cx_requests_total", role="server", command=command,
                       result_kind="base", result="2001") == N, (command, d)
    assert a.deltas("hss", "ims_cx_requests_total", "command") == {
        "MAR": N, "SAR": N, "UAR": 2 * N}, d
    # TS 29.229 §6.2.2: the first UAR finds no S-CSCF (FIRST_REGISTRATION); the second
    # comes after the MAR stored the S-CSCF's name (TS 29.228 §6.3.1), SUBSEQUENT.
    for node, role in (("hss", "server"), ("icscf", "client")):
        for code in ("2001", "2002"):
            assert a.delta(node, "ims_cx_requests_total", role=role, command="UAR",
                           result_kind="experimental", result=code) == N, (node, code, d)


def test_nothing_malformed_retransmitted_or_shed(run: Run) -> None:
    for phase in (run.a, run.b, run.c):
        for node in ("pcscf", "icscf", "scscf"):
            assert phase.deltas(node, "ims_sip_parse_errors_total", "status") == {}, node
            assert phase.deltas(node, "ims_overload_rejected_total", "method") == {}, node
            assert phase.deltas(node, "ims_sip_retransmissions_total", "direction") == {}, \
                (node, run.detail())
        for node in NODES:
            timeouts = {k: v for k, v in phase.deltas(node, "ims_cx_requests_total",
                                                      "result_kind").items()
                        if k in ("timeout", "error")}
            assert timeouts == {}, (node, run.detail())


# -- C: calls ----------------------------------------------------------------------------------


def test_calls_through_each_cscf(run: Run) -> None:
    c, d = run.c, run.detail()
    assert c.deltas("pcscf", "ims_sip_requests_received_total", "method") == {
        "INVITE": 2 * M, "ACK": 2 * M, "BYE": 2 * M}, d
    assert c.deltas("scscf", "ims_sip_requests_received_total", "method") == {
        "INVITE": 2 * M, "ACK": M, "BYE": M}, d
    assert c.deltas("icscf", "ims_sip_requests_received_total", "method") == {"INVITE": M}, d
    for node, legs in (("pcscf", 2), ("scscf", 2), ("icscf", 1)):
        assert c.delta(node, "ims_sip_responses_sent_total", method="INVITE",
                       **{"class": "2xx"}) == legs * M, (node, d)
        # Per leg a 100 of its own (RFC 3261 §16.2) and the callee's 180, relayed.
        assert c.delta(node, "ims_sip_responses_sent_total", method="INVITE",
                       **{"class": "1xx"}) == 2 * legs * M, (node, d)
        assert c.delta(node, "ims_sip_transaction_seconds_count", method="INVITE") == (
            legs * M), (node, d)
    for node, legs in (("pcscf", 2), ("scscf", 1)):
        assert c.delta(node, "ims_sip_responses_sent_total", method="BYE",
                       **{"class": "2xx"}) == legs * M, (node, d)


def test_one_lir_per_call(run: Run) -> None:
    c, d = run.c, run.detail()
    assert c.deltas("icscf", "ims_cx_requests_total", "command") == {"LIR": M}, d
    assert c.delta("hss", "ims_cx_requests_total", role="server", command="LIR",
                   result_kind="base", result="2001") == M, d
    assert c.deltas("hss", "ims_cx_requests_total", "command") == {"LIR": M}, d
    assert c.deltas("scscf", "ims_cx_requests_total", "command") == {}, d


def test_calls_active_peaks_and_returns_to_zero(run: Run) -> None:
    d = run.detail()
    assert value(run.c.before["scscf"], "ims_calls_active") == 0, d
    assert value(run.c.after["scscf"], "ims_calls_active") == 0, d
    assert run.peak_calls == M, (run.peak_calls, d)  # all held at once, each counted once


def test_registrations_stay(run: Run) -> None:
    # B added the callee and the caller; C registers nobody.
    for node in ("pcscf", "scscf"):
        for gauge in ("ims_registrations_active", "ims_reg_subscriptions_active"):
            assert value(run.c.after[node], gauge) == N + 2, (node, gauge)
    assert run.b.deltas("hss", "ims_cx_requests_total", "command") == {
        "MAR": 2, "SAR": 2, "UAR": 4}, run.detail()

