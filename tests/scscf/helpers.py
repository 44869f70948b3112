"""A harness for the sans-I/O S-CSCF: REGISTERs as the I-CSCF forwards them, an HSS made
of the real ``hss.cx`` handlers on a SqliteStore, and a UE side built on ``ims_core.auth``."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import random
from pathlib import Path

from hss.config import CxConfig
from hss.cx import HANDLERS, CxContext
from hss.model import Subscriber
from hss.provision import DEMO_OP, DEMO_PASSWORD, demo_k, demo_subscribers, new_subscriber
from hss.store.sqlite import SqliteStore
from ims_core import auth
from ims_core.cscf import DiameterClient, DiameterQuery, SipListen
from ims_core.diameter import DiameterUnavailable, Message, decode
from ims_core.proxy import Send
from ims_core.scscf import RegistrarSettings, ScscfConfig, ScscfCore
from ims_core.sip import AuthHeader, Request, Response, parse_auth
from ims_core.sip.addressing import Source
from tests.sipmsg import build_request, responses

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
SERVER_NAME = f"sip:scscf.{DOMAIN}:5060"
SCSCF = ("127.0.0.3", 5060)
ICSCF = ("127.0.0.2", 5060)
PCSCF_PATH = "<sip:term@127.0.0.1:5060;lr>"
IMSI = "001010000000001"
IMPI = f"{IMSI}@{DOMAIN}"
IMPU = f"sip:{IMSI}@{DOMAIN}"
MSISDN = "15550000001"
K = demo_k(IMSI)
OPC = auth.opc(K, DEMO_OP)


def config(**registrar: object) -> ScscfConfig:
    return ScscfConfig(
        sip=SipListen(host=SCSCF[0], port=SCSCF[1]),
        diameter=DiameterClient(origin_host=f"scscf.{DOMAIN}", hss_host="127.0.0.4"),
        registrar=dataclasses.replace(RegistrarSettings(), **registrar),  # type: ignore[arg-type]
    )


class FakeHss:
    """Answers the core's Cx queries with the real handlers (after a wire round trip)."""

    def __init__(self, tmp_path: Path, subs: list[Subscriber] | None = None) -> None:
        self.store = SqliteStore(tmp_path / "hss.sqlite")
        self.store.add(subs if subs is not None else list(demo_subscribers(2, DOMAIN)))
        self.ctx = CxContext(store=self.store, cx=CxConfig(domain=DOMAIN),
                             origin_host=f"hss.{DOMAIN}", origin_realm=DOMAIN)
        self.requests: list[Message] = []
        self.down = False

    def answer(self, request: Message) -> Message | Exception:
        wire = decode(request.encode())
        self.requests.append(wire)
        if self.down:
            return DiameterUnavailable("no open peer")
        return decode(HANDLERS[wire.command_code](wire, self.ctx).encode())

    def names(self) -> list[str]:
        return [m.name for m in self.requests]

    def mar_schemes(self) -> list[str]:
        return [m.get("SIP-Auth-Data-Item").get("SIP-Authentication-Scheme")
                for m in self.requests if m.name == "MAR"]

    def scscf_name(self, imsi: str) -> str | None:
        sub = self.store.get(imsi)
        assert sub is not None
        return sub.scscf_name

    def sar_types(self) -> list[int]:
        return [int(m.get("Server-Assignment-Type")) for m in self.requests if m.name == "SAR"]


class Harness:
    def __init__(self, tmp_path: Path, subs: list[Subscriber] | None = None,
                 **registrar: object) -> None:
        self.hss = FakeHss(tmp_path, subs)
        self.rng = random.Random(7)
        self.core = ScscfCore(config(**registrar), rng=self.rng.randbytes)
        self.now = 1000.0
        self.held: list[DiameterQuery] = []
        self.hold = False  # keep queries unanswered (to test timing)

    def close(self) -> None:
        self.hss.store.close()

    def _pump(self) -> list[Send]:
        out: list[Send] = []
        while True:
            out += self.core.data_to_send()
            queries = self.core.queries_to_send()
            if not queries:
                return out
            for q in queries:
                if self.hold:
                    self.held.append(q)
                else:
                    self.core.answer_query(q, self.hss.answer(q.request), self.now)

    def release(self, outcome: Message | Exception | None = None) -> list[Response]:
        """Answer the held queries (with *outcome* instead of the HSS's, if given)."""
        held, self.held = self.held, []
        for q in held:
            self.core.answer_query(
                q, outcome if outcome is not None else self.hss.answer(q.request), self.now)
        return responses(self._pump())

    def rx(self, msg: Request) -> list[Response]:
        self.core.receive(msg, Source("UDP", *ICSCF, None, None), self.now)
        return responses(self._pump())

    def send(self, msg: Request) -> Response:
        finals = [r for r in self.rx(msg) if r.status >= 200]
        assert len(finals) == 1, finals
        return finals[0]

    def tick(self, seconds: float) -> list[Send]:
        self.now += seconds
        deadline = self.core.get_timer()
        if deadline is not None and deadline <= self.now:
            self.core.handle_timer(self.now)
        return self._pump()


