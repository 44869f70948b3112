"""The S-CSCF restarted with its registrations ([persist]): the four nodes on loopback
(P-CSCF 127.0.0.151, I-CSCF .152, S-CSCF .153, HSS .154; our UEs on .155), UEs
registered, the S-CSCF killed (SIGKILL after the write-behind delay, with SQLite or Redis)
or stopped (SIGTERM, with Redis and a delay longer than the test: only the final flush can
have written the records) and started again on the same store. Then:

- it restored every registration and its Diameter connection came back by itself
  (/readyz);
- a MESSAGE to a UE registered before the restart reaches it (terminating request routed
  to its contact through its Path) and is answered 200;
- that UE's own refresh (same Call-ID, next CSeq) is answered 200 after the challenge,
  as a re-registration: the restarted S-CSCF logs no new (initial) registration;
- a registration restored with a short expiry still expires (TIMEOUT_DEREGISTRATION).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from ims_core.persist import Backend, PersistConfig, RedisBackend, SqliteBackend
from ims_core.scscf.persist import KIND
from ims_lab import running
from ims_lab.plan import DOMAIN, SIP_PORT, Addresses, imsi, scscf_config, write_node_configs
from ims_lab.procs import IMS_CORE, Child, wait_listening
from ims_lab.running import RunningLab, start_lab
from ims_lab.tomlwrite import write_toml
from tests.persist.redis_server import redis_server

pytestmark = pytest.mark.integration

ADDRESSES = Addresses("127.0.0.151", "127.0.0.152", "127.0.0.153", "127.0.0.154")
UE_HOST = "127.0.0.155"
STAYING, CALLER, SHORT, PROBE = 1, 2, 3, 9  # subscriber numbers (ims_lab.plan.imsi)
OTHERS = (4, 5, 6)  # registered and left alone: counted after the restart
STAY_EXPIRES = 20  # the staying UE refreshes half-way: after the restart
SHORT_EXPIRES = 8


def impu(n: int) -> str:
    return f"sip:{imsi(n)}@{DOMAIN}"


class Restart:
    def __init__(self, lab: RunningLab, persist: PersistConfig) -> None:
        self.lab = lab
        self.persist = persist
        self.port = 15200

    def ue(self, n: int, *args: str, expires: int = 600) -> subprocess.CompletedProcess[str]:
        self.port += 1
        return subprocess.run(
            [*IMS_CORE, "ue", "register", "--pcscf", f"{ADDRESSES.pcscf}:{SIP_PORT}",
             "--local", f"{UE_HOST}:{self.port}", "--imsi", imsi(n), "--expires", str(expires),
             "--timeout", "8", "--json", *args],
            capture_output=True, text=True, timeout=60, cwd=self.lab.workdir, check=False)

    def stay(self, n: int) -> Child:
        self.port += 1
        return self.lab.procs.start(f"ue{n}", [
            *IMS_CORE, "ue", "register", "--pcscf", f"{ADDRESSES.pcscf}:{SIP_PORT}",
            "--local", f"{UE_HOST}:{self.port}", "--imsi", imsi(n),
            "--expires", str(STAY_EXPIRES), "--duration", "90", "--timeout", "8"])

    def backend(self) -> Backend:
        if self.persist.backend == "redis":
            return RedisBackend(self.persist.url, self.persist.redis_prefix("scscf"))
        return SqliteBackend(self.persist.sqlite_path("scscf"))

    def stored(self) -> set[str]:
        b = self.backend()
        try:
            return {key for key, _ in b.load(KIND)}
        finally:
            b.close()

    def start_scscf(self, name: str) -> Child:
        child = self.lab.procs.start(name, [*IMS_CORE, "scscf", "-c",
                                            str(self.lab.configs["scscf"])])
        self.lab.children[name] = child
        wait_listening(*ADDRESSES.probe("scscf"), timeout=20, proc=child.proc)
        return child

    def logs(self) -> str:
        return self.lab.logs(tail=3000)


def wait_for(cond: Any, what: str, restart: Restart, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{restart.logs()}")
        time.sleep(0.1)


def ready(host_port: tuple[str, int]) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host_port[0]}:{host_port[1]}/readyz",
                                    timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def outcome(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


@pytest.fixture
def lab_with(tmp_path: Path) -> Iterator[Any]:
    """Starts the lab with the S-CSCF's [persist] set to what the test gives."""
    labs: list[RunningLab] = []

    def start(persist: PersistConfig) -> Restart:
        def write(directory: Path, plan: Addresses, **kw: Any) -> dict[str, Path]:
            configs = write_node_configs(directory, plan, **kw)
            cfg = scscf_config(plan, min_expires=kw.get("min_expires", 60),
                               log_level=kw.get("log_level", "info"),
                               metrics=kw.get("metrics", False))
            write_toml(configs["scscf"], dataclasses.replace(cfg, persist=persist))
            return configs

        with mock.patch.object(running, "write_node_configs", write):
            lab = start_lab(tmp_path, ADDRESSES, subscribers=10, min_expires=1, metrics=True)
        labs.append(lab)
        return Restart(lab, persist)

    yield start
    for lab in labs:
        lab.stop()


