"""SIPp 3.6.1 registers 200 demo subscribers with IMS-AKA through the P-CSCF over UDP and
200 others over TCP; every one gets its 200 OK (HSS with avoid_res_zero_octet)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import run_sipp

from .conftest import P_HOST, SCENARIOS, SIP_PORT, SIPP_HOST, SIPP_TCP, SIPP_UDP, Lab

pytestmark = pytest.mark.integration

RATE = "100"  # registrations per second: 2 s of traffic per run


@pytest.mark.parametrize(("transport", "csv", "count", "port"), [
    ("u1", "sipp_udp.csv", len(SIPP_UDP), 15160),
    ("t1", "sipp_tcp.csv", len(SIPP_TCP), 15161),
])
def test_sipp_aka_registrations(lab: Lab, transport: str, csv: str, count: int,
                                port: int) -> None:
    name = f"sipp_{transport}"
    argv = [
        "sipp", f"{P_HOST}:{SIP_PORT}", "-sf", str(SCENARIOS / "register_aka.xml"),
        "-inf", str(lab.workdir / csv), "-i", SIPP_HOST, "-p", str(port), "-t", transport,
        "-m", str(count), "-r", RATE, "-l", "200", "-nostdin",
        "-timeout", "60s", "-timeout_error", "-recv_timeout", "10000",
        "-trace_err", "-error_file", str(lab.workdir / f"{name}_errors.log"),
    ]  # bounded: -m registrations, -timeout overall, and run_sipp's subprocess timeout
    result = run_sipp(lab.workdir, name, argv, timeout=90)
    errors = lab.workdir / f"{name}_errors.log"
    detail = (f"exit {result.returncode}, stats {result.stats}\n{result.screen[-3000:]}\n"
              f"{errors.read_text(errors='replace')[-3000:] if errors.exists() else ''}\n"
              f"{lab.logs()}")
    assert result.returncode == 0, detail
    assert result.successful == count, detail
    assert result.failed == 0, detail
