"""The harness itself: the initramfs it builds and caches, its time limits, and which
VM tests a run selects."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vm import vm
from tests.vm.conftest import SELECTS_VM, require_vm


def test_selecting_vm_tests() -> None:
    for expr in ("vm", "integration or vm", "(vm)"):
        assert SELECTS_VM.search(expr), expr
    for expr in ("", "not vm", "integration", "vmx"):
        assert not SELECTS_VM.search(expr), expr


def test_qemu_option_values_double_commas() -> None:
    assert vm._opt(Path("/tmp/a,b")) == "/tmp/a,,b"


def test_a_dynamic_executable_is_not_static(tmp_path: Path) -> None:
    assert not vm._is_static(Path(sys.executable).resolve())
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    assert not vm._is_static(text)


def test_initramfs_is_built_once_per_input_into_the_cache(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_vm()
    if shutil.which("cpio") is None:
        pytest.skip("cpio is not installed (lists the archive)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kernel = vm.guest_kernel()
    assert kernel is not None
    first = vm.initramfs(kernel)
    assert first.parent == tmp_path / "ims-core-vm" / kernel.version
    assert vm.initramfs(kernel) == first  # cached
    listing = subprocess.run(["cpio", "-it", "--quiet"], input=gzip.decompress(
        first.read_bytes()), capture_output=True, check=True).stdout.decode().split()
    assert {"init", "bin/busybox", "sbin/modprobe", "dev/console"} <= set(listing)
    modules = [name for name in listing if name.startswith("modules/")]
    assert modules[0].endswith("-virtio_ring.ko") or modules[0].endswith("-virtio.ko")
    assert any(name.endswith("-9p.ko") for name in modules), modules
    monkeypatch.setattr(vm, "INIT", vm.INIT + "# changed\n")
    second = vm.initramfs(kernel)
    assert second != first and second.is_file() and not first.exists()


@pytest.mark.vm
def test_the_host_kills_the_vm_at_the_deadline(request: pytest.FixtureRequest) -> None:
    require_vm(request.config)
    result = vm.run_in_vm("sleep 600", timeout=3)  # killed before the guest boots
    assert result.timed_out and result.returncode == -1, result.report()
    assert 3 <= result.seconds < 10, result.report()


@pytest.mark.vm
def test_the_guest_stops_the_command_before_the_deadline(
        request: pytest.FixtureRequest) -> None:
    require_vm(request.config, slow=True)
    timeout = 30.0
    result = vm.run_in_vm("echo started; sleep 600", timeout=timeout)
    assert not result.timed_out, result.report()
    assert result.returncode == 124, result.report()  # timeout(1)'s
    assert result.output == "started\n", result.report()
    assert result.seconds < timeout - 1, result.report()
