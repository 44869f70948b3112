"""The NETLINK_XFRM codec: struct sizes and offsets of linux/xfrm.h on 64-bit ABIs,
known bytes, encode -> decode round trips, messages the kernel itself dumped, acks."""

from __future__ import annotations

import struct
import sys

import pytest

from ims_core.ipsec import Direction, Endpoint, Policy, SecurityAssociation, build_sa_set
from ims_core.ipsec import xfrm as x

pytestmark = pytest.mark.skipif(sys.byteorder != "little",
                                reason="the known bytes are those of a little-endian host")

IK = bytes.fromhex("f769bcd751044604127672711c6d3441")  # TS 35.208 set 1 f4
CK = bytes.fromhex("b40ba9a3c58b2a05bbf0d987b21bf8cb")  # f3
SA_SET = build_sa_set(Endpoint("192.0.2.1", 5066, 5064, 0x1001, 0x1002),
                      Endpoint("192.0.2.10", 40001, 40000, 0x2001, 0x2002),
                      alg="hmac-sha-1-96", ealg="aes-cbc", ck=CK, ik=IK)
SA = SA_SET.sas[0]  # 192.0.2.10:40001 -> 192.0.2.1:5064, SPI 0x1002 (the P-CSCF's)
POLICY = SA_SET.policies[0]
SA6 = SecurityAssociation("2001:db8::10", "2001:db8::1", 40001, 5064, 0xDEADBEEF,
                          "hmac(md5)", IK, 96, "cbc(des3_ede)", CK + CK[:8])
POLICY6 = Policy("2001:db8::1", "2001:db8::10", 5066, 40000, Direction.OUT, 0xCAFE)
H = x.NLMSGHDR.size

# What Linux 6.1 (x86-64) sent for `ip xfrm`-less dumps of SA_SET.sas[0] and
# SA_SET.policies[0] installed with NetlinkKernel (tests/ipsec/xfrm_probe.py --capture).
KERNEL_SA_DUMP = bytes.fromhex(
    "14020000100002000000000000000000c0000201000000000000000000000000c000020a000000000000"
    "00000000000013c8ffff9c41ffff02002020000000000000000000000000c00002010000000000000000"
    "000000000000100232000000c000020a000000000000000000000000ffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffff000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000385c156b0000000000000000000000000000"
    "0000000000000000000000000000000000000200002000000000000000005c000100686d616328736861"
    "312900000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000a0000000f769bcd751044604127672711c6d34410000000060001400"
    "686d61632873686131290000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000a000000060000000f769bcd75104460412767271"
    "1c6d34410000000058000200636263286165732900000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000080000000b40ba9a3"
    "c58b2a05bbf0d987b21bf8cb10000a00000000000000000000000000")
KERNEL_POLICY_DUMP = bytes.fromhex(
    "08010000130002000000000000000000c0000201000000000000000000000000c000020a000000000000"
    "00000000000013c8ffff9c41ffff02002020000000000000000000000000ffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffff00000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000385c156b000000000000000000000000"
    "0000000008000000000000000000000044000500c0000201000000000000000000000000000010023200"
    "000002000000c000020a0000000000000000000000000000000000000000ffffffffffffffffffffffff"
    "0a0010000000000000000000")


def one(data: bytes) -> x.Message:
    messages = x.parse(data)
    assert len(messages) == 1
    return messages[0]


def test_struct_sizes_are_those_of_linux_xfrm_h() -> None:
    """sizeof() on x86-64 (gcc, linux/xfrm.h): the padding after the last field counts."""
    assert x.SELECTOR.size == 56
    assert x.USERSA_INFO.size == 224
    assert x.USERSA_ID.size == 24
    assert x.USERPOLICY_INFO.size == 168
    assert x.USERPOLICY_ID.size == 64
    assert x.USER_TMPL.size == 64
    assert x.XFRM_ID.size == 24
    assert (x.LIFETIME_CFG.size, x.LIFETIME_CUR.size, x.STATS.size) == (64, 32, 12)
    assert (x.ALGO.size, x.ALGO_AUTH.size, x.NLMSGHDR.size) == (68, 72, 16)


