"""SIP: messages parsed per second, and the highest SIPp call rate the generic stateful
proxy sustains with zero failed calls — against Kamailio as a plain transaction-stateful
proxy (bench/kamailio-proxy.cfg) under the same SIPp load in the same run, as a ratio.

Each rate step runs SIPp's built-in uas and uac (INVITE/100/180/200/ACK/BYE/200) through
the proxy for a few seconds; the ramp stops at the first step with a failed call.
Loopback only; every step bounded in calls (-m) and time (-timeout and a wall-clock cap).

    python bench/bench_sip_proxy.py [--transport u1|t1] [--step-seconds 4] [--rates 100,200,…]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from pathlib import Path

from ims_core.sip import parse_message
from ims_lab.procs import stop_process as stop
from ims_lab.procs import wait_listening

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
def ims_core_proxy(tmp: Path) -> Iterator[subprocess.Popen[bytes]]:
    exe = Path(sys.executable).with_name("ims-core")
    log = (tmp / "proxy.log").open("wb")
    proc = subprocess.Popen(
        [str(exe), "proxy", "--listen", f"{PROXY[0]}:{PROXY[1]}",
         "--next-hop", f"{UAS[0]}:{UAS[1]}", "--record-route", "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(*PROXY, timeout=20, proc=proc)
        yield proc
    finally:
        stop(proc)
        log.close()


@contextlib.contextmanager
def kamailio_proxy(tmp: Path) -> Iterator[subprocess.Popen[bytes]]:
    cfg = (HERE / "kamailio-proxy.cfg").read_text()
    for key, value in {"@LISTEN_ADDR@": PROXY[0], "@LISTEN_PORT@": str(PROXY[1]),
                       "@NEXT_HOP@": f"{UAS[0]}:{UAS[1]}", "@CHILDREN@": "1",
                       "@RUNDIR@": str(tmp)}.items():
        cfg = cfg.replace(key, value)
    (tmp / "kamailio.cfg").write_text(cfg)
    log = (tmp / "kamailio.log").open("wb")
    # -DD: stay in the foreground (so we own the PID); -E: log to stderr. -m/-M: the default
    # 64 MB shared pool runs out of transactions near 600 calls/s (32 s per transaction).
    proc = subprocess.Popen(["kamailio", "-f", str(tmp / "kamailio.cfg"), "-DD", "-E",
                             "-m", "1024", "-M", "32",
                             "-w", str(tmp), "-P", str(tmp / "kamailio.pid")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(*PROXY, timeout=20, proc=proc)
        yield proc
    finally:
        stop(proc)
        log.close()


def run_step(rate: int, seconds: float, transport: str, tmp: Path) -> tuple[bool, str]:
    calls = int(rate * seconds)
    common = ["-t", transport, "-nostdin", "-timeout", f"{int(seconds) + 20}s"]
    uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", UAS[0], "-p", str(UAS[1]), *common],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    try:
        time.sleep(0.3)
        uac = subprocess.run(
            ["sipp", "-sn", "uac", f"{PROXY[0]}:{PROXY[1]}", "-i", UAC[0], "-p", str(UAC[1]),
             "-r", str(rate), "-m", str(calls), "-l", str(max(200, rate * 4)), *common],
            capture_output=True, text=True, cwd=tmp, timeout=seconds + 60)
    finally:
        stop(uas)
    ok = failed = 0
    for line in uac.stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 3 and cells[0] in ("Successful call", "Failed call"):
            if cells[0].startswith("Successful"):
                ok = int(cells[2])
            else:
                failed = int(cells[2])
    passed = uac.returncode == 0 and failed == 0 and ok == calls
    return passed, f"{ok}/{calls} ok, {failed} failed"


def ramp(name: str, starter: object, rates: tuple[int, ...], seconds: float,
         transport: str) -> int:
    best = 0
    with tempfile.TemporaryDirectory() as d, starter(Path(d)):  # type: ignore[operator]
        for rate in rates:
            passed, detail = run_step(rate, seconds, transport, Path(d))
            print(f"  {name:10} {rate:5} calls/s  {'pass' if passed else 'FAIL'}  ({detail})",
                  flush=True)
            if not passed:
                break
            best = rate
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transport", default="u1", choices=["u1", "t1"])
    ap.add_argument("--step-seconds", type=float, default=4.0)
    ap.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    ap.add_argument("--no-kamailio", action="store_true")
    args = ap.parse_args()
    parse_rate()
    if shutil.which("sipp") is None:
        print("sipp not installed (apt-get install sip-tester): no call-rate figures")
        return 1
    rates = tuple(int(r) for r in args.rates.split(","))
    print(f"\nSIPp uac -> proxy -> SIPp uas over {args.transport}, "
          f"{args.step_seconds:g} s per step, Record-Route on")
    ours = ramp("ims-core", ims_core_proxy, rates, args.step_seconds, args.transport)
    print(f"  ims-core proxy: highest rate with zero failed calls: {ours} calls/s")
    if args.no_kamailio:
        print("  (Kamailio comparison skipped: --no-kamailio)")
        return 0
    if shutil.which("kamailio") is None:
        print("  (Kamailio not run: apt-get install kamailio for the comparison)")
        return 0
    kam = ramp("kamailio", kamailio_proxy, rates, args.step_seconds, args.transport)
    print(f"  Kamailio 'tm' proxy: highest rate with zero failed calls: {kam} calls/s")
    if kam:
        print(f"  ratio ims-core / Kamailio: {ours / kam:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
