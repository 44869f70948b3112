"""The module's AES path is fixed at import; ``with_aes`` gives other paths per object,
which never disturb the module or each other, even used interleaved or from threads."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from types import ModuleType

import pytest

from ims_core.auth import AkaCore, akacore_py

# Every function an AkaCore exposes, as the module does (aes_impl aside).
FUNCTIONS = (
    "opc", "f1", "f1star", "f2345", "f5star", "generate_vector", "check_autn", "make_auts",
    "verify_auts", "akav2_password", "ha1", "digest_response", "digest_response_ha1",
    "verify_response",
)


def _calls(rng: random.Random) -> list[tuple[str, tuple[object, ...]]]:
    """One call of each function on random inputs."""
    def b(n: int) -> bytes:
        return rng.randbytes(n)

    k, op, rand, sqn, amf = b(16), b(16), b(16), b(6), b(2)
    opc = akacore_py.opc(k, op)
    autn = akacore_py.generate_vector(k, opc, rand, sqn, amf)[0]
    auts = akacore_py.make_auts(k, opc, rand, sqn)
    res, ik, ck = b(rng.randint(4, 16)), b(16), b(16)
    ha1 = akacore_py.ha1("u", "r", b(8))
    return [
        ("opc", (k, op)),
        ("f1", (k, opc, rand, sqn, amf)),
        ("f1star", (k, opc, rand, sqn, amf)),
        ("f2345", (k, opc, rand)),
        ("f5star", (k, opc, rand)),
        ("generate_vector", (k, opc, rand, sqn, amf)),
        ("check_autn", (k, opc, rand, autn)),
        ("check_autn", (k, opc, rand, b(16))),
        ("make_auts", (k, opc, rand, sqn)),
        ("verify_auts", (k, opc, rand, auts)),
        ("verify_auts", (k, opc, rand, b(14))),
        ("akav2_password", (res, ik, ck)),
        ("ha1", ("u", "r", b(8))),
        ("digest_response", ("AKAv2-MD5", "u", "r", res + ik + ck, "REGISTER", "sip:r", "n",
                             "00000001", "c", "auth-int", b(20))),
        ("digest_response_ha1", (ha1, "INVITE", "sip:b", "n", "00000001", "c", "auth")),
        ("verify_response", (ha1, ha1.upper())),
    ]


def test_module_has_no_switch(c_mod: ModuleType) -> None:
    """Nothing in the module but the functions, with_aes and the two types: in particular
    no function that could change the module's AES path."""
    public = {name for name in dir(c_mod) if not name.startswith("__")}
    assert public == {*FUNCTIONS, "aes_impl", "with_aes", "AkaCore", "ArgumentTypeError"}
    assert not hasattr(c_mod, "_force_portable_aes")


def test_with_aes_leaves_the_module_alone(c_mod: ModuleType, has_aesni: bool) -> None:
    before = c_mod.aes_impl()
    names = ["portable", "aesni"] if has_aesni else ["portable"]
    for name in names:
        core = c_mod.with_aes(name)
        assert core.aes_impl() == name
        core.generate_vector(bytes(16), bytes(16), bytes(16), bytes(6), bytes(2))
        assert c_mod.aes_impl() == before
    assert c_mod.generate_vector.__self__.aes_impl() == before


def test_akacore_is_immutable(c_mod: ModuleType) -> None:
    core = c_mod.with_aes("portable")
    with pytest.raises(AttributeError):
        core.generate_vector = akacore_py.generate_vector
    with pytest.raises(TypeError):
        type(core).aes_impl = lambda self: "aesni"
    with pytest.raises(TypeError):
        type(core)()
    assert core.aes_impl() == "portable"
    assert repr(core) == "<AkaCore aes='portable'>"


@pytest.mark.parametrize("env", ["", "portable"])
def test_import_time_choice(c_mod: ModuleType, has_aesni: bool, env: str) -> None:
    """IMS_CORE_AES picks the module's path at import; with_aes on either path does not
    move it."""
    names = ["aesni", "portable"] if has_aesni else ["portable"]
    code = (
        "from ims_core.auth import _akacore as c\n"
        "print(c.aes_impl())\n"
        f"for name in {names!r}:\n"
        "    print(c.with_aes(name).aes_impl(), c.aes_impl())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "IMS_CORE_AES": env},
        capture_output=True, text=True, check=True,
    )
    want = "portable" if env == "portable" or not has_aesni else "aesni"
    assert out.stdout.split() == [want] + [w for name in names for w in (name, want)]


def test_with_aes_aesni_needs_the_cpu(c_mod: ModuleType, has_aesni: bool) -> None:
    if has_aesni:
        assert c_mod.with_aes("aesni").aes_impl() == "aesni"
    else:
        with pytest.raises(ValueError, match="AES-NI"):
            c_mod.with_aes("aesni")


@pytest.mark.parametrize("mod", ["c", "python"])
def test_with_aes_bad_names(c_mod: ModuleType, mod: str) -> None:
    m = c_mod if mod == "c" else akacore_py
    for bad in ("", "AESNI", "aesni\0", "openssl"):
        with pytest.raises(ValueError, match="unknown AES path"):
            m.with_aes(bad)
    with pytest.raises(m.ArgumentTypeError):
        m.with_aes(b"portable")
    with pytest.raises(TypeError):
        m.with_aes()
    assert m.with_aes(name="portable").opc(k=bytes(16), op=bytes(16)) == akacore_py.opc(
        bytes(16), bytes(16))


def test_twin_with_aes_is_the_module() -> None:
    for name in ("aesni", "portable"):
        core = akacore_py.with_aes(name)
        assert core.aes_impl() == "cryptography"
        assert core.ArgumentTypeError is akacore_py.ArgumentTypeError
        for fn in FUNCTIONS:
            assert getattr(core, fn) is getattr(akacore_py, fn), fn


def test_portable_and_module_agree_interleaved(c_mod: ModuleType) -> None:
    """Calls alternate between a with_aes("portable") object and the module (AES-NI on
    CPUs that have it); every answer matches the twin's."""
    portable = c_mod.with_aes("portable")
    rng = random.Random(20240611)
    for _ in range(200):
        for fn, args in _calls(rng):
            want = getattr(akacore_py, fn)(*args)
            first, second = (portable, c_mod) if rng.random() < 0.5 else (c_mod, portable)
            assert getattr(first, fn)(*args) == want, fn
            assert getattr(second, fn)(*args) == want, fn
    assert portable.aes_impl() == "portable"


def test_paths_agree_across_threads(c_mod: ModuleType, has_aesni: bool) -> None:
    """Worker threads (as in the HSS) each on their own path, all at once."""
    cores: list[AkaCore | ModuleType] = [c_mod, c_mod.with_aes("portable")]
    if has_aesni:
        cores.append(c_mod.with_aes("aesni"))
    cases = _calls(random.Random(7)) * 50
    wants = [getattr(akacore_py, fn)(*args) for fn, args in cases]
    errors: list[str] = []
    start = threading.Barrier(2 * len(cores))

    def work(core: AkaCore | ModuleType) -> None:
        start.wait()
        for (fn, args), want in zip(cases, wants, strict=True):
            if getattr(core, fn)(*args) != want:
                errors.append(f"{core.aes_impl()} {fn}")

    threads = [threading.Thread(target=work, args=(core,)) for core in cores * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [core.aes_impl() for core in cores[1:]] == ["portable", "aesni"][: len(cores) - 1]
