"""I-CSCF failover across S-CSCFs (TS 24.229 §5.3.1.3): the next capable S-CSCF when the
chosen one does not answer, a UAR for capabilities when the HSS had named it, 504 when
none is left. Driven with a fake clock and no sockets."""

from __future__ import annotations

import pytest

from ims_core.config import ConfigError
from ims_core.cscf import DOMAIN, DiameterClient, DiameterQuery
from ims_core.diameter import CxResult
from ims_core.icscf import IcscfConfig, IcscfCore, ScscfEntry, ScscfPool
from ims_core.icscf.pool import Capabilities
from ims_core.icscf.uar import AuthType
from ims_core.proxy import ProxyConfig, Send
from ims_core.sip import Request, Response
from ims_core.sip.addressing import Source
from tests.sipmsg import answer

from .util import ICSCF, Harness, only_request, only_response, parsed, register, uaa

S1 = ScscfEntry("sip:s1.example.net:5060", "127.0.0.31:5060", capabilities=(1,))
S2 = ScscfEntry("sip:s2.example.net:5060", "127.0.0.32:5060", capabilities=(1, 2))
S3 = ScscfEntry("sip:s3.example.net:5060", "127.0.0.33:5060", capabilities=(1,))
POOL = (S1, S2, S3)
CAPS = {"Mandatory-Capability": [1], "Server-Name": [S1.name]}
TIMEOUT = 2.0


class FailoverHarness(Harness):
    def __init__(self, pool: tuple[ScscfEntry, ...] = POOL, timeout: float = TIMEOUT) -> None:
        super().__init__(pool)
        self.core = IcscfCore(
            ProxyConfig(host=ICSCF[0], port=ICSCF[1]),
            DiameterClient(origin_host=f"icscf.{DOMAIN}", origin_realm=DOMAIN),
            domain=DOMAIN, pool=ScscfPool(pool), rng=lambda n: bytes(range(n)),
            scscf_timeout=timeout)

    def first_hop(self, req: Request | None = None, **uaa_kwargs: object) -> tuple[Request, Send]:
        queries, _ = self.rx(req or register())
        [q] = queries
        return only_request(self.answer(q, uaa(q.request, **uaa_kwargs)))  # type: ignore[arg-type]

    def reply(self, fwd: Request, send: Send, status: int) -> list[Send]:
        self.core.receive(answer(fwd, status), Source("UDP", send.dest.host, send.dest.port),
                          self.now)
        return self.core.data_to_send()

    def wait(self, seconds: float) -> tuple[list[Send], list[DiameterQuery]]:
        self.now += seconds
        self.core.handle_timer(self.now)
        return self.core.data_to_send(), self.core.queries_to_send()


def hop(send: Send) -> str:
    return f"{send.dest.host}:{send.dest.port}"


def by_capabilities(h: FailoverHarness) -> tuple[Request, Send]:
    return h.first_hop(server_name=None, capabilities=CAPS)


def test_a_silent_scscf_is_left_after_the_timeout_for_the_next_capable_one() -> None:
    h = FailoverHarness()
    fwd, send = by_capabilities(h)
    assert hop(send) == "127.0.0.31:5060"  # listed by the HSS: first
    out, _ = h.wait(TIMEOUT - 0.1)
    assert all(hop(s) == "127.0.0.31:5060" for s in out)  # retransmissions only
    out, _ = h.wait(0.2)
    fwd2, send2 = only_request([s for s in out if hop(s) != "127.0.0.31:5060"])
    assert hop(send2) == "127.0.0.32:5060"  # most optional capabilities among the rest
    assert fwd2.headers.get("call-id") == fwd.headers.get("call-id")
    assert only_response(h.reply(fwd2, send2, 401)).status == 401
    # The first S-CSCF wakes up and answers: nobody hears of it.
    assert [m for m, _ in parsed(h.reply(fwd, send, 401)) if isinstance(m, Response)] == []


def test_a_transport_error_fails_over_at_once() -> None:
    h = FailoverHarness()
    _, send = by_capabilities(h)
    h.core.send_failed(send, h.now)
    _, send2 = only_request(h.core.data_to_send())
    assert hop(send2) == "127.0.0.32:5060"


def test_408_and_503_fail_over_and_504_when_none_is_left() -> None:
    h = FailoverHarness()
    fwd, send = by_capabilities(h)
    fwd, send = only_request(h.reply(fwd, send, 503))
    assert hop(send) == "127.0.0.32:5060"
    fwd, send = only_request(h.reply(fwd, send, 408))
    assert hop(send) == "127.0.0.33:5060"
    r = only_response(h.reply(fwd, send, 503))
    assert (r.status, r.reason) == (504, "Server Time-out")
    assert "3 tried" in (r.headers.get("reason") or "")


