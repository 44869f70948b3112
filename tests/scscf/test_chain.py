"""A call between two users of one S-CSCF, through the I-CSCF and back (sans-I/O, both
cores and the real HSS handlers): the originating pass, the LIR, the terminating pass,
the dialog's Record-Route set, and the ACK/BYE that follow it."""

from __future__ import annotations

from pathlib import Path

from hss.provision import DEMO_OP, demo_k
from ims_core import auth
from ims_core.cscf import DiameterClient
from ims_core.icscf import IcscfCore, ScscfEntry, ScscfPool
from ims_core.proxy import ProxyConfig, Send
from ims_core.sip import Request, Response, parse_message
from ims_core.sip.addressing import Source
from tests.sipmsg import answer, build_request

from .helpers import DOMAIN, ICSCF, IMPU, SCSCF, SERVER_NAME, Harness, Ue

PCSCF = ("127.0.0.1", 5060)
IMSI_B = "001010000000002"
IMPU_B = f"sip:{IMSI_B}@{DOMAIN}"
CONTACT_B = "sip:ueb@192.0.2.60:5060"


def invite() -> Request:
    return build_request(
        "INVITE", IMPU_B, vias=from_ue(1), max_forwards=69, from_=f"<{IMPU}>;tag=a1",
        to=f"<{IMPU_B}>", call_id="chain-1@ue",
        headers=["Route: <sip:orig@127.0.0.3:5060;lr>",
                 "Record-Route: <sip:127.0.0.1:5060;lr;ims-leg=orig>",
                 f"P-Asserted-Identity: <{IMPU}>", "Contact: <sip:ue1@192.0.2.50:5060>"])


def from_ue(n: int) -> list[str]:
    """The Vias of the n-th request from UE-A through its P-CSCF."""
    return [f"SIP/2.0/UDP {PCSCF[0]}:{PCSCF[1]};branch=z9hG4bKpa{n}",
            f"SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKua{n}"]


class Chain:
    def __init__(self, tmp_path: Path) -> None:
        self.s = Harness(tmp_path)
        self.i = IcscfCore(
            ProxyConfig(host=ICSCF[0], port=ICSCF[1]),
            DiameterClient(origin_host=f"icscf.{DOMAIN}"), domain=DOMAIN,
            pool=ScscfPool((ScscfEntry(SERVER_NAME, f"{SCSCF[0]}:{SCSCF[1]}"),)))
        self.out: list[tuple[Request | Response, tuple[str, int]]] = []  # leaving the pair

    def deliver(self, msg: Request | Response, src: tuple[str, int],
                to: tuple[str, int]) -> None:
        """Feed *msg* to the node at *to*, then keep routing between the two cores."""
        queue: list[tuple[Request | Response, tuple[str, int], tuple[str, int]]] = [
            (msg, src, to)]
        for _ in range(50):
            if not queue:
                return
            m, frm, dst = queue.pop(0)
            node = self.s.core if dst == SCSCF else self.i
            node.receive(m, Source("UDP", *frm, None, None), self.s.now)
            sends = self._drain(node)
            for send in sends:
                parsed = parse_message(send.data)
                hop = (send.dest.host, send.dest.port)
                if hop in (SCSCF, ICSCF):
                    queue.append((parsed, dst, hop))
                elif not (isinstance(parsed, Response) and parsed.status == 100):
                    self.out.append((parsed, hop))
        raise AssertionError("routing did not settle")

    def _drain(self, node: object) -> list[Send]:
        if node is self.s.core:
            return self.s._pump()
        out = self.i.data_to_send()
        for q in self.i.queries_to_send():
            self.i.answer_query(q, self.s.hss.answer(q.request), self.s.now)
            out += self.i.data_to_send()
        return out


def reply(req: Request, status: int, rr: bool = True) -> Response:
    return answer(req, status, to_tag="b1", extra=f"Contact: <{CONTACT_B}>\r\n",
                  record_route=rr)


def test_call_between_two_users_of_one_scscf(tmp_path: Path) -> None:
    c = Chain(tmp_path)
    Ue().register_fully(c.s)
    k = demo_k(IMSI_B)
    Ue(impi=f"{IMSI_B}@{DOMAIN}", impu=IMPU_B, k=k, opc=auth.opc(k, DEMO_OP),
       contact=CONTACT_B, call_id="reg-b@ue").register_fully(c.s)

    c.deliver(invite(), PCSCF, SCSCF)
    [(fwd, hop)] = c.out
    assert isinstance(fwd, Request) and hop == PCSCF
    assert fwd.uri_text == CONTACT_B
    assert fwd.headers.values("route") == ["<sip:term@127.0.0.1:5060;lr>"]
    # Term leg on top of orig leg; the I-CSCF is not in the route set.
    assert fwd.headers.values("record-route") == [
        "<sip:127.0.0.3:5060;lr;ims-leg=term>", "<sip:127.0.0.3:5060;lr;ims-leg=orig>",
        "<sip:127.0.0.1:5060;lr;ims-leg=orig>"]
    assert [m.name for m in c.s.hss.requests].count("LIR") == 1
    # Via: S-CSCF (term), I-CSCF, S-CSCF (orig), P-CSCF, UE.
    assert [(v.host, v.port) for v in fwd.vias()][:4] == [SCSCF, ICSCF, SCSCF, PCSCF]

    c.out.clear()
    c.deliver(reply(fwd, 200), PCSCF, SCSCF)
    [(ok, hop)] = c.out
    assert isinstance(ok, Response) and ok.status == 200 and hop == PCSCF
    assert len(ok.vias()) == 2  # P-CSCF's and the UE's

    # The caller's ACK and BYE: Route = the Record-Route set as UE-A reverses it.
    for n, method in enumerate(("ACK", "BYE"), start=2):
        c.out.clear()
        req = build_request(
            method, CONTACT_B, vias=from_ue(n), max_forwards=69, from_=f"<{IMPU}>;tag=a1",
            to=f"<{IMPU_B}>;tag=b1", call_id="chain-1@ue", cseq=1 if method == "ACK" else 2,
            headers=["Route: <sip:127.0.0.3:5060;lr;ims-leg=orig>",
                     "Route: <sip:127.0.0.3:5060;lr;ims-leg=term>",
                     "Route: <sip:term@127.0.0.1:5060;lr>"])
        c.deliver(req, PCSCF, SCSCF)
        [(out, hop)] = c.out
        assert isinstance(out, Request) and out.method == method and hop == PCSCF
        assert out.headers.values("route") == ["<sip:term@127.0.0.1:5060;lr>"]
        assert "record-route" not in out.headers
        assert out.uri_text == CONTACT_B
    assert [m.name for m in c.s.hss.requests].count("LIR") == 1  # none in the dialog
    c.s.close()
