"""MAR/MAA: schemes, vector counts, resync, S-CSCF assignment (TS 29.228 §6.3)."""

from __future__ import annotations

from typing import Any

import pytest

from hss import sqn as sqnmod
from hss.model import RegState
from hss.store.base import Store
from ims_core import auth
from ims_core.diameter import CxResult, Message, ResultCode
from tests.hss.conftest import DOMAIN, resync_authorization, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF, SCSCF2, context, request, result, run

HA1 = auth.ha1(IMPI, DOMAIN, b"secret")


def mar(scheme: str = "Digest-AKAv1-MD5", n: int = 1, authz: bytes | None = None,
        impi: str = IMPI, impu: str = IMPU, server: str = SCSCF) -> Message:  # fmt: skip
    item: list[tuple[str, Any]] = [("SIP-Authentication-Scheme", scheme)]
    if authz is not None:
        item.append(("SIP-Authorization", authz))
    return request("MAR", User_Name=impi, Public_Identity=impu, SIP_Number_Auth_Items=n,
                   SIP_Auth_Data_Item=[item], Server_Name=server)  # fmt: skip


def test_aka_vector_contents(store: Store) -> None:
    s = subscriber()
    store.add([s])
    ans = run(context(store), mar())
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_str("User-Name") == IMPI and ans.get_str("Public-Identity") == IMPU
    assert ans.get_int("SIP-Number-Auth-Items") == 1
    items = ans.get_all("SIP-Auth-Data-Item")
    assert len(items) == 1
    it = items[0]
    assert it.get_int("SIP-Item-Number") == 1
    assert it.get_str("SIP-Authentication-Scheme") == "Digest-AKAv1-MD5"
    sa = it.get_bytes("SIP-Authenticate")
    assert len(sa) == 32
    ue = auth.check_autn(s.k, s.opc, sa[:16], sa[16:])
    assert ue is not None
    _, res, ck, ik = ue
    assert it.get_bytes("SIP-Authorization") == res
    assert it.get_bytes("Confidentiality-Key") == ck
    assert it.get_bytes("Integrity-Key") == ik


def test_number_of_items_honoured_and_capped(store: Store) -> None:
    store.add([subscriber()])
    ans = run(context(store, max_vectors=4), mar(n=3))
    items = ans.get_all("SIP-Auth-Data-Item")
    assert ans.get_int("SIP-Number-Auth-Items") == 3 == len(items)
    assert [i.get_int("SIP-Item-Number") for i in items] == [1, 2, 3]
    sqns = [_sqn(i) for i in items]
    assert len(set(sqns)) == 3 and sqns == sorted(sqns)
    ans = run(context(store, max_vectors=4), mar(n=10))
    assert len(ans.get_all("SIP-Auth-Data-Item")) == 4
    ans = run(context(store, max_vectors=4), mar(n=0))
    assert len(ans.get_all("SIP-Auth-Data-Item")) == 1


def _sqn(item: Any) -> int:
    s = subscriber()
    sa = item.get_bytes("SIP-Authenticate")
    ue = auth.check_autn(s.k, s.opc, sa[:16], sa[16:])
    assert ue is not None
    return sqnmod.from_bytes(ue[0])


def test_akav2_and_unknown_scheme(store: Store) -> None:
    store.add([subscriber(schemes=("akav2", "akav1"))])
    ans = run(context(store), mar(scheme="Digest-AKAv2-MD5"))
    assert ans.get_grouped("SIP-Auth-Data-Item").get_str("SIP-Authentication-Scheme") == (
        "Digest-AKAv2-MD5"
    )
    # "Unknown": the HSS picks the subscriber's first scheme (§6.3.1).
    ans = run(context(store), mar(scheme="Unknown"))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    assert ans.get_grouped("SIP-Auth-Data-Item").get_str("SIP-Authentication-Scheme") == (
        "Digest-AKAv2-MD5"
    )


def test_sip_digest_ha1(store: Store) -> None:
    store.add([subscriber(schemes=("akav1", "md5"), ha1=HA1)])
    for scheme in ("SIP Digest", "Digest-MD5", "MD5"):
        ans = run(context(store), mar(scheme=scheme, n=3))
        assert result(ans) == ("base", ResultCode.SUCCESS)
        items = ans.get_all("SIP-Auth-Data-Item")
        assert len(items) == 1
        assert items[0].get_str("SIP-Authentication-Scheme") == scheme
        d = items[0].get_grouped("SIP-Digest-Authenticate")
        assert d.get_str("Digest-Realm") == DOMAIN
        assert d.get_str("Digest-HA1") == HA1
        assert d.get_str("Digest-Algorithm") == "MD5"
        assert d.get_str("Digest-QoP") == "auth"


