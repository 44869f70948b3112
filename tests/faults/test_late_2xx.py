"""A 2xx retransmission that reaches the S-CSCF after the call's BYE (UDP reorders them:
the callee retransmits its 200 until the ACK comes, RFC 3261 §13.3.1.4, and a proxy
passes each one on in the Accepted state, RFC 6026 §8.4) must not count the call again.

Found by test_lossy.py (about one run in five left ``ims_calls_active`` at 1 with every
call over); pinned here on the tracker alone, deterministically.
"""

from __future__ import annotations

from ims_core.scscf.calls import CallTracker
from ims_core.sip import Message, parse_message

HEAD = ("Via: SIP/2.0/UDP 127.0.0.181:5060;branch=z9hG4bK{b}\r\n"
        "From: <sip:a@ims.example>;tag=caller\r\nTo: <sip:b@ims.example>;tag=callee\r\n"
        "Call-ID: late-2xx@127.0.0.189\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n")


def message(start: str, cseq: str, branch: str) -> Message:
    return parse_message((start + "\r\n" + HEAD.format(b=branch, cseq=cseq)).encode())


def test_a_late_2xx_retransmission_does_not_revive_an_ended_call() -> None:
    calls = CallTracker()
    ok = message("SIP/2.0 200 OK", "1 INVITE", "inv")
    calls.answered(ok, now=0.0)
    assert len(calls) == 1
    calls.ended(message("BYE sip:b@127.0.0.189:5070 SIP/2.0", "2 BYE", "bye"))
    assert len(calls) == 0
    calls.answered(ok, now=0.0)  # the callee's retransmitted 200, overtaken by the BYE
    assert len(calls) == 0
