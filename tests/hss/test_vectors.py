"""AKA vectors and AUTS resynchronisation, checked from the UE side (TS 33.102 §6.3)."""

from __future__ import annotations

import itertools

from hss import sqn as sqnmod
from hss import vectors
from hss.store.base import Store
from ims_core import auth
from tests.hss.conftest import resync_authorization, subscriber


def test_vectors_verify_at_the_ue(store: Store) -> None:
    s = subscriber(sqn=sqnmod.join(9, 0))
    store.add([s])
    vs = vectors.issue(store, s, 3)
    assert len({v.rand for v in vs}) == 3
    for v in vs:
        ue = auth.check_autn(s.k, s.opc, v.rand, v.autn)
        assert ue is not None
        sqn_ue, res, ck, ik = ue
        assert sqnmod.from_bytes(sqn_ue) == v.sqn
        assert (res, ck, ik) == (v.xres, v.ck, v.ik)
        assert v.autn[6:8] == s.amf
        assert v.sip_authenticate == v.rand + v.autn


def test_avoid_res_zero_octet_redraws_rand() -> None:
    s = subscriber()
    # Find a RAND whose RES has a 0x00 octet, then feed it first.
    for i in itertools.count():
        bad = i.to_bytes(16, "big")
        if 0 in auth.f2345(s.k, s.opc, bad)[0]:
            break
    good = b"\x55" * 16
    assert 0 not in auth.f2345(s.k, s.opc, good)[0]

    def source(seq: list[bytes]) -> vectors.RandSource:
        it = iter(seq)
        return lambda n: next(it)

    v_plain = vectors.make_vectors(s, [33], rand_source=source([bad]))[0]
    assert v_plain.rand == bad and 0 in v_plain.xres
    v = vectors.make_vectors(s, [33], avoid_res_zero_octet=True, rand_source=source([bad, good]))
    assert v[0].rand == good and 0 not in v[0].xres


def test_resync_with_valid_auts(store: Store) -> None:
    s = subscriber(sqn=sqnmod.join(5, 1))
    store.add([s])
    authz = resync_authorization(s, b"\x11" * 16, 1000, 17)
    assert vectors.resynchronise(store, s, authz) is vectors.Resync.OK
    nxt = store.next_sqns(s.imsi, 1)[0]
    assert sqnmod.split(nxt)[0] == 1001  # next vector is fresh for the UE
    # Bad MAC-S or wrong length: SQN untouched.
    bad = bytearray(authz)
    bad[-1] ^= 1
    assert vectors.resynchronise(store, s, bytes(bad)) is vectors.Resync.MAC_FAILURE
    assert vectors.resynchronise(store, s, authz[:16 + 10]) is vectors.Resync.MALFORMED
    got = store.get(s.imsi)
    assert got is not None and got.sqn == nxt
