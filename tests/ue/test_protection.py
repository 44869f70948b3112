"""The UE's sec-agree state machine (TS 33.203 §7, TS 24.229 §5.1.1.2, RFC 3329), no
sockets: the offer, the Security-Server a 401 brings, the headers and routes that follow,
a new SA set (new port_uc and SPIs) per registration exchange, the old one retired, and
everything out of a MemoryKernel at the end."""

from __future__ import annotations

import itertools

import pytest

from ims_core.ipsec.algorithms import ENCRYPTION, INTEGRITY
from ims_core.ipsec.kernel import MemoryKernel
from ims_core.ipsec.sa import build_sa_set
from ims_core.sip import Headers, Request, Response
from ims_core.sip.secagree import (
    Choice,
    Mechanism,
    mechanisms,
    server_mechanism,
    verify_matches,
)
from ims_core.ue.protection import (
    CLIENT_PORTS,
    RETIRE_SECONDS,
    Install,
    Protection,
    ProtectionError,
    Remove,
    Route,
)

from .secagree import PORT_PS, FakeSecAgree

UE, PCSCF = "127.0.0.121", ("127.0.0.120", 5060)
PORT = 5100
CK, IK = bytes(range(16)), bytes(range(16, 32))


def _request(headers: list[tuple[str, str]]) -> Request:
    h = Headers()
    for name, value in headers:
        h.add(name, value)
    return Request("REGISTER", "sip:ims.example", h)


def _401(fake: FakeSecAgree, p: Protection) -> Response:
    """The 401 to the REGISTER ``p`` would send now, with the fake P-CSCF's answer."""
    return fake.on_response(_request(p.register_headers()), Response(401, None, Headers()))


def _apply(p: Protection, kernel: MemoryKernel) -> list[Install | Remove]:
    effects = p.take_effects()
    for e in effects:
        if isinstance(e, Install):
            kernel.add(e.sa_set)
        else:
            kernel.remove(e.sa_set)
    return effects


def _registered(fake: FakeSecAgree, kernel: MemoryKernel, **kw: object) -> Protection:
    p = Protection(UE, PORT, PCSCF, **kw)  # type: ignore[arg-type]
    p.begin()
    p.challenged(_401(fake, p), ck=CK, ik=IK)
    p.confirmed()
    _apply(p, kernel)
    return p


def test_the_first_register_offers_every_pair_and_goes_unprotected() -> None:
    p = Protection(UE, PORT, PCSCF)
    p.begin()
    req = _request(p.register_headers())
    offer = mechanisms(req, "security-client")
    assert [(m.alg, m.ealg) for m in offer] == [(a, e) for a in INTEGRITY for e in ENCRYPTION]
    assert {(m.port_c, m.port_s, m.prot, m.mod) for m in offer} == {
        (PORT + 1, PORT, "esp", "trans")}
    assert len({(m.spi_c, m.spi_s) for m in offer}) == 1 and offer[0].spi_c != offer[0].spi_s
    assert req.headers.get("require") == "sec-agree"
    assert req.headers.get("proxy-require") == "sec-agree"
    assert "security-verify" not in req.headers
    assert p.route("REGISTER") == Route(PORT + 1, *PCSCF, protected=False)
    assert p.request_headers("INVITE") == [] and p.outbound_proxy("udp") is None


def test_an_offer_restricted_to_one_pair() -> None:
    p = Protection(UE, PORT, PCSCF, integrity=["hmac-md5-96"], encryption=["null"])
    p.begin()
    (m,) = mechanisms(_request(p.register_headers()), "security-client")
    assert (m.alg, m.ealg) == ("hmac-md5-96", "null")


def test_the_401_sets_up_the_sa_set_of_ts_33203_7_1() -> None:
    fake, kernel = FakeSecAgree(), MemoryKernel()
    p = Protection(UE, PORT, PCSCF)
    p.begin()
    assert p.offer is not None
    mine = p.offer
    p.challenged(_401(fake, p), ck=CK, ik=IK)
    (install,) = _apply(p, kernel)
    assert isinstance(install, Install)
    theirs = fake.endpoints[0]
    assert install.sa_set == build_sa_set(mine, theirs, alg="hmac-sha-1-96", ealg="aes-cbc",
                                          ck=CK, ik=IK)
    assert kernel.count() == (4, 4)
    # The answer: over the new set, Security-Verify = the Security-Server it got.
    answer = _request(p.register_headers())
    assert fake.verified(answer)
    assert mechanisms(answer, "security-client") == mechanisms(
        _request(p.register_headers()), "security-client")  # the same offer still
    assert p.route("REGISTER") == Route(PORT + 1, "127.0.0.120", PORT_PS, protected=True)
    p.confirmed()
    assert p.current is not None and p.pending is None
    assert p.route("INVITE") == Route(PORT + 1, "127.0.0.120", PORT_PS, protected=True)
    assert p.outbound_proxy("tcp") == f"<sip:127.0.0.120:{PORT_PS};lr;transport=tcp>"
    assert "alg=hmac-sha-1-96 ealg=aes-cbc" in p.describe()


