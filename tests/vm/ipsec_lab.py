"""IPsec sec-agree end to end, run INSIDE the VM (a kernel with ESP): docker/compose.yaml's
topology as network namespaces with the P-CSCF's IPsec on, our UEs in namespaces of their
own on the same bridge, the SAs and policies counted in the P-CSCF's and the UEs'
namespaces after every step, the P-CSCF's traffic captured.

    python -m tests.vm.ipsec_lab --out /vmout [--pairs all] [--bench N]

Prints one line per check (``ok: …`` / ``FAIL: …``) and writes to --out: ``ipsec.json``
(the checks, every SA seen with its keys for Wireshark, figures) and ``pcscf.pcap``.
``--bench N``: afterwards N registrations with IPsec and N without, timed (a ratio).
Exit 0 when every check passed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ims_core.ipsec import ENCRYPTION, INTEGRITY
from ims_lab.plan import imsi
from tests.docker.compose import Project, load_project, probing_every
from tests.docker.netns import Host, Topology, running

COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"
# `make test`: one pair over UDP and one over TCP; `--pairs all`: every pair over UDP too.
PAIRS_QUICK = (("hmac-sha-1-96", "aes-cbc", "udp"), ("hmac-md5-96", "des-ede3-cbc", "tcp"))
UE_PORT = 6100  # each UE's protected server port
RETIRE = 1.0  # the P-CSCF's retire_seconds here
CALLER, CALLEE, WATCHER, FIRST_PAIR_UE = 1, 2, 3, 10


@dataclass
class Checks:
    results: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        self.results.append((ok, what))
        print(f"{'ok' if ok else 'FAIL'}: {what}" + ("" if ok else f" -- {detail}"),
              flush=True)
        return ok

    @property
    def failed(self) -> int:
        return sum(not ok for ok, _ in self.results)


@dataclass(frozen=True)
class SaSeen:
    src: str
    dst: str
    spi: int
    auth: str
    auth_key: str
    enc: str
    enc_key: str


_SA_RE = re.compile(r"src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)")
_AUTH_RE = re.compile(r"auth-trunc (\S+) (0x[0-9a-f]+) \d+")
_ENC_RE = re.compile(r"enc (\S+)(?: (0x[0-9a-f]*))?")  # ecb(cipher_null) shows no key


def xfrm(host: Host, what: str) -> str:
    return subprocess.run(["ip", "-n", host.netns, "xfrm", what], capture_output=True,
                          text=True, timeout=30, check=True).stdout


def sas_of(host: Host) -> list[SaSeen]:
    out = []
    for block in re.split(r"\n(?=src )", xfrm(host, "state")):
        m = _SA_RE.search(block)
        if m is None:
            continue
        auth, enc = _AUTH_RE.search(block), _ENC_RE.search(block)
        out.append(SaSeen(m.group(1), m.group(2), int(m.group(3), 16),
                          auth.group(1) if auth else "", auth.group(2) if auth else "",
                          enc.group(1) if enc else "", (enc.group(2) or "") if enc else ""))
    return out


def counts(host: Host) -> tuple[int, int]:
    """(SAs, policies), read until a reading is not torn by a set coming or going."""
    for _ in range(20):
        before = len(sas_of(host))
        policies = sum(1 for line in xfrm(host, "policy").splitlines()
                       if line.startswith("src "))
        if len(sas_of(host)) == before:
            return before, policies
    return before, policies


class Lab:
    def __init__(self, topology: Topology, checks: Checks) -> None:
        self.t = topology
        self.checks = checks
        self.pcscf = topology.services["pcscf"].context.host
        self.pcscf_ip = str(topology.services["pcscf"].service.ipv4_address)
        self.domain = topology.services["pcscf"].service.environment["IMS_CORE__DOMAIN"]
        self.seen: dict[tuple[str, int], SaSeen] = {}
        self.figures: dict[str, float] = {}
        self.callee: subprocess.Popen[str] | None = None

    def ue(self, n: int) -> Host:
        """The namespace demo subscriber `n` runs in (the pairs share ue1's)."""
        return self.t.hosts[f"ue{n if n in (CALLER, CALLEE, WATCHER) else CALLER}"]

    def snapshot(self) -> None:
        for host in (self.pcscf, *(h for n, h in self.t.hosts.items() if n.startswith("ue"))):
            for sa in sas_of(host):
                self.seen[(sa.dst, sa.spi)] = sa

    def expect_counts(self, host: Host, sas: int, what: str, wait: float = 0.0) -> None:
        deadline = time.monotonic() + wait
        while True:
            got = counts(host)
            if got == (sas, sas) or time.monotonic() >= deadline:
                break
            time.sleep(0.3)
        self.checks.check(got == (sas, sas), f"{what}: {sas} SAs and {sas} policies in "
                          f"{host.name}'s kernel", f"found {got[0]} SAs, {got[1]} policies")

    def ue_argv(self, n: int, *extra: str) -> list[str]:
        return [str(self.t.venv_bin / "ims-core"), "ue", "register", "--ipsec",
                "--pcscf", f"{self.pcscf_ip}:5060", "--imsi", imsi(n), "--domain",
                self.domain, "--local", f"{self.ue(n).address}:{UE_PORT}", "--json",
                "--timeout", "16", *extra]

    def start_ue(self, n: int, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.ue(n).argv(self.ue_argv(n, *extra)),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=self.t.workdir)

    def registered(self, proc: subprocess.Popen[str], what: str,
                   timeout: float = 60.0) -> dict[str, object] | None:
        """The UE's first output line: its registration outcome (JSON)."""
        assert proc.stdout is not None
        line = _readline(proc, timeout)
        try:
            outcome = json.loads(line)
        except ValueError:
            outcome = None
        ok = isinstance(outcome, dict) and outcome.get("status") == 200
        self.checks.check(ok, f"{what}: registered with IPsec", line or "(no output)")
        return outcome if ok else None

    def finish(self, proc: subprocess.Popen[str], what: str, code: int = 0,
               timeout: float = 90.0) -> str:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        self.checks.check(proc.returncode == code, f"{what}: exit {code}",
                          f"exit {proc.returncode}: {out[-2000:]}")
        return out

    # -- the steps ---------------------------------------------------------------------------
    def sample(self, stop: threading.Event) -> None:
        """Every SA the P-CSCF installs, with its keys (for Wireshark), while `stop` is
        unset: sets of one exchange may live only a second."""
        while not stop.wait(0.2):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.snapshot()

    def register_each_pair(self, pairs: Sequence[tuple[str, str, str]]) -> None:
        for i, (alg, ealg, transport) in enumerate(pairs):
            n = FIRST_PAIR_UE + i
            what = f"{alg}/{ealg} over {transport}"
            ue = self.start_ue(n, "--ipsec-alg", alg, "--ipsec-ealg", ealg, "--transport",
                               transport, "--duration", "4", "--then-deregister")
            outcome = self.registered(ue, what)
            if outcome is not None:
                # The UE first: it de-registers and removes its set --duration seconds
                # after the 200, which a slow (emulated, loaded) VM can reach while the
                # P-CSCF's side is still being read; the P-CSCF keeps its set longer.
                self.expect_counts(self.ue(n), 4, f"{what} registered")
                self.snapshot()
                self.expect_counts(self.pcscf, 4, f"{what} registered")
                mine = [sa for sa in sas_of(self.pcscf)]
                names = {sa.auth for sa in mine} | {sa.enc for sa in mine}
                self.checks.check(_kernel_name(alg) in names and _kernel_name(ealg) in names,
                                  f"{what}: the P-CSCF's SAs use it", str(names))
            self.finish(ue, f"{what} de-registered")
            self.expect_counts(self.ue(n), 0, f"{what} de-registered (UE)", wait=5)
            self.expect_counts(self.pcscf, 0, f"{what} de-registered", wait=RETIRE + 8)

    def call_and_message(self) -> None:
        callee = self.start_ue(CALLEE, "--expires", "10", "--duration", "90",
                               "--then-deregister")
        if self.registered(callee, "callee") is None:
            self.finish(callee, "callee", timeout=5)
            return
        caller = self.start_ue(CALLER, "--call", imsi(CALLEE), "--call-seconds", "3",
                               "--message", imsi(CALLEE), "--text", "hello over ESP",
                               "--then-deregister")
        self.registered(caller, "caller")
        self.snapshot()
        # The callee may hold a second set for a moment while it re-registers (§7.4).
        got = counts(self.pcscf)
        self.checks.check(got[0] == got[1] and got[0] in (8, 12),
                          "caller and callee registered: 4 SAs and 4 policies each in the "
                          "P-CSCF's kernel", f"found {got[0]} SAs, {got[1]} policies")
        out = self.finish(caller, "caller (call, MESSAGE, de-registration)")
        self.checks.check("answered" in out and "ended" in out, "the call was answered "
                          "and ended over the SAs", out[-1500:])
        self.checks.check(re.search(r"MESSAGE to \S+: 200", out) is not None,
                          "the MESSAGE got 200 over the SAs", out[-1500:])
        self.expect_counts(self.pcscf, 4, "the caller de-registered", wait=RETIRE + 8)
        self.callee = callee

    def reregister(self) -> None:
        """The callee keeps running: it re-registers (expires 10, the S-CSCF's minimum
        here) and each time a new SA set replaces the old one (TS 33.203 §7.4)."""
        callee = self.callee
        if callee is None:
            self.checks.check(False, "re-registration", "no callee running")
            return
        time.sleep(12)  # at least one re-registration at half of 10 s
        self.snapshot()
        self.expect_counts(self.pcscf, 4, "after re-registrations the old sets are gone",
                           wait=RETIRE + 6)
        callee.terminate()  # SIGTERM: the UE de-registers (--then-deregister) and cleans up
        out = self.finish(callee, "callee (answered the call, re-registered, stopped)")
        self.checks.check("re-registered: 200" in out, "the callee re-registered", out[-1500:])
        self.checks.check("hello over ESP" in out, "the callee got the MESSAGE", out[-1500:])
        self.checks.check("incoming call" in out, "the callee answered the call", out[-1500:])
        self.expect_counts(self.ue(CALLEE), 0, "callee stopped (UE)", wait=5)
        self.expect_counts(self.pcscf, 0, "callee stopped", wait=RETIRE + 14)

    def network_deregistration(self) -> None:
        watcher = self.start_ue(WATCHER, "--subscribe")
        if self.registered(watcher, "subscribed UE") is None:
            self.finish(watcher, "subscribed UE", timeout=5)
            return
        self.snapshot()
        time.sleep(3)  # its SUBSCRIBE and the P-CSCF's own have gone through
        self.expect_counts(self.pcscf, 4, "subscribed UE registered")
        hss = self.t.services["hss"].service
        done = self.t.run_in("hss", ["ims-core", "subscriber", *hss.command[1:], "deregister",
                                     imsi(WATCHER), "--reason", "permanent"], timeout=60)
        self.checks.check(done.returncode == 0 and "RTA 2001" in done.stdout,
                          "ims-core subscriber deregister: RTR answered 2001",
                          done.stdout + done.stderr)
        out = self.finish(watcher, "subscribed UE de-registered by the network", code=4)
        self.checks.check("terminated" in out or "rejected" in out,
                          "the UE was told by NOTIFY", out[-1500:])
        self.expect_counts(self.ue(WATCHER), 0, "network de-registration (UE)", wait=5)
        self.expect_counts(self.pcscf, 0, "network de-registration (the P-CSCF's NOTIFY)",
                           wait=RETIRE + 8)

    def bench(self, n: int) -> None:
        """`n` registrations one after another in one process per mode, with and without
        IPsec, and the ratio of their rates."""
        rates = {}
        for mode in ("plain", "ipsec"):
            argv = [sys.executable, "-m", "tests.vm.ipsec_bench", "--pcscf",
                    f"{self.pcscf_ip}:5060", "--domain", self.domain, "--local",
                    str(self.ue(CALLER).address), "--count", str(n), "--first",
                    str(100 if mode == "plain" else 100 + n), "--expires", "10",
                    *(["--ipsec"] if mode == "ipsec" else [])]
            done = subprocess.run(self.ue(CALLER).argv(argv), capture_output=True, text=True,
                                  timeout=600, cwd=Path(__file__).resolve().parents[2])
            m = re.search(r"rate ([0-9.]+)/s ok (\d+)", done.stdout)
            ok = m is not None and int(m.group(2)) == n
            self.checks.check(ok, f"bench {mode}: {n} registrations",
                              done.stdout[-1500:] + done.stderr[-1500:])
            if m is not None:
                rates[mode] = float(m.group(1))
        if len(rates) == 2:
            self.figures.update(plain_rate=rates["plain"], ipsec_rate=rates["ipsec"],
                                ratio=rates["ipsec"] / rates["plain"])
            print(f"bench: plain {rates['plain']:.2f}/s, ipsec {rates['ipsec']:.2f}/s, "
                  f"ratio ipsec/plain {rates['ipsec'] / rates['plain']:.2f}", flush=True)


def _kernel_name(name: str) -> str:
    return {"hmac-sha-1-96": "hmac(sha1)", "hmac-md5-96": "hmac(md5)", "aes-cbc": "cbc(aes)",
            "des-ede3-cbc": "cbc(des3_ede)", "null": "ecb(cipher_null)"}[name]


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), True)
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(
            loop.run_in_executor(None, proc.stdout.readline), timeout)).strip()
    except TimeoutError:
        return ""
    finally:
        loop.close()


