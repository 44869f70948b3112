"""SIP: messages parsed per second, and the highest SIPp call rate the generic stateful
proxy sustains with zero failed calls — against Kamailio as a plain transaction-stateful
proxy (bench/kamailio-proxy.cfg) under the same SIPp load in the same run, as a ratio.

Each rate step runs SIPp's built-in uas and uac (INVITE/100/180/200/ACK/BYE/200) through
the proxy for a few seconds; the ramp stops at the first step with a failed call.
Loopback only; every step bounded in calls (-m) and time (-timeout and a wall-clock cap).

    python bench/bench_sip_proxy.py [--transport u1|t1] [--step-seconds 4] [--rates 100,200,…]
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from sipp_steps import have_sipp, ramp, ramp_arguments, sipp_server  # bench/ is sys.path[0]

from ims_core.sip import parse_message
from ims_lab.procs import Processes, wait_listening

HERE = Path(__file__).resolve().parent
PROXY = ("127.0.0.21", 5160)
UAS = ("127.0.0.22", 5170)
UAC = ("127.0.0.23", 5180)
DEFAULT_RATES = (200, 400, 600, 800, 1000, 1200, 1400, 1600, 2000, 2400, 3000, 3600)

INVITE = (
    b"INVITE sip:service@127.0.0.21:5160 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.23:5180;branch=z9hG4bK-1234-1-0\r\n"
    b"From: sipp <sip:sipp@127.0.0.23:5180>;tag=1234SIPpTag001\r\n"
    b"To: service <sip:service@127.0.0.21:5160>\r\n"
    b"Call-ID: 1-1234@127.0.0.23\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: sip:sipp@127.0.0.23:5180\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 129\r\n\r\n"
    b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.23\r\ns=-\r\nc=IN IP4 127.0.0.23\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def parse_rate(seconds: float = 1.0) -> None:
    """Messages parsed per second, against a bare split of the same bytes into lines."""
    def measure(stmt: str) -> float:
        timer = timeit.Timer(stmt, globals={"parse_message": parse_message, "m": INVITE})
        n, _ = timer.autorange()
        best = min(timer.repeat(3, max(n, int(n * seconds / 0.2))) or [1.0])
        return max(n, int(n * seconds / 0.2)) / best

    split = measure("m.split(b'\\r\\n')")
    parse = measure("parse_message(m)")
    views = measure(
        "x = parse_message(m); x.top_via(); x.cseq; x.call_id; x.max_forwards; x.to_bytes()")
    print(f"SIP parsing ({len(INVITE)}-byte INVITE with SDP)")
    print(f"  parse_message                    {parse:12,.0f} msg/s")
    print(f"  parse + Via/CSeq/Call-ID/MF + serialise {views:6,.0f} msg/s")
    print(f"  baseline: bytes.split on CRLF    {split:12,.0f} /s   "
          f"(parse costs {split / parse:.0f}x a bare split)")


@contextlib.contextmanager
def serving(tmp: Path, name: str, argv: list[str]) -> Iterator[None]:
    """A proxy (output in ``tmp/<name>.log``) for the ``with`` block, from when it listens on
    PROXY; stopped by its PID after it."""
    procs = Processes(tmp)
    child = procs.start(name, argv)
    try:
        wait_listening(*PROXY, timeout=20, proc=child.proc)
        yield
    finally:
        procs.stop_all()


def ims_core_proxy(tmp: Path) -> AbstractContextManager[None]:
    exe = Path(sys.executable).with_name("ims-core")
    return serving(tmp, "proxy", [
        str(exe), "proxy", "--listen", f"{PROXY[0]}:{PROXY[1]}",
        "--next-hop", f"{UAS[0]}:{UAS[1]}", "--record-route", "--log-level", "warning"])


def kamailio_proxy(tmp: Path) -> AbstractContextManager[None]:
    cfg = (HERE / "kamailio-proxy.cfg").read_text()
    for key, value in {"@LISTEN_ADDR@": PROXY[0], "@LISTEN_PORT@": str(PROXY[1]),
                       "@NEXT_HOP@": f"{UAS[0]}:{UAS[1]}", "@CHILDREN@": "1",
                       "@RUNDIR@": str(tmp)}.items():
        cfg = cfg.replace(key, value)
    (tmp / "kamailio.cfg").write_text(cfg)
    # -DD: stay in the foreground (so we own the PID); -E: log to stderr. -m/-M: the default
    # 64 MB shared pool runs out of transactions near 600 calls/s (32 s per transaction).
    return serving(tmp, "kamailio", ["kamailio", "-f", str(tmp / "kamailio.cfg"), "-DD", "-E",
                                     "-m", "1024", "-M", "32",
                                     "-w", str(tmp), "-P", str(tmp / "kamailio.pid")])


@dataclass
class CallStep:
    """One step's calls as SIPp's built-in uac counted them."""

    rate: int
    calls: int
    code: int
    ok: int = 0
    failed: int = 0

    @property
    def passed(self) -> bool:
        return self.code == 0 and self.failed == 0 and self.ok == self.calls

    def summary(self) -> str:
        overran = ", SIPp overran its time limit" if self.code == -9 else ""
        return f"{self.ok}/{self.calls} ok, {self.failed} failed{overran}"


def run_step(rate: int, seconds: float, transport: str, tmp: Path) -> CallStep:
    calls = int(rate * seconds)
    common = ["-t", transport, "-nostdin", "-timeout", f"{int(seconds) + 20}s"]
    with sipp_server(["sipp", "-sn", "uas", "-i", UAS[0], "-p", str(UAS[1]), *common], tmp):
        try:
            uac = subprocess.run(
                ["sipp", "-sn", "uac", f"{PROXY[0]}:{PROXY[1]}", "-i", UAC[0], "-p",
                 str(UAC[1]), "-r", str(rate), "-m", str(calls), "-l", str(max(200, rate * 4)),
                 *common],
                capture_output=True, text=True, cwd=tmp, timeout=seconds + 60)
        except subprocess.TimeoutExpired:  # SIPp itself overrun (killed by run): a failed step
            return CallStep(rate, calls, -9)
    step = CallStep(rate, calls, uac.returncode)
    for line in uac.stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 3 and cells[0] in ("Successful call", "Failed call"):
            if cells[0].startswith("Successful"):
                step.ok = int(cells[2])
            else:
                step.failed = int(cells[2])
    return step


def proxy_ramp(name: str, starter: Callable[[Path], AbstractContextManager[None]],
               rates: tuple[int, ...], seconds: float, transport: str) -> int:
    """The highest rate the proxy ``starter`` starts passes at, 0 if none."""
    with tempfile.TemporaryDirectory() as d, starter(Path(d)):
        best = ramp(name, rates, "calls/s",
                    lambda rate: run_step(rate, seconds, transport, Path(d)))
    return 0 if best is None else best.rate


def main() -> int:
    ap = ramp_arguments(__doc__.splitlines()[0], transport="u1", step_seconds=4.0,
                        rates=DEFAULT_RATES)
    ap.add_argument("--no-kamailio", action="store_true")
    args = ap.parse_args()
    parse_rate()
    if not have_sipp("call-rate"):
        return 1
    rates = args.rates
    print(f"\nSIPp uac -> proxy -> SIPp uas over {args.transport}, "
          f"{args.step_seconds:g} s per step, Record-Route on")
    ours = proxy_ramp("ims-core", ims_core_proxy, rates, args.step_seconds, args.transport)
    print(f"  ims-core proxy: highest rate with zero failed calls: {ours} calls/s")
    if args.no_kamailio:
        print("  (Kamailio comparison skipped: --no-kamailio)")
        return 0
    if shutil.which("kamailio") is None:
        print("  (Kamailio not run: apt-get install kamailio for the comparison)")
        return 0
    kam = proxy_ramp("kamailio", kamailio_proxy, rates, args.step_seconds, args.transport)
    print(f"  Kamailio 'tm' proxy: highest rate with zero failed calls: {kam} calls/s")
    if kam:
        print(f"  ratio ims-core / Kamailio: {ours / kam:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