@pytest.mark.parametrize("status", [401, 403, 500])
def test_other_answers_are_relayed_without_failover(status: int) -> None:
    h = FailoverHarness()
    fwd, send = by_capabilities(h)
    assert only_response(h.reply(fwd, send, status)).status == status


def test_a_provisional_response_shows_the_scscf_is_alive() -> None:
    h = FailoverHarness()
    fwd, send = by_capabilities(h)
    assert h.reply(fwd, send, 100) == []
    out, _ = h.wait(TIMEOUT + 0.5)
    assert all(hop(s) == "127.0.0.31:5060" for s in out)


def test_a_named_scscf_that_fails_makes_the_icscf_ask_for_capabilities() -> None:
    h = FailoverHarness()
    _, send = h.first_hop(server_name=S2.name, experimental=CxResult.SUBSEQUENT_REGISTRATION)
    assert hop(send) == "127.0.0.32:5060"
    out, queries = h.wait(TIMEOUT + 0.1)
    assert [m for m, _ in parsed(out) if isinstance(m, Response)] == []
    [q] = queries  # TS 29.228 §6.1.1: User-Authorization-Type 2
    assert q.request.get_int("User-Authorization-Type") == AuthType.REGISTRATION_AND_CAPABILITIES
    # The HSS lists the one that failed: it is not tried again.
    caps = {"Mandatory-Capability": [1], "Server-Name": [S2.name]}
    fwd2, send2 = only_request(h.answer(q, uaa(q.request, server_name=None, capabilities=caps)))
    assert hop(send2) == "127.0.0.31:5060"
    fwd3, send3 = only_request(h.reply(fwd2, send2, 503))
    assert hop(send3) == "127.0.0.33:5060"
    assert only_response(h.reply(fwd3, send3, 503)).status == 504


def test_capabilities_answer_naming_the_failed_scscf_again_ends_in_504() -> None:
    h = FailoverHarness()
    fwd, send = h.first_hop(server_name=S2.name)
    h.reply(fwd, send, 503)
    [q] = h.core.queries_to_send()
    r = only_response(h.answer(q, uaa(q.request, server_name=S2.name)))
    assert r.status == 504


def test_a_deregistration_is_not_moved_to_another_scscf() -> None:
    h = FailoverHarness()
    fwd, send = h.first_hop(register(expires="0"), server_name=S2.name)
    r = only_response(h.reply(fwd, send, 503))
    assert r.status == 500  # RFC 3261 §16.7 step 6
    assert h.core.queries_to_send() == []


def test_a_pool_of_one_keeps_timer_f() -> None:
    h = FailoverHarness(pool=(S1,))
    fwd, send = by_capabilities(h)
    out, _ = h.wait(TIMEOUT + 0.5)
    assert [m for m, _ in parsed(out) if isinstance(m, Response)] == []
    assert only_response(h.reply(fwd, send, 503)).status == 500


def test_timeout_zero_waits_for_timer_f() -> None:
    h = FailoverHarness(timeout=0.0)
    by_capabilities(h)
    out, _ = h.wait(10.0)
    assert {hop(s) for s in out} <= {"127.0.0.31:5060"}
    out, _ = h.wait(30.0)  # Timer F (64*T1) fired: the next one is tried
    assert "127.0.0.32:5060" in {hop(s) for s in out}


def test_candidates_are_every_capable_scscf_best_first() -> None:
    pool = ScscfPool((*POOL, ScscfEntry("sip:s4.example.net", "127.0.0.34:5060",
                                        capabilities=(4,))))
    assert pool.candidates(Capabilities(mandatory=(1,), optional=(2,))) == [
        S2.name, S1.name, S3.name]
    assert pool.candidates(Capabilities(mandatory=(1,), server_names=(S3.name,))) == [
        S3.name, S1.name, S2.name]
    assert pool.candidates(Capabilities(mandatory=(9,))) == []
    assert pool.select(Capabilities(mandatory=(1,), optional=(2,))) == S2.name


def test_scscf_timeout_is_checked() -> None:
    assert IcscfConfig().scscf_timeout == 2.0
    with pytest.raises(ConfigError, match="scscf_timeout"):
        IcscfConfig(scscf_timeout=-1)


def test_an_answered_register_leaves_nothing_to_watch() -> None:
    h = FailoverHarness()
    fwd, send = by_capabilities(h)
    assert only_response(h.reply(fwd, send, 200)).status == 200
    assert len(h.core._hop_deadlines) == 0  # the branch and its request are let go at once
    out, _ = h.wait(TIMEOUT + 0.5)
    assert [m for m, _ in parsed(out) if isinstance(m, Request)] == []
