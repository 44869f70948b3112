"""The reg event and the HSS-initiated Cx procedures on the wire: one subscriber
registers, the P-CSCF and the UE subscribe, the operator changes the profile (PPR) and
de-registers it (RTR); tshark decodes RTR/RTA and PPR/PPA as Cx and the NOTIFY bodies as
reginfo XML, with nothing malformed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Capture, Processes, require_tools, tshark

from .conftest import DOMAIN, HSS_HOST, I_HOST, P_HOST, S_HOST, UE_HOST, Lab, imsi
from .rawue import RegSubscription
from .test_capture import DECODE, EXPERT
from .test_regevent import register

pytestmark = pytest.mark.integration

SUB = 440  # a subscriber no other test uses (tests/ims/test_regevent.py stops at 439)


@pytest.fixture(scope="module")
def captured(lab: Lab) -> Iterator[Path]:
    require_tools("dumpcap", "tshark")
    path = lab.workdir / "regevent.pcapng"
    procs = Processes(lab.workdir)
    hss = str(lab.configs["hss"])
    try:
        cap = Capture(procs, path, " or ".join(
            f"host {h}" for h in (P_HOST, I_HOST, S_HOST, HSS_HOST, UE_HOST)))
        ue = register(lab, SUB)
        try:
            sub = RegSubscription(ue)
            ok = ue.response_to(sub.subscribe())
            assert ok.status == 200, ok
            sub.notify()
            out = lab.ims_core("subscriber", "-c", hss, "update", imsi(SUB), "--add-impu",
                               f"sip:cap-{imsi(SUB)}@{DOMAIN}")
            assert out.returncode == 0, out.stdout + out.stderr
            sub.notify()
            out = lab.ims_core("subscriber", "-c", hss, "deregister", imsi(SUB))
            assert out.returncode == 0, out.stdout + out.stderr
            sub.notify()
        finally:
            ue.close()
        cap.stop()
    finally:
        procs.stop_all()
    yield path


def fields(path: Path, display: str, *names: str) -> list[list[str]]:
    args = [a for n in names for a in ("-e", n)]
    out = tshark("-r", str(path), *DECODE, "-Y", display, "-T", "fields", *args)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines() if line.strip()]


def test_tshark_decodes_everything_cleanly(captured: Path) -> None:
    bad = tshark("-r", str(captured), *DECODE, "-Y", EXPERT)
    assert bad.returncode == 0, bad.stderr
    assert bad.stdout.strip() == "", bad.stdout[:3000]


@pytest.mark.parametrize("code, request_name, answer_name", [
    (304, "Registration-Termination Request", "Registration-Termination Answer"),
    (305, "Push-Profile Request", "Push-Profile Answer"),
])
def test_rtr_and_ppr_decode_as_cx(captured: Path, code: int, request_name: str,
                                  answer_name: str) -> None:
    rows = fields(captured, f"diameter.cmd.code == {code}", "ip.src", "ip.dst",
                  "diameter.flags.request", "diameter.applicationId", "diameter.Result-Code")
    requests = [r for r in rows if r[2] in ("1", "True")]
    answers = [r for r in rows if r[2] in ("0", "False")]
    assert requests and answers, rows
    # From the HSS over the connection the S-CSCF opened (whose source address the
    # kernel picks), on the Cx application; answered 2001.
    assert all(r[0] == HSS_HOST and r[3] == "16777216" for r in requests), requests
    assert all(r[1] == HSS_HOST and r[4] == "2001" for r in answers), answers
    info = tshark("-r", str(captured), *DECODE, "-Y", f"diameter.cmd.code == {code}")
    assert request_name in info.stdout and answer_name in info.stdout, info.stdout


def test_notify_bodies_decode_as_reginfo_xml(captured: Path) -> None:
    """Wireshark's reginfo DTD reads every NOTIFY body: versions 0, 1, 2 (full state,
    after the PPR, after the RTR), the last with every registration terminated and
    every contact ``rejected`` (TS 24.229 §5.4.1.5, RTR PERMANENT_TERMINATION)."""
    rows = fields(captured, 'sip.Method == "NOTIFY" && reginfo', "ip.src", "ip.dst",
                  "reginfo.version", "reginfo.registration.state",
                  "reginfo.registration.contact.event")
    notifies = fields(captured, 'sip.Method == "NOTIFY"', "frame.number")
    assert rows and len(rows) == len(notifies), (rows, notifies)
    pairs = {(r[0], r[1]) for r in rows}
    assert (S_HOST, P_HOST) in pairs and (P_HOST, UE_HOST) in pairs, pairs
    to_ue = [r for r in rows if r[1] == UE_HOST]
    assert [r[2] for r in to_ue] == ["0", "1", "2"], to_ue
    assert set(to_ue[0][3].split(",")) == {"active"}
    assert set(to_ue[-1][3].split(",")) == {"terminated"}
    assert set(to_ue[-1][4].split(",")) == {"rejected"}


def test_the_pcscf_subscribed_along_the_service_route(captured: Path) -> None:
    rows = fields(captured, 'sip.Method == "SUBSCRIBE"', "ip.src", "ip.dst", "sip.Event")
    assert (P_HOST, S_HOST, "reg") in {tuple(r) for r in rows}, rows
