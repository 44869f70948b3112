"""Softphones through the four-process lab, configured with the README's snippets
("Softphones (Linphone, baresip)"): baresip from 127.0.0.17 and linphonec from 127.0.0.18
register demo subscribers with SIP Digest (no Authorization in their first REGISTER), and
one demo subscriber registers with our UE both as a softphone (MD5) and as a 3GPP UE
(empty Authorization first, TS 24.229 §5.1.1.2.1) getting IMS-AKA.

Each softphone runs headless with a bounded wait and is stopped by its own PID."""

from __future__ import annotations

import configparser
import glob
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from hss.provision import DEMO_PASSWORD
from tests.integration.conftest import require_tools

from .conftest import DOMAIN, Lab, imsi
from .test_ue_register import _state

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HEADING = "## Softphones (Linphone, baresip)"
README_IMSI, README_PCSCF = "001010000000001", "127.0.0.1"
BARESIP_HOST, LINPHONE_HOST = "127.0.0.17", "127.0.0.18"
BARESIP_SUB, LINPHONE_SUB, UE_SUB = imsi(441), imsi(442), imsi(443)
WAIT = 20.0  # seconds a softphone gets to register


def _readme_blocks() -> list[tuple[str, str]]:
    """(language, text) of each fenced block in the README's softphone section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.find(HEADING)
    assert start >= 0, f"README.md has no section {HEADING!r}"
    end = text.find("\n## ", start + len(HEADING))
    section = text[start:] if end < 0 else text[start:end]
    return re.findall(r"```(\w*)\n(.*?)```", section, re.DOTALL)


def _in_lab(text: str, lab: Lab, sub: str) -> str:
    """The README's example moved into the test lab: its P-CSCF, one demo subscriber."""
    text = re.sub(rf"(?<![\d.]){re.escape(README_PCSCF)}(?![\d])", lab.addresses.pcscf, text)
    return text.replace(README_IMSI, sub)


