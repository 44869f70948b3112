"""Session-Ids (RFC 6733 §8.8): a per-node generator seeded from injected randomness,
and no identifier state kept at module level."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from types import ModuleType

import pytest

from ims_core.diameter import SessionIds, ids, message, new_session_id


def fixed(seed: bytes) -> Callable[[int], bytes]:
    def rng(n: int) -> bytes:
        assert n == len(seed)
        return seed

    return rng


def test_layout_and_counting() -> None:
    # high half 1, low half 0x7fffffff: the low half carries on counting past 2**31
    gen = SessionIds(fixed(b"\x00\x00\x00\x01\xff\xff\xff\xff"))
    assert gen("hss.ims") == "hss.ims;1;2147483647"
    assert gen("hss.ims", "opt") == "hss.ims;1;2147483648;opt"
    assert gen("scscf.ims") == "scscf.ims;1;2147483649"


def test_seed_comes_from_the_injected_rng() -> None:
    seed = random.Random(5).randbytes(8)
    a, b = SessionIds(fixed(seed)), SessionIds(fixed(seed))
    assert [a("h") for _ in range(3)] == [b("h") for _ in range(3)]
    high = int.from_bytes(seed[:4], "big")
    low = int.from_bytes(seed[4:], "big") & 0x7FFFFFFF
    assert a("h") == f"h;{high};{low + 3}"


def test_generators_are_independent() -> None:
    """Two nodes in one process each count on their own."""
    a = SessionIds(fixed(bytes(8)))
    b = SessionIds(fixed(bytes(8)))
    assert [a("a") for _ in range(3)] == ["a;0;0", "a;0;1", "a;0;2"]
    assert b("b") == "b;0;0"


def test_unique_across_threads() -> None:
    gen = SessionIds()
    out: list[list[str]] = [[] for _ in range(4)]

    def work(bucket: list[str]) -> None:
        bucket += [gen("h") for _ in range(2000)]

    threads = [threading.Thread(target=work, args=(bucket,)) for bucket in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(itertools.chain.from_iterable(out))) == 8000


def test_new_session_id_is_stateless() -> None:
    """Each call is a generator used once: the same rng bytes give the same id."""
    rng = fixed(b"\x00\x00\x00\x02\x00\x00\x00\x07")
    assert new_session_id("h", rng=rng) == new_session_id("h", rng=rng) == "h;2;7"
    assert new_session_id("h", "x", rng=rng) == "h;2;7;x"
    assert len({new_session_id("h") for _ in range(1000)}) == 1000


@pytest.mark.parametrize("module", [ids, message])
def test_no_mutable_state_at_module_level(module: ModuleType) -> None:
    mutable = (dict, list, set, bytearray, itertools.count, SessionIds)
    found = [name for name, value in vars(module).items()
             if not name.startswith("__") and isinstance(value, mutable)]
    assert found == []