def test_new_sa_field_offsets() -> None:
    """offsetof() of xfrm_usersa_info: id 56, saddr 80, lft 96, curlft 160, family 212,
    mode 214, replay_window 215; selector: dport 32, sport 36, family 40, prefixlens 42."""
    m = one(x.new_sa(SA, seq=7))
    assert (m.type, m.flags, m.seq) == (x.XFRM_MSG_NEWSA, x.NLM_F_REQUEST | x.NLM_F_ACK, 7)
    p = m.payload
    assert p[0:4] == bytes([192, 0, 2, 1]) and p[16:20] == bytes([192, 0, 2, 10])  # sel
    assert p[32:36] == b"\x13\xc8\xff\xff"  # dport 5064, mask (network order)
    assert p[36:40] == b"\x9c\x41\xff\xff"  # sport 40001
    assert p[40:45] == b"\x02\x00\x20\x20\x00"  # AF_INET, /32, /32, protocol any
    assert p[56:60] == bytes([192, 0, 2, 1])  # id.daddr
    assert p[72:77] == b"\x00\x00\x10\x02\x32"  # id.spi 0x1002, id.proto ESP
    assert p[80:84] == bytes([192, 0, 2, 10])  # saddr
    assert p[96:128] == b"\xff" * 32 and p[128:160] == bytes(32)  # no limits, no expiry
    assert p[212:216] == b"\x02\x00\x00\x20"  # family, transport mode, replay window 32
    # XFRMA_ALG_AUTH_TRUNC right after the 224 bytes: len, type, name, bits, trunc, key.
    auth_len, auth_type = struct.unpack_from("=HH", p, 224)
    assert (auth_len, auth_type) == (4 + 72 + 20, x.XFRMA_ALG_AUTH_TRUNC)
    assert p[228:292].rstrip(b"\0") == b"hmac(sha1)"
    assert struct.unpack_from("=II", p, 292) == (160, 96)
    assert p[300:320] == IK + bytes(4)
    crypt_len, crypt_type = struct.unpack_from("=HH", p, 320)
    assert (crypt_len, crypt_type) == (4 + 68 + 16, x.XFRMA_ALG_CRYPT)
    assert p[324:388].rstrip(b"\0") == b"cbc(aes)" and p[392:408] == CK
    assert len(p) == 408


def test_del_sa_bytes() -> None:
    assert x.del_sa(SA, seq=9).hex() == (
        "28000000" "1100" "0500" "09000000" "00000000"  # nlmsghdr: 40 bytes, DELSA
        "c0000201" + "00" * 12 + "00001002" "0200" "32" "00")  # daddr, spi, AF_INET, ESP


def test_new_policy_field_offsets() -> None:
    """xfrm_userpolicy_info: lft 56, priority 152, dir 160; XFRMA_TMPL with one
    xfrm_user_tmpl: id.spi 16, family 24, saddr 28, mode 48, aalgos 52."""
    m = one(x.new_policy(POLICY, seq=3))
    assert (m.type, m.flags) == (x.XFRM_MSG_NEWPOLICY, x.NLM_F_REQUEST | x.NLM_F_ACK)
    p = m.payload
    assert p[40:45] == b"\x02\x00\x20\x20\x00"
    assert p[160:164] == b"\x00\x00\x00\x00"  # dir IN, allow, no flags, share any
    tmpl_len, tmpl_type = struct.unpack_from("=HH", p, 168)
    assert (tmpl_len, tmpl_type, len(p)) == (4 + 64, x.XFRMA_TMPL, 168 + 68)
    t = p[172:236]
    assert t[0:4] == bytes([192, 0, 2, 1]) and t[16:21] == b"\x00\x00\x10\x02\x32"
    assert t[24:26] == b"\x02\x00" and t[28:32] == bytes([192, 0, 2, 10])
    assert t[48] == x.XFRM_MODE_TRANSPORT and t[52:64] == b"\xff" * 12  # any algorithm
    out = one(x.new_policy(SA_SET.policies[1], seq=3)).payload
    assert out[160] == 1  # XFRM_POLICY_OUT
    assert one(x.update_policy(POLICY, seq=3)).type == x.XFRM_MSG_UPDPOLICY
    assert one(x.update_policy(POLICY, seq=3)).payload == p


def test_del_policy_is_selector_and_direction() -> None:
    m = one(x.del_policy(SA_SET.policies[1], seq=4))
    assert m.type == x.XFRM_MSG_DELPOLICY and len(m.payload) == 64
    assert m.payload[:56] == one(x.new_policy(SA_SET.policies[1], seq=4)).payload[:56]
    assert m.payload[56:61] == b"\x00\x00\x00\x00\x01"  # index 0 (by selector), dir OUT


def test_dump_requests() -> None:
    for encode, kind in ((x.dump_sas, x.XFRM_MSG_GETSA),
                         (x.dump_policies, x.XFRM_MSG_GETPOLICY)):
        m = one(encode(11))
        assert (m.type, m.seq, m.payload) == (kind, 11, b"")
        assert m.flags == x.NLM_F_REQUEST | x.NLM_F_DUMP  # a dump ends in NLMSG_DONE


