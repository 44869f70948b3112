"""Tests marked ``vm`` boot a qemu VM (tests/vm/vm.py); they skip where it cannot run.

Quick ones run in ``make test``; a slow one asks :func:`require_vm` with ``slow=True`` and
then runs only when the marker expression selects ``vm`` (``make test-vm``)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.vm.vm import VmResult, run_in_vm, vm_unavailable

SELECTS_VM = re.compile(r"(?<!not )\bvm\b")


def require_vm(config: pytest.Config | None = None, *, slow: bool = False) -> None:
    """Skip with the reason the VM cannot run here; a slow test also skips unless the run
    selects ``-m vm``."""
    reason = vm_unavailable()
    if reason is not None:
        pytest.skip(f"the qemu VM cannot run here: {reason}")
    if slow and (config is None
                 or not SELECTS_VM.search(str(config.getoption("markexpr", "") or ""))):
        pytest.skip("slow VM test: runs with `make test-vm` (pytest -m vm)")


@pytest.fixture
def vm_run(request: pytest.FixtureRequest) -> Callable[..., VmResult]:
    """:func:`run_in_vm`, once the VM is known to be able to run here."""
    require_vm(request.config)
    return run_in_vm


@dataclass
class Booted:
    """One VM run whose results a module's tests share."""

    result: VmResult
    out: Path  # the guest's /vmout
    seconds: float  # the whole run_in_vm call

    def lines(self, prefix: str) -> list[str]:
        """The command's output lines starting with ``prefix``."""
        return [line for line in self.result.output.splitlines() if line.startswith(prefix)]


def boot_once(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              command: str, *, timeout: float, label: str) -> Booted:
    """``command`` in one VM (skipping where it cannot run), ``/vmout`` a fresh directory;
    the time it took is printed (``pytest -s``) under ``label``. For module fixtures."""
    require_vm(request.config)
    out = tmp_path_factory.mktemp("vmout")
    begin = time.monotonic()
    result = run_in_vm(command, timeout=timeout, out_dir=out)
    seconds = time.monotonic() - begin
    print(f"\n{label}: {seconds:.1f}s in all, the command started "
          f"{result.boot_seconds}s after the guest kernel")
    return Booted(result, out, seconds)
