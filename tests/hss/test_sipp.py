"""The SIPp injection CSV against the real Debian SIPp 3.6.1 binary.

A small registrar on loopback challenges each REGISTER with a vector from the HSS code
(``avoid_res_zero_octet`` on, as SIPp needs) and checks SIPp's AKAv1-MD5 response, so a
key written in a form SIPp misreads fails here.
"""

from __future__ import annotations

import base64
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from hss import provision, vectors
from hss.store.sqlite import SqliteStore
from ims_core import auth
from tests.hss.conftest import DOMAIN

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed"),
]

# The lab's IMS-AKA registration (its first REGISTER carries the empty Authorization of a
# 3GPP UE, the second SIPp's response computed from the CSV's keys).
SCENARIO = Path(__file__).resolve().parents[2] / "config" / "sipp" / "register_aka.xml"


class Registrar(threading.Thread):
    def __init__(self, store: SqliteStore) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.pending: dict[str, bytes] = {}
        self.ok: list[str] = []
        self.bad: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.sock.sendto(self.handle(data.decode("latin-1")), addr)

    def handle(self, msg: str) -> bytes:
        hdrs = "\r\n".join(
            line for line in msg.split("\r\n")
            if line.split(":", 1)[0] in ("Via", "From", "To", "Call-ID", "CSeq")
        )  # fmt: skip
        call_id = re.search(r"^Call-ID: (.*)$", msg, re.M).group(1)  # type: ignore[union-attr]
        imsi = re.search(r"^From: <sip:(\d+)@", msg, re.M).group(1)  # type: ignore[union-attr]
        authz = re.search(r"^Authorization: (.*)$", msg, re.M)
        p = dict(re.findall(r'(\w+)="?([^",]*)"?', authz.group(1))) if authz else {}
        if not p.get("response"):
            sub = self.store.get(imsi)
            assert sub is not None
            v = vectors.issue(self.store, sub, 1, avoid_res_zero_octet=True)[0]
            self.pending[call_id] = v.xres
            nonce = base64.b64encode(v.sip_authenticate).decode()
            extra = (f'WWW-Authenticate: Digest realm="{DOMAIN}", nonce="{nonce}", '
                     'algorithm=AKAv1-MD5, qop="auth"\r\n')  # fmt: skip
            head = f"SIP/2.0 401 Unauthorized\r\n{hdrs}\r\n{extra}"
            return f"{head}Content-Length: 0\r\n\r\n".encode()
        expected = auth.digest_response(
            "AKAv1-MD5", p["username"], DOMAIN, self.pending.pop(call_id), "REGISTER",
            p["uri"], p["nonce"], p.get("nc", ""), p.get("cnonce", ""), p.get("qop", ""),
        )  # fmt: skip
        good = auth.verify_response(p["response"], expected)
        (self.ok if good else self.bad).append(imsi)
        status = "200 OK" if good else "403 Forbidden"
        return f"SIP/2.0 {status}\r\n{hdrs}\r\nContent-Length: 0\r\n\r\n".encode()


def test_sipp_registers_with_exported_keys(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hss.sqlite")
    store.add(provision.demo_subscribers(3, DOMAIN))
    # Keys with bytes SIPp's parser trips on ('[', '\\', newline, high bytes).
    store.add([provision.new_subscriber(
        imsi="001010000000900", k="465b5ce8b199b49faa5f0a2ee238a6bc",
        op="cdc202d5123e20f62b6d676ac72cb318", amf="b9b9", domain=DOMAIN,
    )])  # fmt: skip
    text, skipped = provision.sipp_csv(store.subscribers())
    assert not skipped
    csv = tmp_path / "users.csv"
    csv.write_text(text)
    reg = Registrar(store)
    reg.start()
    try:
        r = subprocess.run(
            ["sipp", f"127.0.0.1:{reg.port}", "-sf", str(SCENARIO), "-inf", str(csv), "-m", "4",
             "-i", "127.0.0.1", "-p", "0", "-nostdin", "-timeout", "20", "-trace_err",
             "-error_file", str(tmp_path / "err.log")],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        )  # fmt: skip
    finally:
        reg.stopped.set()
        reg.join()
        reg.sock.close()
        store.close()
    assert reg.bad == []
    assert sorted(reg.ok) == [
        "001010000000001", "001010000000002", "001010000000003", "001010000000900",
    ], r.stdout[-2000:]
