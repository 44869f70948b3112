"""``ims-core lab`` as a subprocess with its own addresses (127.x.y.1-4) and data dir.

Nodes whose application is not built yet (``ims_core.<node>.app`` missing) are left out
of the lab config; once they land the same tests start all four.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import Child, wait_for_log

REPO = Path(__file__).resolve().parents[2]
NODES = ("hss", "scscf", "icscf", "pcscf")
PROBES = {"hss": (4, 3868), "scscf": (3, 5060), "icscf": (2, 5060), "pcscf": (1, 5060),
          "hss-api": (4, 8080)}

pytestmark = pytest.mark.integration


def built(node: str) -> bool:
    if node == "hss":
        return True
    try:
        return importlib.util.find_spec(f"ims_core.{node}.app") is not None
    except ModuleNotFoundError:
        return False


@dataclass
class Lab:
    workdir: Path
    prefix: str  # "127.a.b." in place of the default "127.0.0."
    nodes: list[str]
    proc: subprocess.Popen[bytes] | None = None
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.workdir / "lab.out"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ims_lab.cli", "lab", "-c", "lab.toml"],
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        assert self.proc is not None
        wait_for_log(Child("lab", self.proc, self.log), text, timeout)

    def read_pids(self) -> None:
        for name, pid in re.findall(r"ims-core lab: ([\w-]+): started \(pid (\d+)",
                                    self.output()):
            self.pids[name] = int(pid)

    def address(self, node: str) -> tuple[str, int]:
        last, port = PROBES[node]
        return f"{self.prefix}{last}", port

    def wait_exit(self, timeout: float = 40.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"lab did not exit within {timeout}s:\n{self.output()}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def listening(addr: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(addr, timeout=1.0):
            return True
    except OSError:
        return False


def readyz(addr: tuple[str, int]) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*addr, timeout=5)
    try:
        conn.request("GET", "/readyz")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    prefix = f"127.{random.randint(100, 199)}.{random.randint(1, 250)}."
    nodes = [n for n in NODES if built(n) and (REPO / "config" / f"{n}.toml").is_file()]
    lines = ["seed_count = 5", "ready_timeout = 30.0", "stop_timeout = 10.0", "[nodes]"]
    for node in NODES:
        path = ""
        if node in nodes:
            text = (REPO / "config" / f"{node}.toml").read_text()
            target = tmp_path / f"{node}.toml"
            target.write_text(text.replace("127.0.0.", prefix))
            path = str(target)
        lines.append(f'{node} = "{path}"')
    lines += ["[sipp]", f'local_ip = "{prefix}100"']
    (tmp_path / "lab.toml").write_text("\n".join(lines) + "\n")
    the_lab = Lab(tmp_path, prefix, nodes)
    yield the_lab
    # Teardown: whatever is still running of what this test started, by PID.
    if the_lab.proc is not None and the_lab.proc.poll() is None:
        the_lab.proc.kill()
        the_lab.proc.wait(10)
    for pid in the_lab.pids.values():
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_lab_starts_every_node_and_stops_them_all_on_sigint(lab: Lab) -> None:
    assert "hss" in lab.nodes and "icscf" in lab.nodes
    lab.start()
    lab.wait_for("ims-core lab: ready")
    lab.read_pids()
    assert sorted(lab.pids) == sorted([*lab.nodes, "hss-api"])
    for node in lab.nodes:
        assert listening(lab.address(node)), node
        assert alive(lab.pids[node])
    out = lab.output()
    assert "seeded 5 demo subscriber(s)" in out
    assert re.search(r"\n    sipp \S+ -sf \S+register_aka\.xml -inf \S+sipp_subscribers\.csv", out)
    csv = (lab.workdir / "data" / "sipp_subscribers.csv").read_text().splitlines()
    assert csv[0] == "SEQUENTIAL" and len(csv) == 6
    assert "aka_K=" in csv[1]
    assert "avoid_res_zero_octet = true" in (lab.workdir / "data" / "lab-hss.toml").read_text()
    assert "icscf   | " in out and "hss     | " in out  # child logs, prefixed
    # Every node's metrics listener is on, on its own address; each was waited for.
    assert "metrics (Prometheus text format; /healthz and /readyz beside them):" in out
    for node in lab.nodes:
        metrics = (lab.address(node)[0], 9090)
        assert f"\n    {node:<6} http://{metrics[0]}:9090/metrics\n" in out, out
        assert f"{node}: ready (http://{metrics[0]}:9090/readyz answered 200)" in out
        assert readyz(metrics) == (200, "ready\n"), node
    # The provisioning API on the HSS's store, its key where the banner says.
    api = f"http://{lab.prefix}4:8080"
    key = (lab.workdir / "data" / "api-key").resolve()
    assert (f"HSS provisioning API: {api}/api/v1 (OpenAPI: {api}/openapi.json); "
            f"X-API-Key: the key in {key} (made at the API's first start)") in out, out
    assert readyz((f"{lab.prefix}4", 8080))[0] == 200
    assert f"hss-api: ready ({api}/readyz answered 200)" in out
    conn = http.client.HTTPConnection(f"{lab.prefix}4", 8080, timeout=5)
    try:
        conn.request("GET", "/api/v1/subscribers/001010000000005",
                     headers={"X-API-Key": key.read_text().strip()})
        response = conn.getresponse()
        assert response.status == 200 and b"001010000000005" in response.read()
    finally:
        conn.close()
    assert lab.proc is not None
    lab.proc.send_signal(signal.SIGINT)
    assert lab.wait_exit() == 0, lab.output()
    for node, pid in lab.pids.items():
        assert not alive(pid), node
        assert not listening(lab.address(node)), node
        assert not listening((lab.address(node)[0], 9090)), node
    out = lab.output()
    for node in (*lab.nodes, "hss-api"):
        assert f"ims-core lab: {node}: stopped" in out
    # Upstream first, HSS last.
    assert out.index("ims-core lab: hss: stopped") > out.index("ims-core lab: icscf: stopped")
    assert out.index("ims-core lab: pcscf: stopped") > out.index("ims-core lab: hss-api: stopped")
    assert not listening((f"{lab.prefix}4", 8080))


def test_the_printed_sipp_command_registers_the_demo_subscribers(lab: Lab) -> None:
    if len(lab.nodes) < 4:
        pytest.skip(f"only {', '.join(lab.nodes)} built so far")
    if shutil.which("sipp") is None:
        pytest.skip("sipp (sip-tester) not installed")
    lab.start()
    lab.wait_for("ims-core lab: ready")
    lab.read_pids()
    match = re.search(r"\n    (sipp .*)\n", lab.output())
    assert match is not None
    argv = [*shlex.split(match.group(1)), "-timeout", "60", "-trace_stat", "-stf", "stat.csv"]
    run = subprocess.run(argv, cwd=lab.workdir, capture_output=True, timeout=90, check=False)
    rows = (lab.workdir / "stat.csv").read_text().splitlines()
    stats = dict(zip(rows[0].split(";"), rows[-1].split(";"), strict=False))
    assert run.returncode == 0, (stats, lab.output()[-3000:])
    assert (stats["SuccessfulCall(C)"], stats["FailedCall(C)"]) == ("5", "0")
    assert lab.proc is not None
    lab.proc.send_signal(signal.SIGINT)
    assert lab.wait_exit() == 0, lab.output()


def test_an_address_plan_runs_the_four_nodes_from_written_configs(lab: Lab) -> None:
    if len(lab.nodes) < 4:
        pytest.skip(f"only {', '.join(lab.nodes)} built so far")
    p = lab.prefix
    (lab.workdir / "lab.toml").write_text(
        f'seed_count = 3\nready_timeout = 30.0\n[addresses]\npcscf = "{p}1"\n'
        f'icscf = "{p}2"\nscscf = "{p}3"\nhss = "{p}4"\n[sipp]\nlocal_ip = "{p}100"\n')
    lab.start()
    lab.wait_for("ims-core lab: ready")
    lab.read_pids()
    data = lab.workdir / "data"
    for node in NODES:
        assert listening(lab.address(node)), node
        assert f"{node}: started (pid {lab.pids[node]}, data/{node}.toml)" in lab.output()
    assert f'host = "{p}3"' in (data / "scscf.toml").read_text()
    assert not (data / "lab-hss.toml").exists()  # the plan's HSS already avoids 0x00 RES
    assert len((data / "sipp_subscribers.csv").read_text().splitlines()) == 4
    assert lab.proc is not None
    lab.proc.send_signal(signal.SIGINT)
    assert lab.wait_exit() == 0, lab.output()
    for node, pid in lab.pids.items():
        assert not alive(pid), node


def test_second_run_does_not_reseed_and_sigterm_also_stops(lab: Lab) -> None:
    lab.start()
    lab.wait_for("ims-core lab: ready")
    assert lab.proc is not None
    lab.proc.send_signal(signal.SIGTERM)
    assert lab.wait_exit() == 0, lab.output()
    lab.log.unlink()
    lab.start()
    lab.wait_for("ims-core lab: ready")
    lab.read_pids()
    assert "seeded" not in lab.output()
    lab.proc.send_signal(signal.SIGINT)
    assert lab.wait_exit() == 0


def test_a_dying_child_is_reported_and_the_others_are_stopped(lab: Lab) -> None:
    lab.start()
    lab.wait_for("ims-core lab: ready")
    lab.read_pids()
    victim = "icscf"
    os.kill(lab.pids[victim], signal.SIGKILL)
    assert lab.wait_exit() == 1, lab.output()
    out = lab.output()
    assert re.search(rf"ims-core lab: {victim} \(pid {lab.pids[victim]}\) exited with status -9",
                     out), out
    assert "nothing is restarted" in out
    for node, pid in lab.pids.items():
        assert not alive(pid), node
    for node in lab.nodes:
        if node != victim:
            assert f"ims-core lab: {node}: stopped" in out


def test_missing_node_config_fails_before_starting_anything(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(
        f'[nodes]\nhss = "{REPO}/config/hss.toml"\nscscf = ""\npcscf = ""\n'
        'icscf = "nowhere/icscf.toml"\n')
    proc = subprocess.run([sys.executable, "-m", "ims_lab.cli", "lab", "-c", "lab.toml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "nowhere/icscf.toml not found" in proc.stdout
    assert "started" not in proc.stdout


def test_children_stop_when_the_lab_itself_is_killed(lab: Lab) -> None:
    # PR_SET_PDEATHSIG: a SIGKILLed lab leaves no orphaned nodes behind.
    lab.start()
    lab.wait_for("ims-core lab: ready")
    lab.read_pids()
    assert lab.proc is not None
    lab.proc.kill()
    lab.proc.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(p) for p in lab.pids.values()):
        time.sleep(0.1)
    assert not [n for n, p in lab.pids.items() if alive(p)]


def test_a_busy_address_is_refused_before_anything_starts(lab: Lab) -> None:
    # e.g. a previous lab still stopping: our HSS would fail to bind while the readiness
    # probe reached the old one.
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(lab.address("hss"))
    busy.listen()
    try:
        lab.start()
        assert lab.wait_exit() == 1, lab.output()
    finally:
        busy.close()
    out = lab.output()
    host, port = lab.address("hss")
    assert f"hss: {host}:{port} is already in use" in out, out
    assert "started (pid" not in out


def test_a_node_that_never_gets_ready_fails_the_lab(lab: Lab) -> None:
    # An S-CSCF without its HSS listens, but its /readyz stays 503: the lab says why.
    config = (lab.workdir / "scscf.toml").read_text()
    (lab.workdir / "lab.toml").write_text(
        f'seed_count = 1\nready_timeout = 3.0\n[nodes]\nhss = ""\nicscf = ""\npcscf = ""\n'
        f'scscf = "{lab.workdir / "scscf.toml"}"\n')
    assert "[metrics]" in config
    lab.start()
    assert lab.wait_exit() == 1, lab.output()
    lab.read_pids()
    host = lab.address("scscf")[0]
    assert (f"ims-core lab: scscf: not ready after 3s: scscf: http://{host}:9090/readyz "
            f"answered 503 Service Unavailable: diameter: no open peer (hss {lab.prefix}4:3868)"
            ) in lab.output()
    assert "ims-core lab: scscf: stopped" in lab.output()
    assert not alive(lab.pids["scscf"])
