"""The staying UE over real loopback sockets (UE 127.0.0.78, a fake P-CSCF 127.0.0.77):
the asyncio loop carries the agent's requests and answers NOTIFYs in server transactions,
whichever comes first of the NOTIFY and the 2xx; and ``ims-core ue register --subscribe``
exits with the de-registration's status."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

import pytest

from ims_core.ue import cli as ue_cli
from ims_core.ue import demo_profile
from ims_core.ue.agent import EXIT_DEREGISTERED, EXIT_FAILED, EXIT_REJECTED, Ending, Report
from ims_core.ue.cli import stay_registered
from ims_core.ue.client import timers_for
from tests.sipnet import tcp_peer, udp_peer

from .beside import served
from .notifier import FakePcscf
from .registrar import DOMAIN, demo_registrar

IMSI = "001010000000008"
IMPU = f"sip:{IMSI}@{DOMAIN}"
PCSCF_HOST, UE_HOST = "127.0.0.77", "127.0.0.78"


async def _serve(pcscf: FakePcscf, transport: str) -> tuple[int, Callable[[], object]]:
    if transport == "udp":
        udp, port = await udp_peer(pcscf.handle, PCSCF_HOST)
        return port, udp.close
    peer = await tcp_peer(pcscf.handle, PCSCF_HOST)
    return peer.port, peer.close


@pytest.mark.parametrize(("transport", "notify_first"), [
    ("udp", False), ("udp", True), ("tcp", False), ("tcp", True)])
async def test_stays_until_the_network_rejects_it(transport: str, notify_first: bool) -> None:
    pcscf = FakePcscf(demo_registrar(IMSI), IMPU, notify_first=notify_first, event="rejected")
    port, close = await _serve(pcscf, transport)
    seen: list[Report] = []
    try:
        ending: Ending = await asyncio.wait_for(stay_registered(
            demo_profile(IMSI), (PCSCF_HOST, port), transport, expires=60, subscribe=True,
            subscribe_expires=600000, duration=None, report=seen.append,
            local=(UE_HOST, 0), timers=timers_for(4), stop=asyncio.Event()), 10)
    finally:
        result = close()
        if asyncio.iscoroutine(result):
            await result
    assert ending.code == EXIT_REJECTED, (ending, seen)
    assert ending.message == f"network de-registered {IMPU}: rejected (do not re-register)"
    assert [a.status for a in pcscf.answers] == [200, 200]
    (sub,) = pcscf.subscribes
    assert sub.headers.values("route")[0] == (
        f"<sip:{PCSCF_HOST}:{port};lr" + (";transport=tcp>" if transport == "tcp" else ">"))
    lines = [r for r in seen if isinstance(r, str)]
    assert len(lines) == 2 and lines[0].startswith("NOTIFY version=0 full [active")
    assert lines[1].startswith("NOTIFY version=1 full [terminated;reason=deactivated]")


async def test_a_stop_ends_the_run_with_0() -> None:
    pcscf = FakePcscf(demo_registrar(IMSI), IMPU, notify_first=False, event="deactivated",
                      later=30.0)
    port, close = await _serve(pcscf, "udp")
    stop = asyncio.Event()
    seen: list[Report] = []

    def report(item: Report) -> None:
        seen.append(item)
        if isinstance(item, str):
            stop.set()  # stop once the first NOTIFY is in
    try:
        ending = await asyncio.wait_for(stay_registered(
            demo_profile(IMSI), (PCSCF_HOST, port), "udp", expires=60, subscribe=True,
            subscribe_expires=600000, duration=None, report=report, local=(UE_HOST, 0),
            timers=timers_for(4), stop=stop), 10)
    finally:
        close()
    assert ending == Ending(0, "stopped")
    assert [a.status for a in pcscf.answers] == [200]


async def test_a_lost_tcp_connection_ends_the_run_with_1() -> None:
    pcscf = FakePcscf(demo_registrar(IMSI), IMPU, notify_first=False, event=None)
    peer = await tcp_peer(pcscf.handle, PCSCF_HOST)

    def report(item: Report) -> None:
        if isinstance(item, str):  # the first NOTIFY is in: the P-CSCF goes away
            asyncio.get_running_loop().create_task(peer.close())
    try:
        ending = await asyncio.wait_for(stay_registered(
            demo_profile(IMSI), (PCSCF_HOST, peer.port), "tcp", expires=60, subscribe=True,
            subscribe_expires=600000, duration=None, report=report, local=(UE_HOST, 0),
            timers=timers_for(4), stop=asyncio.Event()), 10)
    finally:
        await peer.close()
    assert ending == Ending(EXIT_FAILED, "the connection to the P-CSCF closed")


def test_cli_subscribe_exits_with_the_deregistration_status(
        capsys: pytest.CaptureFixture[str]) -> None:
    pcscf = FakePcscf(demo_registrar(IMSI), IMPU, notify_first=False, event="deactivated")
    closers: list[Callable[[], object]] = []

    async def start() -> int:
        port, close = await _serve(pcscf, "udp")
        closers.append(close)
        return port

    async def stop() -> None:
        closers[0]()

    with served(start, stop) as port:
        parser = argparse.ArgumentParser(prog="ims-core")
        ue_cli.register(parser.add_subparsers(dest="command"))
        args = parser.parse_args(["ue", "register", "--pcscf", f"{PCSCF_HOST}:{port}",
                                  "--local", f"{UE_HOST}:0", "--imsi", IMSI, "--subscribe",
                                  "--timeout", "4"])
        code = args.func(args)
    out = capsys.readouterr().out
    assert code == EXIT_DEREGISTERED, out
    assert "status: 200 OK" in out and "NOTIFY version=0 full" in out
    assert out.rstrip().endswith(
        f"network de-registered {IMPU}: deactivated (may register again)")


def test_help_documents_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="ims-core")
    ue_cli.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["ue", "register", "--help"])
    out = capsys.readouterr().out
    assert "--subscribe" in out and "--duration" in out
    assert f"{EXIT_DEREGISTERED}  the network de-registered" in out
    assert f"{EXIT_REJECTED}  the network de-registered the UE with \"rejected\"" in out


@pytest.mark.parametrize("argv", [["--duration", "0"], ["--subscribe", "--expires", "0"]])
def test_bad_stay_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="ims-core")
    ue_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ue", "register", "--pcscf", f"{PCSCF_HOST}:5060",
                              "--imsi", IMSI, *argv])
    assert args.func(args) == 2
