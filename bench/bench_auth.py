"""Benchmark of the auth core: the C extension against its pure-Python twin.

Measures, in one run, ``generate_vector`` (the HSS hot path, TS 33.102 §6.3.2) for the C
module on both AES paths (AES-NI and portable) and for the twin, and ``digest_response``
with AKAv1-MD5 (RFC 3310) for both modules. Prints calls per second, nanoseconds per call
and the C/twin ratio. Each figure is the best of a few short repeats, so the whole run
takes a few seconds. No network, no files.

Run: ``python bench/bench_auth.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
import platform
import sys
import timeit
from collections.abc import Callable
from types import ModuleType

from ims_core.auth import akacore_py

REPEATS = 5
TARGET_S = 0.08  # time per repeat; REPEATS x TARGET_S per measured figure
GV_TARGET_RATIO = 25.0  # the floor we hold generate_vector to, C vs twin

K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")  # TS 35.208 test set 1
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
RAND = bytes.fromhex("23553cbe9637a89d218ae64dae47bf35")
SQN = bytes.fromhex("ff9bb4d0b607")
AMF = bytes.fromhex("b9b9")
RES = bytes.fromhex("a54211d5e3ba50bf")
DIGEST_ARGS = (
    "AKAv1-MD5",
    "alice@ims.test",
    "ims.test",
    RES,
    "REGISTER",
    "sip:ims.test",
    "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=",
    "00000001",
    "6b8b4567",
    "auth",
)

GLOBALS: dict[str, object] = {
    "K": K,
    "OPC": OPC,
    "RAND": RAND,
    "SQN": SQN,
    "AMF": AMF,
    "DA": DIGEST_ARGS,
}
GV = "fn(K, OPC, RAND, SQN, AMF)"
DR = "fn(*DA)"


def load_c() -> ModuleType | None:
    try:
        from ims_core.auth import _akacore
    except ImportError:
        return None
    return _akacore


def ns_per_call(stmt: str, namespace: dict[str, object]) -> float:
    """Best-of-REPEATS time of one call in ns, with the loop count sized to TARGET_S."""
    timer = timeit.Timer(stmt, globals=namespace)
    number = 1
    while True:  # calibrate: grow the loop until one repeat takes about TARGET_S
        elapsed = timer.timeit(number)
        if elapsed >= TARGET_S / 4:
            number = max(1, int(number * TARGET_S / elapsed))
            break
        number *= 4
    return min(timer.repeat(repeat=REPEATS, number=number)) / number * 1e9


def measure(label: str, stmt: str, fn: Callable[..., object]) -> float:
    ns = ns_per_call(stmt, {"fn": fn, **GLOBALS})
    print(f"  {label:<28} {1e9 / ns:>13,.0f} calls/s {ns:>11,.1f} ns/call")
    return ns


def check_same(c: ModuleType) -> None:
    """The figures mean nothing unless both modules give the same answers."""
    for core in (c, c.with_aes("portable")):
        assert core.generate_vector(K, OPC, RAND, SQN, AMF) == akacore_py.generate_vector(
            K, OPC, RAND, SQN, AMF
        ), "C and twin disagree on generate_vector"
    assert c.digest_response(*DIGEST_ARGS) == akacore_py.digest_response(*DIGEST_ARGS)


def main() -> int:
    c = load_c()
    print(
        f"auth core benchmark — Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )
    if c is None:
        print("  the C module ims_core.auth._akacore is not built; nothing to compare")
        return 1
    check_same(c)
    portable = c.with_aes("portable")
    try:
        fast = c.with_aes("aesni")
    except ValueError:  # this CPU has no AES-NI
        fast = portable

    print("generate_vector (TS 33.102 §6.3.2: AUTN, XRES, CK, IK; 5 AES-128 blocks)")
    aesni = fast.aes_impl() == "aesni"
    gv_fast = measure(f"C ({fast.aes_impl()})", GV, fast.generate_vector)
    gv_port = measure("C (portable)", GV, portable.generate_vector) if aesni else gv_fast
    gv_twin = measure("twin (akacore_py)", GV, akacore_py.generate_vector)

    print("digest_response (AKAv1-MD5, RFC 3310; qop=auth, RFC 2617)")
    dr_c = measure("C", DR, c.digest_response)
    dr_twin = measure("twin (akacore_py)", DR, akacore_py.digest_response)

    ratio = gv_twin / gv_fast
    print("ratios (C / twin, calls per second)")
    print(f"  generate_vector, C {'AES-NI' if aesni else 'portable'}: {ratio:8.1f}x")
    if aesni:
        print(f"  generate_vector, C portable:{gv_twin / gv_port:8.1f}x")
    print(f"  digest_response AKAv1-MD5:  {dr_twin / dr_c:8.1f}x")
    met = "met" if ratio >= GV_TARGET_RATIO else "NOT met"
    print(f"target: generate_vector C >= {GV_TARGET_RATIO:.0f}x the twin: {met}")
    return 0 if ratio >= GV_TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
