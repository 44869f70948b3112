"""A sans-I/O harness for the I-CSCF core: REGISTERs in, UARs and SIP out, fake UAAs."""

from __future__ import annotations

from typing import Any

from ims_core.cscf import DOMAIN, DiameterClient, DiameterQuery
from ims_core.diameter import CxResult, Message, make_answer
from ims_core.icscf import IcscfCore, ScscfEntry, ScscfPool
from ims_core.proxy import ProxyConfig, Send
from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Source
from ims_core.sip.inbound import request_source
from tests.sipmsg import build_request

ICSCF = ("127.0.0.2", 5060)
PCSCF = ("127.0.0.1", 5060)
SCSCF_NAME = f"sip:scscf.{DOMAIN}:5060"
SCSCF_ADDR = ("127.0.0.3", 5060)
IMSI = "001010000000001"
IMPI = f"{IMSI}@{DOMAIN}"
IMPU = f"sip:{IMSI}@{DOMAIN}"

POOL = (ScscfEntry(SCSCF_NAME, "127.0.0.3:5060"),)


def register(
    *,
    authorization: str | None = (
        f'Digest username="{IMPI}", realm="{DOMAIN}", nonce="", '
        f'uri="sip:{DOMAIN}", response=""'
    ),
    to: str = f"<{IMPU}>",
    expires: str | None = "600000",
    contact: str | None = "<sip:ue@10.0.0.1:5060>",
    pvni: str | None = '"ims.mnc001.mcc001.3gppnetwork.org"',
    extra: str = "",
    branch: str = "z9hG4bKpcscf1",
    call_id: str = "reg-1@ue",
) -> Request:
    headers = ["Path: <sip:term@127.0.0.1:5060;lr>", "Require: path"]
    for name, value in (("Contact", contact), ("Expires", expires),
                        ("Authorization", authorization), ("P-Visited-Network-ID", pvni)):
        if value is not None:
            headers.append(f"{name}: {value}")
    return build_request(
        "REGISTER", f"sip:{DOMAIN}", vias=[f"SIP/2.0/UDP {PCSCF[0]}:{PCSCF[1]};branch={branch}",
                                          "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKue1"],
        max_forwards=69, from_=f"{to};tag=f1", to=to, call_id=call_id, headers=headers,
        extra=extra)


def source_for(req: Request) -> Source:
    return request_source(req, "UDP", *PCSCF)


class Harness:
    """An IcscfCore with a fake clock; ``rx`` feeds a request and collects UARs."""

    def __init__(self, pool: tuple[ScscfEntry, ...] = POOL, *, hss_failure_status: int = 480,
                 diameter: bool = True, uar_timeout: float | None = None) -> None:
        client = (DiameterClient(origin_host=f"icscf.{DOMAIN}", origin_realm=DOMAIN)
                  if diameter else None)
        self.core = IcscfCore(
            ProxyConfig(host=ICSCF[0], port=ICSCF[1]), client, domain=DOMAIN,
            pool=ScscfPool(pool), hss_failure_status=hss_failure_status,
            uar_timeout=uar_timeout, rng=lambda n: bytes(range(n)),
        )
        self.now = 10.0

    def rx(self, req: Request) -> tuple[list[DiameterQuery], list[Send]]:
        self.core.receive(req, source_for(req), self.now)
        return self.core.queries_to_send(), self.core.data_to_send()

    def answer(self, query: DiameterQuery, outcome: Message | Exception) -> list[Send]:
        """Deliver *outcome* as the adapter does (a second delivery is dropped)."""
        self.now += 0.01
        self.core.answer_query(query, outcome, self.now)
        return self.core.data_to_send()

    def register_and_answer(self, req: Request, outcome: Message | Exception) -> list[Send]:
        queries, sends = self.rx(req)
        assert sends == []  # the REGISTER waits for the UAA
        [query] = queries
        return self.answer(query, outcome)


def uaa(uar: Message, *, experimental: int | None = CxResult.FIRST_REGISTRATION,
        result_code: int | None = None, server_name: str | None = SCSCF_NAME,
        capabilities: dict[str, Any] | None = None) -> Message:
    ans = make_answer(uar, result_code, experimental=experimental if result_code is None
                      else None, origin_host=f"hss.{DOMAIN}", origin_realm=DOMAIN)
    if server_name is not None:
        ans.add("Server-Name", server_name)
    if capabilities is not None:
        ans.add("Server-Capabilities", capabilities)
    return ans


def parsed(sends: list[Send]) -> list[tuple[Request | Response, Send]]:
    return [(parse_message(s.data), s) for s in sends]


def only_response(sends: list[Send]) -> Response:
    [(msg, send)] = parsed(sends)
    assert isinstance(msg, Response)
    assert (send.dest.host, send.dest.port) == PCSCF
    return msg


def only_request(sends: list[Send]) -> tuple[Request, Send]:
    [(msg, send)] = parsed(sends)
    assert isinstance(msg, Request)
    return msg, send
