"""The asyncio UE client and ``ims-core ue`` over loopback UDP and TCP against the fake
registrar (in-process asyncio servers); retransmissions and timeouts are in test_flow."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from ims_core import auth
from ims_core.sip import parse_message
from ims_core.ue import cli as ue_cli
from ims_core.ue.cli import register_once
from ims_core.ue.client import Flow, send_request, timers_for
from ims_core.ue.messages import message
from ims_core.ue.profile import DEMO_OP, UeProfile, demo_k, demo_profile

from .beside import served
from .registrar import DOMAIN, FakeRegistrar, Sub, demo_registrar, serve_tcp, serve_udp

IMSI = "001010000000002"


def _registrar() -> FakeRegistrar:
    return demo_registrar(IMSI)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_over_transport(transport: str) -> None:
    reg = _registrar()
    if transport == "udp":
        udp, port = await serve_udp(reg)
    else:
        tcp, port = await serve_tcp(reg)
    try:
        out = await register_once(demo_profile(IMSI), ("127.0.0.1", port), transport,
                                  expires=120, timers=timers_for(5))
    finally:
        if transport == "udp":
            udp.close()
        else:
            tcp.close()
            await tcp.wait_closed()
    assert out.ok and out.contact_expires == 120, out
    via = reg.seen[0].top_via()
    assert via.transport.upper() == transport.upper()
    if transport == "tcp":
        assert reg.seen[0].contacts()[0].uri.param("transport") == "tcp"  # type: ignore[union-attr]


async def test_send_message_gets_final_response() -> None:
    reg = _registrar()
    udp, port = await serve_udp(reg)
    flow = await Flow.open("udp", ("127.0.0.1", port), timers=timers_for(5))
    try:
        assert flow.local is not None
        req = message(demo_profile(IMSI), flow.local, f"sip:{IMSI}@{DOMAIN}", "hi",
                      route=["<sip:orig@127.0.0.3:5060;lr>"])
        parsed = parse_message(req.to_bytes())
        assert parsed.body == b"hi" and parsed.headers.get("route")
        resp = await send_request(flow, req)
    finally:
        await flow.close()
        udp.close()
    assert resp is not None and resp.status == 403  # the fake registrar knows no MESSAGE


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``ims-core ue ...`` through the subcommand's own parser."""
    parser = argparse.ArgumentParser(prog="ims-core")
    sub = parser.add_subparsers(dest="command")
    ue_cli.register(sub)
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def _run_cli_against(reg: FakeRegistrar, argv: list[str],
                     capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Serve ``reg`` on UDP beside the command (PORT in ``argv`` is its port)."""
    udp: list[asyncio.DatagramTransport] = []

    async def start() -> int:
        transport, port = await serve_udp(reg)
        udp.append(transport)
        return port

    async def stop() -> None:
        udp[0].close()

    with served(start, stop) as port:
        return _cli([a.replace("PORT", str(port)) for a in argv], capsys)


def test_cli_register_prints_the_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run_cli_against(_registrar(), [
        "ue", "register", "--pcscf", "127.0.0.1:PORT", "--imsi", IMSI, "--expires", "90",
        "--timeout", "5"], capsys)
    assert code == 0, out
    assert "status: 200 OK" in out and "Service-Route: <sip:orig@127.0.0.3:5060;lr>" in out
    assert f"P-Associated-URI: <sip:{IMSI}@{DOMAIN}>" in out and "expires: 90" in out


def test_cli_resync_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run_cli_against(_registrar(), [
        "ue", "register", "--pcscf", "127.0.0.1:PORT", "--imsi", IMSI, "--sqn-ms",
        "ffffffffff00", "--json", "--timeout", "5"], capsys)
    data = json.loads(out)
    assert code == 0 and data["status"] == 200 and data["resynced"] is True


def test_cli_explicit_keys_and_deregister(capsys: pytest.CaptureFixture[str]) -> None:
    reg = _registrar()
    k = demo_k(IMSI).hex()
    code, out = _run_cli_against(reg, [
        "ue", "register", "--pcscf", "127.0.0.1:PORT", "--impi", f"{IMSI}@{DOMAIN}",
        "--impu", f"sip:{IMSI}@{DOMAIN}", "--k", k, "--op", DEMO_OP.hex(), "--timeout", "5"],
        capsys)
    assert code == 0, out
    code, out = _run_cli_against(reg, [
        "ue", "deregister", "--pcscf", "127.0.0.1:PORT", "--imsi", IMSI, "--star",
        "--timeout", "5"], capsys)
    assert code == 0 and not reg.bindings, out


def test_cli_wrong_key_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run_cli_against(_registrar(), [
        "ue", "register", "--pcscf", "127.0.0.1:PORT", "--imsi", IMSI,
        "--k", "00" * 16, "--timeout", "5"], capsys)
    assert code == 1 and "status: 403" in out


def test_cli_md5(capsys: pytest.CaptureFixture[str]) -> None:
    reg = FakeRegistrar()
    reg.add(Sub(impi=f"bob@{DOMAIN}", k=b"", opc=b"", password="pw", md5=True))
    code, out = _run_cli_against(reg, [
        "ue", "register", "--pcscf", "127.0.0.1:PORT", "--impi", f"bob@{DOMAIN}",
        "--password", "pw", "--timeout", "5"], capsys)
    assert code == 0 and "algorithm=MD5" in out, out


def test_cli_softphone_md5_and_aka_for_the_same_subscriber(
        capsys: pytest.CaptureFixture[str]) -> None:
    reg = FakeRegistrar()
    k = demo_k(IMSI)
    reg.add(Sub(impi=f"{IMSI}@{DOMAIN}", k=k, opc=auth.opc(k, DEMO_OP), password="demo"))
    code, out = _run_cli_against(reg, [
        "ue", "register", "--pcscf", "127.0.0.1:PORT", "--imsi", IMSI, "--auth", "md5",
        "--password", "demo", "--timeout", "5"], capsys)
    assert code == 0 and "algorithm=MD5" in out, out
    assert reg.seen[0].auth_headers("authorization") == []
    code, out = _run_cli_against(reg, [
        "ue", "register", "--pcscf", "127.0.0.1:PORT", "--imsi", IMSI, "--auth", "aka",
        "--password", "demo", "--timeout", "5"], capsys)
    assert code == 0 and "algorithm=AKAv1-MD5" in out, out
    assert reg.seen[2].auth_headers("authorization")[0].nonce == ""


@pytest.mark.parametrize("argv", [
    ["--imsi", IMSI, "--sqn-ms", "zz"],
    ["--impi", "a@b"],
    ["--impi", "a@b", "--k", "00" * 16],
    ["--imsi", IMSI, "--auth", "md5"],
    ["--impi", "a@b", "--password", "x", "--auth", "aka"],
    ["--imsi", IMSI, "--timeout", "0"],
])
def test_cli_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _cli(["ue", "register", "--pcscf", "127.0.0.1:5060", *argv], capsys)
    assert code == 2


def test_profile_user_part() -> None:
    assert UeProfile(impi="a@b", impu="sip:alice@b").user == "alice"
    assert demo_profile(IMSI).k == b"K001010000000002"


def test_cli_deregister_without_local_uses_star(capsys: pytest.CaptureFixture[str]) -> None:
    reg = _registrar()
    code, out = _run_cli_against(reg, [
        "ue", "deregister", "--pcscf", "127.0.0.1:PORT", "--imsi", IMSI, "--timeout", "5"],
        capsys)
    assert code == 0, out
    assert reg.seen[-1].is_contact_star() and reg.seen[-1].headers.get("expires") == "0"
