"""config/sipp/subscribe_reg.xml run by SIPp 3.6.1 (127.0.0.78) against a fake P-CSCF
(127.0.0.77) that registers with IMS-AKA and answers the SUBSCRIBE: the scenario's
SUBSCRIBE is what TS 24.229 §5.1.1.3 asks for, and it passes whichever of the 200 and
the first NOTIFY comes first (RFC 6665 §4.1.2.4), answering the NOTIFY 200."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from hss.provision import demo_subscribers, sipp_keyword
from tests.integration.conftest import require_tools, run_sipp
from tests.sipnet import tcp_peer, udp_peer

from .beside import served
from .notifier import FakePcscf
from .registrar import DOMAIN, demo_registrar

pytestmark = pytest.mark.integration

IMSI = "001010000000009"
IMPU = f"sip:{IMSI}@{DOMAIN}"
PCSCF_HOST, SIPP_HOST = "127.0.0.77", "127.0.0.78"
SCENARIO = Path(__file__).resolve().parents[2] / "config" / "sipp" / "subscribe_reg.xml"


def _run(tmp_path: Path, transport: str, notify_first: bool) -> tuple[FakePcscf, int, str]:
    registrar = demo_registrar(IMSI)
    registrar.avoid_res_zero_octet = True
    pcscf = FakePcscf(registrar, IMPU, notify_first=notify_first)
    (sub,) = demo_subscribers(1, DOMAIN, first=IMSI)
    keyword = sipp_keyword(sub)
    assert keyword is not None
    users = tmp_path / "users.csv"
    users.write_text(f"SEQUENTIAL\n{IMSI};;{keyword}\n")
    closers: list[Callable[[], object]] = []

    async def start() -> int:
        if transport == "u1":
            udp, port = await udp_peer(pcscf.handle, PCSCF_HOST)
            closers.append(udp.close)
            return port
        peer = await tcp_peer(pcscf.handle, PCSCF_HOST)
        closers.append(peer.close)
        return peer.port

    async def stop() -> None:
        result = closers[0]()
        if asyncio.iscoroutine(result):
            await result

    with served(start, stop) as port:
        result = run_sipp(tmp_path, "subscribe_reg", [
            "sipp", f"{PCSCF_HOST}:{port}", "-sf", str(SCENARIO), "-inf", str(users),
            "-i", SIPP_HOST, "-t", transport, "-m", "1", "-nostdin", "-timeout", "10s",
            "-timeout_error", "-recv_timeout", "5000", "-trace_err",
            "-error_file", str(tmp_path / "errors.log")], timeout=30)
    errors = tmp_path / "errors.log"
    detail = (f"exit {result.returncode}, stats {result.stats}\n{result.screen[-2000:]}\n"
              f"{errors.read_text(errors='replace')[-2000:] if errors.exists() else ''}")
    assert result.returncode == 0 and result.successful == 1, detail
    return pcscf, port, detail


@pytest.mark.parametrize(("transport", "notify_first"), [
    ("u1", False), ("u1", True), ("t1", False), ("t1", True)])
def test_scenario_registers_subscribes_and_answers_the_notify(
        tmp_path: Path, transport: str, notify_first: bool) -> None:
    require_tools("sipp")
    pcscf, port, detail = _run(tmp_path, transport, notify_first)
    sub = pcscf.subscribes[0]
    assert sub.uri_text == IMPU and str(sub.to_addr.uri) == IMPU and sub.to_tag is None
    assert sub.from_tag and sub.from_tag != pcscf.registrar.seen[0].from_tag
    tp = "UDP" if transport == "u1" else "TCP"
    assert sub.headers.values("route") == [f"<sip:{PCSCF_HOST}:{port};lr;transport={tp}>",
                                           "<sip:orig@127.0.0.3:5060;lr>"], detail
    assert sub.headers.get("event") == "reg" and sub.headers.get("expires") == "600000"
    assert sub.headers.get("accept") == "application/reginfo+xml"
    assert "authorization" not in sub.headers
    (answer,) = pcscf.answers
    assert answer.status == 200, detail
    assert (answer.cseq.seq, answer.cseq.method) == (1, "NOTIFY")
    assert [v.branch for v in answer.vias()] == ["z9hG4bKpcscf1", "z9hG4bKscscf1"], detail
    assert answer.from_tag == pcscf.notifier.tag and answer.to_tag == sub.from_tag
    assert answer.call_id == sub.call_id
