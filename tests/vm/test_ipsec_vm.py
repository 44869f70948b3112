"""IPsec sec-agree end to end in a VM whose kernel has ESP (tests/vm/ipsec_lab.py runs
inside it): docker/compose.yaml's topology as network namespaces with the P-CSCF's IPsec
on, our UEs registering with IPsec (a pair of algorithms over UDP, another over TCP;
`make test-vm`: every pair), a call and a MESSAGE between two IPsec UEs, re-registration,
de-registration and a NOTIFY-driven network de-registration, with the SAs and policies
counted in the P-CSCF's and the UEs' kernels after each step. The P-CSCF's capture is
decrypted here by tshark with the SAs' keys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.vm.conftest import Booted, boot_once, require_vm

pytestmark = pytest.mark.vm

QUICK = "python -m tests.vm.ipsec_lab --out /vmout --pairs one"
EVERY = "python -m tests.vm.ipsec_lab --out /vmout --pairs all"
TIMEOUT = 480.0  # about 100 s on an idle machine (software emulation)

# Kernel algorithm names -> Wireshark's ESP SA table (esp_sa UAT) names.
WIRESHARK_ENC = {"cbc(aes)": "AES-CBC [RFC3602]", "cbc(des3_ede)": "TripleDES-CBC [RFC2451]",
                 "ecb(cipher_null)": "NULL"}
WIRESHARK_AUTH = {"hmac(sha1)": "HMAC-SHA-1-96 [RFC2404]",
                  "hmac(md5)": "HMAC-MD5-96 [RFC2403]"}


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Booted:
    return boot_once(request, tmp_path_factory, QUICK, timeout=TIMEOUT, label="IPsec VM lab")


def report(booted: Booted) -> dict[str, object]:
    path = booted.out / "ipsec.json"
    assert path.exists(), booted.result.report()
    data: dict[str, object] = json.loads(path.read_text())
    return data


def failed_checks(booted: Booted) -> list[str]:
    checks = report(booted)["checks"]
    assert isinstance(checks, list) and checks, booted.result.report()
    return [str(c["what"]) for c in checks if not c["ok"]]


@pytest.mark.timeout(TIMEOUT + 60)
def test_every_step_in_the_vm_passes(lab: Booted) -> None:
    assert not lab.result.timed_out, lab.result.report()
    assert failed_checks(lab) == [], lab.result.report()
    assert lab.result.returncode == 0, lab.result.report()
    oks = lab.lines("ok: ")
    for step in ("over udp registered: 4 SAs", "over tcp registered: 4 SAs",
                 "the call was answered", "the MESSAGE got 200", "the callee re-registered",
                 "after re-registrations the old sets are gone",
                 "network de-registration (the P-CSCF's NOTIFY): 0 SAs",
                 "at the end: 0 SAs and 0 policies"):
        assert any(step in line for line in oks), (step, lab.result.output)


def esp_sa_table(booted: Booted) -> str:
    """Wireshark's esp_sa UAT records for every SA the lab saw."""
    lines = []
    sas = report(booted)["sas"]
    assert isinstance(sas, list)
    for sa in sas:
        enc_key = sa["enc_key"] if sa["enc_key"] not in ("", "0x") else ""
        lines.append(",".join(f'"{v}"' for v in (
            "IPv4", sa["src"], sa["dst"], f"0x{sa['spi']:08x}", WIRESHARK_ENC[sa["enc"]],
            enc_key, WIRESHARK_AUTH[sa["auth"]], sa["auth_key"])))
    return "\n".join(lines) + "\n"


def test_tshark_decrypts_the_esp_and_finds_clean_sip_inside(lab: Booted,
                                                             tmp_path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    pcap = lab.out / "pcscf.pcap"
    assert pcap.exists(), lab.result.report()
    home = tmp_path / "home"
    (home / ".config" / "wireshark").mkdir(parents=True)
    (home / ".config" / "wireshark" / "esp_sa").write_text(esp_sa_table(lab))
    fields = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
         "-o", "esp.enable_authentication_check:TRUE", "-Y", "esp",
         "-T", "fields", "-E", "separator=|", "-e", "esp.spi", "-e", "esp.icv_good",
         "-e", "esp.protocol", "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "_ws.malformed",
         "-e", "_ws.expert.severity"],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "HOME": str(home)}).stdout.splitlines()
    rows = [line.split("|") for line in fields if line]
    assert len(rows) >= 40, fields
    undecrypted = [r for r in rows if r[1] != "1"]
    assert undecrypted == [], f"{len(undecrypted)} ESP packets failed ICV or had no SA"
    inner = {p for r in rows for p in r[2].split(",")}
    assert {"0x11", "0x06"} <= inner, inner  # ESP carrying UDP and TCP
    methods = {m for r in rows for m in r[3].split(",") if m}
    assert {"REGISTER", "INVITE", "ACK", "BYE", "MESSAGE", "SUBSCRIBE", "NOTIFY"} <= methods, \
        methods
    assert {"200", "401"} <= {s for r in rows for s in r[4].split(",") if s}
    assert [r for r in rows if r[5]] == [], "malformed packets inside ESP"
    # Expert items: chat and note are fine; warnings (0x600000) and errors (0x800000) not.
    severe = [r for r in rows if any(s in ("6291456", "8388608") for s in r[6].split(","))]
    assert severe == [], severe


@pytest.mark.timeout(TIMEOUT * 2)
def test_every_algorithm_pair(request: pytest.FixtureRequest,
                              tmp_path_factory: pytest.TempPathFactory) -> None:
    """`make test-vm`: the six integrity/encryption pairs of TS 33.203 Annex H."""
    require_vm(request.config, slow=True)
    every = boot_once(request, tmp_path_factory, EVERY, timeout=TIMEOUT * 2 - 30,
                      label="IPsec VM lab, every pair")
    assert failed_checks(every) == [], every.result.report()
    oks = every.lines("ok: ")
    for alg in ("hmac-sha-1-96", "hmac-md5-96"):
        for ealg in ("aes-cbc", "des-ede3-cbc", "null"):
            assert any(f"{alg}/{ealg} over udp: the P-CSCF's SAs use it" in line
                       for line in oks), (alg, ealg, every.result.output)
