"""RTR and PPR end to end: `ims-core subscriber deregister|update|delete` queue them, a real
HssServer (127.0.0.71) sends them to a fake S-CSCF — a DiameterNode client that only has
the connection it opened to the HSS — and the CLI reports the answer."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hss.config import DiameterConfig as HssDiameterConfig
from hss.config import HssConfig, PushConfig
from hss.model import PushState, RegState
from hss.server import HssServer
from hss.store.sqlite import SqliteStore
from ims_core import userdata
from ims_core.diameter import (
    PPR,
    RTR,
    CxResult,
    DiameterConfig,
    Message,
    ResultCode,
    make_answer,
    make_request,
)
from ims_core.diameter.node import DiameterNode
from ims_lab.cli import main
from tests.hss.conftest import DOMAIN, subscriber
from tests.hss.cxutil import IMPI, IMPU, SCSCF, TEL

LISTEN = "127.0.0.71"
HSS = f"hss.{DOMAIN}"
SCSCF_HOST = f"scscf.{DOMAIN}"
IMSI = "001010000000001"
ANSWER_TIMEOUT = 0.3
R, N = RegState.REGISTERED, RegState.NOT_REGISTERED


class FakeScscf:
    """scscf.<domain>: sends SARs, answers RTR and PPR as told, keeps what it got."""

    def __init__(self) -> None:
        self.node = DiameterNode(DiameterConfig(SCSCF_HOST, DOMAIN, watchdog_jitter=0))
        self.received: list[Message] = []
        self.answer: Callable[[Message], Message] = lambda req: make_answer(req, 2001)
        self.delay = 0.0
        self.node.add_handler(RTR, self._handle)
        self.node.add_handler(PPR, self._handle)

    async def _handle(self, req: Message) -> Message:
        self.received.append(req)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answer(req)

    async def register(self) -> None:
        sar = make_request(
            "SAR", origin_host=SCSCF_HOST, origin_realm=DOMAIN, destination_realm=DOMAIN,
            avps=[("User-Name", IMPI), ("Public-Identity", IMPU), ("Server-Name", SCSCF),
                  ("Server-Assignment-Type", 1), ("User-Data-Already-Available", 0)],
        )  # fmt: skip
        ans = await self.node.request(sar, timeout=5)
        assert ans.result_code == ResultCode.SUCCESS


@dataclasses.dataclass
class Lab:
    server: HssServer
    scscf: FakeScscf
    config: Path
    store: SqliteStore

    async def cli(self, *args: str) -> int:
        """`ims-core subscriber -c … ARGS` in a thread: it blocks while it waits."""
        return await asyncio.to_thread(main, ["subscriber", "-c", str(self.config), *args])

    def states(self) -> tuple[list[RegState], str | None]:
        s = self.store.get(IMSI)
        assert s is not None
        return [p.state for p in s.impus], s.scscf_name


def _config_file(tmp_path: Path) -> Path:
    p = tmp_path / "hss.toml"
    p.write_text(f'data_dir = "{tmp_path}"\n')
    return p


@contextlib.asynccontextmanager
async def running(tmp_path: Path, answer_timeout: float = ANSWER_TIMEOUT) -> AsyncIterator[Lab]:
    cfg = HssConfig(
        data_dir=str(tmp_path),
        diameter=HssDiameterConfig(listen_host=LISTEN, listen_port=0, peers=(SCSCF_HOST,)),
        push=PushConfig(poll_seconds=0.05, answer_timeout=answer_timeout),
    )
    server = HssServer(cfg)
    server.store.add([subscriber()])
    port = await server.start()
    scscf = FakeScscf()
    await scscf.node.connect(LISTEN, port, timeout=5)
    store = SqliteStore(tmp_path / "hss.sqlite")
    try:
        yield Lab(server, scscf, _config_file(tmp_path), store)
    finally:
        await scscf.node.stop()
        await server.stop()
        store.close()


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async with running(tmp_path) as lab:
        yield lab


def _reason(req: Message) -> tuple[int | None, str | None]:
    g = req.get_grouped("Deregistration-Reason")
    assert g is not None
    return g.get_int("Reason-Code"), g.get_str("Reason-Info")


async def test_deregister_sends_rtr_over_the_scscfs_connection(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    await lab.scscf.register()
    assert lab.states() == ([R, R, R], SCSCF)
    assert await lab.cli("deregister", IMSI) == 0
    assert f"RTR sent to {SCSCF_HOST}: RTA 2001" in capsys.readouterr().out
    # The fake listens nowhere: the RTR came over the one connection it opened.
    assert lab.scscf.node.open_peers == [HSS] and lab.server.node is not None
    assert lab.server.node.open_peers == [SCSCF_HOST]
    [rtr] = lab.scscf.received
    assert rtr.name == "RTR" and rtr.origin_host == HSS
    assert rtr.get_str("Destination-Host") == SCSCF_HOST
    assert rtr.get_str("User-Name") == IMPI and rtr.get_all("Public-Identity") == []
    assert _reason(rtr) == (0, None)
    assert lab.states() == ([N, N, N], None)
    # Nothing registered any more: said so, nothing sent.
    assert await lab.cli("deregister", IMSI) == 0
    assert "is not registered: no RTR sent" in capsys.readouterr().out
    assert len(lab.scscf.received) == 1


async def test_deregister_impu_list_form(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    await lab.scscf.register()
    assert await lab.cli("deregister", IMSI, "--impu", "tel:+1-555-000-0001", "--reason",
                         "new-server", "--info", "moving you") == 0  # fmt: skip
    [rtr] = lab.scscf.received
    assert rtr.get_all("Public-Identity") == [TEL]
    assert _reason(rtr) == (1, "moving you")
    assert lab.states() == ([N, N, N], None)
    assert await lab.cli("deregister", IMSI, "--impu", "sip:nobody@example.org") == 1
    assert "not a public identity" in capsys.readouterr().err


async def test_rta_user_unknown_clears_state(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    await lab.scscf.register()
    lab.scscf.answer = lambda req: make_answer(req, experimental=CxResult.ERROR_USER_UNKNOWN)
    assert await lab.cli("deregister", IMSI, "--reason", "remove-scscf") == 0
    assert "RTA Experimental-Result 5001" in capsys.readouterr().out
    assert lab.states() == ([N, N, N], None)


async def test_refused_rtr_keeps_state(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    await lab.scscf.register()
    lab.scscf.answer = lambda req: make_answer(req, ResultCode.UNABLE_TO_COMPLY)
    assert await lab.cli("deregister", IMSI) == 1
    err = capsys.readouterr().err
    assert f"RTR to {SCSCF_HOST} failed: RTA 5012" in err and "state kept" in err
    assert lab.states() == ([R, R, R], SCSCF)


async def test_rtr_timeout(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    await lab.scscf.register()
    lab.scscf.delay = ANSWER_TIMEOUT * 3
    assert await lab.cli("deregister", IMSI) == 1
    err = capsys.readouterr().err
    assert f"failed: no answer from {SCSCF_HOST} in {ANSWER_TIMEOUT} s" in err
    push = lab.store.get_push(1)
    assert push is not None and push.state == PushState.FAILED and push.result_code is None
    assert lab.states() == ([R, R, R], SCSCF)


async def test_scscf_not_connected(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    await lab.scscf.register()
    await lab.scscf.node.stop()
    assert await lab.cli("deregister", IMSI) == 1
    assert f"S-CSCF {SCSCF_HOST} is not connected" in capsys.readouterr().err
    push = lab.store.get_push(1)
    assert push is not None and push.state == PushState.FAILED
    assert lab.states() == ([R, R, R], SCSCF)


async def test_update_pushes_the_new_profile(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ifcs = tmp_path / "ifcs.toml"
    ifcs.write_text('[[ifcs]]\npriority = 3\nserver_name = "sip:as.example:5060"\n'
                    'spts = [{ method = "MESSAGE" }]\n')  # fmt: skip
    # Not registered: stored, nothing pushed.
    assert await lab.cli("update", IMSI, "--bar", TEL) == 0
    assert "not registered: no PPR sent" in capsys.readouterr().out
    await lab.scscf.register()
    assert await lab.cli("update", IMSI, "--ifc-file", str(ifcs), "--add-impu",
                         "sip:alias@example.org", "--unbar", TEL) == 0  # fmt: skip
    assert f"PPR sent to {SCSCF_HOST}: PPA 2001" in capsys.readouterr().out
    [ppr] = lab.scscf.received
    assert ppr.name == "PPR" and ppr.get_str("Destination-Host") == SCSCF_HOST
    assert ppr.get_str("User-Name") == IMPI
    data = ppr.get_bytes("User-Data")
    assert data is not None
    profile = userdata.parse(data)
    assert profile.identities[-1].identity == "sip:alias@example.org"
    assert not profile.is_barred(TEL)
    [ifc] = profile.ifcs_for(IMPU)
    assert (ifc.priority, ifc.server_name) == (3, "sip:as.example:5060")
    s = lab.store.get(IMSI)
    assert s is not None and s.ifcs == (ifc,) and s.state == R  # still registered
    assert await lab.cli("update", IMSI) == 1
    assert "nothing to change" in capsys.readouterr().err


async def test_delete_of_a_registered_subscriber_sends_rtr(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    await lab.scscf.register()
    assert await lab.cli("delete", IMSI) == 0
    out = capsys.readouterr().out
    assert f"deleted {IMSI}" in out and f"RTR sent to {SCSCF_HOST}: RTA 2001" in out
    [rtr] = lab.scscf.received
    assert rtr.get_str("User-Name") == IMPI and _reason(rtr) == (0, None)  # PERMANENT
    assert lab.store.get(IMSI) is None


async def test_hss_stopping_fails_what_it_awaits(tmp_path: Path) -> None:
    async with running(tmp_path, answer_timeout=30) as lab:
        await lab.scscf.register()
        lab.scscf.delay = 2.0
        assert await lab.cli("deregister", IMSI, "--wait", "0") == 0
        for _ in range(500):
            if lab.scscf.received:
                break
            await asyncio.sleep(0.01)
        assert lab.scscf.received
        await lab.server.stop()
        push = lab.store.get_push(1)
        assert push is not None and push.state == PushState.FAILED
        assert push.detail == "the HSS stopped before the answer"
        assert lab.states() == ([R, R, R], SCSCF)


def test_nobody_takes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No HSS running on the store: the RTR stays queued, exit 3."""
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add([subscriber()])
    store.update_registration(IMSI, {IMPU: R}, scscf_name=SCSCF, scscf_host=SCSCF_HOST)
    cfg = _config_file(tmp_path)
    assert main(["subscriber", "-c", str(cfg), "deregister", IMSI, "--wait", "0.2"]) == 3
    assert "stays queued: no HSS took it within 0.2 s" in capsys.readouterr().err
    push = store.get_push(1)
    assert push is not None and push.state == PushState.PENDING
    assert main(["subscriber", "-c", str(cfg), "deregister", IMSI, "--wait", "0"]) == 0
    assert f"queued RTR #2 for {SCSCF_HOST}" in capsys.readouterr().out
    store.close()
