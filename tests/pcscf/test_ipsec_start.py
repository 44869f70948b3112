"""`[ipsec] enabled` where IPsec cannot work: the P-CSCF refuses to start and says why
(CAP_NET_ADMIN or the kernel's ESP)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ims_core.ipsec import check_support
from ims_core.ipsec.kernel import NO_CAP_NET_ADMIN
from ims_core.pcscf import app

CONFIG = Path(__file__).resolve().parents[2] / "config" / "pcscf.toml"


def test_the_real_node_refuses_to_start_without_esp() -> None:
    missing = check_support()
    if missing is None:
        pytest.skip("this kernel can do IPsec (the VM tests cover it)")
    done = subprocess.run(
        [sys.executable, "-m", "ims_lab.cli", "pcscf", "-c", str(CONFIG),
         "--set", "ipsec.enabled=true", "--set", "sip.host=127.0.0.1", "--set", "sip.port=0"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"[ipsec] enabled, but {missing}" in done.stderr


def test_without_the_capability_it_says_so(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(app, "check_support", lambda: NO_CAP_NET_ADMIN)
    assert app.main(str(CONFIG), ["ipsec.enabled=true"]) == 1
    assert "CAP_NET_ADMIN" in capsys.readouterr().err


def test_ipsec_off_needs_neither(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "check_support", lambda: pytest.fail("not asked"))
    core, cfg = app.build(str(CONFIG))
    assert core.ipsec is None and not cfg.ipsec.enabled
