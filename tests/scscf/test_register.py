"""REGISTER end to end through the sans-I/O S-CSCF and the real HSS Cx handlers."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hss import sqn as sqnmod
from hss.provision import DEMO_OP, demo_k, new_subscriber
from ims_core import auth
from ims_core.diameter import DiameterTimeout, DiameterUnavailable, ResultCode, make_answer
from ims_core.scscf import ScscfCore
from ims_core.sip import parse_message, parse_name_addr
from tests.sipmsg import responses

from .helpers import (
    DOMAIN,
    IMPI,
    IMPU,
    IMSI,
    MSISDN,
    PCSCF_PATH,
    SERVER_NAME,
    Harness,
    Ue,
    aka_subscriber,
    challenge_of,
    config,
    md5_subscriber,
    reason,
)

SERVICE_ROUTE = "<sip:orig@127.0.0.3:5060;lr>"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def test_initial_aka_registration_end_to_end(h: Harness) -> None:
    ue = Ue()
    r401 = h.send(ue.register(authorization=ue.empty_authorization()))
    assert r401.status == 401
    assert r401.to_tag
    [mar] = h.hss.requests
    assert mar.name == "MAR"
    assert mar.get("User-Name") == IMPI and mar.get("Public-Identity") == IMPU
    assert mar.get("SIP-Number-Auth-Items") == 1
    assert mar.get("Server-Name") == SERVER_NAME
    assert mar.get("SIP-Auth-Data-Item").get("SIP-Authentication-Scheme") == "Unknown"
    ch = challenge_of(r401)
    assert ch.realm == DOMAIN and ch.algorithm == "AKAv1-MD5" and ch.qop == "auth"
    value = r401.headers.get("www-authenticate") or ""
    assert 'qop="auth"' in value and "algorithm=AKAv1-MD5" in value
    raw = base64.b64decode(ch.nonce or "")
    assert len(raw) == 32
    _, _, ck, ik = ue.aka(ch)
    assert ch.ck == ck.hex() and ch.ik == ik.hex()

    ok = h.send(ue.register(authorization=ue.answer(ch)))
    assert ok.status == 200
    assert h.hss.names() == ["MAR", "SAR"]
    sar = h.hss.requests[1]
    assert sar.get("Server-Assignment-Type") == 1  # REGISTRATION
    assert sar.get("User-Data-Already-Available") == 0
    assert sar.get("User-Name") == IMPI and sar.get_all("Public-Identity") == [IMPU]
    [contact] = ok.contacts()
    assert str(contact.uri) == ue.contact and contact.param("expires") == "600"
    assert ok.headers.get_all("service-route") == [SERVICE_ROUTE]
    assoc = [str(a.uri) for a in ok.addresses("p-associated-uri")]
    assert assoc == [IMPU, f"sip:+{MSISDN}@{DOMAIN}", f"tel:+{MSISDN}"]
    assert ok.headers.values("path") == [PCSCF_PATH]
    assert "path" in ok.headers.values("supported")
    reg = h.core.store.get(IMPU)
    assert reg is not None and h.core.store.get(f"tel:+{MSISDN}") is reg
    [binding] = reg.bindings.values()
    assert binding.path == (PCSCF_PATH,) and binding.call_id == ue.call_id
    assert binding.received == "udp:127.0.0.2:5060"


def test_first_register_without_authorization_derives_impi_from_to(h: Harness) -> None:
    ue = Ue()
    r401 = h.send(ue.register())
    assert r401.status == 401
    assert h.hss.requests[0].get("User-Name") == IMPI
    assert h.hss.mar_schemes() == ["SIP Digest"]  # a softphone: MD5 digest
    assert challenge_of(r401).algorithm == "MD5"
    assert h.send(ue.register(authorization=ue.answer(challenge_of(r401)))).status == 200


@pytest.mark.parametrize(("algorithm", "scheme"), [
    ("AKAv2-MD5", "Digest-AKAv2-MD5"),
    ("MD5", "SIP Digest"),  # the demo subscriber has both
])
def test_algorithm_in_authorization_selects_the_scheme(h: Harness, algorithm: str,
                                                       scheme: str) -> None:
    ue = Ue()
    r401 = h.send(ue.register(authorization=ue.empty_authorization(algorithm)))
    item = h.hss.requests[0].get("SIP-Auth-Data-Item")
    assert item.get("SIP-Authentication-Scheme") == scheme
    ch = challenge_of(r401)
    assert ch.algorithm == algorithm
    assert bool(ch.ck and ch.ik) == algorithm.startswith("AKA")  # CK/IK: AKA only
    assert h.send(ue.register(authorization=ue.answer(ch))).status == 200


def test_re_registration_refreshes_with_re_registration_sar(h: Harness) -> None:
    ue = Ue()
    assert ue.register_fully(h).status == 200
    h.now += 300
    ok = ue.register_fully(h, expires=1200)
    assert ok.status == 200
    assert h.hss.sar_types() == [1, 2]
    assert h.hss.requests[-1].get("User-Data-Already-Available") == 1
    [contact] = ok.contacts()
    assert contact.param("expires") == "1200"
    assert len(ok.addresses("p-associated-uri")) == 3  # profile kept from the first SAA
    h.tick(900)  # past the first expiry (600 s after the first REGISTER)
    assert h.core.store.get(IMPU) is not None


def test_second_contact_and_query(h: Harness) -> None:
    ue = Ue()
    ue.register_fully(h)
    other = Ue(contact="sip:ue1-b@192.0.2.51:5060", call_id="reg-2@ue")
    ok = other.register_fully(h, expires=300)
    assert sorted(str(c.uri) for c in ok.contacts()) == sorted([ue.contact, other.contact])
    # A REGISTER without Contact lists the bindings (RFC 3261 §10.2.3), no SAR.
    ch = challenge_of(h.send(ue.register(contact="", expires=None)))
    sars = h.hss.sar_types()
    listed = h.send(ue.register(contact="", expires=None, authorization=ue.answer(ch)))
    assert listed.status == 200 and len(listed.contacts()) == 2
    assert h.hss.sar_types() == sars
    # De-registering one contact keeps the other (and sends no SAR).
    ch = challenge_of(h.send(other.register(expires=0)))
    left = h.send(other.register(expires=0, authorization=other.answer(ch)))
    assert [str(c.uri) for c in left.contacts()] == [ue.contact]
    assert h.hss.sar_types() == sars and h.core.store.get(IMPU) is not None


@pytest.mark.parametrize("form", ["expires-header", "contact-param", "star"])
def test_de_registration(h: Harness, form: str) -> None:
    ue = Ue()
    ue.register_fully(h)
    kwargs: dict[str, object] = {}
    if form == "expires-header":
        kwargs = {"expires": 0}
    elif form == "contact-param":
        kwargs = {"expires": None, "contact": f"<{ue.contact}>;expires=0"}
    else:
        kwargs = {"expires": 0, "contact": "*"}
    r401 = h.send(ue.register(**kwargs))  # type: ignore[arg-type]
    assert r401.status == 401
    ok = h.send(ue.register(authorization=ue.answer(challenge_of(r401)), **kwargs))  # type: ignore[arg-type]
    assert ok.status == 200
    assert ok.contacts() == [] and "p-associated-uri" not in ok.headers
    assert h.hss.sar_types() == [1, 5]  # USER_DEREGISTRATION
    assert h.core.store.get(IMPU) is None and h.core.store.get(f"tel:+{MSISDN}") is None
    timer = h.core.get_timer()
    assert timer is None or timer > h.now  # nothing left to expire
    h.tick(10_000)
    assert h.hss.sar_types() == [1, 5]


def test_expiry_sends_timeout_deregistration(h: Harness) -> None:
    ue = Ue()
    ue.register_fully(h, expires=600)
    assert h.tick(599) == [] and h.hss.sar_types() == [1]
    h.tick(2)
    assert h.hss.sar_types() == [1, 4]  # TIMEOUT_DEREGISTRATION
    assert h.core.store.get(IMPU) is None


def test_wrong_response_is_403_with_sar_authentication_failure(h: Harness) -> None:
    ue = Ue()
    r401 = h.send(ue.register(authorization=ue.empty_authorization()))
    assert h.hss.scscf_name(IMSI) == SERVER_NAME  # the MAR assigned us
    ch = challenge_of(r401)
    bad = h.send(ue.register(authorization=ue.answer(ch, password=b"\x00" * 8)))
    assert bad.status == 403 and "authentication failed" in reason(bad)
    # TS 24.229 §5.4.1.2.3: an initial registration failed, the HSS lets us go.
    assert h.hss.names() == ["MAR", "SAR"]
    assert h.hss.sar_types() == [9]  # AUTHENTICATION_FAILURE
    assert h.hss.requests[1].get("User-Name") == IMPI
    assert h.hss.requests[1].get_all("Public-Identity") == [IMPU]
    assert h.hss.scscf_name(IMSI) is None
    # The nonce is gone: even the right answer now gets a fresh challenge.
    again = h.send(ue.register(authorization=ue.answer(ch)))
    assert again.status == 401 and challenge_of(again).nonce != ch.nonce
    assert h.hss.names() == ["MAR", "SAR", "MAR"]


def test_authentication_failure_sar_is_waited_on_by_nobody(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register(authorization=ue.empty_authorization())))
    h.hold = True
    [r] = h.rx(ue.register(authorization=ue.answer(ch, response="0" * 32)))
    assert r.status == 403  # at once, not after the SAA
    [q] = h.held
    assert q.request.name == "SAR" and q.ctx is None
    assert h.release(DiameterUnavailable("no open peer")) == []  # a failure is only logged
    assert h.core.open_queries == 0


def test_wrong_response_on_a_refresh_keeps_the_registration(h: Harness) -> None:
    ue = Ue()
    assert ue.register_fully(h).status == 200
    ch = challenge_of(h.send(ue.register(authorization=ue.empty_authorization())))
    bad = h.send(ue.register(authorization=ue.answer(ch, response="0" * 32)))
    assert bad.status == 403
    assert h.hss.sar_types() == [1]  # no AUTHENTICATION_FAILURE: still registered
    assert h.core.store.get(IMPU) is not None and h.hss.scscf_name(IMSI) == SERVER_NAME


def test_wrong_key_is_403(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        ue = Ue()
        r401 = h.send(ue.register(authorization=ue.empty_authorization()))
        ch = challenge_of(r401)
        # A UE with another K computes another RES (its AUTN check would fail too).
        raw = base64.b64decode(ch.nonce or "")
        wrong_k = b"X" * 16
        res, *_ = auth.f2345(wrong_k, auth.opc(wrong_k, DEMO_OP), raw[:16])
        assert h.send(ue.register(authorization=ue.answer(ch, password=res))).status == 403
        assert h.hss.sar_types() == [9]
    finally:
        h.close()


def test_empty_response_after_aka_challenge_is_403(h: Harness) -> None:
    """MAC failure at the UE: it answers with an empty response (TS 33.203 §6.1.2.2)."""
    ue = Ue()
    ch = challenge_of(h.send(ue.register(authorization=ue.empty_authorization())))
    assert ch.algorithm == "AKAv1-MD5"
    assert h.send(ue.register(authorization=ue.answer(ch, response=""))).status == 403
    assert h.hss.sar_types() == [9]
    assert h.hss.scscf_name(IMSI) is None


def test_nonce_replay_gets_a_fresh_challenge(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register()))
    authorization = ue.answer(ch)
    assert h.send(ue.register(authorization=authorization)).status == 200
    replay = h.send(ue.register(authorization=authorization))
    assert replay.status == 401
    assert challenge_of(replay).nonce != ch.nonce
    assert h.hss.names() == ["MAR", "SAR", "MAR"]


def test_stale_nonce_gets_stale_true(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register()))
    h.tick(61)  # nonce_lifetime 60 s
    stale = h.send(ue.register(authorization=ue.answer(ch)))
    assert stale.status == 401
    fresh = challenge_of(stale)
    assert fresh.stale == "true" and fresh.nonce != ch.nonce
    assert h.send(ue.register(authorization=ue.answer(fresh))).status == 200


def test_stale_nonce_with_a_wrong_response_is_403(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register()))
    h.tick(61)
    assert h.send(ue.register(authorization=ue.answer(ch, response="0" * 32))).status == 403
    assert h.hss.sar_types() == [9]


def test_forgotten_nonce_is_unknown(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register()))
    h.tick(60 + 300 + 1)  # past stale_window: purged by the timer
    assert h.core.store.get_challenge(IMPI, ch.nonce or "") is None
    again = h.send(ue.register(authorization=ue.answer(ch)))
    assert again.status == 401 and challenge_of(again).stale is None


def test_unanswered_challenge_sends_sar_authentication_timeout(h: Harness) -> None:
    ue = Ue()
    h.send(ue.register(authorization=ue.empty_authorization()))
    assert h.hss.scscf_name(IMSI) == SERVER_NAME
    h.tick(60 + 300 - 1)
    assert h.hss.names() == ["MAR"]  # still remembered: the UE may yet answer
    h.tick(2)
    assert h.hss.names() == ["MAR", "SAR"]
    sar = h.hss.requests[1]
    assert sar.get("Server-Assignment-Type") == 10  # AUTHENTICATION_TIMEOUT
    assert sar.get("User-Name") == IMPI and sar.get_all("Public-Identity") == [IMPU]
    assert h.hss.scscf_name(IMSI) is None
    h.tick(1000)
    assert h.hss.sar_types() == [10]  # once


def test_unanswered_challenge_of_a_registered_user_sends_no_sar(h: Harness) -> None:
    ue = Ue()
    ue.register_fully(h, expires=3600)
    h.send(ue.register(authorization=ue.empty_authorization()))  # a refresh, unanswered
    h.tick(60 + 300 + 1)
    assert h.hss.sar_types() == [1]
    assert h.hss.scscf_name(IMSI) == SERVER_NAME


def test_challenge_forgotten_behind_a_newer_one_sends_no_sar(h: Harness) -> None:
    ue = Ue()
    h.send(ue.register(authorization=ue.empty_authorization()))
    h.tick(200)
    h.send(ue.register(authorization=ue.empty_authorization()))  # the UE starts over
    h.tick(161 + 1)  # the first one is forgotten, the second still pending
    assert h.hss.names() == ["MAR", "MAR"]
    h.tick(200)  # now the second one goes too
    assert h.hss.sar_types() == [10]


def test_resync_with_auts(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register(authorization=ue.empty_authorization())))
    sqn_hss, _, _, _ = ue.aka(ch)
    # The USIM's SQN is far ahead of the HSS's: it answers with AUTS (TS 33.102 §6.3.5).
    sqn_ms = sqnmod.to_bytes(sqnmod.from_bytes(sqn_hss) + 10_000)
    rand = base64.b64decode(ch.nonce or "")[:16]
    auts = auth.make_auts(ue.k, ue.opc, rand, sqn_ms)
    r401 = h.send(ue.register(authorization=ue.answer(ch, auts=auts)))
    assert r401.status == 401
    resync = h.hss.requests[-1]
    assert resync.name == "MAR"
    assert resync.get("SIP-Auth-Data-Item").get("SIP-Authorization") == rand + auts
    fresh = challenge_of(r401)
    sqn_new, _, _, _ = ue.aka(fresh)
    assert sqnmod.from_bytes(sqn_new) > sqnmod.from_bytes(sqn_ms)
    assert h.send(ue.register(authorization=ue.answer(fresh))).status == 200
    assert h.hss.names() == ["MAR", "MAR", "SAR"]


def test_bad_auts_is_403(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register(authorization=ue.empty_authorization())))
    r = h.send(ue.register(authorization=ue.answer(ch, auts=b"\x01" * 14)))
    assert r.status == 403  # the HSS rejects MAC-S (4001)
    assert h.hss.names() == ["MAR", "MAR"]


def test_md5_registration(tmp_path: Path) -> None:
    h = Harness(tmp_path, subs=[md5_subscriber()])
    try:
        impi = f"001010000000009@{DOMAIN}"
        ue = Ue(impi=impi, impu=f"sip:001010000000009@{DOMAIN}")
        r401 = h.send(ue.register())
        ch = challenge_of(r401)
        assert ch.algorithm == "MD5" and ch.qop == "auth" and ch.ck is None and ch.ik is None
        assert ch.realm == DOMAIN
        ok = h.send(ue.register(authorization=ue.answer(ch)))
        assert ok.status == 200
        bad = challenge_of(h.send(ue.register()))
        wrong = h.send(ue.register(authorization=ue.answer(bad, password=b"guess")))
        assert wrong.status == 403
        assert h.hss.sar_types() == [1]  # a refresh failed: still registered
    finally:
        h.close()


def test_unknown_user_is_403(h: Harness) -> None:
    ue = Ue(impi=f"001019999999999@{DOMAIN}", impu=f"sip:001019999999999@{DOMAIN}")
    r = h.send(ue.register())
    assert r.status == 403 and "user unknown" in reason(r)
    assert r.reason == "Forbidden - User Unknown"


def test_scheme_not_supported_is_403(tmp_path: Path) -> None:
    h = Harness(tmp_path, subs=[md5_subscriber()])
    try:
        ue = Ue(impi=f"001010000000009@{DOMAIN}", impu=f"sip:001010000000009@{DOMAIN}")
        assert h.send(ue.register(authorization=ue.empty_authorization("AKAv1-MD5"))).status \
            == 403
    finally:
        h.close()


def test_hss_down_is_504_with_reason(h: Harness) -> None:
    h.hss.down = True
    r = h.send(Ue().register())
    assert r.status == 504 and r.reason == "Server Time-out"
    assert reason(r).startswith("SIP;cause=504;") and "HSS unreachable" in reason(r)
    assert "warning" not in r.headers


def test_sar_failure_saves_no_binding(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register()))
    h.hss.down = True
    r = h.send(ue.register(authorization=ue.answer(ch)))
    assert r.status == 504 and h.core.store.get(IMPU) is None


def test_interval_too_brief(h: Harness) -> None:
    r = h.send(Ue().register(expires=30))
    assert r.status == 423 and r.headers.get("min-expires") == "60"
    assert h.hss.requests == []
    r = h.send(Ue().register(expires=None, contact="<sip:ue@192.0.2.50>;expires=59"))
    assert r.status == 423


def test_expires_is_clamped_to_the_maximum(h: Harness) -> None:
    ok = Ue().register_fully(h, expires=600000)
    assert ok.contacts()[0].param("expires") == "7200"


def test_default_expires_without_any(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register(expires=None)))
    ok = h.send(ue.register(expires=None, authorization=ue.answer(ch)))
    assert ok.contacts()[0].param("expires") == "3600"


def test_star_needs_expires_zero(h: Harness) -> None:
    assert h.send(Ue().register(contact="*", expires=600)).status == 400


def test_unsupported_require_is_420(h: Harness) -> None:
    r = h.send(Ue().register(extra="Require: foo\r\n"))
    assert r.status == 420 and r.headers.get("unsupported") == "foo"


def test_barred_identity_cannot_register(tmp_path: Path) -> None:
    imsi = "001010000000005"
    sub = new_subscriber(imsi=imsi, k=demo_k(imsi), op=DEMO_OP, domain=DOMAIN, barred=True)
    h = Harness(tmp_path, subs=[sub])
    try:
        ue = Ue(impi=f"{imsi}@{DOMAIN}", impu=f"sip:{imsi}@{DOMAIN}", k=demo_k(imsi),
                opc=auth.opc(demo_k(imsi), DEMO_OP))
        ok = ue.register_fully(h)
        assert ok.status == 403
        assert h.hss.sar_types() == [1, 5]  # assigned, then released
        assert h.core.store.get(f"sip:{imsi}@{DOMAIN}") is None
    finally:
        h.close()


def test_out_of_order_cseq_is_500(h: Harness) -> None:
    ue = Ue()
    ue.register_fully(h)
    ch = challenge_of(h.send(ue.register()))
    ue.cseq = 1  # lower than the stored binding's
    assert h.send(ue.register(authorization=ue.answer(ch))).status == 500


def test_non_home_request_uri_is_403(h: Harness) -> None:
    req = Ue().register()
    req.uri = parse_name_addr("<sip:other.example>").uri
    assert h.send(req).status == 403


def test_a_nonce_only_answers_for_the_identity_it_was_issued_for(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register()))
    other = Ue(impu=f"sip:+{MSISDN}@{DOMAIN}")  # same IMPI, another IMPU
    r = h.send(other.register(authorization=other.answer(ch)))
    assert r.status == 401 and challenge_of(r).nonce != ch.nonce
    assert h.send(ue.register(authorization=ue.answer(ch))).status == 200


def test_identities_of_another_subscriber_is_403(h: Harness) -> None:
    ue = Ue(impu=f"sip:001010000000002@{DOMAIN}")  # IMPI of the first, IMPU of the second
    r = h.send(ue.register(authorization=ue.empty_authorization()))
    assert r.status == 403 and "don't match" in reason(r)


def test_retransmission_while_the_mar_is_pending_is_absorbed(h: Harness) -> None:
    ue = Ue()
    req = ue.register()
    h.hold = True
    assert h.rx(req) == []
    assert h.rx(req) == []  # the server transaction absorbs it (RFC 3261 §17.2.2)
    assert len(h.held) == 1
    h.hold = False
    [r401] = [r for r in h.release() if r.status >= 200]
    assert r401.status == 401


def test_hss_timeout_is_504(h: Harness) -> None:
    h.hold = True
    h.rx(Ue().register())
    [r] = h.release(DiameterTimeout("no answer"))
    assert r.status == 504 and "HSS timeout" in reason(r)


def test_silent_hss_gets_the_register_504_at_the_diameter_timeout(h: Harness) -> None:
    """The core's own deadline answers the REGISTER (no adapter timeout needed)."""
    h.hold = True
    assert h.rx(Ue().register()) == []
    timeout = h.core.cfg.diameter.request_timeout if h.core.cfg.diameter else 0.0
    assert h.core.get_timer() == pytest.approx(h.now + timeout)
    assert responses(h.tick(timeout - 0.01)) == []
    [r] = responses(h.tick(0.02))
    assert r.status == 504 and "HSS timeout" in reason(r)
    assert h.core.open_queries == 0
    assert h.release(make_answer(h.held[0].request, ResultCode.SUCCESS)) == []  # late: dropped


