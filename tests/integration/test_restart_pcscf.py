"""The P-CSCF's registrations survive a restart (``[persist]`` with SQLite): four real
nodes, our UE registers two identities over UDP, the P-CSCF is killed (SIGKILL, after
more than ``max_delay_ms``; or stopped with SIGTERM right after the registrations, which
the final flush keeps) and started again. Then a MESSAGE from one registered UE's flow is
accepted (not 403: the P-CSCF knows its registration and its Service-Route) and reaches
the other UE through the P-CSCF (a terminating request to a restored contact). The same
with the registrations in Redis (a redis-server of the test's own) and a SIGKILL.

P-CSCF 127.0.0.161, I-CSCF .162, S-CSCF .163, HSS .164, our UEs 127.0.0.165: addresses no
other test uses."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hss.config import load_config
from ims_core.sip import Request, Response, make_response, parse_message
from ims_lab.addresses import NODES, SIP_PORT, Addresses
from ims_lab.plan import imsi, write_node_configs
from ims_lab.procs import IMS_CORE, Child, Processes, wait_listening
from ims_lab.seed import seed_demo
from tests.ims.conftest import UeResult
from tests.persist.redis_server import redis_server

pytestmark = pytest.mark.integration

PLAN = Addresses("127.0.0.161", "127.0.0.162", "127.0.0.163", "127.0.0.164")
UE_HOST = "127.0.0.165"
MAX_DELAY = 0.2  # persist.max_delay_ms of the P-CSCF, in seconds
_ports = itertools.count(17001)


@dataclass
class Lab:
    workdir: Path
    configs: dict[str, Path]
    procs: Processes
    children: dict[str, Child]
    pcscf_starts: int = 0
    store: tuple[str, ...] = ()  # --set options of another [persist] store (none: SQLite)

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {c.name} ---\n{c.output()[-tail:]}"
                         for c in self.children.values())

    def start_pcscf(self) -> Child:
        """The P-CSCF, its registrations in `pcscf-state.sqlite` of the work directory
        (or in the store `self.store` sets)."""
        self.pcscf_starts += 1
        child = self.procs.start(f"pcscf-{self.pcscf_starts}", [
            *IMS_CORE, "pcscf", "-c", str(self.configs["pcscf"]),
            "--set", f"persist.max_delay_ms={int(MAX_DELAY * 1000)}", *self.store])
        self.children["pcscf"] = child
        wait_listening(*PLAN.probe("pcscf"), timeout=20, proc=child.proc)
        return child

    def ue(self, number: int, port: int) -> UeResult:
        """``ims-core ue register`` of demo subscriber `number` from UE_HOST:`port`."""
        proc = subprocess.run(
            [*IMS_CORE, "ue", "register", "--pcscf", f"{PLAN.pcscf}:{SIP_PORT}",
             "--transport", "udp", "--local", f"{UE_HOST}:{port}", "--imsi", imsi(number),
             "--expires", "600", "--json", "--timeout", "8"],
            capture_output=True, text=True, timeout=60, cwd=self.workdir, check=False)
        return UeResult.of(proc)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("restart_pcscf")
    configs = write_node_configs(workdir, PLAN, min_expires=1, persist=("pcscf",))
    seed_demo(load_config(configs["hss"]), 20)
    procs = Processes(workdir)
    the_lab = Lab(workdir, configs, procs, {})
    try:
        for node in NODES[:-1]:
            child = procs.start(node, [*IMS_CORE, node, "-c", str(configs[node])])
            the_lab.children[node] = child
            wait_listening(*PLAN.probe(node), timeout=20, proc=child.proc)
        the_lab.start_pcscf()
        deadline = time.monotonic() + 30  # the Diameter connections come up on their own
        while (result := the_lab.ue(20, next(_ports))).code != 0:
            assert time.monotonic() < deadline, f"{result.output}\n{the_lab.logs()}"
            time.sleep(0.5)
        yield the_lab
    finally:
        procs.stop_all()


def impu(number: int) -> str:
    return f"sip:{imsi(number)}@{PLAN.domain}"


def registered_pair(lab: Lab, first: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Demo subscribers `first` and `first`+1 registered over UDP: (number, port) each."""
    pair = ((first, next(_ports)), (first + 1, next(_ports)))
    for number, port in pair:
        result = lab.ue(number, port)
        assert result.code == 0 and result.status == 200, f"{result.output}\n{lab.logs()}"
    return pair


