"""IPsec sec-agree at the P-CSCF core (TS 33.203 §7, TS 24.229 §5.2.2, RFC 3329) with
a fake clock and a kernel that only records (`MemoryKernel`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ims_core.config import ConfigError
from ims_core.ipsec import MemoryKernel, integrity_key
from ims_core.pcscf import PcscfCore
from ims_core.pcscf.config import IpsecConfig
from ims_core.sip import Request, Response, parse_auth, parse_message
from ims_core.sip.addressing import Destination, Source
from ims_core.sip.secagree import mechanisms, parse_mechanisms
from tests.sipmsg import answer, one_request, requests, responses

from .messages import (
    CHALLENGE,
    IMPU,
    PCSCF,
    SCSCF,
    UE,
    Harness,
    config,
    ok_extra,
    register,
    request,
    source_for,
)

PORT_S = 5064
UE_US = 6100  # the UE's protected server port (its Contact)
CK = bytes.fromhex("00112233445566778899aabbccddeeff")
IK = bytes.fromhex("ffeeddccbbaa99887766554433221100")


def offer(port_uc: int, spi_uc: int = 3001, spi_us: int = 3002,
          algs: tuple[tuple[str, str], ...] = (("hmac-sha-1-96", "aes-cbc"),
                                               ("hmac-md5-96", "null"))) -> str:
    entries = ", ".join(
        f"ipsec-3gpp;alg={a};ealg={e};spi-c={spi_uc};spi-s={spi_us};port-c={port_uc};"
        f"port-s={UE_US}" for a, e in algs)
    return (f"Security-Client: {entries}\r\nRequire: sec-agree\r\n"
            "Proxy-Require: sec-agree\r\n")


class Lab:
    """A P-CSCF with IPsec and one UE at UE[0] whose server port is UE_US."""

    def __init__(self, **ipsec: object) -> None:
        self.kernel = MemoryKernel()
        settings = IpsecConfig(enabled=True, **ipsec)  # type: ignore[arg-type]
        self.h = Harness(PcscfCore(config(ipsec=settings), kernel=self.kernel,
                                   rng=lambda n: bytes([7] * n)))
        self.call = 0

    @property
    def sets(self) -> int:
        return len(self.kernel.sas) // 4

    def protected(self, req: Request, port_uc: int) -> Source:
        return replace(source_for(req, (UE[0], port_uc)), local_port=PORT_S,
                       reply_to=Destination("UDP", UE[0], port_uc, None, PORT_S))

    def first(self, port_uc: int, *, over: int | None = None, verify: str = "",
              expires: int = 600000) -> tuple[Response, Request]:
        """An (initial or re-) REGISTER offering IPsec from `port_uc`, unprotected or
        over the set of client port `over`; returns the 401 the UE gets and what went
        to the I-CSCF."""
        self.call += 1
        req = register(ue=(UE[0], UE_US), call_id=f"reg-{self.call}", expires=expires,
                       extra=offer(port_uc, 3000 + 10 * self.call, 3001 + 10 * self.call)
                       + verify)
        src = self.protected(req, over) if over else source_for(req, (UE[0], port_uc))
        fwd, _ = one_request(self.h.rx(req, src))
        sent = self.h.rx(answer(fwd, 401, extra=f"WWW-Authenticate: {CHALLENGE}\r\n"))
        [r401] = responses(sent)
        return r401, fwd

    def second(self, port_uc: int, server: str, *, reg_expires: int = 600,
               expires: int = 600000) -> tuple[Request, Response]:
        req = register(ue=(UE[0], UE_US), call_id=f"reg-{self.call}", cseq=2, expires=expires,
                       extra=offer(port_uc, 3000 + 10 * self.call, 3001 + 10 * self.call)
                       + f"Security-Verify: {server}\r\n")
        fwd, _ = one_request(self.h.rx(req, self.protected(req, port_uc)))
        path = fwd.headers.values("path")[0]
        contact = f"sip:001010000000001@{UE[0]}:{UE_US}"
        extra = ok_extra(contact, reg_expires, path=path) if reg_expires \
            else f"Path: {path}\r\n"
        self.h.after_register = self.h.rx(answer(fwd, 200, extra=extra))
        [r200] = responses(self.h.after_register)
        return fwd, r200

    def register(self, port_uc: int, *, over: int | None = None) -> str:
        r401, _ = self.first(port_uc, over=over,
                             verify=f"Security-Verify: {self.server}\r\n" if over else "")
        self.server = r401.headers.get("security-server") or ""
        _, r200 = self.second(port_uc, self.server)
        assert r200.status == 200
        return self.server

    server = ""


def test_initial_register_offer_gives_a_401_with_security_server_and_four_sas() -> None:
    lab = Lab()
    r401, fwd = lab.first(5100)
    for name in ("security-client", "security-verify"):
        assert name not in fwd.headers
    assert all("sec-agree" not in v for n in ("require", "proxy-require")
               for v in fwd.headers.values(n))
    auth = parse_auth(fwd.headers.get("authorization") or "")
    assert auth.integrity_protected == "no"
    [server] = mechanisms(r401, "security-server")
    assert (server.alg, server.ealg, server.port_s) == ("hmac-sha-1-96", "aes-cbc", PORT_S)
    assert server.port_c in range(5066, 5074)
    assert server.prot == "esp" and server.mod == "trans"
    challenge = parse_auth(r401.headers.get("www-authenticate") or "")
    assert challenge.ck is None and challenge.ik is None  # TS 33.203 §6.1: kept here
    assert lab.sets == 1 and len(lab.kernel.policies) >= 4
    ours_in = {sa.spi for sa in lab.kernel.sas if sa.dst == PCSCF[0]}
    assert ours_in == {server.spi_c, server.spi_s}
    assert {sa.spi for sa in lab.kernel.sas if sa.dst == UE[0]} == {3010, 3011}
    sha = next(sa for sa in lab.kernel.sas)
    assert sha.auth_key == integrity_key("hmac-sha-1-96", IK) == IK + bytes(4)
    assert sha.enc_key == CK


def test_protected_register_is_marked_and_confirms_the_set() -> None:
    lab = Lab()
    r401, _ = lab.first(5100)
    server = r401.headers.get("security-server") or ""
    fwd, r200 = lab.second(5100, server)
    assert r200.status == 200
    assert parse_auth(fwd.headers.get("authorization") or "").integrity_protected == "yes"
    assert "security-verify" not in fwd.headers
    [send] = [s for s in lab.h.after_register if isinstance(parse_message(s.data), Response)]
    assert send.dest == Destination("UDP", UE[0], 5100, None, PORT_S)  # back over the SA
    assert lab.sets == 1


def test_security_verify_mismatch_is_494_and_drops_the_temporary_sas() -> None:
    lab = Lab()
    r401, _ = lab.first(5100)
    bad = (r401.headers.get("security-server") or "").replace("spi-c=", "spi-c=1")
    req = register(ue=(UE[0], UE_US), call_id="reg-1", cseq=2,
                   extra=offer(5100) + f"Security-Verify: {bad}\r\n")
    [resp] = responses(lab.h.rx(req, lab.protected(req, 5100)))
    assert resp.status == 494
    assert resp.headers.values("require") == ["sec-agree"]
    assert lab.sets == 0


def test_no_acceptable_mechanism_is_494_with_our_list() -> None:
    lab = Lab(integrity=("hmac-sha-1-96",))
    req = register(extra=offer(5100, algs=(("hmac-md5-96", "null"),)))
    [resp] = responses(lab.h.rx(req))
    assert resp.status == 494
    listed = [(m.alg, m.ealg) for v in resp.headers.get_all("security-server")
              for m in parse_mechanisms(v, "security-server", need_sa=False)]
    assert listed == [("hmac-sha-1-96", e) for e in ("aes-cbc", "des-ede3-cbc", "null")]
    assert lab.sets == 0


@pytest.mark.parametrize("bad", [
    "ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1x;spi-s=2;port-c=1;port-s=2",
    "ipsec-3gpp;alg=hmac-sha-1-96;spi-c=5000;spi-s=5001;port-c=0;port-s=6100",
    ";;;",
])
def test_malformed_security_client_is_400(bad: str) -> None:
    lab = Lab()
    [resp] = responses(lab.h.rx(register(extra=f"Security-Client: {bad}\r\n")))
    assert resp.status == 400
    assert lab.sets == 0


def test_without_security_client_a_ue_registers_as_before() -> None:
    lab = Lab()
    assert lab.h.register().status == 200
    assert lab.sets == 0
    fwd, dest = one_request(lab.h.rx(request("MESSAGE", extra=f"Route: <sip:{PCSCF[0]};lr>\r\n")))
    assert fwd.method == "MESSAGE" and dest.local_port == 0


def test_requests_to_the_ue_go_over_its_sas_and_record_route_names_port_s() -> None:
    lab = Lab()
    server = lab.register(5100)
    port_pc = parse_mechanisms(server)[0].port_c
    invite = request("INVITE", uri=f"sip:001010000000001@{UE[0]}:{UE_US}", ue=SCSCF,
                     extra=f"Route: <sip:term@{PCSCF[0]}:{PCSCF[1]};lr>\r\n")
    fwd, dest = one_request(lab.h.rx(invite, source_for(invite, SCSCF)))
    assert dest == Destination("UDP", UE[0], UE_US, None, port_pc)
    assert fwd.vias()[0].port == port_pc
    assert fwd.headers.values("record-route")[0].startswith(f"<sip:{PCSCF[0]}:{PORT_S};")


def test_originating_requests_come_over_the_sas_only() -> None:
    lab = Lab()
    lab.register(5100)
    msg = request("MESSAGE", ue=(UE[0], 5100), extra=f"Route: <sip:{PCSCF[0]}:{PORT_S};lr>\r\n")
    fwd, _ = one_request(lab.h.rx(msg, lab.protected(msg, 5100)))
    assert fwd.method == "MESSAGE"
    plain = request("MESSAGE", ue=(UE[0], 5100), branch="z9hG4bKplain")
    [resp] = responses(lab.h.rx(plain, source_for(plain, (UE[0], 5100))))
    assert resp.status == 403
    stranger = request("MESSAGE", ue=("203.0.113.9", 5100), branch="z9hG4bKs")
    src = replace(source_for(stranger, ("203.0.113.9", 5100)), local_port=PORT_S,
                  reply_to=Destination("UDP", "203.0.113.9", 5100, None, PORT_S))
    [resp] = responses(lab.h.rx(stranger, src))
    assert resp.status == 403


def test_unprotected_requests_can_be_dropped_instead() -> None:
    lab = Lab(unprotected="drop")
    lab.register(5100)
    plain = request("MESSAGE", ue=(UE[0], 5100), branch="z9hG4bKplain")
    assert lab.h.rx(plain, source_for(plain, (UE[0], 5100))) == []


def test_reregistration_sets_up_a_new_set_and_retires_the_old_one() -> None:
    lab = Lab(retire_seconds=2)
    first = lab.register(5100)
    second = lab.register(5101, over=5100)
    assert parse_mechanisms(first)[0].port_c != parse_mechanisms(second)[0].port_c
    assert lab.sets == 2  # the old one lingers for transactions under way
    lab.h.advance(3)
    assert lab.sets == 1
    assert {sa.dport for sa in lab.kernel.sas if sa.dst == PCSCF[0]} == \
        {PORT_S, parse_mechanisms(second)[0].port_c}


def test_reusing_the_port_c_of_the_set_it_came_over_is_refused() -> None:
    lab = Lab()
    lab.register(5100)
    r401, _ = lab.first(5100, over=5100, verify=f"Security-Verify: {lab.server}\r\n")
    assert r401.status == 503 and "www-authenticate" not in r401.headers
    assert lab.sets == 1


def test_deregistration_removes_every_set() -> None:
    lab = Lab(retire_seconds=1)
    lab.register(5100)
    r401, _ = lab.first(5101, over=5100, verify=f"Security-Verify: {lab.server}\r\n",
                        expires=0)
    _, r200 = lab.second(5101, r401.headers.get("security-server") or "", reg_expires=0,
                         expires=0)
    assert r200.status == 200
    lab.h.advance(2)
    assert lab.sets == 0


def test_expiry_removes_the_set() -> None:
    lab = Lab(retire_seconds=0)
    lab.register(5100)
    lab.h.advance(601)
    assert lab.sets == 0


def test_a_challenge_never_answered_lets_the_temporary_sas_go() -> None:
    lab = Lab(pending_seconds=30)
    lab.first(5100)
    assert lab.sets == 1
    lab.h.advance(31)
    assert lab.sets == 0


def test_a_failed_protected_register_drops_the_temporary_sas() -> None:
    lab = Lab()
    r401, _ = lab.first(5100)
    req = register(ue=(UE[0], UE_US), call_id="reg-1", cseq=2,
                   extra=offer(5100) + f"Security-Verify: "
                   f"{r401.headers.get('security-server')}\r\n")
    fwd, _ = one_request(lab.h.rx(req, lab.protected(req, 5100)))
    [resp] = responses(lab.h.rx(answer(fwd, 403)))
    assert resp.status == 403 and lab.sets == 0


def test_kernel_failure_or_no_room_gives_the_ue_a_503_not_a_challenge() -> None:
    lab = Lab()
    lab.kernel.fail_next = OSError(1, "Operation not permitted")
    r401, _ = lab.first(5100)
    assert r401.status == 503 and "www-authenticate" not in r401.headers
    assert lab.sets == 0
    full = Lab(max_sas=4)
    assert full.first(5100)[0].status == 401
    assert full.first(5102)[0].status == 503


def test_a_challenge_without_keys_gives_a_503() -> None:
    lab = Lab()
    req = register(extra=offer(5100))
    fwd, _ = one_request(lab.h.rx(req))
    plain = CHALLENGE.split(", ck=")[0]
    [resp] = responses(lab.h.rx(answer(fwd, 401, extra=f"WWW-Authenticate: {plain}\r\n")))
    assert resp.status == 503


def test_ipsec_config_is_checked() -> None:
    for bad in ({"integrity": ("hmac-sha-256",)}, {"encryption": ()},
                {"port_s": 5066}, {"client_ports": "5066"}, {"client_ports": "x"},
                {"spi_min": 10}, {"max_sas": 3}, {"unprotected": "ignore"}):
        with pytest.raises(ConfigError):
            IpsecConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel"):
        PcscfCore(config(ipsec=IpsecConfig(enabled=True)))
    cfg = config(ipsec=IpsecConfig(enabled=True))
    assert cfg.extra_ports() == ((PORT_S,), tuple(range(5066, 5074)))
    assert (PCSCF[0], PORT_S) in cfg.proxy_config().names
    assert config().extra_ports() == ((), ())


def test_registered_identity_is_unchanged_by_ipsec() -> None:
    lab = Lab()
    lab.register(5100)
    [reg] = lab.h.core.store.by_flow(("UDP", UE[0], 5100))
    assert reg.registered_impu == IMPU
    assert requests(lab.h.after_register)  # our reg-event SUBSCRIBE went out


def test_options_to_us_says_sec_agree_only_with_ipsec() -> None:
    for lab, supported in ((Lab().h, "path, sec-agree"), (Harness(), "path")):
        opt = request("OPTIONS", uri=f"sip:{PCSCF[0]}:{PCSCF[1]}", ue=SCSCF)
        [resp] = responses(lab.rx(opt, source_for(opt, SCSCF)))
        assert resp.status == 200 and resp.headers.get("supported") == supported


def test_an_offer_with_equal_ports_or_spis_is_400() -> None:
    lab = Lab()
    for bad in (offer(UE_US), offer(5100, spi_uc=3001, spi_us=3001)):
        [resp] = responses(lab.h.rx(register(extra=bad)))
        assert resp.status == 400 and lab.sets == 0


def test_a_second_register_that_skips_the_sas_is_494_and_drops_them() -> None:
    lab = Lab()
    r401, _ = lab.first(5100)
    req = register(ue=(UE[0], UE_US), call_id="reg-1", cseq=2,
                   extra=offer(5100) + f"Security-Verify: "
                   f"{r401.headers.get('security-server')}\r\n")
    [resp] = responses(lab.h.rx(req, source_for(req, (UE[0], 5100))))  # not over the SAs
    assert resp.status == 494 and lab.sets == 0


def _agrees_with_a_scan(lab: Lab) -> None:
    """The table's indexes (deadlines, sets per UE address) say what a scan of every set
    would: they are kept, not recomputed per message."""
    table = lab.h.core.ipsec
    assert table is not None
    deadlines = [p.deadline for p in table.sets.values() if p.deadline is not None]
    assert table.get_timer() == (min(deadlines) if deadlines else None)
    for host in {p.ue.host for p in table.sets.values()} | {UE[0], "192.0.2.99"}:
        assert list(table._by_host(host)) == [p for p in table.sets.values()
                                              if p.ue.host == host]


def test_set_deadlines_and_hosts_are_indexed_as_sets_come_and_go() -> None:
    lab = Lab(retire_seconds=2, pending_seconds=30)
    _agrees_with_a_scan(lab)
    lab.first(5100)  # pending, with its deadline
    _agrees_with_a_scan(lab)
    lab.register(5101)  # another set of the same UE address, active: no deadline
    _agrees_with_a_scan(lab)
    lab.register(5102, over=5101)  # the one it came over retires
    _agrees_with_a_scan(lab)
    assert lab.h.core.ipsec is not None and lab.h.core.ipsec.get_timer() is not None
    lab.h.advance(3)  # the retired one goes; the pending one stays until its 30 s
    _agrees_with_a_scan(lab)
    lab.h.advance(40)
    _agrees_with_a_scan(lab)
    assert lab.sets == 1


def test_registers_over_the_sas_pass_while_the_pcscf_sheds_load() -> None:
    """Overload control asks before the protection check (its 503 is stateless): a
    REGISTER over the UE's SAs still counts as protected (ims_core/pcscf/admission.py)."""
    from ims_core.cscf.overload import OverloadConfig
    from tests.cscf.test_overload import Loaded, admit_all

    lab = Lab()
    server = lab.register(5100)
    lab.h.core.overload = Loaded(OverloadConfig(enabled=True, initial_rate=10.0,
                                                min_rate=10.0, burst_seconds=0.1))
    admit_all(lab.h.core.overload, lab.h.now)
    r401, fwd = lab.first(5101, over=5100, verify=f"Security-Verify: {server}\r\n")
    assert r401.status == 401
    assert parse_auth(fwd.headers.get("authorization") or "").integrity_protected == "yes"
    # Another of the UE's identities, registered for the first time over those SAs.
    other = register(to=IMPU.replace("0001@", "0002@"), ue=(UE[0], UE_US), call_id="other",
                     extra=offer(5102, 3900, 3901) + f"Security-Verify: {server}\r\n")
    sent = lab.h.rx(other, lab.protected(other, 5100))
    assert [r.status for r in responses(sent)] == [] and requests(sent)
    new = register(ue=("198.51.100.9", 5070), call_id="new@ue")
    [r503] = responses(lab.h.rx(new, source_for(new, ("198.51.100.9", 5070))))
    assert r503.status == 503  # while a new UE is refused