def test_maa_without_a_usable_vector_is_500(h: Harness) -> None:
    h.hold = True
    h.rx(Ue().register())
    [q] = h.held
    answer = make_answer(q.request, ResultCode.SUCCESS)
    [r] = h.release(answer)
    assert r.status == 500 and "no usable authentication vector" in reason(r)


def test_saa_without_user_data_registers_the_impu_alone(h: Harness) -> None:
    ue = Ue()
    ch = challenge_of(h.send(ue.register()))
    h.hold = True
    h.rx(ue.register(authorization=ue.answer(ch)))
    [q] = h.held
    [ok] = h.release(make_answer(q.request, ResultCode.SUCCESS))
    assert ok.status == 200
    assert [str(a.uri) for a in ok.addresses("p-associated-uri")] == [IMPU]


# -- one subscriber, both kinds of client --------------------------------------------------


def test_same_subscriber_md5_without_authorization_and_aka_with_the_empty_one(
        h: Harness) -> None:
    softphone = Ue(contact="sip:soft@192.0.2.70:5060", call_id="soft@ue")
    ch = challenge_of(h.send(softphone.register()))
    assert ch.algorithm == "MD5" and ch.ck is None
    assert h.send(softphone.register(authorization=softphone.answer(ch))).status == 200
    ue = Ue()
    ch = challenge_of(h.send(ue.register(authorization=ue.empty_authorization())))
    assert ch.algorithm == "AKAv1-MD5" and ch.ck and ch.ik
    ok = h.send(ue.register(authorization=ue.answer(ch)))
    assert ok.status == 200 and len(ok.contacts()) == 2
    assert h.hss.mar_schemes() == ["SIP Digest", "Unknown"]


