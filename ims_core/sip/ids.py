"""Random bytes for identifiers that need to be unique, not secret: tags (RFC 3261 §19.3),
Call-IDs (§8.1.1.4), branch salts (§8.1.1.7), icids (RFC 3455 §4.6), Diameter
Session-Id seeds, IPsec SPIs (TS 33.203 §7.1: sent in the clear). The default `rng` of
the SIP cores.

One pseudo-random generator per process, seeded from ``os.urandom`` (and seeded afresh in
a forked child, so two processes never draw the same sequence): a draw costs no system
call. Whatever an attacker must not predict (digest nonces, AKA's RAND) comes from
``os.urandom`` or ``secrets`` instead, never from here.
"""

from __future__ import annotations

import os
import random

_prng = random.Random(os.urandom(32))


def _reseed() -> None:
    _prng.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def unique_bytes(n: int) -> bytes:
    """`n` bytes from the process's identifier generator (same signature as os.urandom)."""
    # Random.randbytes's own body (3.11), without its Python frame: a draw per message.
    return _prng.getrandbits(n * 8).to_bytes(n, "little")