_branch = itertools.count(1)


class Ue:
    """A UE (behind a P-CSCF and I-CSCF) that registers one IMPU."""

    def __init__(self, impi: str = IMPI, impu: str = IMPU, k: bytes = K, opc: bytes = OPC,
                 contact: str = "sip:ue1@192.0.2.50:5060", call_id: str = "reg-1@ue") -> None:
        self.impi, self.impu, self.k, self.opc = impi, impu, k, opc
        self.contact, self.call_id = contact, call_id
        self.cseq = 0
        self.nc = 0

    def register(self, *, authorization: str | None = None, expires: int | None = 600,
                 contact: str | None = None, path: bool = True, extra: str = "") -> Request:
        self.cseq += 1
        n = next(_branch)
        contact = contact if contact is not None else f"<{self.contact}>"
        headers = [f"Contact: {contact}"] if contact else []
        if expires is not None:
            headers.append(f"Expires: {expires}")
        if authorization is not None:
            headers.append(f"Authorization: {authorization}")
        if path:
            headers += [f"Path: {PCSCF_PATH}", "Require: path", "Supported: path"]
        headers.append('P-Visited-Network-ID: "visited.net"')
        vias = [f"SIP/2.0/UDP {ICSCF[0]}:{ICSCF[1]};branch=z9hG4bKi{n}",
                f"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp{n}",
                f"SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKu{n}"]
        return build_request("REGISTER", f"sip:{DOMAIN}", vias=vias, max_forwards=68,
                             from_=f"<{self.impu}>;tag=f{n}", to=f"<{self.impu}>",
                             call_id=self.call_id, cseq=self.cseq, headers=headers, extra=extra)

    def empty_authorization(self, algorithm: str | None = None) -> str:
        alg = f",algorithm={algorithm}" if algorithm else ""
        return (f'Digest username="{self.impi}",realm="{DOMAIN}",nonce="",'
                f'uri="sip:{DOMAIN}",response=""{alg}')

    def aka(self, challenge: AuthHeader) -> tuple[bytes, bytes, bytes, bytes]:
        """(sqn, res, ck, ik) after checking AUTN, as the USIM does."""
        raw = base64.b64decode(challenge.nonce or "")
        out = auth.check_autn(self.k, self.opc, raw[:16], raw[16:32])
        assert out is not None, "AUTN MAC failure"
        return out

    def answer(self, challenge: AuthHeader, *, password: bytes | None = None,
               response: str | None = None, auts: bytes | None = None,
               nonce: str | None = None) -> str:
        """Authorization answering *challenge* (AKAv1/AKAv2 from the USIM, MD5 from
        the demo password) — or with *response*/*auts* forced."""
        algorithm = challenge.algorithm or "MD5"
        nonce = nonce if nonce is not None else (challenge.nonce or "")
        self.nc += 1
        nc, cnonce, uri = f"{self.nc:08x}", f"cn{self.nc}", f"sip:{DOMAIN}"
        if auts is not None:
            a = base64.b64encode(auts).decode()
            return (f'Digest username="{self.impi}",realm="{DOMAIN}",nonce="{nonce}",'
                    f'uri="{uri}",response="",algorithm={algorithm},auts="{a}"')
        if response is None:
            if password is None:
                if algorithm.upper().startswith("AKA"):
                    _, res, ck, ik = self.aka(challenge)
                    password = res if algorithm == "AKAv1-MD5" else res + ik + ck
                else:
                    password = DEMO_PASSWORD.encode()
            response = auth.digest_response(algorithm, self.impi, challenge.realm or DOMAIN,
                                            password, "REGISTER", uri, nonce, nc, cnonce,
                                            "auth")
        return (f'Digest username="{self.impi}",realm="{DOMAIN}",nonce="{nonce}",'
                f'uri="{uri}",response="{response}",algorithm={algorithm},'
                f'cnonce="{cnonce}",nc={nc},qop=auth')

    def register_fully(self, h: Harness, expires: int = 600) -> Response:
        r401 = h.send(self.register(authorization=self.empty_authorization(), expires=expires))
        assert r401.status == 401, r401
        return h.send(self.register(authorization=self.answer(challenge_of(r401)),
                                    expires=expires))


def challenge_of(response: Response) -> AuthHeader:
    [value] = response.headers.get_all("www-authenticate")
    return parse_auth(value)


def md5_subscriber(imsi: str = "001010000000009") -> Subscriber:
    return new_subscriber(imsi=imsi, k=demo_k(imsi), op=DEMO_OP, domain=DOMAIN,
                          msisdn="15550000009", password=DEMO_PASSWORD, schemes="md5")


def aka_subscriber(imsi: str = "001010000000008") -> Subscriber:
    """A subscriber without a password: IMS-AKA only (no SIP Digest)."""
    return new_subscriber(imsi=imsi, k=demo_k(imsi), op=DEMO_OP, domain=DOMAIN,
                          msisdn="15550000008")


def reason(response: Response) -> str:
    """The Reason header of a response we generated (RFC 3326)."""
    value = response.headers.get("reason")
    assert value is not None, response
    return value