def lab_project() -> Project:
    project = load_project(COMPOSE, environ={**os.environ, "PCSCF_IPSEC": "true",
                                             "SEED_COUNT": "400", "LOG_LEVEL": "info"})
    extra = {"pcscf": {"IMS_CORE__IPSEC__RETIRE_SECONDS": str(RETIRE)},
             "scscf": {"IMS_CORE__REGISTRAR__MIN_EXPIRES": "10"}}
    # The provisioning API plays no part in IPsec: one Python process fewer under emulation.
    services = {name: replace(svc, environment={**svc.environment, **extra.get(name, {})})
                for name, svc in project.services.items() if name != "hss-api"}
    return probing_every(replace(project, services=services), 1.0)


@dataclass
class Capture:
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, host: Host, path: Path) -> Capture:
        proc = subprocess.Popen(host.argv(["dumpcap", "-q", "-i", "eth0", "-w", str(path)]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        return cls(proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.vm.ipsec_lab")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pairs", choices=("one", "all"), default="one")
    parser.add_argument("--bench", type=int, default=0, metavar="N")
    parser.add_argument("--skip", default="", help="comma list of steps to leave out")
    args = parser.parse_args(argv)
    every = [(a, e, "udp") for a in INTEGRITY for e in ENCRYPTION]
    pairs = PAIRS_QUICK if args.pairs == "one" else (*every, PAIRS_QUICK[1])
    checks = Checks()
    workdir = Path("/tmp/ipsec-lab")
    workdir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    lab: Lab | None = None
    capture: Capture | None = None
    try:
        with running(lab_project(), workdir, extra_hosts=("ue1", "ue2", "ue3"),
                     timeout=240) as topology:
            up = time.monotonic() - began
            print(f"topology healthy after {up:.0f}s", flush=True)
            lab = Lab(topology, checks)
            lab.figures["up_seconds"] = up
            capture = Capture.start(lab.pcscf, args.out / "pcscf.pcap")
            sampling = threading.Event()
            sampler = threading.Thread(target=lab.sample, args=(sampling,), daemon=True)
            sampler.start()
            skip = set(args.skip.split(","))
            for name, step in (("pairs", lambda: lab.register_each_pair(pairs)),
                               ("call", lab.call_and_message),
                               ("rereg", lab.reregister),
                               ("netdereg", lab.network_deregistration)):
                if name not in skip:
                    t0 = time.monotonic()
                    step()
                    lab.figures[f"{name}_seconds"] = time.monotonic() - t0
            sampling.set()
            sampler.join()
            capture.stop()
            capture = None
            if args.bench:
                lab.bench(args.bench)
            # The bench's registrations lapse by themselves (10 s) and take their SAs along.
            lab.expect_counts(lab.pcscf, 0, "at the end", wait=RETIRE + 14 if args.bench else 0)
            (args.out / "logs.txt").write_text(topology.logs())
    except Exception as exc:  # the topology itself failed: report, not a traceback only
        checks.check(False, "the lab ran", repr(exc))
    finally:
        if capture is not None:
            capture.stop()
    report = {"checks": [{"ok": ok, "what": what} for ok, what in checks.results],
              "sas": [sa.__dict__ for sa in (lab.seen.values() if lab else [])],
              "figures": lab.figures if lab else {},
              "seconds": time.monotonic() - began}
    (args.out / "ipsec.json").write_text(json.dumps(report, indent=1))
    print(f"ipsec lab: {len(checks.results) - checks.failed} passed, {checks.failed} failed "
          f"in {time.monotonic() - began:.0f}s", flush=True)
    return 0 if checks.failed == 0 and checks.results else 1


if __name__ == "__main__":
    sys.exit(main())
