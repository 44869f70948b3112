"""While a request waits on the HSS: its typed state, the deadline the core keeps, and
the answer every held request gets (TS 24.229 §5.3.1.2, §5.3.2.1; RFC 3326 Reason)."""

from __future__ import annotations

import pytest

from ims_core.diameter import CxResult
from ims_core.icscf import IcscfRequest, UarFields
from ims_core.sip import Request

from .test_lir import invite
from .util import IMPI, IMPU, Harness, only_request, only_response, register, uaa


def test_a_register_keeps_its_uar_fields_in_typed_state() -> None:
    h = Harness()
    [q], _ = h.rx(register())
    assert q.ctx is not None  # the core answers it whatever happens to the UAR
    state = q.ctx.state
    assert isinstance(state, IcscfRequest)
    assert isinstance(state.uar, UarFields)
    assert (state.uar.impi, state.uar.impu, state.lir_impu) == (IMPI, IMPU, None)


def test_an_initial_request_keeps_the_lir_identity_in_typed_state() -> None:
    h = Harness()
    [q], _ = h.rx(invite())
    assert q.ctx is not None
    assert (q.ctx.state.uar, q.ctx.state.lir_impu) == (None, IMPU)


@pytest.mark.parametrize(("status", "phrase"), [(480, "Temporarily Unavailable"),
                                                (504, "Server Time-out")])
def test_the_core_times_the_uar_out_with_the_configured_status(status: int, phrase: str) -> None:
    h = Harness(hss_failure_status=status, uar_timeout=1.5)
    [q], _ = h.rx(register())
    assert q.timeout == 1.5 and q.deadline == pytest.approx(h.now + 1.5)
    assert h.core.get_timer() == pytest.approx(q.deadline)
    h.core.handle_timer(q.deadline)
    r = only_response(h.core.data_to_send())
    assert (r.status, r.reason) == (status, phrase)
    assert r.headers.get("reason") == f'SIP;cause={status};text="HSS timeout: no UAA in time"'
    # The UAA that comes after all is dropped: one final response only.
    assert h.answer(q, uaa(q.request)) == []
    assert h.core.open_queries == 0


def test_the_core_times_the_lir_out_with_504() -> None:
    h = Harness(uar_timeout=0.5)
    [q], _ = h.rx(invite())
    h.core.handle_timer(q.deadline)
    sends = [s for s in h.core.data_to_send() if b" 100 " not in s.data[:20]]
    r = only_response(sends)
    assert (r.status, r.reason) == (504, "Server Time-out")
    assert "HSS timeout: no LIA in time" in (r.headers.get("reason") or "")


def test_without_a_timeout_the_diameter_request_timeout_applies() -> None:
    h = Harness()
    [q], _ = h.rx(register())
    assert h.core.diameter is not None
    assert q.timeout == h.core.diameter.request_timeout


def test_a_decision_that_fails_is_answered_500_with_reason() -> None:
    h = Harness()
    [q], _ = h.rx(register())
    h.core.pool.resolve = None  # type: ignore[assignment, method-assign]  # a bug
    r = only_response(h.answer(q, uaa(q.request)))
    assert r.status == 500
    assert "cause=500" in (r.headers.get("reason") or "")


def test_selection_failures_say_why() -> None:
    h = Harness()
    [q], _ = h.rx(register())
    r = only_response(h.answer(q, uaa(q.request, server_name="sip:scscf.elsewhere.net")))
    assert (r.status, r.reason) == (500, "Server Internal Error - S-CSCF Not Resolvable")
    assert "no address" in (r.headers.get("reason") or "")
    h = Harness()
    [q], _ = h.rx(register())
    r = only_response(h.answer(q, uaa(q.request, server_name=None,
                                      capabilities={"Mandatory-Capability": [99]})))
    assert r.status == 500 and "mandatory capabilities" in (r.headers.get("reason") or "")


def test_a_success_without_server_or_capabilities() -> None:
    h = Harness()
    [q], _ = h.rx(register())
    r = only_response(h.answer(q, uaa(q.request, server_name=None)))
    assert (r.status, r.reason) == (500, "Server Internal Error - No S-CSCF In UAA")
    h = Harness()
    [q], _ = h.rx(invite())
    r = only_response(h.answer(q, uaa(q.request, experimental=CxResult.UNREGISTERED_SERVICE,
                                      server_name=None)))
    assert (r.status, r.reason) == (480, "Temporarily Unavailable")
    assert "cause=480" in (r.headers.get("reason") or "")


def test_many_registers_wait_side_by_side() -> None:
    h = Harness()
    pending = []
    for i in range(3):
        [q], _ = h.rx(register(branch=f"z9hG4bKw{i}", call_id=f"w{i}"))
        pending.append(q)
    assert h.core.open_queries == 3
    for q in reversed(pending):  # answers in any order reach their own REGISTER
        fwd, _ = only_request(h.answer(q, uaa(q.request)))
        assert isinstance(fwd, Request)
        assert q.ctx is not None
        assert fwd.headers.get("call-id") == q.ctx.request.headers.get("call-id")
    assert h.core.open_queries == 0
