"""The S-CSCF sends third-party REGISTERs (TS 24.229 §5.4.1.7) after a registration and a
de-registration, and de-registers the user when an AS with DefaultHandling
SESSION_TERMINATED fails one."""

from __future__ import annotations

from pathlib import Path

from hss.provision import DEMO_OP, demo_k, new_subscriber
from ims_core.proxy import Send
from ims_core.scscf.cx import AssignmentType
from ims_core.sip import Request, parse_message
from ims_core.sip.addressing import Source
from ims_core.userdata import DefaultHandling, Ifc, Spt
from tests.sipmsg import answer

from .helpers import DOMAIN, IMPU, IMSI, Harness, Ue

AS = ("192.0.2.90", 5060)


def _harness(tmp_path: Path, handling: DefaultHandling) -> Harness:
    sub = new_subscriber(imsi=IMSI, k=demo_k(IMSI), op=DEMO_OP, domain=DOMAIN, ifcs=[
        Ifc(priority=1, server_name=f"sip:{AS[0]}:{AS[1]}", default_handling=handling,
            spts=(Spt(method="REGISTER"),))])
    return Harness(tmp_path, [sub])


def _to_as(sends: list[Send]) -> list[Request]:
    out = []
    for s in sends:
        msg = parse_message(s.data)
        if isinstance(msg, Request) and msg.method == "REGISTER" and s.dest.host == AS[0]:
            out.append(msg)
    return out


def _register(h: Harness) -> list[Request]:
    """Register the UE; the REGISTERs the core sent the AS on the way."""
    sent: list[Send] = []
    pump = h._pump

    def keep() -> list[Send]:
        out = pump()
        sent.extend(out)
        return out

    h._pump = keep  # type: ignore[method-assign]
    Ue().register_fully(h)
    h._pump = pump  # type: ignore[method-assign]
    return _to_as(sent)


def test_registration_sends_the_as_a_register_with_our_contact(tmp_path: Path) -> None:
    h = _harness(tmp_path, DefaultHandling.SESSION_CONTINUED)
    try:
        (reg,) = _register(h)
        assert str(reg.uri) == f"sip:{AS[0]}:{AS[1]}"
        assert IMPU in (reg.headers.get("to") or "")
        assert reg.headers.get("expires") == "600"
        h.core.receive(answer(reg, 500), Source("UDP", *AS, None, None), h.now)
        h._pump()
        assert h.core.store.get(IMPU) is not None  # SESSION_CONTINUED: still registered
    finally:
        h.close()


def test_a_failing_as_with_session_terminated_deregisters_the_user(tmp_path: Path) -> None:
    h = _harness(tmp_path, DefaultHandling.SESSION_TERMINATED)
    try:
        (reg,) = _register(h)
        h.core.receive(answer(reg, 503), Source("UDP", *AS, None, None), h.now)
        out = h._pump()
        assert h.core.store.get(IMPU) is None
        assert AssignmentType.ADMINISTRATIVE_DEREGISTRATION in h.hss.sar_types()
        (dereg,) = _to_as(out)  # the AS hears of the de-registration too
        assert dereg.headers.get("expires") == "0"
    finally:
        h.close()
