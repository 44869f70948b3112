"""`ims-core proxy` as a process: relays over UDP, survives garbage, stops on SIGINT."""

from __future__ import annotations

import signal
import socket

import pytest

from ims_core.sip import Request, Response, make_response, parse_message

from .conftest import Processes, free_port, start_proxy

pytestmark = pytest.mark.integration
HOST = "127.0.0.1"


def options(port: int) -> bytes:
    return (
        f"OPTIONS sip:x@{HOST} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{port};rport;branch=z9hG4bKo1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: o1@t\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_relay_garbage_and_sigint(processes: Processes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hop, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        hop.bind((HOST, 0))
        client.bind((HOST, 0))
        hop.settimeout(5)
        client.settimeout(5)
        port = free_port(HOST)
        proxy = start_proxy(processes, (HOST, port), hop.getsockname())
        client.sendto(b"\x16\x03\x01 not sip at all", (HOST, port))
        with socket.create_connection((HOST, port)) as tcp:
            tcp.sendall(b"INVITE sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n")
            tcp.settimeout(5)
            assert tcp.recv(100) == b""  # that connection, and only it, is closed
        client.sendto(options(client.getsockname()[1]), (HOST, port))
        data, addr = hop.recvfrom(65535)
        fwd = parse_message(data)
        assert isinstance(fwd, Request) and fwd.method == "OPTIONS"
        hop.sendto(make_response(fwd, 200, to_tag="h").to_bytes(), addr)
        resp = parse_message(client.recv(65535))
        assert isinstance(resp, Response) and resp.status == 200
        assert processes.stop(proxy, signal.SIGINT) == 0
        assert "proxy.stopped" in proxy.output()
