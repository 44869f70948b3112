"""The HSS killed (SIGKILL) under MAR load and restarted on the same store.

P-CSCF 127.0.0.191, I-CSCF .192, S-CSCF .193, HSS .194 (on SQLite, then on PostgreSQL);
SIPp UEs on .195, our probing UE on .196. SIPp registers at ``RATE``/s; ``KILL_AT``
seconds in the HSS gets SIGKILL, ``DOWN_FOR`` seconds later it starts again on the same
database; once the CSCFs are back, it is frozen (SIGSTOP) for ``HUNG_FOR`` seconds: a
hung HSS, whose connections stay up, so what waits on it waits for the CSCFs' Cx
deadline. Shown:

- no REGISTER hangs: each of the probe's initial REGISTERs (one at a time, all through
  the run) gets a final response, those during the outage a failure (480 from the
  I-CSCF, TS 24.229 §5.3.1.2, or a 5xx) within the CSCFs' Cx deadline, and every SIPp
  registration ends (success or a counted failure);
- the CSCFs reconnect (``ims_diameter_peer_open`` back to 1) and registrations succeed
  again;
- no SQN is handed out twice: every MAA on the wire (dumpcap on the HSS's port) is
  decoded, each RAND ‖ AUTN checked with the subscriber's K and OPc (TS 33.102 §6.3.3
  gives SQN and proves the MAC), and the (IMSI, SQN) pairs are all distinct — including
  across the kill, where a vector sent before its SQN was stored would come back.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hss.config import StoreConfig
from hss.provision import DEMO_OP, demo_k
from ims_core import auth
from ims_lab.plan import DOMAIN, SIP_PORT, Addresses, imsi
from ims_lab.procs import IMS_CORE, Processes, free_port, wait_listening
from ims_lab.running import RunningLab
from tests.hss.conftest import reset_pg
from tests.integration.conftest import REPO, Capture, SippResult, require_tools, run_sipp, tshark
from tests.integration.test_metrics_e2e import Scrape, readyz, scrape

from .lab import Hops, start_rewired_lab, write_sipp_csvs

pytestmark = pytest.mark.integration

P_HOST, I_HOST, S_HOST, HSS_HOST = "127.0.0.191", "127.0.0.192", "127.0.0.193", "127.0.0.194"
UES, PROBE_HOST = "127.0.0.195", "127.0.0.196"
RATE, LOAD = 100, 1000  # SIPp registrations per second, and in all (subscribers 1..LOAD)
AFTER, AFTER_RATE = 100, 25  # registrations after the restart (LOAD+1..LOAD+AFTER)
PROBES = range(LOAD + AFTER + 1, LOAD + AFTER + 101)  # the probe's subscribers, in turn
KILL_AT, DOWN_FOR, HUNG_FOR = 3.0, 1.0, 3.0
CX_DEADLINE = 2.0  # the CSCFs' [diameter] request_timeout (ims_core.cscf.config)
PROBE_WAIT = 15.0  # what counts as a hang
SCENARIOS = REPO / "config" / "sipp"
NODES = ("pcscf", "icscf", "scscf", "hss")


@dataclass
class Probe:
    sent: float  # monotonic
    status: int = 0  # 0: no final response within PROBE_WAIT
    latency: float = 0.0


@dataclass
class Prober:
    """Our UE: an initial REGISTER (the empty Authorization of a 3GPP UE, TS 24.229
    §5.1.1.2.1) at a time, timed to its final response; it never answers the 401."""

    target: tuple[str, int]
    probes: list[Probe] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((PROBE_HOST, 0))
            n = 0
            while not self.stop.is_set():
                self.probes.append(self._one(s, imsi(PROBES[n % len(PROBES)])))
                n += 1
                self.stop.wait(0.05)

    def _one(self, s: socket.socket, user: str) -> Probe:
        call_id, branch = uuid.uuid4().hex, "z9hG4bK" + uuid.uuid4().hex[:16]
        host, port = s.getsockname()
        request = (
            f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};rport;branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{user}@{DOMAIN}>;tag={call_id[:8]}\r\n"
            f"To: <sip:{user}@{DOMAIN}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:{user}@{host}:{port}>\r\n"
            f'Authorization: Digest username="{user}@{DOMAIN}", realm="{DOMAIN}", nonce="", '
            f'uri="sip:{DOMAIN}", response=""\r\n'
            "Expires: 600\r\nSupported: path\r\nContent-Length: 0\r\n\r\n").encode()
        probe = Probe(time.monotonic())
        s.sendto(request, self.target)
        while (left := probe.sent + PROBE_WAIT - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                data = s.recv(65535)
            except TimeoutError:
                break
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"SIP/2.0 ") else 0
            if status >= 200 and call_id.encode() in data:
                probe.status, probe.latency = status, time.monotonic() - probe.sent
                break
        return probe


@dataclass
class Run:
    lab: RunningLab
    load: SippResult
    after: SippResult
    probes: list[Probe]
    killed: float
    restarted: float  # HSS listening again
    reconnected: float  # both CSCFs' Cx peers open again
    hung: tuple[float, float]  # SIGSTOP .. SIGCONT
    sqns: list[tuple[str, int, float]]  # (IMSI, SQN, wall time) of every AKA vector sent
    bad_mac: list[str]
    killed_wall: float
    backend: str
    sipp_errors: str  # the load's -error_file

    def outage(self) -> list[Probe]:
        return [p for p in self.probes if self.killed <= p.sent <= self.restarted]

    def frozen(self) -> list[Probe]:
        """The probes waiting at some time while the HSS was frozen."""
        return [p for p in self.probes
                if p.sent <= self.hung[1] and p.sent + p.latency >= self.hung[0]]

    def detail(self) -> str:
        worst = max((p.latency for p in self.outage()), default=0.0)
        hung = [(p.status, round(p.latency, 3)) for p in self.frozen()]
        return (f"probes in the outage: {[(p.status, round(p.latency, 3)) for p in self.outage()]}"
                f" worst {worst:.3f}s\nwhile hung: {hung}\nload: {self.load.screen[-1500:]}\n"
                f"{self.lab.logs(tail=2500)}")


def peers_open(s: Scrape) -> float:
    return sum(v for (name, _), v in s.items() if name == "ims_diameter_peer_open")


def maa_sqns(pcap: Path) -> tuple[list[tuple[str, int, float]], list[str]]:
    """(IMSI, SQN, capture time) of every AKA vector in the MAAs of ``pcap``; the items
    whose MAC did not verify."""
    out = tshark("-r", str(pcap), "-d", "tcp.port==3868,diameter", "-Y",
                 "diameter.cmd.code == 303 && diameter.flags.request == 0",
                 "-T", "fields", "-E", "separator=|", "-e", "frame.time_epoch",
                 "-e", "diameter.User-Name",
                 "-e", "diameter.3GPP-SIP-Authenticate")
    assert out.returncode == 0, out.stderr
    sqns: list[tuple[str, int, float]] = []
    bad: list[str] = []
    opcs: dict[str, bytes] = {}
    for line in out.stdout.splitlines():
        # One TCP segment may carry several MAAs, and an error MAA has no item: tshark
        # lists a frame's values together, so each item is tried with the frame's users
        # (the MAC says whose it is).
        when, users, items = line.split("|")
        for item in filter(None, items.split(",")):
            raw = bytes.fromhex(item.replace(":", ""))
            for subscriber in dict.fromkeys(u.split("@", 1)[0] for u in users.split(",")):
                k = demo_k(subscriber)
                opc = opcs.setdefault(subscriber, auth.opc(k, DEMO_OP))
                checked = auth.check_autn(k, opc, raw[:16], raw[16:32])
                if checked is not None:
                    sqns.append((subscriber, int.from_bytes(checked[0], "big"), float(when)))
                    break
            else:
                bad.append(f"{users} {item}")
    return sqns, bad


def sipp(workdir: Path, name: str, csv: Path, port: int, count: int, rate: int
         ) -> list[str]:
    return ["sipp", f"{P_HOST}:{SIP_PORT}", "-sf", str(SCENARIOS / "register_aka.xml"),
            "-inf", str(csv), "-i", UES, "-p", str(port), "-t", "u1", "-m", str(count),
            "-r", str(rate), "-l", str(count), "-nostdin", "-timeout", "60s",
            "-timeout_error", "-trace_err", "-error_file", str(workdir / f"{name}_errors.log"),
            "-default_behaviors", "all,-bye"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
        ) -> Iterator[Run]:
    require_tools("sipp", "dumpcap", "tshark")
    workdir = tmp_path_factory.mktemp(f"hss_kill_{request.param}")
    plan = Addresses(P_HOST, I_HOST, S_HOST, HSS_HOST, metrics_port=free_port(P_HOST))
    hops = Hops()
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("pg_dsn")  # skips when PostgreSQL cannot start
        reset_pg(dsn)
        hops = Hops(hss_store=StoreConfig(backend="postgres", dsn=dsn))
    try:
        lab = start_rewired_lab(workdir, plan, hops, subscribers=PROBES[-1], metrics=True,
                                log_level="warning")
    except RuntimeError as exc:
        pytest.fail(f"the lab did not start: {exc}")
    procs = Processes(workdir)
    prober = Prober((P_HOST, SIP_PORT))
    thread = threading.Thread(target=prober.run, daemon=True)
    try:
        deadline = time.monotonic() + 30
        while not all(readyz(plan, n) == 200 for n in NODES):
            assert time.monotonic() < deadline, lab.logs()
            time.sleep(0.1)
        paths = write_sipp_csvs(workdir, lab, {"load": range(1, LOAD + 1),
                                               "after": range(LOAD + 1, LOAD + AFTER + 1)})
        capture = Capture(procs, workdir / "cx.pcap",
                          f"host {HSS_HOST} and tcp port {plan.diameter_port}")

        results: dict[str, SippResult] = {}
        load = threading.Thread(target=lambda: results.setdefault("load", run_sipp(
            workdir, "load", sipp(workdir, "load", paths["load"], 5070, LOAD, RATE),
            timeout=120)), daemon=True)
        thread.start()
        load.start()
        time.sleep(KILL_AT)
        hss = lab.children["hss"]
        hss.proc.send_signal(signal.SIGKILL)
        killed, killed_wall = time.monotonic(), time.time()
        hss.proc.wait(5)
        time.sleep(DOWN_FOR)
        again = lab.procs.start("hss-again", [*IMS_CORE, "hss", "-c", str(lab.configs["hss"])])
        lab.children["hss-again"] = again
        wait_listening(*plan.probe("hss"), timeout=20, proc=again.proc)
        restarted = time.monotonic()
        deadline = time.monotonic() + 40
        while not all(peers_open(scrape(plan, n)) == 1 for n in ("icscf", "scscf")):
            assert time.monotonic() < deadline, f"the CSCFs did not reconnect\n{lab.logs()}"
            time.sleep(0.1)
        reconnected = time.monotonic()
        time.sleep(0.5)
        again.proc.send_signal(signal.SIGSTOP)
        hung_from = time.monotonic()
        time.sleep(HUNG_FOR)
        again.proc.send_signal(signal.SIGCONT)
        hung = (hung_from, time.monotonic())
        load.join(130)
        assert "load" in results, "the SIPp load did not finish"
        # Gently, and once the P-CSCF's overload control, which saw the hung HSS's
        # latency, has shed nothing for a while: capacity is not what this step shows.
        quiet_since, shed = time.monotonic(), -1.0
        deadline = time.monotonic() + 30
        while time.monotonic() - quiet_since < 3.0 and time.monotonic() < deadline:
            now_shed = sum(v for (name, _), v in scrape(plan, "pcscf").items()
                           if name == "ims_overload_rejected_total")
            if now_shed != shed:
                quiet_since, shed = time.monotonic(), now_shed
            time.sleep(0.2)
        after = run_sipp(workdir, "after", sipp(workdir, "after", paths["after"], 5071, AFTER,
                                                 AFTER_RATE), timeout=60)
        prober.stop.set()
        thread.join(PROBE_WAIT + 5)
        sqns, bad = maa_sqns(capture.stop())
        yield Run(lab, results["load"], after, prober.probes, killed, restarted, reconnected,
                  hung, sqns, bad, killed_wall, request.param,
                  (workdir / "load_errors.log").read_text(errors="replace"))
    finally:
        prober.stop.set()
        for child in lab.children.values():  # never leave one of ours frozen
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGCONT)
        procs.stop_all()
        lab.stop()


def test_no_register_hangs(run: Run) -> None:
    assert run.probes and all(p.status for p in run.probes), run.detail()
    assert run.load.successful + run.load.failed == LOAD, run.detail()
    # Every SIPp registration that failed was answered: a final 480 or 5xx, never a
    # retransmission timeout or SIPp's own -timeout.
    codes = re.findall(r"Aborting call on unexpected message for Call-Id '[^']*': while "
                       r"expecting '[^']*' \(index \d+\), received 'SIP/2\.0 (\d{3})",
                       run.sipp_errors)
    assert len(codes) == run.load.failed, run.sipp_errors[-3000:]
    assert {int(c) for c in codes} <= {480, *range(500, 600)}, sorted(set(codes))
    assert "timeout for Call" not in run.sipp_errors, run.sipp_errors[-3000:]
    print(f"\n[{run.backend}] SIPp load failures by status: "
          f"{ {c: codes.count(c) for c in sorted(set(codes))} }")


def test_outage_answers_5xx_within_the_cx_deadline(run: Run) -> None:
    outage = run.outage()
    assert outage, run.detail()
    # With its Cx peer down the I-CSCF answers the UAR's REGISTER 480 (TS 24.229
    # §5.3.1.2: HSS not reachable); one waiting on an MAR or SAR gets the S-CSCF's 5xx.
    failed = [p for p in outage if p.status == 480 or p.status >= 500]
    assert failed, run.detail()  # the outage was seen
    assert all(p.status in (401, 480, *range(500, 600)) for p in outage), run.detail()
    worst = max(p.latency for p in outage)
    assert worst <= CX_DEADLINE + 1.0, run.detail()
    codes = sorted({p.status for p in failed})
    print(f"\n[{run.backend}] HSS outage: {len(outage)} probes, {len(failed)} failed fast "
          f"{codes}, worst final response {worst * 1000:.0f} ms; SIPp load "
          f"{run.load.successful} ok / {run.load.failed} failed; Cx peers back "
          f"{run.reconnected - run.restarted:.2f} s after the HSS listened")


def test_a_hung_hss_costs_the_cx_deadline_not_a_hang(run: Run) -> None:
    frozen = run.frozen()
    assert frozen, run.detail()
    failed = [p for p in frozen if p.status == 480 or p.status >= 500]
    assert failed, run.detail()
    worst = max(p.latency for p in frozen)
    # The UAR's deadline at the I-CSCF, or the MAR's at the S-CSCF: one of them, never
    # both in a row (the MAR follows only a UAR that was answered).
    assert worst <= CX_DEADLINE + 1.0, run.detail()
    print(f"\n[{run.backend}] HSS hung {HUNG_FOR:g} s: {len(frozen)} probes, {len(failed)} failed "
          f"{sorted({p.status for p in failed})}, worst final response {worst * 1000:.0f} ms")


def test_cscfs_reconnect_and_register_again(run: Run) -> None:
    assert run.reconnected - run.restarted < 35, run.detail()
    assert run.after.successful == AFTER and run.after.failed == 0, run.after.screen[-2000:]
    # Between the failures during the outage, the load went on succeeding.
    assert run.load.successful > 0.3 * LOAD, run.detail()


def test_no_sqn_handed_out_twice(run: Run) -> None:
    assert run.bad_mac == [], run.bad_mac[:5]
    seen: dict[tuple[str, int], int] = {}
    for subscriber, sqn, _ in run.sqns:
        seen[subscriber, sqn] = seen.get((subscriber, sqn), 0) + 1
    repeated = {pair: n for pair, n in seen.items() if n > 1}
    assert repeated == {}, repeated
    # Every successful registration took at least one vector; the probes more.
    assert len(run.sqns) >= run.load.successful + run.after.successful
    # The probe's subscribers took vectors from both HSS processes: the restarted one went
    # on from what the killed one had stored.
    before = {s for s, _, t in run.sqns if t < run.killed_wall}
    after = {s for s, _, t in run.sqns if t > run.killed_wall}
    assert before & after, (len(before), len(after))
    imsis = len({s for s, _, _ in run.sqns})
    print(f"\n[{run.backend}] SQNs checked: {len(run.sqns)} vectors, {imsis} IMSIs "
          f"({len(before & after)} with vectors from both sides of the kill), all (IMSI, SQN) "
          "distinct")
