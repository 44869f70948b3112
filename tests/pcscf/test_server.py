"""The P-CSCF node on loopback (``serve()`` on an ephemeral port) with a fake I-CSCF:
registration with a 401 then a 200, then a MESSAGE along the Service-Route, over UDP and
over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from ims_core.cscf import SipListen
from ims_core.cscf.runner import serve
from ims_core.pcscf import PcscfConfig, PcscfCore
from ims_core.sip import (
    Request,
    Response,
    StreamFramer,
    make_response,
    parse_auth,
    parse_message,
)
from tests.sipmsg import build_request
from tests.sipnet import Reply, tcp_peer, udp_peer

from .messages import CHALLENGE, DOMAIN, IMPU, TEL

HOST = "127.0.0.1"


@dataclass
class FakeIcscf:
    """UDP and TCP on one port: answers REGISTER with 401 then 200 (the whole
    I-CSCF + S-CSCF as far as the P-CSCF can tell), a SUBSCRIBE with a 200 that sets up
    the dialog, and anything else with 200."""

    port: int = 0
    received: list[Request] = field(default_factory=list)

    def last(self, method: str) -> Request:
        return [r for r in self.received if r.method == method][-1]

    def answer(self, req: Request) -> Response:
        self.received.append(req)
        if req.method == "SUBSCRIBE":
            r = make_response(req, 200, to_tag="s")
            r.headers.add("Contact", f"<sip:{HOST}:{self.port}>")
            r.headers.add("Expires", "600000")
            return r
        if req.method != "REGISTER":
            return make_response(req, 200, to_tag="s")
        if req.auth_headers("authorization")[0].response == "":
            r = make_response(req, 401, to_tag="s")
            r.headers.add("WWW-Authenticate", CHALLENGE)
            return r
        r = make_response(req, 200, to_tag="s")
        r.headers.add("Contact", f"<{req.contacts()[0].uri}>;expires=600")
        for value in req.headers.values("path"):
            r.headers.add("Path", value)
        r.headers.add("Service-Route", f"<sip:orig@{HOST}:{self.port};lr>")
        r.headers.add("P-Associated-URI", f"<{IMPU}>, <{TEL}>")
        return r

    def serve(self, msg: Request | Response, reply: Reply) -> None:
        if isinstance(msg, Request):
            reply(self.answer(msg).to_bytes())


@pytest.fixture
async def icscf() -> AsyncIterator[FakeIcscf]:
    fake = FakeIcscf()
    tcp = await tcp_peer(lambda data, reply: fake.serve(parse_message(data, stream=True), reply),
                         HOST)
    fake.port = tcp.port
    udp, _ = await udp_peer(lambda data, reply: fake.serve(parse_message(data), reply), HOST,
                            fake.port)
    yield fake
    udp.close()
    await tcp.close()


@pytest.fixture
async def pcscf(icscf: FakeIcscf) -> AsyncIterator[PcscfCore]:
    cfg = PcscfConfig(sip=SipListen(host=HOST, port=0),
                      home_networks={DOMAIN: f"{HOST}:{icscf.port}"})
    core = PcscfCore(cfg)
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve("pcscf", core, cfg, ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 5)
    yield core
    stop.set()
    assert await asyncio.wait_for(task, 5) == 0


def sip(method: str, uri: str, transport: str, port: int, cseq: int, extra: str,
        call_id: str) -> bytes:
    via = f"SIP/2.0/{transport} {HOST}:{port};branch=z9hG4bK{call_id}{cseq};rport"
    return build_request(
        method, uri, vias=[via], from_=f"<{IMPU}>;tag=u{cseq}",
        to=f"<{IMPU if method == 'REGISTER' else 'sip:bob@' + DOMAIN}>", call_id=call_id,
        cseq=cseq, headers=[f"Contact: <sip:001010000000001@{HOST}:{port}>"], extra=extra,
        body=b"hi" if method == "MESSAGE" else b"").to_bytes()


def register(transport: str, port: int, cseq: int, call_id: str, response: str) -> bytes:
    auth = (f'Authorization: Digest username="001010000000001@{DOMAIN}", realm="{DOMAIN}", '
            f'nonce="", uri="sip:{DOMAIN}", response="{response}"\r\nExpires: 600000\r\n')
    return sip("REGISTER", f"sip:{DOMAIN}", transport, port, cseq, auth, call_id)


class Ue:
    """A UE over UDP or TCP that sends requests and reads final responses."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.sock: socket.socket | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.framer = StreamFramer()
        self.port = 0

    async def open(self, pcscf_port: int) -> None:
        self.pcscf = (HOST, pcscf_port)
        if self.transport == "UDP":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((HOST, 0))
            self.sock.setblocking(False)
            self.port = self.sock.getsockname()[1]
        else:
            self.reader, self.writer = await asyncio.open_connection(*self.pcscf)
            self.port = self.writer.get_extra_info("sockname")[1]

    async def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()

    async def send(self, data: bytes) -> None:
        if self.sock is not None:
            await asyncio.get_running_loop().sock_sendto(self.sock, data, self.pcscf)
        else:
            assert self.writer is not None
            self.writer.write(data)

    async def final(self) -> Response:
        while True:
            msg = await asyncio.wait_for(self._next(), 3)
            if isinstance(msg, Response) and msg.status >= 200:
                return msg

    async def _next(self) -> Request | Response:
        if self.sock is not None:
            return parse_message(await asyncio.get_running_loop().sock_recv(self.sock, 65535))
        assert self.reader is not None
        while (frame := self.framer.next_frame()) is None:
            data = await self.reader.read(65536)
            assert data, "P-CSCF closed the connection"
            self.framer.feed(data)
        assert isinstance(frame, bytes)
        return parse_message(frame, stream=True)


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_registration_and_message_end_to_end(
    transport: str, pcscf: PcscfCore, icscf: FakeIcscf
) -> None:
    ue, stranger = Ue(transport), Ue(transport)
    await ue.open(pcscf.config.port)
    await stranger.open(pcscf.config.port)
    try:
        await ue.send(register(transport, ue.port, 1, "r1", ""))
        r401 = await ue.final()
        assert r401.status == 401
        challenge = parse_auth(r401.headers.get("www-authenticate") or "")
        assert (challenge.ck, challenge.ik, challenge.nonce) == (None, None, "bm9uY2UtcmFuZC1hdXRu")

        await ue.send(register(transport, ue.port, 2, "r1", "0123abcd"))
        r200 = await ue.final()
        assert r200.status == 200
        fwd = icscf.last("REGISTER")
        assert fwd.top_via().transport == transport
        assert fwd.headers.values("path") == [f"<sip:term@{HOST}:{pcscf.config.port};lr>"]
        assert "path" in fwd.headers.values("require")
        assert fwd.headers.get("p-visited-network-id") == f'"{DOMAIN}"'
        assert "icid-value=" in (fwd.headers.get("p-charging-vector") or "")
        assert pcscf.store.by_impu(TEL)

        await ue.send(sip("MESSAGE", f"sip:bob@{DOMAIN}", transport, ue.port, 3, "", "m1"))
        assert (await ue.final()).status == 200
        message = icscf.last("MESSAGE")
        assert message.headers.values("route") == [f"<sip:orig@{HOST}:{icscf.port};lr>"]

        await stranger.send(sip("MESSAGE", f"sip:bob@{DOMAIN}", transport, stranger.port, 1,
                                "", "m2"))
        assert (await stranger.final()).status == 403
        assert icscf.last("MESSAGE") is message
        subscribe = icscf.last("SUBSCRIBE")  # §5.2.3, sent with the 200 to the UE
        assert subscribe.uri_text == IMPU and subscribe.headers.get("event") == "reg"
        for _ in range(100):  # its 200 comes over UDP, the MESSAGE's maybe over TCP
            if (sub := pcscf.regsub.get(IMPU)) is not None and sub.established:
                break
            await asyncio.sleep(0.02)
        assert sub is not None and sub.established
    finally:
        await ue.close()
        await stranger.close()
