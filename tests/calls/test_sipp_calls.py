"""Calls between SIPp UEs registered with IMS-AKA, through P-CSCF → S-CSCF → I-CSCF (LIR)
→ S-CSCF → P-CSCF (TS 24.229 §5.2.6, §5.3.2, §5.4.3): 200 basic calls over UDP and over
TCP, one call with 183/PRACK/UPDATE (RFC 3262, 3311, 3312), CANCEL (RFC 3261 §9), busy,
480 for a de-registered callee, 404 for an unknown one, 403 for a UE that never
registered, and a MESSAGE (RFC 3428)."""

from __future__ import annotations

import pytest

from .conftest import (
    CALLEE_TCP,
    CALLEE_UDP,
    CALLER_TCP,
    CALLER_UDP,
    DEREGISTERED,
    NEVER,
    UNKNOWN_IMPU,
    CallLab,
    impu,
    imsi,
)

pytestmark = pytest.mark.integration

CALLS = 200
# transport → (caller, callee): the single-call features run over both transports
UES = {"u1": (CALLER_UDP, CALLEE_UDP), "t1": (CALLER_TCP, CALLEE_TCP)}
BOTH = pytest.mark.parametrize("transport", ["u1", "t1"])


@BOTH
def test_200_calls(call_lab: CallLab, transport: str) -> None:
    caller, callee = UES[transport]
    run = call_lab.call("call", impu(callee), transport=transport, caller=caller, calls=CALLS,
                        rate=100, timeout=60)
    run.assert_all_succeeded()


@BOTH
def test_precondition_call_with_prack_and_update(call_lab: CallLab, transport: str) -> None:
    caller, callee = UES[transport]
    run = call_lab.call("precondition", impu(callee), caller=caller, transport=transport)
    run.assert_all_succeeded()
    lines = run.log_lines()
    assert any(line.startswith("183 RSeq: 1000 Require: 100rel") for line in lines), \
        run.detail()  # the 183 reached the caller reliable, untouched
    assert "update 200" in lines and "precondition 200" in lines, run.detail()


@BOTH
def test_cancel_before_answer(call_lab: CallLab, transport: str) -> None:
    caller, callee = UES[transport]
    run = call_lab.call("noanswer", impu(callee), caller=caller, transport=transport)
    run.assert_all_succeeded()
    assert "cancel 200" in run.log_lines() and "final 487" in run.log_lines(), run.detail()


@BOTH
def test_busy_callee_486_is_relayed(call_lab: CallLab, transport: str) -> None:
    caller, callee = UES[transport]
    run = call_lab.call("busy", impu(callee), caller=caller, transport=transport)
    run.assert_all_succeeded()
    assert "final 486" in run.log_lines(), run.detail()


def test_deregistered_callee_480(call_lab: CallLab) -> None:
    lab = call_lab.lab
    sub = imsi(DEREGISTERED)
    reg = lab.ue("register", "--imsi", sub, local_port=16005)
    assert reg.code == 0, reg.output + lab.logs()
    dereg = lab.ue("deregister", "--imsi", sub, local_port=16005)
    assert dereg.code == 0, dereg.output + lab.logs()
    run = call_lab.call("reject", impu(DEREGISTERED))
    run.assert_all_succeeded()
    assert "final 480" in run.log_lines(), run.detail()


def test_unknown_callee_404(call_lab: CallLab) -> None:
    run = call_lab.call("reject", UNKNOWN_IMPU)
    run.assert_all_succeeded()
    assert "final 404" in run.log_lines(), run.detail()


def test_unregistered_caller_403(call_lab: CallLab) -> None:
    run = call_lab.call("reject", impu(CALLEE_UDP), caller=NEVER, mode="noreg")
    run.assert_all_succeeded()
    assert "final 403" in run.log_lines(), run.detail()


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_message_reaches_the_callee(call_lab: CallLab, transport: str) -> None:
    caller, callee = UES[transport]
    side = "udp" if transport == "u1" else "tcp"
    log = call_lab.workdir / f"callee_{side}_logs.log"
    before = log.read_text(errors="replace").count("MESSAGE received")
    run = call_lab.call("message", impu(callee), caller=caller, transport=transport)
    run.assert_all_succeeded()
    assert "message 200" in run.log_lines(), run.detail()
    text = log.read_text(errors="replace")
    assert text.count("MESSAGE received") == before + 1, \
        text[-2000:] + call_lab.callees[side].output()


@BOTH
def test_call_to_the_tel_uri_of_the_callee(call_lab: CallLab, transport: str) -> None:
    """The callee's tel:+MSISDN is in its implicit set: LIR and the S-CSCF's binding
    lookup find it (TS 24.229 §5.4.3.3)."""
    caller, callee = UES[transport]
    msisdn = call_lab.csv[callee].read_text().splitlines()[1].split(";")[1]
    run = call_lab.call("call", f"tel:+{msisdn}", caller=caller, transport=transport)
    run.assert_all_succeeded()