def test_every_other_request_carries_security_verify_and_the_option_tags() -> None:
    fake = FakeSecAgree()
    p = _registered(fake, MemoryKernel())
    invite = _request(p.request_headers("INVITE"))
    assert fake.verified(invite)
    assert invite.headers.get("require") == invite.headers.get("proxy-require") == "sec-agree"
    for method in ("ACK", "CANCEL"):  # RFC 3261 §8.2.2.3: no Require/Proxy-Require
        req = _request(p.request_headers(method))
        assert fake.verified(req) and "require" not in req.headers
        assert "proxy-require" not in req.headers


def test_each_reregistration_makes_a_new_set_and_retires_the_old_one() -> None:
    fake, kernel = FakeSecAgree(), MemoryKernel()
    p = _registered(fake, kernel)
    first = p.current
    assert first is not None
    p.begin()  # TS 33.203 §7.4: the re-REGISTER offers a new port_uc and new SPIs
    rereg = _request(p.register_headers())
    (offer, *_) = mechanisms(rereg, "security-client")
    assert offer.port_c == PORT + 2 and offer.port_s == PORT
    assert {offer.spi_c, offer.spi_s}.isdisjoint({first.local.spi_c, first.local.spi_s})
    assert fake.verified(rereg, 0)  # still the old Security-Server
    assert p.route("REGISTER") == first.route  # ... and over the old set
    p.challenged(fake.on_response(rereg, Response(401, None, Headers())), ck=CK, ik=IK)
    _apply(p, kernel)
    assert kernel.count() == (8, 8)
    answer = _request(p.register_headers())
    assert fake.verified(answer, 1)
    assert p.route("REGISTER") == Route(PORT + 2, "127.0.0.120", PORT_PS, True)
    assert p.route("SUBSCRIBE") == first.route  # others stay on the old set until the 2xx
    p.confirmed()
    p.retire_old(10.0)
    assert p.route("SUBSCRIBE").local_port == PORT + 2
    assert fake.verified(_request(p.request_headers("SUBSCRIBE")), 1)
    assert p.get_timer() == 10.0 + RETIRE_SECONDS
    p.handle_timer(10.0 + RETIRE_SECONDS - 0.1)
    assert p.take_effects() == [] and p.client_ports == {PORT + 1, PORT + 2}
    p.handle_timer(10.0 + RETIRE_SECONDS)
    (remove,) = _apply(p, kernel)
    assert remove == Remove(first.sa_set) and kernel.count() == (4, 4)
    assert p.client_ports == {PORT + 2} and p.get_timer() is None


def test_client_ports_take_turns_and_wrap() -> None:
    fake, kernel = FakeSecAgree(client_ports=range(6000, 6040)), MemoryKernel()
    p = _registered(fake, kernel)
    seen = []
    for i in range(CLIENT_PORTS + 1):
        p.begin()
        p.challenged(_401(fake, p), ck=CK, ik=IK)
        p.confirmed()
        p.retire_old(float(i))
        p.handle_timer(float(i) + RETIRE_SECONDS)
        _apply(p, kernel)
        assert p.current is not None
        seen.append(p.current.local.port_c)
        assert kernel.count() == (4, 4)
    assert seen == [*range(PORT + 2, PORT + 1 + CLIENT_PORTS), PORT + 1, PORT + 2]


def test_spis_are_unique_among_those_held_even_with_a_repeating_rng() -> None:
    same = itertools.repeat(b"\x00" * 8)
    p = Protection(UE, PORT, PCSCF, rng=lambda n: next(same)[:n])
    fake, kernel = FakeSecAgree(client_ports=range(6000, 6040)), MemoryKernel()
    held: set[int] = set()
    for _ in range(3):
        p.begin()
        p.challenged(_401(fake, p), ck=CK, ik=IK)
        p.confirmed()  # the old sets are kept (no retire_old): all SPIs held at once
        _apply(p, kernel)
        assert p.current is not None
        spis = {p.current.local.spi_c, p.current.local.spi_s}
        assert len(spis) == 2 and spis.isdisjoint(held)
        held |= spis
    assert kernel.count() == (12, 12)


def test_a_second_401_replaces_the_pending_set() -> None:
    fake, kernel = FakeSecAgree(), MemoryKernel()
    p = Protection(UE, PORT, PCSCF)
    p.begin()
    p.challenged(_401(fake, p), ck=CK, ik=IK)
    first = p.pending
    p.challenged(_401(fake, p), ck=bytes(16), ik=bytes(16))  # e.g. stale=true
    effects = _apply(p, kernel)
    assert first is not None and p.pending is not None
    assert [type(e) for e in effects] == [Install, Remove, Install]
    assert effects[1] == Remove(first.sa_set)
    assert kernel.sas == set(p.pending.sa_set.sas)
    assert fake.verified(_request(p.register_headers()), 1)


