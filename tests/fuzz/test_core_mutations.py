"""Recorded requests, mutated, through the three CSCF cores (sans-I/O, with the real Cx
handlers behind the S-CSCF): whatever a peer sends, nothing escapes a core, no core logs
a fault of its own (a request it failed, a Cx answer it could not handle, a request left
without an answer), and all it sends is SIP that parses. Deterministic: seeded mutations,
a thousand per seed message and core."""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from ims_core.proxy import ProxyCore, Send
from ims_core.sip import SipParseError, parse_message
from ims_core.sip.inbound import Answer, Deliver, receive, reject
from tests.icscf import util as icscf
from tests.pcscf import messages as pcscf
from tests.scscf import helpers as scscf

PER_SEED = 1000
INSERTS = (b"\r\n", b":", b";", b",", b"<", b">", b'"', b"=", b"@", b"%", b"%d1", b" ",
           b"\x00", b"\xd1", b"\xff", b"\xe2\x82", b"\r\nVia: x", b"\r\nTo: <sip:@>")
FAULTS = frozenset({"proxy.request_failed", "cscf.cx_callback_failed",
                    "cscf.request_left_open", "proxy.request_left_open"})


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        pos = rng.randrange(len(out))
        op = rng.random()
        if op < 0.3:
            out[pos] = rng.randrange(256)
        elif op < 0.5:
            del out[pos:pos + rng.randint(1, 16)]
        else:
            out[pos:pos] = rng.choice(INSERTS)
    return bytes(out)


class Core:
    """One core, how to hand it a request and collect what it sends (its Cx queries
    answered at once)."""

    def __init__(self, core: ProxyCore[Any], pump: Callable[[], list[Send]],
                 now: Callable[[], float]) -> None:
        self.core, self.pump, self.now = core, pump, now
        self.delivered = 0  # inputs that got past the parser to the core

    def feed(self, data: bytes) -> list[bytes]:
        """What goes out for *data*, as the transport would send it (a SipParseError
        from the core is the transport's to answer, as SipTransport does)."""
        verdict = receive(data, "UDP", "192.0.2.99", 5099)
        if not isinstance(verdict, Deliver):
            return [verdict.data] if isinstance(verdict, Answer) else []
        self.delivered += 1
        try:
            self.core.receive(verdict.message, verdict.source, self.now())
        except SipParseError as exc:
            answer = reject(exc, verdict.message, verdict.source)
            return [answer.data] if isinstance(answer, Answer) else []
        return [send.data for send in self.pump()]


def scscf_core(tmp_path: Path) -> Generator[tuple[Core, list[bytes]], None, None]:
    h = scscf.Harness(tmp_path)
    ue = scscf.Ue()
    first = ue.register(authorization=ue.empty_authorization())
    [r401] = h.rx(first)
    seeds = [first.to_bytes(), ue.register(authorization=ue.answer(scscf.challenge_of(r401)))
             .to_bytes(), ue.register(authorization=ue.empty_authorization(), expires=0)
             .to_bytes()]
    try:
        yield Core(h.core, h._pump, lambda: h.now), seeds
    finally:
        h.close()


def icscf_core(tmp_path: Path) -> Generator[tuple[Core, list[bytes]], None, None]:
    h = icscf.Harness()

    def pump() -> list[Send]:
        out = h.core.data_to_send()
        for q in h.core.queries_to_send():
            h.core.answer_query(q, icscf.uaa(q.request), h.now)
            out += h.core.data_to_send()
        return out

    invite = icscf.register().to_bytes().replace(b"REGISTER", b"INVITE")
    yield Core(h.core, pump, lambda: h.now), [icscf.register().to_bytes(), invite]


def pcscf_core(tmp_path: Path) -> Generator[tuple[Core, list[bytes]], None, None]:
    h = pcscf.Harness()
    h.register()
    seeds = [pcscf.register(call_id="fuzz@ue").to_bytes(), pcscf.request().to_bytes(),
             pcscf.request("INVITE", call_id="inv@ue").to_bytes()]
    yield Core(h.core, h.core.data_to_send, lambda: h.now), seeds


@pytest.mark.parametrize("make", [pcscf_core, icscf_core, scscf_core],
                         ids=["pcscf", "icscf", "scscf"])
def test_mutated_requests_never_make_a_core_fail(make: Callable[
        [Path], Generator[tuple[Core, list[bytes]], None, None]], tmp_path: Path) -> None:
    rng = random.Random(20261207)
    gen = make(tmp_path)
    core, seeds = next(gen)
    try:
        fed = 0
        with capture_logs() as logs:
            for seed in seeds:
                for _ in range(PER_SEED):
                    sent = core.feed(mutate(seed, rng))
                    fed += 1
                    for data in sent:
                        parse_message(data)  # what we send is SIP
        faults = [e for e in logs if e.get("event") in FAULTS]
        assert faults == [], faults[:3]
        assert core.delivered > fed // 4  # the mutations reach the core, not only the parser
    finally:
        gen.close()
