"""Every request waiting on the HSS gets its final response, through the one mechanism
of CscfCore: the core's own Cx deadline, a failing callback, a callback that decides
nothing, a late answer, a request answered meanwhile. Driven sans-I/O with a fake
clock. Then the Cx result → SIP table (cxresult) for the four procedures."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from ims_core.cscf import (
    DOMAIN,
    CscfCore,
    CxOutcome,
    DiameterClient,
    DiameterQuery,
    Procedure,
    verdict,
)
from ims_core.diameter import (
    CxResult,
    DiameterTimeout,
    DiameterUnavailable,
    Message,
    ResultCode,
    make_answer,
)
from ims_core.proxy import ProxyConfig, RequestContext, Target
from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Source
from ims_core.sip.inbound import request_source
from tests.sipmsg import build_request, parse_request, responses

UE = ("10.0.0.1", 5060)
Callback = Callable[["Node", RequestContext[None], CxOutcome, float], None]


def register(call_id: str = "c1", method: str = "REGISTER") -> Request:
    via = f"SIP/2.0/UDP {UE[0]}:{UE[1]};rport;branch=z9hG4bK{call_id}"
    return build_request(
        method, f"sip:{DOMAIN}", vias=[via],
        from_=f"<sip:u@{DOMAIN}>;tag=1", to=f"<sip:u@{DOMAIN}>", call_id=call_id,
        headers=["Contact: <sip:u@10.0.0.1>"])


def source(req: Request) -> Source:
    return request_source(req, "UDP", *UE)


def answer_to(query: DiameterQuery) -> Message:
    return make_answer(query.request, ResultCode.SUCCESS, origin_host="hss", origin_realm=DOMAIN)


class Node(CscfCore[None]):
    """Asks one UAR per request; what it does with the answer is the test's `callback`."""

    def __init__(self, callback: Callback, timeout: float = 2.0) -> None:
        super().__init__(ProxyConfig(host="127.0.0.9", port=5060),
                         DiameterClient(origin_host=f"node.{DOMAIN}",
                                        request_timeout=timeout))
        self.callback = callback
        self.calls = 0

    def route_request(self, ctx: RequestContext[None]
                      ) -> Target | Sequence[Target] | Response | None:
        uar = self.cx_request("UAR", [("User-Name", f"u@{DOMAIN}")])

        def done(outcome: CxOutcome, now: float) -> None:
            self.calls += 1
            self.callback(self, ctx, outcome, now)

        self.query(uar, done, ctx=ctx, now=ctx.created)
        return None

    def run(self, req: Request, now: float = 0.0) -> DiameterQuery:
        self.receive(req, source(req), now)
        [query] = self.queries_to_send()
        return query

    def finals(self) -> list[Response]:
        return [r for r in responses(self.data_to_send()) if r.status >= 200]


def answer_200(node: Node, ctx: RequestContext[None], outcome: CxOutcome, now: float) -> None:
    if isinstance(outcome, Message):
        node.respond(ctx, 200, now)
    else:
        node.respond(ctx, node.cx_failure(ctx, verdict(outcome, Procedure.UAR), 480), now)


def test_an_answered_query_is_delivered_once() -> None:
    node = Node(answer_200)
    q = node.run(register())
    assert node.open_queries == 1 and node.get_timer() == 2.0
    node.answer_query(q, answer_to(q), 0.1)
    node.answer_query(q, answer_to(q), 0.2)  # a duplicate changes nothing
    assert node.calls == 1 and [r.status for r in node.finals()] == [200]
    assert node.open_queries == 0


def test_the_core_times_out_a_query_the_hss_never_answers() -> None:
    node = Node(answer_200, timeout=1.5)
    q = node.run(register(), now=10.0)
    assert node.get_timer() == 11.5
    node.handle_timer(11.4)
    assert node.finals() == []
    node.handle_timer(11.5)
    [response] = node.finals()
    assert response.status == 480
    assert "HSS timeout" in (response.headers.get("reason") or "")
    node.answer_query(q, answer_to(q), 12.0)  # the late answer is dropped
    assert node.calls == 1 and node.finals() == [] and node.open_queries == 0


def test_an_unreachable_hss_is_answered_with_the_nodes_status() -> None:
    node = Node(answer_200)
    q = node.run(register())
    node.answer_query(q, DiameterUnavailable("no open peer"), 0.0)
    [response] = node.finals()
    assert response.status == 480
    assert response.headers.get("reason") == 'SIP;cause=480;text="HSS unreachable: no open peer"'


def test_a_callback_that_raises_answers_500_with_a_reason() -> None:
    def broken(node: Node, ctx: RequestContext[None], outcome: CxOutcome, now: float) -> None:
        raise RuntimeError("bug")

    node = Node(broken)
    q = node.run(register())
    node.answer_query(q, answer_to(q), 0.1)
    [response] = node.finals()
    assert response.status == 500 and "cause=500" in (response.headers.get("reason") or "")
    # The node goes on serving.
    node.callback = answer_200
    q2 = node.run(register("c2"))
    node.answer_query(q2, answer_to(q2), 0.2)
    assert [r.status for r in node.finals()] == [200]


def test_a_request_with_a_malformed_to_still_gets_its_answer_after_the_hss() -> None:
    # To is parsed only when a response needs our tag: here, after the UAA. The answer
    # goes without the tag rather than not at all.
    node = Node(answer_200)
    req = parse_message(register("c3").to_bytes().replace(
        f"To: <sip:u@{DOMAIN}>".encode(), f"To: <sip:u@{DOMAIN}>x>".encode()))
    q = node.run(req)
    node.answer_query(q, answer_to(q), 0.1)
    [response] = node.finals()
    assert response.status == 200 and "tag=" not in (response.headers.get("to") or "tag=")


