"""``ims-core hss-api`` as a process on 127.0.0.1 (a free port, a temporary data dir), and
schemathesis against it: every operation of its OpenAPI document with generated requests
(with the key), checking no 5xx, responses as documented, requests without the key
refused. ``make test`` runs a bounded number of examples per operation; for a longer
run by hand::

    HSS_API_EXAMPLES=2000 .venv/bin/python -m pytest -q tests/hss/api/test_api_process.py

(random examples then; the bounded run is derandomized, the same every time).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, settings

from hss.store import Store

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
HOST = "127.0.0.1"
LONG_RUN = int(os.environ.get("HSS_API_EXAMPLES", "0"))
EXAMPLES = LONG_RUN or 10
CALLS: dict[str, int] = {}  # requests made per operation ("GET /path")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclasses.dataclass
class Served:
    url: str
    key: str
    data_dir: Path
    config: Path
    log: Path
    proc: subprocess.Popen[bytes]


def _exe() -> list[str]:
    return [sys.executable, "-m", "ims_lab.cli"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def start(config: Path, log: Path, port: int) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*_exe(), "hss-api", "-c", str(config), "--set",
                                 f"api.port={port}"], stdout=out, stderr=subprocess.STDOUT,
                                env=_env(), cwd=REPO)  # fmt: skip


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "hss-api did not start"
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover - reported by the caller
        proc.kill()
        return proc.wait(timeout=5)


def events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("hss-api")
    config = base / "hss.toml"
    config.write_text(f'data_dir = "{base}"\n[log]\nformat = "json"\n[api]\nhost = "{HOST}"\n')
    # Demo subscribers first (through the CLI): the documented example IMSI exists.
    subprocess.run([*_exe(), "subscriber", "-c", str(config), "seed", "--count", "3"],
                   check=True, env=_env(), cwd=REPO, capture_output=True)  # fmt: skip
    port = free_port()
    log = base / "hss-api.log"
    proc = start(config, log, port)
    url = f"http://{HOST}:{port}"
    try:
        wait_ready(proc, url, log)
        key = (base / "api-key").read_text().strip()
        yield Served(url, key, base, config, log, proc)
    finally:
        status = stop(proc)
    assert status == 0, log.read_text()


def test_first_start_shows_the_key_once(served: Served) -> None:
    created = [e for e in events(served.log) if e["event"] == "hss_api_key_created"]
    assert [e["api_key"] for e in created] == [served.key]
    assert oct((served.data_dir / "api-key").stat().st_mode & 0o777) == "0o600"
    r = httpx.get(f"{served.url}/api/v1/subscribers", params={"limit": 2},
                  headers={"X-API-Key": served.key})
    assert [s["imsi"] for s in r.json()["items"]] == ["001010000000001", "001010000000002"]
    assert httpx.get(f"{served.url}/api/v1/subscribers").status_code == 401


def test_a_restart_keeps_the_key_and_shows_nothing(served: Served) -> None:
    """A second process on the same store (another port): the key from the file, not
    shown; SIGTERM ends it with 0; a port in use exits 3."""
    port = free_port()
    log = served.data_dir / "second.log"
    proc = start(served.config, log, port)
    try:
        wait_ready(proc, f"http://{HOST}:{port}", log)
        r = httpx.get(f"http://{HOST}:{port}/api/v1/subscribers/001010000000003",
                      headers={"X-API-Key": served.key})
        assert r.status_code == 200
    finally:
        assert stop(proc) == 0
    assert not [e for e in events(log) if e["event"] == "hss_api_key_created"]
    busy = served.data_dir / "busy.log"
    taken = int(served.url.rsplit(":", 1)[1])
    assert start(served.config, busy, taken).wait(timeout=30) == 3
    assert [e["event"] for e in events(busy)][-1] == "hss_api_listen_failed"


def test_exit_status_for_a_bad_config_and_an_unreachable_store(tmp_path: Path) -> None:
    config = tmp_path / "hss.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[log]\nformat = "json"\n')
    bad = subprocess.run([*_exe(), "hss-api", "-c", str(config), "--set", "api.port=70000"],
                         env=_env(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "api.port must be 0-65535" in bad.stderr
    nowhere = ["--set", "store.backend=postgres", "--set",
               "store.dsn=host=127.0.0.1 port=1 dbname=hss connect_timeout=2"]
    down = subprocess.run([*_exe(), "hss-api", "-c", str(config), *nowhere],
                          env=_env(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert down.returncode == 4, down.stdout + down.stderr
    assert "hss_api_store_unreachable" in down.stdout
    assert not (tmp_path / "api-key").exists()  # made (and shown) by a start that serves


KEY = "schema-test-key-0123456789"  # only for building the document in-process


def _document() -> dict[str, Any]:
    """The OpenAPI document, made in-process (at collection: no server runs yet; the
    served one is checked to be the same). No store is needed to make it."""
    from hss.api import create_app

    doc: dict[str, Any] = create_app(cast(Store, None), domain="d", api_key=KEY).openapi()
    return doc


config = schemathesis.config.SchemathesisConfig.from_dict({
    # Schema-valid requests the API still refuses with 422: rules JSON Schema cannot say
    # (one of op/opc, md5 needs a password, an SPT's single condition, what a SIP/tel URI
    # is). Everything else a valid request gets is 2xx, 404 or 409.
    "checks": {
        "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "404", "409", "422"]},
        # Schema-violating requests may also be refused as too large (the body bound).
        "negative_data_rejection": {"expected-statuses": [
            "400", "401", "404", "405", "409", "413", "422"]},
    },
})  # fmt: skip
schema = schemathesis.openapi.from_dict(_document(), config=config)


def test_the_served_document_is_the_one_tested(served: Served) -> None:
    assert httpx.get(f"{served.url}/openapi.json").json() == _document()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG_RUN, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_the_api_keeps_its_document(case: Any, served: Served) -> None:
    # A query parameter generated as null, [] or {} is sent as nothing at all: such a
    # "negative" case reaches the server as a valid request.
    assume(not any(v is None or v == [] or v == {} for v in (case.query or {}).values()))
    label = f"{case.method.upper()} {case.path}"
    CALLS[label] = CALLS.get(label, 0) + 1
    case.call_and_validate(base_url=served.url, headers={"X-API-Key": served.key},
                           timeout=40)


def test_every_operation_was_exercised(capsys: pytest.CaptureFixture[str]) -> None:
    documented = {f"{m.upper()} {p}" for p, item in _document()["paths"].items() for m in item}
    assert documented <= set(CALLS)  # (and other methods on the same paths, to get 405)
    with capsys.disabled():
        print(f"\nschemathesis: {sum(CALLS.values())} requests, {len(documented)} operations "
              f"(and {len(CALLS) - len(documented)} undocumented method/path pairs), "
              f"max_examples {EXAMPLES}")