def test_scheme_not_allowed_or_unknown(store: Store) -> None:
    store.add([subscriber(schemes=("akav1",))])
    for scheme in ("SIP Digest", "Digest-AKAv2-MD5", "NASS-Bundled", "Early-IMS-Security"):
        ans = run(context(store), mar(scheme=scheme))
        assert result(ans) == ("exp", CxResult.ERROR_AUTH_SCHEME_NOT_SUPPORTED)
        assert ans.get_str("User-Name") == IMPI
        assert ans.get("SIP-Auth-Data-Item") is None


@pytest.mark.parametrize("scheme", ["SIP Digest", "sip digest", " SIP Digest ", "Digest-MD5"])
def test_sip_digest_without_md5_is_5006_and_assigns_nothing(store: Store, scheme: str) -> None:
    # The S-CSCF falls back on this answer (TS 29.228 §6.3.1, TS 29.229 §6.2.2.1).
    s = subscriber(schemes=("akav1", "akav2"))
    store.add([s])
    ans = run(context(store), mar(scheme=scheme))
    assert result(ans) == ("exp", CxResult.ERROR_AUTH_SCHEME_NOT_SUPPORTED)
    assert ans.get("SIP-Number-Auth-Items") is None and ans.get("SIP-Auth-Data-Item") is None
    assert store.get(s.imsi).scscf_name is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("schemes", "wire"), [
    (("md5", "akav1"), "SIP Digest"),
    (("akav1", "md5"), "Digest-AKAv1-MD5"),
    (("akav2",), "Digest-AKAv2-MD5"),
])
@pytest.mark.parametrize("asked", ["Unknown", "unknown", " Unknown ", ""])
def test_unknown_gives_the_default_scheme_under_its_own_name(
    store: Store, schemes: tuple[str, ...], wire: str, asked: str,
) -> None:
    store.add([subscriber(schemes=schemes, ha1=HA1)])
    ans = run(context(store), mar(scheme=asked, n=2))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    items = ans.get_all("SIP-Auth-Data-Item")
    assert {i.get_str("SIP-Authentication-Scheme") for i in items} == {wire}
    if wire == "SIP Digest":
        assert len(items) == 1
        assert items[0].get_grouped("SIP-Digest-Authenticate").get_str("Digest-HA1") == HA1
    else:
        assert len(items) == 2 and all(i.get_bytes("SIP-Authenticate") for i in items)


def test_unknown_and_mismatch(store: Store) -> None:
    store.add([subscriber(), subscriber("001010000000002", msisdn="15550000002")])
    ctx = context(store)
    assert result(run(ctx, mar(impi="x@y"))) == ("exp", CxResult.ERROR_USER_UNKNOWN)
    ans = run(ctx, mar(impu=f"sip:001010000000002@{DOMAIN}"))
    assert result(ans) == ("exp", CxResult.ERROR_IDENTITIES_DONT_MATCH)


def test_server_name_stored_and_overwritten(store: Store) -> None:
    s = subscriber()
    store.add([s])
    run(context(store), mar(server=SCSCF))
    assert store.get(s.imsi).scscf_name == SCSCF  # type: ignore[union-attr]
    store.update_registration(s.imsi, {IMPU: RegState.REGISTERED})
    run(context(store), mar(server=SCSCF2))  # §8.1: a MAR overwrites
    assert store.get(s.imsi).scscf_name == SCSCF2  # type: ignore[union-attr]


def test_resync(store: Store) -> None:
    s = subscriber(sqn=sqnmod.join(3, 3))
    store.add([s])
    authz = resync_authorization(s, b"\x42" * 16, 5000, 11)
    ans = run(context(store), mar(authz=authz, server=SCSCF2, n=2))
    assert result(ans) == ("base", ResultCode.SUCCESS)
    seqs = [sqnmod.split(_sqn(i))[0] for i in ans.get_all("SIP-Auth-Data-Item")]
    assert seqs == [5001, 5002]
    # A resync MAR does not move the S-CSCF assignment (§8.1).
    assert store.get(s.imsi).scscf_name is None  # type: ignore[union-attr]


def test_resync_bad_mac_s(store: Store) -> None:
    s = subscriber(sqn=sqnmod.join(3, 3))
    store.add([s])
    authz = bytearray(resync_authorization(s, b"\x42" * 16, 9000, 0))
    authz[16 + 7] ^= 0xFF  # an octet of MAC-S
    ans = run(context(store), mar(authz=bytes(authz)))
    assert result(ans) == ("base", ResultCode.AUTHENTICATION_REJECTED)
    assert store.get(s.imsi).sqn == s.sqn  # type: ignore[union-attr]


def test_vectors_never_share_sqn_over_many_mars(store: Store) -> None:
    store.add([subscriber()])
    seen: set[int] = set()
    for _ in range(20):
        ans = run(context(store), mar(n=2))
        for it in ans.get_all("SIP-Auth-Data-Item"):
            sq = _sqn(it)
            assert sq not in seen
            seen.add(sq)
    assert len(seen) == 40
