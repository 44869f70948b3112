"""An independent Cx client — the PyPI package python-diameter — talks to a running
``ims-core hss`` over TCP: CER, UAR, MAR, SAR, LIR, DPR. Its codec builds every request and
parses every answer; we only move bytes. tshark then decodes the capture as Diameter Cx.

python-diameter's MAR class models SIP-Auth-Data-Item with the RFC 4740 (vendor 0) codes,
and its UAR/LIR classes omit Session-Id, so those AVPs are built with its generic Avp.new.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ims_core import auth
from ims_lab.plan import DOMAIN
from ims_lab.running import CLIENT_HOST, HssProcess, running_hss

diameter = pytest.importorskip("diameter.message")
from diameter.message import Message  # noqa: E402
from diameter.message.avp import Avp  # noqa: E402
from diameter.message.avp.grouped import VendorSpecificApplicationId  # noqa: E402
from diameter.message.commands import (  # noqa: E402
    CapabilitiesExchangeRequest,
    DisconnectPeerRequest,
    LocationInfoRequest,
    ServerAssignmentRequest,
    UserAuthorizationRequest,
)
from diameter.message.commands.multimedia_auth import MultimediaAuthRequest  # noqa: E402

pytestmark = pytest.mark.integration

CX_APP, TGPP = 16777216, 10415
IMSI = "001010000000001"
IMPI = f"{IMSI}@{DOMAIN}"
IMPU = f"sip:{IMSI}@{DOMAIN}"
SCSCF = f"sip:scscf.{DOMAIN}:5060"
DEMO_K = b"K" + IMSI.encode()  # documented demo keys (config/hss.toml)
DEMO_OP = b"ims-core-demo-op"
_ids = itertools.count(1)


class CxClient:
    """python-diameter's codec over a plain blocking socket."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=5)

    def exchange(self, req: Message) -> Message:
        req.header.hop_by_hop_identifier = next(_ids)
        req.header.end_to_end_identifier = next(_ids)
        self.sock.sendall(req.as_bytes())
        head = self._read(20)
        length = struct.unpack("!I", b"\0" + head[1:4])[0]
        ans = Message.from_bytes(head + self._read(length - 20))
        assert ans.header.hop_by_hop_identifier == req.header.hop_by_hop_identifier
        assert not ans.header.is_request
        return ans

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("HSS closed the connection")
            buf += chunk
        return buf

    def close(self) -> None:
        self.sock.close()


def _cx_common(msg: Any, session: str) -> Any:
    msg.header.is_proxyable = True
    msg.header.application_id = CX_APP
    msg.session_id = session
    msg.vendor_specific_application_id = VendorSpecificApplicationId(
        vendor_id=TGPP, auth_application_id=CX_APP)
    msg.auth_session_state = 1  # NO_STATE_MAINTAINED
    msg.origin_host = CLIENT_HOST.encode()
    msg.origin_realm = DOMAIN.encode()
    msg.destination_realm = DOMAIN.encode()
    if not any(a.code == 263 for a in msg.avps):
        # python-diameter 0.9's UAR and LIR request classes leave Session-Id out.
        msg.append_avp(Avp.new(263, 0, session, is_mandatory=True))
    return msg


def _find(msg: Message, code: int, vendor: int = 0) -> list[Any]:
    return [a for a in msg.avps if a.code == code and a.vendor_id == vendor]


def _experimental(msg: Message) -> int | None:
    for er in _find(msg, 297):
        for a in er.value:
            if a.code == 298:
                return int(a.value)
    return None


