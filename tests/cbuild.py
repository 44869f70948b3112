"""The C extensions the tests exist to prove (the auth core, the SIP fast paths)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def import_c_module(name: str, what: str) -> ModuleType:
    """Import the C extension *name* (*what*: how to call it in a message). The build is
    optional for users, but these tests exist to prove it: a module that did not build
    fails the test, unless IMS_CORE_ALLOW_NO_C=1 says this machine has no compiler (then
    the test is skipped)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if os.environ.get("IMS_CORE_ALLOW_NO_C") == "1":
            pytest.skip(f"{what} not built: {exc}")
        pytest.fail(f"{what} did not import: {exc}")