@contextmanager
def _running(argv: list[str], out: Path, *, stdin: int | None = subprocess.DEVNULL,
             env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A softphone as a child process (output in ``out``), stopped by its PID."""
    with out.open("wb") as fh:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, cwd=out.parent)
    try:
        yield proc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_for(path: Path, pattern: str, proc: subprocess.Popen[bytes], what: str,
              lab: Lab) -> str:
    """Wait (bounded) until ``pattern`` (a regex) shows in ``path``; its text."""
    deadline = time.monotonic() + WAIT
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if re.search(pattern, text):
            return text
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"{what}: no {pattern!r} within {WAIT:g}s (exit {proc.poll()}):\n"
                f"{text[-4000:]}\n{lab.logs()}")


def _check_digest_exchange(trace: str, who: str) -> None:
    """The first REGISTER carried no Authorization and every challenge was MD5."""
    first = re.search(r"^REGISTER sip:.*?\n\s*\n", trace, re.MULTILINE | re.DOTALL)
    assert first is not None, f"{who}: no REGISTER in its trace"
    assert "authorization:" not in first.group(0).lower(), first.group(0)
    challenges = re.findall(r"^WWW-Authenticate:[^\n]*", trace, re.MULTILINE | re.IGNORECASE)
    assert challenges, f"{who}: no 401 challenge in its trace"
    for c in challenges:
        assert re.search(r"algorithm=\"?MD5\b", c, re.IGNORECASE), c


def _baresip_modules() -> str:
    for path in ("/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules",
                 *glob.glob("/usr/lib/*/baresip/modules")):
        if Path(path, "account.so").exists():
            return path
    pytest.fail("baresip is installed but its account.so module was not found")


def test_baresip_registers_with_the_readme_account_line(lab: Lab, tmp_path: Path) -> None:
    require_tools("baresip")
    lines = [body.strip() for _, body in _readme_blocks() if "auth_pass=" in body]
    assert len(lines) == 1, "the README has no single baresip accounts line"
    conf = tmp_path / "baresip"
    conf.mkdir()
    (conf / "accounts").write_text(_in_lab(lines[0], lab, BARESIP_SUB) + "\n")
    # Headless: the account module only, no UI, audio or video modules.
    (conf / "config").write_text(f"sip_listen\t{BARESIP_HOST}:5070\n"
                                 f"module_path\t{_baresip_modules()}\n"
                                 "module_app\taccount.so\n")
    out = tmp_path / "baresip.out"
    with _running(["baresip", "-f", str(conf), "-s", "-t", "120"], out) as proc:
        _wait_for(out, r"\{0/UDP/v4\} 200 OK", proc, "baresip", lab)
        assert _state(lab, BARESIP_SUB) == "REGISTERED", lab.logs()
    trace = re.sub(r"\x1b\[[0-9;]*m", "", out.read_text(errors="replace"))  # colours
    _check_digest_exchange(trace, "baresip")
    assert f'username="{BARESIP_SUB}@{DOMAIN}"' in trace  # the IMPI, from auth_user


def _send(stdin: IO[bytes] | None, command: str) -> None:
    assert stdin is not None
    stdin.write(command.encode() + b"\n")
    stdin.flush()


def test_linphonec_registers_with_the_readme_rc_file(lab: Lab, tmp_path: Path) -> None:
    require_tools("linphonec")
    blocks = [body for lang, body in _readme_blocks() if lang == "ini"]
    assert len(blocks) == 1, "the README has no single linphonerc block"
    rc = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    rc.optionxform = str  # type: ignore[assignment,method-assign]
    rc.read_string(_in_lab(blocks[0], lab, LINPHONE_SUB))
    rc["sip"]["bind_address"] = LINPHONE_HOST  # this test's own loopback address
    rc["storage"] = {"uri": str(tmp_path / "linphone.db")}
    path = tmp_path / "linphonerc"
    with path.open("w") as fh:
        rc.write(fh, space_around_delimiters=False)
    home = tmp_path / "home"  # linphonec keeps its history and ZRTP cache there
    home.mkdir()
    log, out = tmp_path / "linphonec.log", tmp_path / "linphonec.out"
    # linphonec iterates only while its stdin is open: a pipe we keep until the end.
    argv = ["linphonec", "-c", str(path), "-d", "6", "-l", str(log)]
    with _running(argv, out, stdin=subprocess.PIPE, env={"HOME": str(home)}) as proc:
        _wait_for(log, r"to \[LinphoneRegistrationOk\]", proc, "linphonec", lab)
        _send(proc.stdin, "status register")
        _wait_for(out, rf"registered, identity=sip:{LINPHONE_SUB}@{re.escape(DOMAIN)}",
                  proc, "linphonec status", lab)
        assert _state(lab, LINPHONE_SUB) == "REGISTERED", lab.logs()
        _send(proc.stdin, "quit")
        proc.wait(10)
    trace = log.read_text(errors="replace")
    _check_digest_exchange(trace, "linphonec")
    assert f'username="{LINPHONE_SUB}@{DOMAIN}"' in trace  # the IMPI, from userid


def test_one_demo_subscriber_as_softphone_and_as_3gpp_ue(lab: Lab) -> None:
    md5 = lab.ue("register", "--imsi", UE_SUB, "--auth", "md5", "--password", DEMO_PASSWORD)
    assert md5.code == 0 and md5.status == 200, md5.output + lab.logs()
    assert md5.data["algorithm"] == "MD5" and md5.data["challenges"] == 1, md5.data
    aka = lab.ue("register", "--imsi", UE_SUB)
    assert aka.code == 0 and aka.status == 200, aka.output + lab.logs()
    assert aka.data["algorithm"] == "AKAv1-MD5" and aka.data["challenges"] == 1, aka.data
    assert _state(lab, UE_SUB) == "REGISTERED"
