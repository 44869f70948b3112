"""The identifier source: unique bytes without a system call, a fresh sequence per
process."""

from __future__ import annotations

from ims_core.proxy import ProxyConfig, ProxyCore
from ims_core.sip import ids
from ims_core.sip.ids import unique_bytes


def test_draws_have_the_length_asked_and_differ() -> None:
    draws = {unique_bytes(6) for _ in range(1000)}
    assert len(draws) == 1000
    assert all(len(d) == 6 for d in draws)
    assert len(unique_bytes(16)) == 16


def test_a_forked_child_draws_a_sequence_of_its_own() -> None:
    state = ids._prng.getstate()
    try:
        parent_next = unique_bytes(16)
        ids._prng.setstate(state)
        ids._reseed()  # what os.register_at_fork runs in the child
        assert unique_bytes(16) != parent_next
    finally:
        ids._prng.setstate(state)


def test_it_is_what_a_proxy_core_draws_tags_from_by_default() -> None:
    core: ProxyCore[None] = ProxyCore(ProxyConfig())
    assert core.rng is unique_bytes