def scenario(r: Restart, sig: signal.Signals, settle: float) -> None:
    # The chain answers once the Diameter connections are up.
    wait_for(lambda: r.ue(PROBE, expires=300).returncode == 0, "a first registration", r)
    for n in (CALLER, *OTHERS):
        done = r.ue(n)
        assert done.returncode == 0, done.stdout + done.stderr
    staying = r.stay(STAYING)
    wait_for(lambda: "registered" in staying.output(), "the staying UE's registration", r)
    # Last: it must outlive the restart (about 2 s), then expire on the restarted node.
    short = r.ue(SHORT, expires=SHORT_EXPIRES)
    assert short.returncode == 0, short.stdout + short.stderr
    registered = {impu(n) for n in (PROBE, CALLER, SHORT, STAYING, *OTHERS)}
    time.sleep(settle)

    old = r.lab.children["scscf"]
    r.lab.procs.stop(old, sig)
    assert old.proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 0), old.output()
    assert r.stored() == registered, r.logs()  # written behind before the stop

    new = r.start_scscf("scscf-restarted")
    restored = re.search(r"state_restored.*records=(\d+)", new.output())
    assert restored is not None and int(restored.group(1)) == len(registered), new.output()
    # The Diameter connection to the HSS comes back by itself (readiness needs it).
    wait_for(lambda: ready(ADDRESSES.metrics("scscf")), "the S-CSCF's /readyz", r)

    # A MESSAGE to the UE registered before the restart reaches it and is answered.
    sent = r.ue(CALLER, "--message", impu(STAYING), "--text", "after-restart")
    assert sent.returncode == 0, sent.stdout + sent.stderr + r.logs()
    assert re.search(r"MESSAGE to \S+: 200", sent.stdout), sent.stdout
    wait_for(lambda: "after-restart" in staying.output(), "the MESSAGE at the UE", r)
    # Its refresh (same Call-ID, next CSeq) is a re-registration at the restarted node.
    wait_for(lambda: "re-registered: 200" in staying.output(), "the UE's refresh", r,
             timeout=STAY_EXPIRES + 10)
    # The short registration expires at its restored time, with SAR TIMEOUT_DEREGISTRATION.
    wait_for(lambda: re.search(rf"scscf.deregistered.*impu={re.escape(impu(SHORT))}"
                               r".*reg_event=expired", new.output()) is not None,
             "the restored registration's expiry", r)
    # Every REGISTER after the restart refreshed a restored registration: none was new.
    assert "scscf.registered" not in new.output(), new.output()
    assert outcome(sent).get("status") == 200, sent.stdout
    assert staying.proc.poll() is None, staying.output()  # still registered, not failed

    r.lab.procs.stop(new, signal.SIGTERM)
    assert r.stored() == registered - {impu(SHORT)}, r.logs()


def test_sqlite_survives_sigkill_after_the_write_delay(lab_with: Any, tmp_path: Path) -> None:
    persist = PersistConfig(backend="sqlite", path=str(tmp_path / "scscf-state.sqlite"),
                            max_delay_ms=200)
    scenario(lab_with(persist), signal.SIGKILL, settle=1.0)


@contextlib.contextmanager
def redis_persist(tmp_path: Path, max_delay_ms: int) -> Iterator[PersistConfig]:
    """The S-CSCF's [persist] on a redis-server of the test's own."""
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with redis_server(redis_dir) as url:
        yield PersistConfig(backend="redis", url=url, prefix="restart-test",
                            max_delay_ms=max_delay_ms)


def test_redis_survives_sigterm_by_the_final_flush(lab_with: Any, tmp_path: Path) -> None:
    # A delay longer than the test: only the flush at SIGTERM writes the records.
    with redis_persist(tmp_path, max_delay_ms=600_000) as persist:
        scenario(lab_with(persist), signal.SIGTERM, settle=0.0)


def test_redis_survives_sigkill_after_the_write_delay(lab_with: Any, tmp_path: Path) -> None:
    with redis_persist(tmp_path, max_delay_ms=200) as persist:
        scenario(lab_with(persist), signal.SIGKILL, settle=1.0)


# The configs the lab writes with persist on: one SQLite file per node in its directory.
def test_the_lab_writes_one_state_file_per_node(tmp_path: Path) -> None:
    paths = write_node_configs(tmp_path, ADDRESSES, persist=("scscf", "pcscf"))
    for node in ("scscf", "pcscf"):
        text = paths[node].read_text()
        assert 'backend = "sqlite"' in text
        assert str(tmp_path.resolve() / f"{node}-state.sqlite") in text
    assert "sqlite" not in paths["icscf"].read_text()  # the I-CSCF keeps no state


def test_a_state_store_that_cannot_be_read_stops_the_start(tmp_path: Path) -> None:
    cfg = scscf_config(ADDRESSES)
    bad = PersistConfig(backend="sqlite", path=str(tmp_path / "no-such-dir" / "s.sqlite"))
    path = write_toml(tmp_path / "scscf.toml", dataclasses.replace(cfg, persist=bad))
    done = subprocess.run([*IMS_CORE, "scscf", "-c", str(path)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, check=False)
    assert done.returncode == 4, done.stdout + done.stderr  # before SIP is bound
    assert "state_unavailable" in done.stdout
