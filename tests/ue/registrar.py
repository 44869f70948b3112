"""A fake S-CSCF-like registrar for the UE tests: AKA challenges from a Milenage HSS in
memory (SQN state, AUTS resync), MD5 challenges, stale nonces, bindings with expiry.

Like the S-CSCF, a REGISTER without credentials (a softphone's) or naming MD5 gets an
MD5 challenge when the subscriber has a password. Over UDP it answers through server
transactions (RFC 3261 §17.2.2), so a retransmitted request gets the same response
again, and it can lose chosen responses on the way out."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from dataclasses import dataclass, field

from ims_core import auth
from ims_core.sip import Request, Response, SipUri, make_response, parse_message
from ims_core.transaction import TransactionTable
from ims_core.ue.profile import DEMO_OP, demo_k
from tests.sipnet import Reply, tcp_peer, udp_peer

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
AMF = b"\x80\x00"


@dataclass
class Sub:
    impi: str
    k: bytes
    opc: bytes
    sqn: int = 32  # last used SQN (HSS side)
    password: str | None = None
    md5: bool = False


@dataclass
class Pending:
    xres: bytes | None = None  # AKA
    ha1: str | None = None  # MD5
    rand: bytes = b""


@dataclass
class FakeRegistrar:
    subs: dict[str, Sub] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)  # by nonce
    bindings: dict[str, int] = field(default_factory=dict)  # IMPU -> expires
    stale_next: bool = False  # answer the next good response with 401 stale=true
    drop_first: int = 0  # datagrams to ignore (retransmission tests)
    lose: list[int] = field(default_factory=list)  # statuses whose next copy is lost
    datagrams: int = 0  # requests received over UDP, retransmissions included
    seen: list[Request] = field(default_factory=list)
    resyncs: int = 0
    avoid_res_zero_octet: bool = False  # SIPp hashes RES as a C string

    def add(self, sub: Sub) -> None:
        self.subs[sub.impi] = sub

    def handle(self, req: Request) -> Response:
        self.seen.append(req)
        if req.method != "REGISTER":
            return make_response(req, 403, to_tag="t")  # a registrar and nothing else
        creds = [h for h in req.auth_headers("authorization") if h.is_digest]
        to_uri = req.to_addr.uri
        from_to = f"{to_uri.user}@{to_uri.host}" if isinstance(to_uri, SipUri) else ""
        username = creds[0].username if creds else from_to  # TS 33.203: IMPI from the IMPU
        sub = self.subs.get(username or "")
        if sub is None:
            return make_response(req, 403, to_tag="t")
        if not creds:
            return self._challenge(req, sub, md5=sub.password is not None)
        c = creds[0]
        nonce = c.nonce or ""
        pend = self.pending.pop(nonce, None)
        if pend is None:
            asks_md5 = (c.algorithm or "").upper() == "MD5"
            return self._challenge(req, sub, md5=asks_md5 and sub.password is not None)
        auts = c.auts
        if auts is not None:  # TS 33.102 §6.3.5: verify MAC-S, reset SQN, challenge again
            sqn_ms = auth.verify_auts(sub.k, sub.opc, pend.rand, base64.b64decode(auts))
            if sqn_ms is None:
                return make_response(req, 403, to_tag="t")
            sub.sqn = int.from_bytes(sqn_ms, "big")
            self.resyncs += 1
            return self._challenge(req, sub)
        if not c.response:
            return make_response(req, 403, to_tag="t")
        alg = c.algorithm or "MD5"
        if pend.ha1 is not None:
            expected = auth.digest_response_ha1(pend.ha1, "REGISTER", c.uri or "", nonce,
                                                c.nc or "", c.cnonce or "", c.qop or "")
        else:
            assert pend.xres is not None
            expected = auth.digest_response(alg, sub.impi, DOMAIN, pend.xres, "REGISTER",
                                            c.uri or "", nonce, c.nc or "", c.cnonce or "",
                                            c.qop or "")
        if not auth.verify_response(c.response, expected):
            return make_response(req, 403, to_tag="t")
        if self.stale_next:
            self.stale_next = False
            return self._challenge(req, sub, stale=True, md5=pend.ha1 is not None)
        return self._ok(req)

    def _challenge(self, req: Request, sub: Sub, stale: bool = False,
                   md5: bool = False) -> Response:
        resp = make_response(req, 401, to_tag="t")
        if sub.md5 or md5:
            assert sub.password is not None
            nonce = secrets.token_hex(16)
            self.pending[nonce] = Pending(ha1=auth.ha1(sub.impi, DOMAIN, sub.password.encode()))
            value = f'Digest realm="{DOMAIN}", nonce="{nonce}", algorithm=MD5, qop="auth"'
        else:
            sub.sqn += 32
            while True:
                rand = os.urandom(16)
                autn, xres, ck, ik = auth.generate_vector(sub.k, sub.opc, rand,
                                                          sub.sqn.to_bytes(6, "big"), AMF)
                if not (self.avoid_res_zero_octet and 0 in xres):
                    break
            nonce = base64.b64encode(rand + autn).decode()
            self.pending[nonce] = Pending(xres=xres, rand=rand)
            value = (f'Digest realm="{DOMAIN}", nonce="{nonce}", algorithm=AKAv1-MD5, '
                     f'qop="auth", ck="{ck.hex()}", ik="{ik.hex()}"')
        if stale:
            value += ", stale=true"
        resp.headers.add("WWW-Authenticate", value)
        return resp

    def _ok(self, req: Request) -> Response:
        resp = make_response(req, 200, to_tag="t")
        impu = str(req.to_addr.uri)
        expires = int(req.headers.get("expires") or "600")
        if req.is_contact_star() or expires == 0:
            self.bindings.pop(impu, None)
        else:
            self.bindings[impu] = expires
            for c in req.contacts():
                c.set_param("expires", str(expires))
                resp.headers.add("Contact", str(c))
        resp.headers.add("Service-Route", "<sip:orig@127.0.0.3:5060;lr>")
        resp.headers.add("P-Associated-URI", f"<{impu}>, <tel:+15550000001>")
        for p in req.headers.values("path"):
            resp.headers.add("Path", p)
        return resp


def demo_registrar(imsi: str, password: str | None = None) -> FakeRegistrar:
    """A registrar knowing demo subscriber ``imsi`` (its USIM keys; a SIP Digest password
    too if given, as the lab's demo subscribers have)."""
    reg = FakeRegistrar()
    k = demo_k(imsi)
    reg.add(Sub(impi=f"{imsi}@{DOMAIN}", k=k, opc=auth.opc(k, DEMO_OP), password=password))
    return reg


async def serve_udp(reg: FakeRegistrar, host: str = "127.0.0.1") -> tuple[
        asyncio.DatagramTransport, int]:
    table = TransactionTable()

    def datagram(data: bytes, reply: Reply) -> None:
        if reg.drop_first > 0:
            reg.drop_first -= 1
            return
        reg.datagrams += 1
        req = parse_message(data)
        assert isinstance(req, Request)
        now = asyncio.get_running_loop().time()
        stx = table.match_request(req)
        if stx is not None:
            stx.receive(req, now)  # a retransmission: the same response again
        else:
            stx = table.create_server(req, reliable=False, now=now)
            stx.send_response(reg.handle(req), now)
        for out in stx.data_to_send():
            if stx.last_status in reg.lose:
                reg.lose.remove(stx.last_status)  # lost on the way to the UE
                continue
            reply(out)

    return await udp_peer(datagram, host)


async def serve_tcp(reg: FakeRegistrar, host: str = "127.0.0.1") -> tuple[asyncio.Server, int]:
    def frame(data: bytes, reply: Reply) -> None:
        req = parse_message(data, stream=True)
        assert isinstance(req, Request)
        reply(reg.handle(req).to_bytes())

    peer = await tcp_peer(frame, host)
    return peer.server, peer.port