@pytest.mark.parametrize("sa", [SA, SA6, *SA_SET.sas[1:]], ids=lambda s: f"{s.spi:x}")
def test_sa_round_trip(sa: SecurityAssociation) -> None:
    """NEWSA has the layout of the dump's answers, so decode_sa reads our own request."""
    got = x.decode_sa(one(x.new_sa(sa, seq=1)))
    assert (got.src, got.dst, got.spi, got.proto, got.mode, got.replay_window) == (
        sa.src, sa.dst, sa.spi, x.IPPROTO_ESP, x.XFRM_MODE_TRANSPORT, x.REPLAY_WINDOW)
    assert (got.auth, got.auth_key, got.auth_trunc_bits, got.enc, got.enc_key) == (
        sa.auth, sa.auth_key, sa.auth_trunc_bits, sa.enc, sa.enc_key)
    assert got.selector == x.Selector(sa.src, sa.dst, sa.sport, sa.dport, 0,
                                      x.family_of(sa.dst))


def test_ipv6_selector_and_family() -> None:
    p = one(x.new_sa(SA6, seq=1)).payload
    assert p[40:45] == b"\x0a\x00\x80\x80\x00"  # AF_INET6, /128, /128
    assert p[212:214] == b"\x0a\x00"
    assert p[72:76] == b"\xde\xad\xbe\xef"


def test_null_encryption_has_an_empty_key() -> None:
    null = build_sa_set(Endpoint("192.0.2.1", 5066, 5064, 0x1001, 0x1002),
                        Endpoint("192.0.2.10", 40001, 40000, 0x2001, 0x2002),
                        alg="hmac-md5-96", ealg="null", ck=CK, ik=IK).sas[0]
    got = x.decode_sa(one(x.new_sa(null, seq=1)))
    assert (got.enc, got.enc_key, got.auth, got.auth_key) == (
        "ecb(cipher_null)", b"", "hmac(md5)", IK)


@pytest.mark.parametrize("policy", [POLICY6, *SA_SET.policies], ids=lambda p: f"{p.spi:x}")
def test_policy_round_trip(policy: Policy) -> None:
    got = x.decode_policy(one(x.new_policy(policy, seq=1)))
    assert got.direction is policy.direction
    assert got.selector == x.Selector(policy.src, policy.dst, policy.sport, policy.dport, 0,
                                      x.family_of(policy.dst))
    assert got.templates == (x.Template(policy.src, policy.dst, policy.spi, x.IPPROTO_ESP,
                                        x.XFRM_MODE_TRANSPORT, 0),)


def test_the_kernels_own_sa_dump_decodes() -> None:
    m = one(KERNEL_SA_DUMP)
    assert (m.type, m.flags) == (x.XFRM_MSG_NEWSA, 2)  # NLM_F_MULTI
    got = x.decode_sa(m)
    assert (got.src, got.dst, got.spi, got.auth, got.auth_key, got.auth_trunc_bits) == (
        SA.src, SA.dst, SA.spi, "hmac(sha1)", SA.auth_key, 96)
    assert (got.enc, got.enc_key, got.octets, got.packets) == ("cbc(aes)", CK, 0, 0)
    assert got.selector == x.Selector(SA.src, SA.dst, SA.sport, SA.dport, 0, x.AF_INET)
    # The fixed part is what we sent, but for the add time the kernel stamped (curlft).
    sent = one(x.new_sa(SA, seq=0)).payload
    assert m.payload[:176] == sent[:176] and m.payload[192:224] == sent[192:224]


def test_the_kernels_own_policy_dump_decodes() -> None:
    got = x.decode_policy(one(KERNEL_POLICY_DUMP))
    assert got.direction is Direction.IN and got.dir == 0
    assert got.selector == x.Selector(POLICY.src, POLICY.dst, POLICY.sport, POLICY.dport, 0,
                                      x.AF_INET)
    assert got.templates == (x.Template(POLICY.src, POLICY.dst, POLICY.spi, x.IPPROTO_ESP,
                                        x.XFRM_MODE_TRANSPORT, 0),)
    assert got.index != 0  # the kernel numbered it


def test_forward_policies_have_no_direction() -> None:
    payload = bytearray(one(x.new_policy(POLICY, seq=1)).payload)
    payload[160] = 2  # XFRM_POLICY_FWD
    got = x.decode_policy(x.Message(x.XFRM_MSG_NEWPOLICY, 0, 1, 0, bytes(payload)))
    assert got.dir == 2 and got.direction is None


