"""Every auth test runs against each implementation: the pure-Python twin, and the C
module with its AES-NI path and with its portable AES path (each from ``with_aes``)."""

from __future__ import annotations

import platform
from types import ModuleType

import pytest

from ims_core.auth import AkaCore, akacore_py
from tests.cbuild import import_c_module


def _c_module() -> ModuleType:
    return import_c_module("ims_core.auth._akacore", "C auth core")


def _cpu_has_aesni() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return any(
                line.startswith("flags") and "aes" in line.split(":", 1)[-1].split()
                for line in f
            )
    except OSError:
        return False


@pytest.fixture(scope="session")
def has_aesni() -> bool:
    """Whether the CPU has AES-NI, asked of the OS rather than of the module under test,
    so a broken AES-NI path fails instead of skipping (Linux on x86; False elsewhere)."""
    return _cpu_has_aesni()


@pytest.fixture(params=["python", "c-aesni", "c-portable"])
def impl(request: pytest.FixtureRequest, has_aesni: bool) -> AkaCore:
    """The functions bound to one AES path by ``with_aes``; the module's own choice is
    left alone, so these can run interleaved with anything else."""
    if request.param == "python":
        return akacore_py.with_aes("portable")
    mod = _c_module()
    if request.param == "c-aesni" and not has_aesni:
        pytest.skip("this CPU has no AES-NI")
    name = "aesni" if request.param == "c-aesni" else "portable"
    core: AkaCore = mod.with_aes(name)
    assert core.aes_impl() == name
    return core


@pytest.fixture
def c_mod() -> ModuleType:
    return _c_module()
