"""What the node counts, logs and taps over loopback TCP: Cx exchanges as client and as
server (answered, experimental, timeout, no answer), peers open, the ``cx_exchange`` line
and the wire tap (every whole message, exactly the bytes on the wire)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from ims_core import log
from ims_core.diameter import (
    MAR,
    DiameterConfig,
    DiameterNode,
    DiameterUnavailable,
    Framer,
    Message,
    decode,
    make_answer,
)
from ims_core.diameter.capabilities import build_cer, build_dwr
from ims_core.metrics import DiameterMetrics
from ims_core.wiretap import Address

from . import samples as s
from .test_node import HOST, client_config, hss_config
from .test_send_request import _until

Tapped = tuple[str, str, Address, Address, bytes]


@pytest.fixture
def exchange_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """The exchange lines on (as ``log.setup`` with ``exchanges = "info"`` would), captured."""
    monkeypatch.setattr(log, "_exchange_level", "info")
    with capture_logs() as captured:
        yield captured


def _unknown_user_mar() -> Message:
    m = s.mar()
    m.remove("User-Name")
    m.add("User-Name", "nobody")
    return m


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


async def test_client_and_server_count_answers_by_result(hss: tuple[DiameterNode, int]) -> None:
    server, port = hss
    metrics = DiameterMetrics.create()
    async with DiameterNode(client_config(), metrics) as client:
        assert client.metrics is metrics
        await client.connect(HOST, port)
        assert (await client.request(s.mar())).result_code == 2001
        assert (await client.request(_unknown_user_mar())).experimental_result == (10415, 5001)
        assert (await client.request(s.lir())).result_code == 5012  # handler raised
        assert (await client.request(s.uar())).result_code == 3001  # no handler
    # Exactly these, nothing for CER/CEA, DWR or DPR.
    expected = {
        ("MAR", "base", "2001"): 1,
        ("MAR", "experimental", "5001"): 1,
        ("LIR", "base", "5012"): 1,
        ("UAR", "base", "3001"): 1,
    }
    assert metrics.requests.values == {("client", *k): v for k, v in expected.items()}
    assert server.metrics.requests.values == {("server", *k): v for k, v in expected.items()}
    assert metrics.latency.count("client", "MAR") == 2
    assert metrics.latency.count("client", "LIR") == 1
    assert server.metrics.latency.count("server", "MAR") == 2
    assert server.metrics.latency.count("server", "UAR") == 1


async def test_no_answer_for_want_of_a_peer_is_an_error() -> None:
    async with DiameterNode(client_config()) as client:
        with pytest.raises(DiameterUnavailable):  # no peer at all
            await client.request(s.mar())
        client.add_peer(HOST, _closed_port())  # a peer that refuses the connection
        with pytest.raises(DiameterUnavailable):
            await client.request(s.mar(), timeout=1)
        assert client.metrics.requests.values == {("client", "MAR", "error", ""): 2}
        assert client.metrics.latency.count("client", "MAR") == 0


async def test_connection_lost_before_the_answer_is_an_error() -> None:
    stuck = DiameterNode(hss_config())
    seen: list[Message] = []
    stuck.add_responder(MAR, lambda req, reply: seen.append(req))
    port = await stuck.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        got: list[Message | Exception] = []
        client.send_request(s.mar(), on_answer=got.append, timeout=5)
        await _until(lambda: bool(seen))
        await stuck.stop(timeout=0.2)  # DPR with the request pending, no other peer
        await _until(lambda: bool(got))
        assert isinstance(got[0], DiameterUnavailable)
        assert client.metrics.requests.values == {("client", "MAR", "error", ""): 1}


async def test_peers_open_per_origin_host(hss: tuple[DiameterNode, int]) -> None:
    server, port = hss
    refused = _closed_port()
    client = DiameterNode(client_config())
    assert client.metrics.peers_open.samples() == []
    await client.connect(HOST, port)
    client.add_peer(HOST, refused)  # configured, never open: known by its address
    await _until(lambda: server.open_peers == [s.SCSCF])
    assert client.metrics.peers_open.samples() == [((f"{HOST}:{refused}",), 0.0), ((s.HSS,), 1.0)]
    assert server.metrics.peers_open.samples() == [((s.SCSCF,), 1.0)]
    await client.stop()
    await _until(lambda: server.open_peers == [])
    assert server.metrics.peers_open.samples() == [((s.SCSCF,), 0.0)]  # known, not open


def _frames(data: bytes) -> list[bytes]:
    return Framer().feed(data)


async def test_tap_gets_each_message_as_read_and_written(hss: tuple[DiameterNode, int]) -> None:
    """A raw TCP peer: what it sent is what the tap saw read, what it received is what the
    tap saw written — CER/CEA and DWR/DWA included, whatever the TCP segmentation."""
    server, port = hss
    tapped: list[Tapped] = []
    server.tap = lambda *args: tapped.append(args)
    cer = build_cer(client_config())
    dwr = build_dwr(client_config())
    mar = s.mar()
    for hbh, msg in enumerate((cer, mar, dwr), 1):
        msg.hop_by_hop = msg.end_to_end = hbh
    mar.add("Origin-Host", s.SCSCF)
    mar.add("Origin-Realm", s.DOMAIN)
    sent = [cer.encode(), mar.encode(), dwr.encode()]
    reader, writer = await asyncio.open_connection(HOST, port)
    wire = b"".join(sent)
    writer.write(wire[:30])  # a message cut across reads, then two and a half in one
    await writer.drain()
    await asyncio.sleep(0.02)
    writer.write(wire[30:])
    received = b""
    while len(_frames(received)) < 3:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk
        received += chunk
    me = writer.get_extra_info("sockname")[:2]
    writer.close()
    await writer.wait_closed()
    here: Address = (HOST, port)
    reads = [t for t in tapped if t[3] == here]
    writes = [t for t in tapped if t[2] == here]
    assert [t[4] for t in reads] == sent
    assert [t[4] for t in writes] == _frames(received)
    assert all(t[:2] == ("diameter", "tcp") for t in tapped)
    assert {t[2] for t in reads} == {t[3] for t in writes} == {me}
    assert sorted(decode(t[4]).name for t in writes) == ["CEA", "DWA", "MAA"]


async def test_taps_of_two_nodes_agree(hss: tuple[DiameterNode, int]) -> None:
    server, port = hss
    at_server: list[Tapped] = []
    at_client: list[Tapped] = []
    server.tap = lambda *args: at_server.append(args)
    client = DiameterNode(client_config())
    client.tap = lambda *args: at_client.append(args)
    await client.connect(HOST, port)
    await client.request(s.mar())
    await client.stop()  # DPR/DPA
    await _until(lambda: server.open_peers == [])
    server_addr: Address = (HOST, port)
    sent = [t[4] for t in at_client if t[3] == server_addr]
    answered = [t[4] for t in at_server if t[2] == server_addr]
    assert sent == [t[4] for t in at_server if t[3] == server_addr]
    assert answered == [t[4] for t in at_client if t[2] == server_addr]
    assert [decode(d).name for d in sent] == ["CER", "MAR", "DPR"]
    assert [decode(d).name for d in answered] == ["CEA", "MAA", "DPA"]


async def test_one_exchange_line_per_exchange_when_enabled(
    hss: tuple[DiameterNode, int], exchange_lines: list[MutableMapping[str, Any]]
) -> None:
    _, port = hss
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        req = s.mar()
        await client.request(req)
        await client.request(_unknown_user_mar())
        with pytest.raises(DiameterUnavailable):
            await client.request(s.mar(), peer="nobody." + s.DOMAIN)
    lines = [e for e in exchange_lines if e["event"] == "cx_exchange"]
    assert [(e["role"], e["result"]) for e in lines] == [
        ("server", "2001"), ("client", "2001"),
        ("server", "exp 5001"), ("client", "exp 5001"),
        ("client", "error"),
    ]  # fmt: skip
    first = lines[1]
    assert first["log_level"] == "info" and first["command"] == "MAR"
    assert first["session_id"] == req.session_id and first["peer"] == s.HSS
    assert first["user"] == s.IMPI and first["impu"] == s.IMPU
    assert isinstance(first["latency_ms"], float) and first["latency_ms"] >= 0
    assert lines[0]["peer"] == s.SCSCF and lines[0]["session_id"] == req.session_id
    assert lines[4]["peer"] == "nobody." + s.DOMAIN and "error" in lines[4]


async def test_no_exchange_line_when_disabled(hss: tuple[DiameterNode, int]) -> None:
    _, port = hss
    assert not log.exchanges_enabled()
    with capture_logs() as captured:
        async with DiameterNode(client_config()) as client:
            await client.connect(HOST, port)
            await client.request(s.mar())
    assert [e for e in captured if e["event"] == "cx_exchange"] == []
    assert client.metrics.requests.value("client", "MAR", "base", "2001") == 1


async def test_listening() -> None:
    node = DiameterNode(DiameterConfig(s.HSS, s.DOMAIN))
    assert not node.listening
    await node.listen(HOST, 0)
    assert node.listening
    await node.stop()
    assert not node.listening


def test_result_kind_reads_the_answers_result() -> None:
    req = s.mar()
    assert make_answer(req, 2001).result_kind == ("base", 2001)
    assert make_answer(req, experimental=5001).result_kind == ("experimental", 5001)
    both = make_answer(req, experimental=2001)
    both.add("Result-Code", 5012)  # not valid, but a peer may send it: Result-Code wins
    assert both.result_kind == ("base", 5012) and both.result == 5012
    assert make_answer(req).result_kind is None and make_answer(req).result is None
    wire = decode(make_answer(req, experimental=2002, origin_host=s.HSS,
                              origin_realm=s.DOMAIN).encode())
    assert wire.result_kind == ("experimental", 2002) and wire.result == 2002


async def test_codes_no_spec_defines_are_labelled_other(
    exchange_lines: list[MutableMapping[str, Any]]
) -> None:
    odd = DiameterNode(hss_config())
    odd.add_responder(MAR, lambda req, reply: reply(make_answer(req, 4242)))
    port = await odd.listen(HOST, 0)
    async with DiameterNode(client_config()) as client:
        await client.connect(HOST, port)
        assert (await client.request(s.mar())).result_code == 4242
        assert client.metrics.requests.values == {("client", "MAR", "base", "other"): 1}
    await odd.stop()
    assert odd.metrics.requests.values == {("server", "MAR", "base", "other"): 1}
    lines = [e for e in exchange_lines if e["event"] == "cx_exchange"]
    assert [e["result"] for e in lines] == ["4242", "4242"]  # the line keeps the code