def test_the_most_preferred_entry_the_ue_offered_is_taken() -> None:
    p = Protection(UE, PORT, PCSCF, encryption=["null", "aes-cbc"])
    p.begin()

    def entry(alg: str, ealg: str, q: str | None, spi: int) -> Mechanism:
        m = server_mechanism(Choice(Mechanism("ipsec-3gpp"), alg, ealg), spi_c=spi,
                             spi_s=spi + 1, port_c=5066, port_s=PORT_PS)
        return Mechanism(m.name, m.params + ((("q", q),) if q else ()))

    resp = Response(401, None, Headers())
    resp.headers.add("Security-Server", ", ".join(e.format() for e in (
        entry("hmac-md5-96", "des-ede3-cbc", "0.9", 3000),  # not offered
        entry("hmac-md5-96", "null", "0.1", 3002),
        entry("hmac-sha-1-96", "aes-cbc", "0.5", 3004))))
    p.challenged(resp, ck=CK, ik=IK)
    assert p.pending is not None
    assert (p.pending.alg, p.pending.ealg, p.pending.remote.spi_c) == (
        "hmac-sha-1-96", "aes-cbc", 3004)
    verify = mechanisms(_request(p.register_headers()), "security-verify")
    assert verify_matches(verify, mechanisms(resp, "security-server"))  # all of it


@pytest.mark.parametrize(("server", "ck", "error"), [
    (None, CK, "no Security-Server"),
    ("ipsec-3gpp;alg=hmac-md5-96;ealg=null;spi-c=3000;spi-s=3001;port-c=5066;port-s=5064",
     CK, "names nothing the UE offered"),
    ("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=x", CK, "Bad Security-Server"),
    ("tls;q=0.2", CK, "names nothing the UE offered"),
    ("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=3000;spi-s=3001;port-c=5066;"
     "port-s=5064", None, "IMS-AKA"),
])
def test_a_401_the_ue_cannot_use_is_an_error(server: str | None, ck: bytes | None,
                                             error: str) -> None:
    p = Protection(UE, PORT, PCSCF, integrity=["hmac-sha-1-96"], encryption=["aes-cbc"])
    p.begin()
    resp = Response(401, None, Headers())
    if server is not None:
        resp.headers.add("Security-Server", server)
    with pytest.raises(ProtectionError, match=error):
        p.challenged(resp, ck=ck, ik=IK if ck is not None else None)
    assert p.pending is None and p.take_effects() == []


def test_a_failed_exchange_drops_its_set_and_keeps_the_current_one() -> None:
    fake, kernel = FakeSecAgree(), MemoryKernel()
    p = _registered(fake, kernel)
    current = p.current
    p.begin()
    p.challenged(_401(fake, p), ck=CK, ik=IK)
    _apply(p, kernel)
    p.abandoned()
    _apply(p, kernel)
    assert p.current is current and p.pending is None and kernel.count() == (4, 4)
    assert p.client_ports == {PORT + 1}


def test_a_refused_install_is_forgotten() -> None:
    fake = FakeSecAgree()
    p = Protection(UE, PORT, PCSCF)
    p.begin()
    p.challenged(_401(fake, p), ck=CK, ik=IK)
    (install,) = p.take_effects()
    assert isinstance(install, Install)
    p.install_failed(install.sa_set)
    assert p.pending is None
    p.abandoned()
    assert p.take_effects() == [] and p.installed == []


def test_an_old_set_whose_pcscf_port_comes_back_goes_at_once() -> None:
    fake, kernel = FakeSecAgree(client_ports=(5066, 5067)), MemoryKernel()
    p = _registered(fake, kernel)
    first = p.current
    for _ in range(2):  # 5067, then 5066 again while the first set is still old
        p.begin()
        p.challenged(_401(fake, p), ck=CK, ik=IK)
        p.confirmed()
    assert first is not None and Remove(first.sa_set) in _apply(p, kernel)
    assert kernel.count() == (8, 8)


def test_close_removes_everything() -> None:
    fake, kernel = FakeSecAgree(client_ports=(5066, 5067, 5068)), MemoryKernel()
    p = _registered(fake, kernel)
    p.begin()
    p.challenged(_401(fake, p), ck=CK, ik=IK)
    p.confirmed()  # the first set is old now, not yet retired
    p.begin()
    p.challenged(_401(fake, p), ck=CK, ik=IK)  # and one pending
    _apply(p, kernel)
    assert kernel.count() == (12, 12)
    p.close()
    _apply(p, kernel)
    assert kernel.count() == (0, 0)
    assert p.installed == [] and p.current is None and p.get_timer() is None


def test_bad_construction() -> None:
    with pytest.raises(ValueError, match="port_us"):
        Protection(UE, 65535 - 3, PCSCF)
    with pytest.raises(ValueError, match="at least one"):
        Protection(UE, PORT, PCSCF, integrity=[])
    with pytest.raises(RuntimeError):
        Protection(UE, PORT, PCSCF).register_headers()
