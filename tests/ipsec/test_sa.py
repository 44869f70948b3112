"""The SA set of TS 33.203 §7.1, built by one rule for the UE and the P-CSCF: the two
sides' sets built from the same numbers mirror each other."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ims_core.ipsec import (
    AlgorithmError,
    Direction,
    Endpoint,
    Policy,
    SaSet,
    SecurityAssociation,
    build_sa_set,
)

IK = bytes.fromhex("f769bcd751044604127672711c6d3441")  # TS 35.208 set 1 f4
CK = bytes.fromhex("b40ba9a3c58b2a05bbf0d987b21bf8cb")  # f3
UE = Endpoint("192.0.2.10", port_c=40001, port_s=40000, spi_c=0x1111, spi_s=0x2222)
PCSCF = Endpoint("192.0.2.1", port_c=5066, port_s=5064, spi_c=0x3333, spi_s=0x4444)


def build(local: Endpoint, remote: Endpoint, alg: str = "hmac-sha-1-96",
          ealg: str = "aes-cbc") -> SaSet:
    return build_sa_set(local, remote, alg=alg, ealg=ealg, ck=CK, ik=IK)


def flows(sa_set: SaSet) -> set[tuple[str, int, str, int, int]]:
    return {(sa.src, sa.sport, sa.dst, sa.dport, sa.spi) for sa in sa_set.sas}


def test_the_pcscf_set_is_the_table_of_7_1() -> None:
    p = build(PCSCF, UE)
    assert len(p.sas) == 4 and len(p.policies) == 4
    assert [(pol.src, pol.sport, pol.dst, pol.dport, pol.direction, pol.spi)
            for pol in p.policies] == [
        ("192.0.2.10", 40001, "192.0.2.1", 5064, Direction.IN, 0x4444),   # UE requests
        ("192.0.2.1", 5064, "192.0.2.10", 40001, Direction.OUT, 0x1111),  # our responses
        ("192.0.2.1", 5066, "192.0.2.10", 40000, Direction.OUT, 0x2222),  # our requests
        ("192.0.2.10", 40000, "192.0.2.1", 5066, Direction.IN, 0x3333),   # UE responses
    ]


def test_the_ue_set_is_the_table_of_7_1() -> None:
    u = build(UE, PCSCF)
    assert [(pol.src, pol.sport, pol.dst, pol.dport, pol.direction, pol.spi)
            for pol in u.policies] == [
        ("192.0.2.1", 5066, "192.0.2.10", 40000, Direction.IN, 0x2222),
        ("192.0.2.10", 40000, "192.0.2.1", 5066, Direction.OUT, 0x3333),
        ("192.0.2.10", 40001, "192.0.2.1", 5064, Direction.OUT, 0x4444),
        ("192.0.2.1", 5064, "192.0.2.10", 40001, Direction.IN, 0x1111),
    ]


@pytest.mark.parametrize(("alg", "ealg"), [
    ("hmac-sha-1-96", "aes-cbc"), ("hmac-md5-96", "des-ede3-cbc"), ("hmac-md5-96", "null")])
def test_both_sides_build_the_same_sas_and_mirrored_policies(alg: str, ealg: str) -> None:
    p, u = build(PCSCF, UE, alg, ealg), build(UE, PCSCF, alg, ealg)
    # The same four SAs (an SA is one-way: one side's outbound is the other's inbound)...
    assert set(p.sas) == set(u.sas) and len(set(p.sas)) == 4
    # ...and each policy appears on the other side with the direction turned round.
    flip = {Direction.IN: Direction.OUT, Direction.OUT: Direction.IN}
    assert {replace(pol, direction=flip[pol.direction]) for pol in p.policies} == set(
        u.policies)


def test_each_policy_names_its_sa() -> None:
    for sa_set in (build(PCSCF, UE), build(UE, PCSCF)):
        for sa, pol in zip(sa_set.sas, sa_set.policies, strict=True):
            assert (sa.src, sa.dst, sa.sport, sa.dport, sa.spi) == (
                pol.src, pol.dst, pol.sport, pol.dport, pol.spi)
        # Inbound SAs carry our own SPIs, outbound ones the peer's.
        ins = {pol.spi for pol in sa_set.policies if pol.direction is Direction.IN}
        outs = {pol.spi for pol in sa_set.policies if pol.direction is Direction.OUT}
        assert ins.isdisjoint(outs) and len(ins | outs) == 4


def test_the_sas_carry_kernel_names_and_annex_i_keys() -> None:
    sa = build(PCSCF, UE).sas[0]
    assert (sa.auth, sa.auth_key, sa.auth_trunc_bits) == ("hmac(sha1)", IK + bytes(4), 96)
    assert (sa.enc, sa.enc_key) == ("cbc(aes)", CK)
    des = build(PCSCF, UE, "hmac-md5-96", "des-ede3-cbc").sas[0]
    assert (des.auth, des.auth_key) == ("hmac(md5)", IK)
    assert (des.enc, des.enc_key) == ("cbc(des3_ede)", CK + CK[:8])
    null = build(PCSCF, UE, "hmac-md5-96", "null").sas[0]
    assert (null.enc, null.enc_key) == ("ecb(cipher_null)", b"")


def test_re_registration_gives_a_disjoint_set() -> None:
    """TS 33.203 §7.4: new client ports and SPIs on both sides change every selector and
    every SA, so the new set can go in while the old one is still there."""
    old = build(PCSCF, UE)
    new = build(replace(PCSCF, port_c=5067, spi_c=0x5555, spi_s=0x6666),
                replace(UE, port_c=40002, spi_c=0x7777, spi_s=0x8888))
    assert {(s.dst, s.spi) for s in old.sas}.isdisjoint({(s.dst, s.spi) for s in new.sas})
    key = {(p.src, p.sport, p.dst, p.dport, p.direction) for p in old.policies}
    assert key.isdisjoint({(p.src, p.sport, p.dst, p.dport, p.direction)
                           for p in new.policies})


def test_ipv6_addresses_come_out_canonical() -> None:
    p = build(replace(PCSCF, host="2001:DB8:0:0::1"), replace(UE, host="2001:db8::a"))
    assert {sa.dst for sa in p.sas} == {"2001:db8::1", "2001:db8::a"}


def test_the_types_are_frozen_and_hashable() -> None:
    sa_set = build(PCSCF, UE)
    assert hash(sa_set) == hash(build(PCSCF, UE))
    with pytest.raises(AttributeError):
        sa_set.sas[0].spi = 1  # type: ignore[misc]
    assert isinstance(sa_set.sas[0], SecurityAssociation)
    assert isinstance(sa_set.policies[0], Policy)


def test_mixed_address_families_are_refused() -> None:
    with pytest.raises(ValueError, match="address family"):
        build(PCSCF, replace(UE, host="2001:db8::a"))


def test_bad_algorithms_raise_algorithm_error() -> None:
    with pytest.raises(AlgorithmError):
        build(PCSCF, UE, alg="hmac-sha-256")
    with pytest.raises(AlgorithmError):
        build_sa_set(PCSCF, UE, alg="hmac-md5-96", ealg="null", ck=CK, ik=IK[:8])


@pytest.mark.parametrize(("field", "value", "match"), [
    ("host", "pcscf.example", "not an IP address"),
    ("port_c", 0, "port_c 0"),
    ("port_s", 65536, "port_s 65536"),
    ("port_c", 5064, "port_c and port_s are both 5064"),
    ("spi_c", 0, "spi_c 0"),
    ("spi_s", 255, "spi_s 255"),
    ("spi_s", 2**32, "spi_s"),
    ("spi_c", 0x4444, "spi_c and spi_s are both"),
])
def test_bad_endpoints_are_refused(field: str, value: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        replace(PCSCF, **{field: value})