def udp(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((UE_HOST, port))
    sock.settimeout(0.5)
    return sock


def message(caller: tuple[int, int], callee: int, call_id: str) -> bytes:
    """A MESSAGE from the caller's registered flow to the callee's identity, over us as
    outbound proxy (the UE's preloaded Route, TS 24.229 §5.1.2A.1)."""
    number, port = caller
    body = b"after the restart"
    return (
        f"MESSAGE {impu(callee)} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {UE_HOST}:{port};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"Route: <sip:{PLAN.pcscf}:{SIP_PORT};lr>\r\n"
        f"From: <{impu(number)}>;tag={os.urandom(4).hex()}\r\n"
        f"To: <{impu(callee)}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 MESSAGE\r\n"
        "Content-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def exchange(caller: tuple[int, int], callee: tuple[int, int], call_id: str,
             timeout: float = 15.0) -> tuple[Response, Request | None]:
    """Send the MESSAGE from the caller's flow; the callee answers 200 to what arrives.
    Returns the caller's final response and the request the callee got (if any)."""
    with udp(caller[1]) as a, udp(callee[1]) as b:
        pcscf = (PLAN.pcscf, SIP_PORT)
        a.sendto(message(caller, callee[0], call_id), pcscf)
        got: Request | None = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, peer = b.recvfrom(65535)
                incoming = parse_message(data)
                if isinstance(incoming, Request) and incoming.method == "MESSAGE":
                    got = incoming
                    b.sendto(make_response(incoming, 200, to_tag="callee").to_bytes(), peer)
            except TimeoutError:
                pass
            try:
                answer = parse_message(a.recv(65535))
            except TimeoutError:
                continue
            if isinstance(answer, Response) and answer.status >= 200:
                return answer, got
        pytest.fail(f"no final response to the MESSAGE {call_id}")


def subscriptions_of(lab: Lab, number: int | None = None) -> int:
    """How many reg event subscriptions of the P-CSCF (to `number`'s identity, or any) the
    S-CSCF has accepted so far (its log)."""
    line = f"subscriber=sip:{PLAN.pcscf}:{SIP_PORT}"
    if number is not None:
        line = f"resource={impu(number)} {line}"
    return sum("scscf.regevent_subscribed" in x and line in x
               for x in lab.children["scscf"].output().splitlines())


def eventually(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def restarted(lab: Lab, sig: signal.Signals) -> Child:
    old = lab.children["pcscf"]
    code = lab.procs.stop(old, sig)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0), old.output()[-3000:]
    return lab.start_pcscf()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_registrations_survive_a_restart(lab: Lab, sig: signal.Signals) -> None:
    caller, callee = registered_pair(lab, 1 if sig == signal.SIGKILL else 3)
    subscribed = subscriptions_of(lab, caller[0])
    assert subscribed == 1, lab.logs()
    if sig == signal.SIGKILL:
        time.sleep(MAX_DELAY * 5)  # written behind by now; a SIGKILL keeps what was written
    child = restarted(lab, sig)
    out = child.output()
    assert "pcscf.state_restored" in out and "records=0" not in out, out

    served_after_restart(lab, caller, callee, f"restart-{sig.name}@{UE_HOST}")


def served_after_restart(lab: Lab, caller: tuple[int, int], callee: tuple[int, int],
                         call_id: str) -> None:
    """The caller's MESSAGE reaches the callee, both registered before the restart."""
    answer, got = exchange(caller, callee, call_id)
    assert answer.status == 200, f"{answer.status} {answer.reason}\n{lab.logs()}"
    assert got is not None, lab.logs()
    # Asserted by the restarted P-CSCF from the caller's restored registration.
    assert got.headers.values("p-asserted-identity") == [f"<{impu(caller[0])}>"]
    assert str(got.uri).startswith(f"sip:{imsi(callee[0])}@{UE_HOST}:{callee[1]}")
    # TS 24.229 §5.2.3: a fresh reg event subscription for the restored registration.
    assert eventually(lambda: subscriptions_of(lab, caller[0]) == 2, 20), lab.logs()


def test_an_idle_restarted_pcscf_subscribes_again(lab: Lab) -> None:
    registered_pair(lab, 7)
    time.sleep(MAX_DELAY * 5)
    before = subscriptions_of(lab)
    restarted(lab, signal.SIGKILL)  # the first SUBSCRIBE is due a second after the start
    assert eventually(lambda: subscriptions_of(lab) > before, 6), lab.logs()


def test_an_unregistered_flow_is_still_refused_after_a_restart(lab: Lab) -> None:
    restarted(lab, signal.SIGKILL)
    stranger = (5, next(_ports))  # never registered from this port
    answer, got = exchange(stranger, (6, next(_ports)), f"stranger@{UE_HOST}", timeout=5)
    assert answer.status == 403 and got is None


def test_registrations_in_redis_survive_a_sigkill(lab: Lab, tmp_path: Path) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with redis_server(redis_dir) as url:
        lab.store = ("--set", "persist.backend=redis", "--set", f"persist.url={url}",
                     "--set", "persist.prefix=pcscf-restart-test")
        try:
            restarted(lab, signal.SIGKILL)  # on Redis from now on, empty
            caller, callee = registered_pair(lab, 11)
            assert eventually(lambda: subscriptions_of(lab, caller[0]) == 1, 5), lab.logs()
            time.sleep(MAX_DELAY * 5)  # written behind by now
            out = restarted(lab, signal.SIGKILL).output()
            restored = [x for x in out.splitlines() if "pcscf.state_restored" in x]
            assert len(restored) == 1 and "backend=redis" in restored[0], out
            assert "records=0" not in restored[0], out
            served_after_restart(lab, caller, callee, f"restart-redis@{UE_HOST}")
        finally:
            # Back on its SQLite file while Redis still runs (the module's lab goes on).
            lab.store = ()
            lab.procs.stop(lab.children["pcscf"], signal.SIGKILL)
            lab.start_pcscf()