def _result(msg: Message) -> int | None:
    rc = _find(msg, 268)
    return int(rc[0].value) if rc else _experimental(msg)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HssProcess, Path]]:
    """A running HSS with a tshark capture of its port around the whole module."""
    tmp = tmp_path_factory.mktemp("hss")
    pcap = tmp / "cx.pcapng"
    with running_hss(tmp, seed=3) as hss:
        tshark = shutil.which("tshark")
        cap = None
        if tshark:
            cap = subprocess.Popen(
                [tshark, "-q", "-i", "lo", "-f", f"tcp port {hss.port}", "-w", str(pcap)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _wait_capture_ready(cap, hss, pcap)
        try:
            yield hss, pcap
        finally:
            if cap is not None:
                time.sleep(0.5)
                cap.terminate()
                cap.wait(timeout=10)
                assert cap.stderr is not None
                cap.stderr.close()


def _wait_capture_ready(cap: subprocess.Popen[bytes], hss: HssProcess, pcap: Path) -> None:
    """tshark says "Capturing on" before its filter is live: probe with bare TCP connects
    until one shows up in the file, so no Cx exchange is missed."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if cap.poll() is not None:
            assert cap.stderr is not None
            pytest.fail(f"tshark exited: {cap.stderr.read().decode(errors='replace')}")
        with socket.create_connection((hss.host, hss.port), timeout=2):
            pass
        time.sleep(0.2)
        if pcap.exists() and pcap.stat().st_size > 400:  # more than the pcapng headers
            return
    pytest.fail("tshark capture did not start")


@pytest.fixture(scope="module")
def client(capture: tuple[HssProcess, Path]) -> Iterator[CxClient]:
    hss, _ = capture
    c = CxClient(hss.host, hss.port)
    cer = CapabilitiesExchangeRequest()
    cer.origin_host = CLIENT_HOST.encode()
    cer.origin_realm = DOMAIN.encode()
    cer.host_ip_address = "127.0.0.1"
    cer.vendor_id = TGPP
    cer.product_name = "python-diameter"
    cer.supported_vendor_id = [TGPP]
    cer.vendor_specific_application_id = [
        VendorSpecificApplicationId(vendor_id=TGPP, auth_application_id=CX_APP)]
    cea = c.exchange(cer)
    assert _result(cea) == 2001
    vsai = _find(cea, 260)
    assert any({(a.code, a.value) for a in g.value} >= {(266, TGPP), (258, CX_APP)} for g in vsai)
    assert TGPP in [a.value for a in _find(cea, 265)]
    yield c
    dpr = DisconnectPeerRequest()
    dpr.origin_host = CLIENT_HOST.encode()
    dpr.origin_realm = DOMAIN.encode()
    dpr.disconnect_cause = 0
    assert _result(c.exchange(dpr)) == 2001
    c.close()


def _uar(session: str, impi: str = IMPI, impu: str = IMPU) -> Any:
    uar = _cx_common(UserAuthorizationRequest(), session)
    uar.user_name = impi
    uar.public_identity = impu
    uar.visited_network_identifier = DOMAIN.encode()
    return uar


def _mar(session: str, impi: str, items: int, authorization: bytes | None = None) -> Any:
    mar = _cx_common(MultimediaAuthRequest(), session)
    mar.user_name = impi
    mar.avps = [*mar.avps]
    inner = [Avp.new(608, TGPP, "Digest-AKAv1-MD5", is_mandatory=True)]
    if authorization is not None:
        inner.append(Avp.new(610, TGPP, authorization, is_mandatory=True))
    for avp in (
        Avp.new(601, TGPP, IMPU, is_mandatory=True),
        Avp.new(607, TGPP, items, is_mandatory=True),
        Avp.new(612, TGPP, inner, is_mandatory=True),
        Avp.new(602, TGPP, SCSCF, is_mandatory=True),
    ):
        mar.append_avp(avp)
    return mar


def test_uar_first_registration(client: CxClient) -> None:
    uaa = client.exchange(_uar("scscf;uar;1"))
    assert _experimental(uaa) == 2001  # DIAMETER_FIRST_REGISTRATION, in Experimental-Result
    assert _find(uaa, 602, TGPP) or _find(uaa, 603, TGPP)
    assert [a.value for a in _find(uaa, 263)] == ["scscf;uar;1"]


def test_mar_gives_vectors_a_ue_accepts(client: CxClient) -> None:
    maa = client.exchange(_mar("scscf;mar;1", IMPI, 3))
    assert _result(maa) == 2001
    # TS 29.229 §6.1.8: MAA echoes User-Name and Public-Identity
    assert [a.value for a in _find(maa, 1)] == [IMPI]
    assert [a.value for a in _find(maa, 601, TGPP)] == [IMPU]
    items = _find(maa, 612, TGPP)
    assert len(items) == 3
    opc = auth.opc(DEMO_K, DEMO_OP)
    sqns = []
    for item in items:
        fields = {a.code: a.value for a in item.value}
        assert fields[608] == "Digest-AKAv1-MD5"
        rand, autn = fields[609][:16], fields[609][16:]
        checked = auth.check_autn(DEMO_K, opc, rand, autn)
        assert checked is not None, "MAC-A did not verify with the demo keys"
        sqn, res, ck, ik = checked
        assert fields[610] == res and fields[625] == ck and fields[626] == ik
        sqns.append(sqn)
    assert len(set(sqns)) == 3


def test_mar_resync(client: CxClient) -> None:
    opc = auth.opc(DEMO_K, DEMO_OP)
    rand = bytes(range(16))
    sqn_ms = (10_000 << 5).to_bytes(6, "big")  # far ahead of the HSS
    auts = auth.make_auts(DEMO_K, opc, rand, sqn_ms)
    maa = client.exchange(_mar("scscf;mar;2", IMPI, 1, authorization=rand + auts))
    assert _result(maa) == 2001
    fields = {a.code: a.value for a in _find(maa, 612, TGPP)[0].value}
    checked = auth.check_autn(DEMO_K, opc, fields[609][:16], fields[609][16:])
    assert checked is not None
    assert int.from_bytes(checked[0], "big") > int.from_bytes(sqn_ms, "big")


def test_mar_unknown_user(client: CxClient) -> None:
    maa = client.exchange(_mar("scscf;mar;3", f"999990000000001@{DOMAIN}", 1))
    assert _experimental(maa) == 5001  # DIAMETER_ERROR_USER_UNKNOWN


def test_sar_then_uar_and_lir(client: CxClient) -> None:
    sar = _cx_common(ServerAssignmentRequest(), "scscf;sar;1")
    sar.user_name = IMPI
    sar.public_identity = [IMPU]
    sar.server_name = SCSCF
    sar.server_assignment_type = 1  # REGISTRATION
    sar.user_data_already_available = 0
    saa = client.exchange(sar)
    assert _result(saa) == 2001
    user_data = _find(saa, 606, TGPP)[0].value
    assert b"<IMSSubscription" in user_data and IMPU.encode() in user_data

    uaa = client.exchange(_uar("scscf;uar;2"))
    assert _experimental(uaa) == 2002  # DIAMETER_SUBSEQUENT_REGISTRATION
    assert [a.value for a in _find(uaa, 602, TGPP)] == [SCSCF]

    lir = _cx_common(LocationInfoRequest(), "icscf;lir;1")
    lir.public_identity = IMPU
    lia = client.exchange(lir)
    assert _result(lia) == 2001
    assert [a.value for a in _find(lia, 602, TGPP)] == [SCSCF]


def test_tshark_decodes_cx(capture: tuple[HssProcess, Path], client: CxClient) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.fail("tshark is not installed (make tools / .ci/install-tools installs it)")
    hss, pcap = capture
    # one more exchange so the capture holds traffic even when this test runs alone
    client.exchange(_uar("scscf;uar;tshark"))
    time.sleep(1.0)
    decode = ["-d", f"tcp.port=={hss.port},diameter"]
    base = [tshark, "-n", "-r", str(pcap), *decode]
    # warnings fail too, except TCP's own "Sequence" notes (dup-ACK, D-SACK)
    bad = subprocess.run([*base, "-Y", "_ws.malformed || _ws.expert.severity >= error || "
                          "(_ws.expert.severity >= warning && !(_ws.expert.group == 0x02000000))"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 0, bad.stderr
    assert bad.stdout.strip() == "", f"malformed packets or expert warnings:\n{bad.stdout}"
    cmds = subprocess.run([*base, "-Y", "diameter", "-T", "fields", "-e", "diameter.cmd.code",
                           "-e", "diameter.flags.request", "-e", "diameter.applicationId"],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    rows = {tuple(line.split("\t")) for line in cmds.splitlines()}
    for code in ("300", "301", "302", "303"):
        assert (code, "1", str(CX_APP)) in rows, f"request {code} not decoded: {rows}"
        assert (code, "0", str(CX_APP)) in rows, f"answer {code} not decoded: {rows}"
    info = subprocess.run([*base, "-Y", "diameter"], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    for name in ("User-Authorization", "Multimedia-Auth", "Server-Assignment", "Location-Info"):
        assert name in info, f"{name} not shown by tshark"
