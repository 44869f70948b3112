"""`ims-core proxy` as a process: relays over UDP, survives garbage, answers OPTIONS to
itself, relays a stray CANCEL statelessly, stops on SIGINT."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator

import pytest

from ims_core.sip import Request, Response, make_response, parse_message

from .conftest import Processes, free_port, start_proxy

pytestmark = pytest.mark.integration
HOST = "127.0.0.1"


def request_to(method: str, uri: str, port: int, branch: str) -> bytes:
    return (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{port};rport;branch={branch}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: {branch}@t\r\n"
        f"CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@contextlib.contextmanager
def hop_and_client() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two UDP sockets on loopback: the proxy's next hop and a client."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hop, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for sock in (hop, client):
            sock.bind((HOST, 0))
            sock.settimeout(5)
        yield hop, client


def answered_by_hop(hop: socket.socket, client: socket.socket, method: str,
                    status: int) -> Response:
    """The next hop answers the `method` it got with `status`: what reaches the client."""
    data, addr = hop.recvfrom(65535)
    fwd = parse_message(data)
    assert isinstance(fwd, Request) and fwd.method == method
    hop.sendto(make_response(fwd, status, to_tag="h").to_bytes(), addr)
    resp = parse_message(client.recv(65535))
    assert isinstance(resp, Response) and resp.status == status
    return resp


def test_relay_garbage_and_sigint(processes: Processes) -> None:
    with hop_and_client() as (hop, client):
        port = free_port(HOST)
        proxy = start_proxy(processes, (HOST, port), hop.getsockname())
        client.sendto(b"\x16\x03\x01 not sip at all", (HOST, port))
        with socket.create_connection((HOST, port)) as tcp:
            tcp.sendall(b"INVITE sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n")
            tcp.settimeout(5)
            assert tcp.recv(100) == b""  # that connection, and only it, is closed
        me = client.getsockname()[1]
        client.sendto(request_to("OPTIONS", f"sip:x@{HOST}", me, "z9hG4bKo1"), (HOST, port))
        answered_by_hop(hop, client, "OPTIONS", 200)
        assert processes.stop(proxy, signal.SIGINT) == 0
        assert "proxy.stopped" in proxy.output()


def test_options_to_the_proxy_and_a_stray_cancel(processes: Processes) -> None:
    """An OPTIONS naming the proxy is answered by it (RFC 3261 §11); a CANCEL matching
    nothing goes on statelessly and its 481 comes back by Via (§16.10, §16.11)."""
    with hop_and_client() as (hop, client):
        port = free_port(HOST)
        proxy = start_proxy(processes, (HOST, port), hop.getsockname())
        me = client.getsockname()[1]
        client.sendto(request_to("OPTIONS", f"sip:{HOST}:{port}", me, "z9hG4bKping"),
                      (HOST, port))
        resp = parse_message(client.recv(65535))
        assert isinstance(resp, Response) and resp.status == 200
        assert "OPTIONS" in (resp.headers.get("allow") or "")
        hop_port = hop.getsockname()[1]
        cancel = request_to("CANCEL", f"sip:b@{HOST}:{hop_port}", me, "z9hG4bKstray")
        client.sendto(cancel, (HOST, port))
        resp = answered_by_hop(hop, client, "CANCEL", 481)
        assert [v.branch for v in resp.vias()] == ["z9hG4bKstray"]
        assert processes.stop(proxy, signal.SIGINT) == 0