def test_aka_only_subscriber_without_authorization_gets_aka_after_5006(
        tmp_path: Path) -> None:
    imsi = "001010000000008"
    h = Harness(tmp_path, subs=[aka_subscriber(imsi)])
    try:
        k = demo_k(imsi)
        ue = Ue(impi=f"{imsi}@{DOMAIN}", impu=f"sip:{imsi}@{DOMAIN}", k=k,
                opc=auth.opc(k, DEMO_OP))
        r401 = h.send(ue.register())  # one REGISTER, two MARs
        assert h.hss.mar_schemes() == ["SIP Digest", "Unknown"]
        ch = challenge_of(r401)
        assert r401.status == 401 and ch.algorithm == "AKAv1-MD5"
        assert h.send(ue.register(authorization=ue.answer(ch))).status == 200
    finally:
        h.close()


def test_an_explicit_aka_algorithm_is_not_retried(tmp_path: Path) -> None:
    """5006 for an AKA request is the answer: only SIP Digest falls back to Unknown."""
    h = Harness(tmp_path, subs=[md5_subscriber()])
    try:
        ue = Ue(impi=f"001010000000009@{DOMAIN}", impu=f"sip:001010000000009@{DOMAIN}")
        r = h.send(ue.register(authorization=ue.empty_authorization("AKAv2-MD5")))
        assert r.status == 403 and "scheme not supported" in reason(r)
        assert h.hss.mar_schemes() == ["Digest-AKAv2-MD5"]
    finally:
        h.close()


