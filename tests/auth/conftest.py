"""Every auth test runs against each implementation: the pure-Python twin, and the C
module with its AES-NI path and with its portable AES path."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from types import ModuleType

import pytest

from ims_core.auth import akacore_py


def _c_module() -> ModuleType:
    try:
        return importlib.import_module("ims_core.auth._akacore")
    except ImportError as exc:
        # The build is optional for users, but the tests exist to prove it: fail loudly
        # unless someone explicitly tests a machine without a compiler.
        if os.environ.get("IMS_CORE_ALLOW_NO_C") == "1":
            pytest.skip(f"C auth core not built: {exc}")
        pytest.fail(f"C auth core did not import: {exc}")


@pytest.fixture(params=["python", "c-aesni", "c-portable"])
def impl(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    if request.param == "python":
        yield akacore_py
        return
    mod = _c_module()
    if request.param == "c-aesni":
        mod._force_portable_aes(False)
        if mod.aes_impl() != "aesni":
            pytest.skip("this CPU has no AES-NI")
    else:
        mod._force_portable_aes(True)
        assert mod.aes_impl() == "portable"
    try:
        yield mod
    finally:
        mod._force_portable_aes(False)


@pytest.fixture
def c_mod() -> ModuleType:
    return _c_module()
