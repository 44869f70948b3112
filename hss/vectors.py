"""Authentication data for MAA: AKA vectors, AUTS resynchronisation, SIP Digest HA1.

TS 33.102 §6.3.2 (vector generation), §6.3.5 (resynchronisation), TS 29.229 §6.3.2.
Blocking (store and Milenage); the server calls it from a worker thread.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Callable

from hss import sqn as sqnmod
from hss.model import Subscriber
from hss.store.base import Store
from ims_core import auth

RandSource = Callable[[int], bytes]


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class AkaVector:
    """One quintuplet as MAA carries it (SIP-Authenticate = RAND ‖ AUTN)."""

    sqn: int
    rand: bytes
    autn: bytes
    xres: bytes
    ck: bytes
    ik: bytes

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, sqn: int, rand: bytes, autn: bytes, xres: bytes, ck: bytes,
                 ik: bytes) -> None:
        object.__setattr__(self, "sqn", sqn)
        object.__setattr__(self, "rand", rand)
        object.__setattr__(self, "autn", autn)
        object.__setattr__(self, "xres", xres)
        object.__setattr__(self, "ck", ck)
        object.__setattr__(self, "ik", ik)

    @property
    def sip_authenticate(self) -> bytes:
        return self.rand + self.autn


def make_vectors(
    sub: Subscriber,
    sqns: list[int],
    *,
    avoid_res_zero_octet: bool = False,
    rand_source: RandSource = os.urandom,
) -> list[AkaVector]:
    """One vector per reserved SQN, with a fresh RAND each."""
    out = []
    for s in sqns:
        for _ in range(64):
            rand = rand_source(16)
            autn, xres, ck, ik = auth.generate_vector(
                sub.k, sub.opc, rand, sqnmod.to_bytes(s), sub.amf
            )
            # SIPp 3.6.1 hashes RES with strlen(): opt-in redraw of RAND (lab use).
            if not (avoid_res_zero_octet and 0 in xres):
                break
        out.append(AkaVector(s, rand, autn, xres, ck, ik))
    return out


class Resync(enum.Enum):
    """How a resynchronisation ended (the value is the ``sqn_resyncs`` outcome label)."""

    OK = "ok"  # MAC-S verified, SEQ_HE moved to SEQ_MS
    MALFORMED = "malformed"  # not RAND (16 octets) ‖ AUTS (14 octets)
    MAC_FAILURE = "mac_failure"  # MAC-S does not verify


def resynchronise(store: Store, sub: Subscriber, rand_auts: bytes) -> Resync:
    """Verify MAC-S of RAND ‖ AUTS and move SEQ_HE to SEQ_MS (TS 33.102 §6.3.5, C.3.4).

    Unless :attr:`Resync.OK` the SQN is untouched.
    """
    if len(rand_auts) != 30:
        return Resync.MALFORMED
    rand, auts = rand_auts[:16], rand_auts[16:]
    sqn_ms = auth.verify_auts(sub.k, sub.opc, rand, auts)
    if sqn_ms is None:
        return Resync.MAC_FAILURE
    store.resync(sub.imsi, sqnmod.from_bytes(sqn_ms))
    return Resync.OK


def issue(
    store: Store,
    sub: Subscriber,
    n: int,
    *,
    avoid_res_zero_octet: bool = False,
    rand_source: RandSource = os.urandom,
) -> list[AkaVector]:
    """Reserve *n* SQNs atomically and build the vectors."""
    sqns = store.next_sqns(sub.imsi, n)
    return make_vectors(
        sub, sqns, avoid_res_zero_octet=avoid_res_zero_octet, rand_source=rand_source
    )
