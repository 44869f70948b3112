"""A UE on a bare UDP socket for the end-to-end tests of dialogs the CLI UE does not run:
it reuses the address a registration came from (the P-CSCF knows the UE by that flow,
TS 24.229 §5.2.6.4), writes SUBSCRIBE/INVITE/ACK/BYE itself and sees every message the
network sends it — including the ones it chooses not to answer."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from ims_core.sip import Message, Request, Response, make_response, parse_message
from tests.sipmsg import build_request


def _token() -> str:
    return os.urandom(6).hex()


class RawUe:
    def __init__(self, host: str, port: int, impu: str, pcscf: tuple[str, int],
                 service_route: str) -> None:
        self.host, self.port, self.impu, self.pcscf = host, port, impu, pcscf
        self.service_route = service_route
        self.contact = f"<sip:ue@{host}:{port}>"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.backlog: list[Message] = []

    def close(self) -> None:
        self.sock.close()

    # -- wire -----------------------------------------------------------------------------
    def send(self, msg: Request | Response) -> None:
        self.sock.sendto(msg.to_bytes(), self.pcscf)  # everything goes by the P-CSCF

    def _recv(self, timeout: float) -> Message | None:
        self.sock.settimeout(max(timeout, 0.01))
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        if not data.strip():
            return None  # keep-alive
        return parse_message(data)

    def expect(self, match: Callable[[Message], bool], timeout: float = 10.0,
               what: str = "a message") -> Message:
        """The first message (kept ones first) that ``match`` accepts; others are kept."""
        for i, msg in enumerate(self.backlog):
            if match(msg):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self._recv(left)
            if msg is None:
                continue
            if match(msg):
                return msg
            self.backlog.append(msg)
        raise AssertionError(f"no {what} within {timeout}s; got {self.backlog!r}")

    def response_to(self, req: Request, timeout: float = 10.0, final: bool = True) -> Response:
        call_id, cseq = req.call_id, req.cseq.seq

        def match(m: Message) -> bool:
            return (isinstance(m, Response) and m.call_id == call_id and m.cseq.seq == cseq
                    and m.cseq.method == req.method and (m.status >= 200 or not final))

        resp = self.expect(match, timeout, f"response to {req.method}")
        assert isinstance(resp, Response)
        return resp

    def request(self, method: str, timeout: float = 10.0, call_id: str | None = None
                ) -> Request:
        def match(m: Message) -> bool:
            return (isinstance(m, Request) and m.method == method
                    and (call_id is None or m.call_id == call_id))

        req = self.expect(match, timeout, method)
        assert isinstance(req, Request)
        return req

    def answer(self, req: Request, status: int, *headers: str, tag: str | None = None) -> None:
        resp = make_response(req, status, to_tag=tag)
        if req.method == "INVITE" and 200 <= status < 300:  # RFC 3261 §12.1.1
            for value in req.headers.get_all("record-route"):
                resp.headers.add("Record-Route", value)
        for h in headers:
            name, value = h.split(":", 1)
            resp.headers.add(name, value.strip())
        self.send(resp)

    # -- requests -------------------------------------------------------------------------
    def build(self, method: str, uri: str, *, to: str, call_id: str | None = None,
              from_tag: str | None = None, cseq: int = 1, route: list[str] | None = None,
              headers: tuple[str, ...] = (), body: bytes = b"") -> Request:
        routes = route if route is not None else [
            f"<sip:{self.pcscf[0]}:{self.pcscf[1]};lr>", self.service_route]
        return build_request(
            method, uri,
            vias=[f"SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{_token()};rport"],
            from_=f"<{self.impu}>;tag={from_tag or _token()}", to=to,
            call_id=call_id or f"{_token()}@{self.host}", cseq=cseq,
            headers=[*(f"Route: {r}" for r in routes), f"Contact: {self.contact}", *headers],
            body=body)


class RegSubscription:
    """A reg-event subscription of a RawUe (RFC 6665 as a subscriber)."""

    def __init__(self, ue: RawUe, resource: str | None = None) -> None:
        self.ue = ue
        self.resource = resource or ue.impu
        self.call_id = f"{_token()}@{ue.host}"
        self.tag = _token()
        self.cseq = 0
        self.remote_tag: str | None = None
        self.remote_target: str | None = None
        self.route: list[str] = []

    def subscribe(self, expires: int = 600000) -> Request:
        self.cseq += 1
        in_dialog = self.remote_tag is not None
        to = f"<{self.resource}>" + (f";tag={self.remote_tag}" if in_dialog else "")
        uri = self.remote_target if in_dialog and self.remote_target else self.resource
        req = self.ue.build(
            "SUBSCRIBE", uri, to=to, call_id=self.call_id, from_tag=self.tag, cseq=self.cseq,
            route=[f"<sip:{self.ue.pcscf[0]}:{self.ue.pcscf[1]};lr>", *self.route]
            if in_dialog else None,
            headers=("Event: reg", "Accept: application/reginfo+xml", f"Expires: {expires}"))
        self.ue.send(req)
        return req

    def established(self, ok: Response) -> None:
        """RFC 3261 §12.1.2: the dialog from the 2xx."""
        self.remote_tag = ok.to_addr.tag
        contacts = ok.contacts()
        self.remote_target = str(contacts[0].uri) if contacts else None
        self.route = list(reversed([str(v) for v in ok.addresses("record-route")]))

    def notify(self, timeout: float = 10.0, answer: bool = True) -> Request:
        req = self.ue.request("NOTIFY", timeout, call_id=self.call_id)
        if answer:
            self.ue.answer(req, 200)
        return req
