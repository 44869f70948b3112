"""A CSCF stopped under registration load and restarted on its SQLite state ([persist],
write-behind every ``max_delay_ms``): nothing registered before the loss window is lost.
Three variants: the S-CSCF and the P-CSCF killed (SIGKILL), and the S-CSCF stopped
(SIGTERM, ``stop_grace`` ``STOP_GRACE``: its final flush leaves no loss window at all).

P-CSCF 127.0.0.201, I-CSCF .202, S-CSCF .203, HSS .204; SIPp's UEs on .205, the sender of
the terminating MESSAGEs on .206: addresses no other test uses. SIPp registers ``USERS``
subscribers with IMS-AKA at ``RATE``/s (``-trace_msg``: every message with its time);
``KILL_AT`` seconds in the node gets its signal and, once gone, starts again at once on the
same config and state file. Registrations during the outage fail (the I-CSCF's 504, a lost
challenge, the draining node's 503): that is allowed. Then, with A the users whose 200
reached SIPp before the signal, less (SIGKILL) those within ``max_delay`` + ``MARGIN`` of
it (maybe not yet written behind):

- a MESSAGE from outside the network to each user of A, sent into the I-CSCF (LIR → the
  S-CSCF → the user's Path → the P-CSCF → SIPp's contact, a socket of ours on SIPp's
  address and port once SIPp has exited) reaches its contact and, answered 200 there, is
  answered 200 to the sender: whichever node restarted, its restored records serve them
  (the P-CSCF's own reg-event SUBSCRIBE stays off, so it restores them alone);
- the restarted node's ``ims_registrations_active`` counts at least |A| plus the
  registrations it answered itself.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from ims_core.sip import Request, Response, SipParseError, make_response, parse_message
from ims_lab import running
from ims_lab.plan import DOMAIN, SIP_PORT, Addresses, imsi, write_node_configs
from ims_lab.procs import IMS_CORE, free_port, wait_listening
from ims_lab.running import RunningLab, start_lab
from tests.faults.lab import write_sipp_csvs
from tests.integration.conftest import REPO, SippResult, require_tools, run_sipp
from tests.integration.test_metrics_e2e import readyz, scrape, value

pytestmark = pytest.mark.integration

P_HOST, I_HOST, S_HOST, HSS_HOST = "127.0.0.201", "127.0.0.202", "127.0.0.203", "127.0.0.204"
UES, SENDER = "127.0.0.205", "127.0.0.206"
SIPP_PORT = 5070
USERS, RATE = 300, 50  # SIPp registrations in all (subscribers 1..USERS), and per second
KILL_AT = 3.0  # seconds into the load
MAX_DELAY = 0.2  # the restarted node's persist.max_delay_ms (the default), in seconds
STOP_GRACE = 1.0  # seconds the SIGTERM variant's node drains (default 5: a short run)
MARGIN = 0.1  # for the flush itself
IN_FLIGHT = 0.5  # seconds a 200 of the killed S-CSCF may still take to reach SIPp
MESSAGE_RATE = 50  # terminating MESSAGEs per second
MESSAGE_WAIT = 30.0  # for all of them
NODES = ("pcscf", "icscf", "scscf", "hss")
SCENARIO = REPO / "config" / "sipp" / "register_aka.xml"


@dataclass(frozen=True)
class Variant:
    node: str  # "scscf" or "pcscf": the node signalled, with [persist] on
    sig: signal.Signals

    @property
    def graceful(self) -> bool:
        return self.sig == signal.SIGTERM

    def __str__(self) -> str:
        return f"{self.node}-{self.sig.name}"


VARIANTS = (Variant("scscf", signal.SIGKILL), Variant("pcscf", signal.SIGKILL),
            Variant("scscf", signal.SIGTERM))


@dataclass
class Run:
    variant: Variant
    lab: RunningLab
    plan: Addresses
    load: SippResult
    killed: float  # when the signal went, wall clock (SIPp's traces are wall clock too)
    back: float  # the restarted node accepts TCP
    ok_at: dict[str, float]  # IMSI → when SIPp received its REGISTER's 200
    sipp_errors: str

    def detail(self) -> str:
        return (f"SIPp: {self.load.screen[-1500:]}\nerrors: {self.sipp_errors[-1500:]}\n"
                f"{self.lab.logs(tail=2500)}")


# SIPp's -trace_msg entry header: the local time with microseconds (and, in some
# versions, the epoch seconds after a tab).
_ENTRY = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d)[ \t](\d\d:\d\d:\d\d\.\d{6})(?:\t(\d+\.\d+))?",
                    re.MULTILINE)
_TO_USER = re.compile(r"^(?:To|t)\s*:[^\r\n]*?<?sips?:([^@;>\s]+)@", re.MULTILINE | re.IGNORECASE)


def registered_at(trace: str) -> dict[str, float]:
    """IMSI → wall time of the first 200 to a REGISTER that SIPp received, from its
    -trace_msg file."""
    out: dict[str, float] = {}
    entries = list(_ENTRY.finditer(trace))
    for m, nxt in zip(entries, [*entries[1:], None], strict=True):
        body = trace[m.end():nxt.start() if nxt is not None else len(trace)]
        head, _, message = body.partition("\n\n")
        if "received" not in head or not message.lstrip().startswith("SIP/2.0 200"):
            continue
        if not re.search(r"^CSeq:\s*\d+\s+REGISTER", message, re.MULTILINE | re.IGNORECASE):
            continue
        user = _TO_USER.search(message)
        if user is None:
            continue
        if m.group(3) is not None:
            when = float(m.group(3))
        else:  # SIPp writes local time, as datetime reads it
            when = datetime.strptime(f"{m.group(1)} {m.group(2)}",
                                     "%Y-%m-%d %H:%M:%S.%f").timestamp()
        out.setdefault(user.group(1), when)
    return out


def sipp_argv(workdir: Path, csv: Path) -> list[str]:
    return ["sipp", f"{P_HOST}:{SIP_PORT}", "-sf", str(SCENARIO), "-inf", str(csv),
            "-i", UES, "-p", str(SIPP_PORT), "-t", "u1", "-m", str(USERS), "-r", str(RATE),
            "-l", str(USERS), "-nostdin", "-timeout", "45s", "-recv_timeout", "10000",
            "-trace_msg", "-message_file", str(workdir / "load_messages.log"),
            "-trace_err", "-error_file", str(workdir / "load_errors.log"),
            "-default_behaviors", "all,-bye"]


@pytest.fixture(scope="module", params=VARIANTS, ids=str)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Run]:
    require_tools("sipp")
    variant: Variant = request.param
    node = variant.node
    workdir = tmp_path_factory.mktemp(f"restart_under_load_{variant}")
    plan = Addresses(P_HOST, I_HOST, S_HOST, HSS_HOST, metrics_port=free_port(P_HOST))

    def write(directory: Path, p: Addresses, **kw: Any) -> dict[str, Path]:
        configs = write_node_configs(directory, p, **kw, persist=(node,))
        if variant.graceful:  # the written config's top-level stop_grace, shortened
            path = configs[node]
            text, n = re.subn(r"^stop_grace = .*$", f"stop_grace = {STOP_GRACE}",
                              path.read_text(), count=1, flags=re.MULTILINE)
            assert n == 1, text
            path.write_text(text)
        return configs

    with mock.patch.object(running, "write_node_configs", write):
        # No reg event subscriptions: the load is the registrations alone.
        lab = start_lab(workdir, plan, subscribers=USERS, metrics=True, pcscf_subscribe=False)
    try:
        deadline = time.monotonic() + 30
        while not all(readyz(plan, n) == 200 for n in NODES):
            assert time.monotonic() < deadline, lab.logs()
            time.sleep(0.1)
        csv = write_sipp_csvs(workdir, lab, {"load": range(1, USERS + 1)})["load"]
        results: dict[str, SippResult] = {}
        load = threading.Thread(target=lambda: results.setdefault("load", run_sipp(
            workdir, "load", sipp_argv(workdir, csv), timeout=75)), daemon=True)
        load.start()
        time.sleep(KILL_AT)
        old = lab.children[node]
        killed = time.time()  # taken first: the signal is no earlier than this
        old.proc.send_signal(variant.sig)
        code = old.proc.wait(STOP_GRACE + 5)  # SIGTERM: drained, flushed, exit 0
        assert code == (0 if variant.graceful else -signal.SIGKILL), old.output()[-2000:]
        again = lab.procs.start(f"{node}-again", [*IMS_CORE, node, "-c",
                                                  str(lab.configs[node])])
        lab.children[f"{node}-again"] = again
        wait_listening(*plan.probe(node), timeout=20, proc=again.proc)
        back = time.time()
        load.join(80)
        assert "load" in results, f"SIPp did not finish\n{lab.logs()}"
        trace = (workdir / "load_messages.log").read_text(errors="replace")
        errors = workdir / "load_errors.log"
        yield Run(variant, lab, plan, results["load"], killed, back, registered_at(trace),
                  errors.read_text(errors="replace") if errors.exists() else "")
    finally:
        lab.stop()


@dataclass
class Sent:
    user: str
    data: bytes
    first: float
    resend_at: float
    interval: float = 0.5  # RFC 3261 §17.1.2.2: T1, doubling up to T2 (4 s)
    status: int = 0


@dataclass
class Exchange:
    """Terminating MESSAGEs into the I-CSCF from outside, answered 200 at the contact."""

    contact: socket.socket
    sender: socket.socket
    sent: dict[str, Sent] = field(default_factory=dict)  # Call-ID → what was sent
    delivered: set[str] = field(default_factory=set)  # Call-IDs that reached the contact

    def message(self, user: str, call_id: str) -> bytes:
        host, port = self.sender.getsockname()
        body = b"after the restart"
        return (
            f"MESSAGE sip:{user}@{DOMAIN} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:sender@example.net>;tag={os.urandom(4).hex()}\r\n"
            f"To: <sip:{user}@{DOMAIN}>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 MESSAGE\r\n"
            "Content-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    def send(self, user: str, now: float) -> None:
        call_id = f"reload-{user}@{SENDER}"
        data = self.message(user, call_id)
        self.sent[call_id] = Sent(user, data, now, now + 0.5)
        self.sender.sendto(data, (I_HOST, SIP_PORT))

    def resend(self, now: float) -> None:
        for s in self.sent.values():
            if not s.status and now >= s.resend_at:
                self.sender.sendto(s.data, (I_HOST, SIP_PORT))
                s.interval = min(s.interval * 2, 4.0)
                s.resend_at = now + s.interval

    def receive(self, timeout: float) -> None:
        readable, _, _ = select.select([self.contact, self.sender], [], [], timeout)
        for sock in readable:
            data, peer = sock.recvfrom(65535)
            try:
                msg = parse_message(data)
            except SipParseError:
                continue
            call_id = msg.headers.get("call-id") or ""
            if sock is self.contact and isinstance(msg, Request):
                if msg.method == "MESSAGE":
                    self.delivered.add(call_id)
                    sock.sendto(make_response(msg, 200, to_tag="sipp-ue").to_bytes(), peer)
            elif isinstance(msg, Response) and msg.status >= 200 and call_id in self.sent:
                self.sent[call_id].status = self.sent[call_id].status or msg.status

    def done(self) -> bool:
        return all(s.status for s in self.sent.values())


def message_all(users: list[str]) -> Exchange:
    """One MESSAGE per user at MESSAGE_RATE, resent until answered; at most MESSAGE_WAIT."""
    contact = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        contact.bind((UES, SIPP_PORT))  # SIPp's contact: SIPp has exited
        sender.bind((SENDER, 0))
        ex = Exchange(contact, sender)
        start = time.monotonic()
        todo = list(users)
        while time.monotonic() - start < MESSAGE_WAIT and (todo or not ex.done()):
            now = time.monotonic()
            while todo and len(ex.sent) < (now - start) * MESSAGE_RATE + 1:
                ex.send(todo.pop(0), now)
            ex.resend(now)
            ex.receive(0.01)
        return ex
    finally:
        contact.close()
        sender.close()


def test_registrations_before_the_loss_window_survive_a_restart(run: Run) -> None:
    variant = run.variant
    before = {u: t for u, t in run.ok_at.items() if t < run.killed}
    window = [u for u, t in before.items() if t >= run.killed - MAX_DELAY - MARGIN]
    after = [u for u, t in run.ok_at.items() if t >= run.killed]
    # SIGTERM: the final flush writes everything answered, so no loss window.
    loss = 0.0 if variant.graceful else MAX_DELAY + MARGIN
    kept = sorted(u for u, t in before.items() if t < run.killed - loss)
    # Every registration SIPp counts as successful has its 200 in the trace.
    assert len(run.ok_at) >= run.load.successful, run.detail()
    assert len(kept) >= RATE, run.detail()  # about KILL_AT seconds of registrations
    assert all(u in {imsi(n) for n in range(1, USERS + 1)} for u in kept)

    # 200s a little after the signal may still be the old node's (in flight through the
    # I-CSCF and P-CSCF); those after that and after the restart are the restarted node's,
    # which holds them.
    fresh = [u for u, t in run.ok_at.items() if t > max(run.back, run.killed + IN_FLIGHT)]
    active = value(scrape(run.plan, variant.node), "ims_registrations_active")
    assert active >= len(kept) + len(fresh), (
        f"{active} < {len(kept)} + {len(fresh)}\n{run.detail()}")

    ex = message_all(kept)
    by_user = {s.user: (cid, s) for cid, s in ex.sent.items()}
    missing = [u for u in kept if by_user[u][0] not in ex.delivered]
    failed = {u: by_user[u][1].status for u in kept if by_user[u][1].status != 200}
    print(f"\n{variant} under load: {len(before)} registered before the signal, "
          f"{len(window)} of them in the last {MAX_DELAY + MARGIN:.1f} s (SIGKILL's loss "
          f"window), |A| = {len(kept)}, {len(set(kept) - set(missing) - set(failed))} reached; "
          f"{len(after)} registered after the signal ({variant.node} listening again "
          f"{run.back - run.killed:.2f} s after it); SIPp {run.load.successful} ok / "
          f"{run.load.failed} failed; restarted {variant.node} registrations_active "
          f"{active:.0f}")
    assert missing == [], f"{len(missing)} of {len(kept)} not reached: {missing[:10]}\n" + (
        run.detail())
    assert failed == {}, f"{len(failed)} not answered 200: {dict(list(failed.items())[:10])}"