def ack(code: int, flags: int = 0, request: bytes = b"", tlvs: bytes = b"",
        seq: int = 5) -> bytes:
    """An NLMSG_ERROR as the kernel builds it."""
    body = struct.pack("=i", code) + (request or x.NLMSGHDR.pack(16, 0x10, 5, seq, 0)) + tlvs
    return x.NLMSGHDR.pack(16 + len(body), x.NLMSG_ERROR, flags, seq, 1234) + body


def tlv(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + b"\0" * (-length % 4)


def test_a_plain_ack() -> None:
    assert x.decode_ack(one(ack(0, x.NLM_F_CAPPED))) == x.Ack(5, 0, "")


def test_an_error_with_the_kernels_text() -> None:
    tlvs = tlv(x.NLMSGERR_ATTR_MSG, b"Requested type not found\0") + tlv(2, b"\0\0\0\0")
    got = x.decode_ack(one(ack(-93, x.NLM_F_CAPPED | x.NLM_F_ACK_TLVS, tlvs=tlvs)))
    assert got == x.Ack(5, 93, "Requested type not found")


def test_an_error_that_echoes_the_request_before_its_text() -> None:
    request = x.new_sa(SA, seq=5)
    tlvs = tlv(x.NLMSGERR_ATTR_MSG, b"Invalid key\0")
    got = x.decode_ack(one(ack(-22, x.NLM_F_ACK_TLVS, request=request, tlvs=tlvs)))
    assert (got.error, got.text) == (22, "Invalid key")
    assert x.decode_ack(one(ack(-17, 0, request=request))) == x.Ack(5, 17, "")


def test_done_carries_a_status() -> None:
    done = x.NLMSGHDR.pack(20, x.NLMSG_DONE, 2, 8, 0) + struct.pack("=i", 0)
    assert x.decode_ack(one(done)) == x.Ack(8, 0)
    assert x.decode_ack(one(x.NLMSGHDR.pack(16, x.NLMSG_DONE, 2, 8, 0))).error == 0


def test_several_messages_in_one_datagram() -> None:
    data = KERNEL_POLICY_DUMP + KERNEL_SA_DUMP + ack(0, x.NLM_F_CAPPED)
    assert [m.type for m in x.parse(data)] == [x.XFRM_MSG_NEWPOLICY, x.XFRM_MSG_NEWSA,
                                               x.NLMSG_ERROR]


@pytest.mark.parametrize("data", [
    KERNEL_SA_DUMP[:10],  # a cut header
    KERNEL_SA_DUMP[:-4],  # a cut message
    x.NLMSGHDR.pack(8, 2, 0, 0, 0),  # a length shorter than the header
    KERNEL_SA_DUMP + b"\0\0\0",  # stray bytes
])
def test_malformed_datagrams_raise(data: bytes) -> None:
    with pytest.raises(x.XfrmCodecError):
        x.parse(data)


def test_malformed_messages_raise() -> None:
    with pytest.raises(x.XfrmCodecError):
        x.decode_sa(x.Message(x.XFRM_MSG_NEWSA, 0, 1, 0, bytes(100)))
    with pytest.raises(x.XfrmCodecError):
        x.decode_sa(one(KERNEL_POLICY_DUMP))  # the wrong type
    with pytest.raises(x.XfrmCodecError):
        x.decode_ack(one(KERNEL_SA_DUMP))
    with pytest.raises(x.XfrmCodecError):
        x.decode_ack(x.Message(x.NLMSG_ERROR, 0, 1, 0, b"\0\0"))
    bad_attr = one(x.new_sa(SA, seq=1)).payload[:224] + struct.pack("=HH", 200, 2)
    with pytest.raises(x.XfrmCodecError):
        x.decode_sa(x.Message(x.XFRM_MSG_NEWSA, 0, 1, 0, bad_attr))


def test_bad_input_to_the_encoders() -> None:
    with pytest.raises(ValueError, match="one address family"):
        x.new_sa(SecurityAssociation("192.0.2.1", "2001:db8::1", 1, 2, 3, "hmac(md5)",
                                     IK, 96, "cbc(aes)", CK), seq=1)
    with pytest.raises(ValueError, match="too long"):
        x.new_sa(SecurityAssociation("192.0.2.1", "192.0.2.2", 1, 2, 3, "h" * 64, IK, 96,
                                     "cbc(aes)", CK), seq=1)
