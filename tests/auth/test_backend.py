"""Backend selection, the env override, and that the C module leaks nothing."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tracemalloc
from types import ModuleType

import pytest

from ims_core.auth import AkaCore


def _backend(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", "import ims_core.auth as a; print(a.BACKEND, a.aes_impl())"],
        env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def test_c_backend_is_default(c_mod: ModuleType) -> None:
    assert _backend({"IMS_CORE_PURE_AUTH": ""}).split()[0] == "c"


def test_env_forces_the_twin() -> None:
    assert _backend({"IMS_CORE_PURE_AUTH": "1"}) == "python cryptography"


def test_env_selects_portable_aes(c_mod: ModuleType) -> None:
    assert _backend({"IMS_CORE_PURE_AUTH": "", "IMS_CORE_AES": "portable"}) == "c portable"


def test_facade_exports_the_same_api(c_mod: ModuleType) -> None:
    import ims_core.auth as facade
    from ims_core.auth import akacore_py

    for name in facade.__all__:
        if name != "BACKEND":
            assert hasattr(c_mod, name), name
            assert hasattr(akacore_py, name), name


def _exercise(c: AkaCore | ModuleType) -> None:
    k, opc, rand = b"k" * 16, b"o" * 16, b"r" * 16
    autn, xres, ck, ik = c.generate_vector(k, opc, rand, b"\0" * 6, b"\x80\0")
    c.check_autn(k, opc, rand, autn)
    c.verify_auts(k, opc, rand, c.make_auts(k, opc, rand, b"\1" * 6))
    c.f2345(k, opc, rand)
    c.digest_response("AKAv1-MD5", "u", "r", xres, "REGISTER", "sip:r", "n", "1", "c", "auth-int",
                      b"body")
    c.digest_response("AKAv2-MD5", "u", "r", xres + ik + ck, "REGISTER", "sip:r", "n", "1", "c",
                      "auth")
    c.verify_response("a" * 32, "b" * 32)
    for bad in ((k, b"short"), ("str", opc), (bytearray(k), None)):
        with pytest.raises(ValueError):
            c.opc(*bad)
    with pytest.raises(ValueError):
        c.digest_response("SHA-1", "u", "r", b"", "M", "u", "n", "1", "c", "auth")
    with pytest.raises(ValueError):
        c.ha1("\udcff", "r", bytearray(b"p"))


@pytest.mark.parametrize("portable", [False, True])
def test_no_leak_under_tracemalloc(c_mod: ModuleType, portable: bool) -> None:
    # a fresh AkaCore each round, so its creation and deallocation are covered too
    def core() -> AkaCore | ModuleType:
        return c_mod.with_aes("portable") if portable else c_mod

    for _ in range(200):
        _exercise(core())
    gc.collect()
    tracemalloc.start()
    try:
        _exercise(core())
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5000):
            _exercise(core())
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 5000 rounds of ~20 calls: a leak of even one small object per call would be >1 MB.
    assert grown < 64 * 1024, f"memory grew by {grown} bytes"


@pytest.mark.parametrize("fail", [False, True])
def test_buffers_are_released(c_mod: ModuleType, fail: bool) -> None:
    """A bytearray stays resizable after a call, so the C module released its buffer view
    on both the success and the error path."""
    k, opc, rand = bytearray(16), bytearray(16), bytearray(16)
    sqn = bytearray(5 if fail else 6)
    if fail:
        with pytest.raises(ValueError):
            c_mod.generate_vector(k, opc, rand, sqn, bytearray(2))
    else:
        c_mod.generate_vector(k, opc, rand, sqn, bytearray(2))
    for buf in (k, opc, rand, sqn):
        buf.append(0)  # raises BufferError if a view is still exported