def test_a_callback_that_decides_nothing_still_gets_the_request_answered() -> None:
    def silent(node: Node, ctx: RequestContext[None], outcome: CxOutcome, now: float) -> None:
        return None

    node = Node(silent)
    q = node.run(register())
    node.answer_query(q, DiameterTimeout(), 0.1)
    [response] = node.finals()
    assert response.status == 500
    assert "no decision after the UAR" in (response.headers.get("reason") or "")


def test_a_follow_up_query_keeps_the_request_waiting() -> None:
    def ask_again(node: Node, ctx: RequestContext[None], outcome: CxOutcome, now: float) -> None:
        if node.calls == 1:
            node.query(node.cx_request("UAR", [("User-Name", "x")]),
                       lambda o, t: answer_200(node, ctx, o, t), ctx=ctx, now=now)

    node = Node(ask_again)
    q = node.run(register())
    node.answer_query(q, answer_to(q), 0.1)
    assert node.finals() == []
    [q2] = node.queries_to_send()
    node.answer_query(q2, answer_to(q2), 0.2)
    assert [r.status for r in node.finals()] == [200]


def test_a_request_answered_meanwhile_does_not_reach_the_callback() -> None:
    node = Node(answer_200)
    invite = register("inv", "INVITE")
    q = node.run(invite)
    node.data_to_send()
    cancel = parse_request(invite.to_bytes().replace(b"INVITE sip", b"CANCEL sip")
                           .replace(b"1 INVITE", b"1 CANCEL"))
    node.receive(cancel, source(cancel), 0.1)
    assert sorted(r.status for r in node.finals()) == [200, 487]  # CANCEL's 200, INVITE's 487
    node.answer_query(q, answer_to(q), 0.2)
    assert node.calls == 0 and node.finals() == []


def test_no_query_is_left_behind_in_the_timer() -> None:
    node = Node(answer_200)
    for i in range(50):
        q = node.run(register(f"r{i}"), now=float(i))
        node.answer_query(q, answer_to(q), float(i))
    node.finals()
    # Only the transactions' own timers remain: no Cx deadline of an answered query.
    assert node.get_timer() == node.table.get_timer()
    assert node.open_queries == 0


# -- the Cx result table ---------------------------------------------------------------------


def cx_answer(*, rc: int | None = None, exp: int | None = None) -> Message:
    node = Node(answer_200)
    req = node.cx_request("UAR", [("User-Name", "u")])
    return make_answer(req, rc, experimental=exp, origin_host="hss", origin_realm=DOMAIN)


@pytest.mark.parametrize(("procedure", "rc", "exp", "ok", "status", "no_answer"), [
    (Procedure.UAR, None, CxResult.FIRST_REGISTRATION, True, 0, False),
    (Procedure.UAR, ResultCode.SUCCESS, None, True, 0, False),
    (Procedure.UAR, None, CxResult.ERROR_USER_UNKNOWN, False, 403, False),
    (Procedure.UAR, None, CxResult.ERROR_ROAMING_NOT_ALLOWED, False, 403, False),
    (Procedure.UAR, None, CxResult.ERROR_TOO_MUCH_DATA, False, 403, False),
    (Procedure.UAR, ResultCode.AUTHORIZATION_REJECTED, None, False, 403, False),
    (Procedure.UAR, ResultCode.UNABLE_TO_DELIVER, None, False, 504, True),
    (Procedure.UAR, ResultCode.UNABLE_TO_COMPLY, None, False, 500, False),
    (Procedure.LIR, None, CxResult.ERROR_USER_UNKNOWN, False, 404, False),
    (Procedure.LIR, None, CxResult.ERROR_IDENTITY_NOT_REGISTERED, False, 480, False),
    (Procedure.LIR, None, CxResult.ERROR_TOO_MUCH_DATA, False, 500, False),
    (Procedure.LIR, ResultCode.AUTHORIZATION_REJECTED, None, False, 404, False),
    (Procedure.LIR, ResultCode.TOO_BUSY, None, False, 504, True),
    (Procedure.MAR, None, CxResult.ERROR_AUTH_SCHEME_NOT_SUPPORTED, False, 403, False),
    (Procedure.MAR, ResultCode.AUTHENTICATION_REJECTED, None, False, 403, False),
    (Procedure.MAR, None, CxResult.ERROR_TOO_MUCH_DATA, False, 500, False),
    (Procedure.SAR, None, CxResult.ERROR_IN_ASSIGNMENT_TYPE, False, 403, False),
    (Procedure.SAR, ResultCode.UNABLE_TO_DELIVER, None, False, 504, True),
])
def test_verdicts(procedure: Procedure, rc: int | None, exp: int | None, ok: bool, status: int,
                  no_answer: bool) -> None:
    v = verdict(cx_answer(rc=rc, exp=exp), procedure)
    assert (v.ok, v.status if not ok else 0, v.no_answer) == (ok, status, no_answer)


@pytest.mark.parametrize("error", [DiameterTimeout(), DiameterUnavailable("down"),
                                   ValueError("codec")])
def test_no_answer_verdicts(error: Exception) -> None:
    for procedure in Procedure:
        v = verdict(error, procedure)
        assert not v.ok and v.no_answer and v.text


def test_an_answer_without_a_result_is_a_500() -> None:
    node = Node(answer_200)
    req = node.cx_request("UAR", [("User-Name", "u")])
    bare = make_answer(req, None, origin_host="hss", origin_realm=DOMAIN)
    v = verdict(bare, Procedure.UAR)
    assert (v.ok, v.status, v.no_answer) == (False, 500, False)