def test_md5_nonce_comes_from_the_core_nonce_rng(h: Harness) -> None:
    h.core.nonce_rng = lambda n: bytes(range(n))
    h.core.rng = lambda n: bytes([0xEE] * n)  # tags and the like: never the nonce
    ch = challenge_of(h.send(Ue().register()))
    assert ch.algorithm == "MD5"
    assert base64.b64decode(ch.nonce or "") == bytes(range(18))


def test_md5_nonces_are_cryptographic_by_default() -> None:
    assert ScscfCore(config()).nonce_rng is os.urandom


# -- bindings compared as URIs (RFC 3261 §10.3 step 7, §19.1.4) ----------------------------


@pytest.mark.parametrize("written", [
    "sip:ue1@192.0.2.50:5060",                      # as registered
    "sip:ue1@EXAMPLE.net:5060;transport=udp;ob",     # host case
    "sip:%75e1@example.net:5060;ob;transport=UDP",   # escaping, parameter order
])
def test_a_refresh_written_differently_updates_the_same_binding(
        h: Harness, written: str) -> None:
    first = "sip:ue1@192.0.2.50:5060" if written.startswith("sip:ue1@192") else (
        "sip:ue1@example.net:5060;transport=UDP;ob")
    ue = Ue(contact=first)
    assert ue.register_fully(h, expires=600).status == 200
    h.now += 100
    ue.contact = written
    ok = ue.register_fully(h, expires=1200)
    [contact] = ok.contacts()  # one binding, refreshed
    assert contact.param("expires") == "1200"
    reg = h.core.store.get(IMPU)
    assert reg is not None and len(reg.bindings) == 1
    [binding] = reg.bindings.values()
    assert binding.uri == written  # kept as the UE last wrote it
    # De-registering it as first written removes it: the last binding, so the registration.
    ue.contact = first
    ch = challenge_of(h.send(ue.register(expires=0)))
    gone = h.send(ue.register(expires=0, authorization=ue.answer(ch)))
    assert gone.status == 200 and gone.contacts() == []
    assert h.core.store.get(IMPU) is None


def test_out_of_order_check_uses_uri_equality(h: Harness) -> None:
    ue = Ue(contact="sip:ue1@example.net:5060")
    ue.register_fully(h)
    ch = challenge_of(h.send(ue.register()))
    ue.cseq = 1
    ue.contact = "sip:ue1@EXAMPLE.NET:5060"
    assert h.send(ue.register(authorization=ue.answer(ch))).status == 500



def test_a_private_identity_that_is_not_utf8_gets_400_and_no_mar(h: Harness) -> None:
    # Header bytes that are not UTF-8 parse (kept as they came), but an IMPI must go
    # into a UTF8String AVP: the REGISTER is malformed, and still gets its answer.
    ue = Ue()
    data = ue.register(authorization=ue.empty_authorization()).to_bytes()
    bad = data.replace(f'username="{IMPI}'.encode(), b'username="\xd1' + IMPI[1:].encode())
    assert bad != data
    [resp] = h.rx(parse_message(bad))
    assert resp.status == 400 and "UTF-8" in resp.reason
    assert h.hss.requests == []
