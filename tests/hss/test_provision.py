"""Provisioning: `ims-core subscriber …` through ims_core.cli.main, and the SIPp CSV."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hss import provision
from hss.model import Ifc, RegState, Spt
from hss.store.sqlite import SqliteStore
from ims_core import auth
from ims_lab.cli import main
from tests.hss.conftest import DOMAIN

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OP = "cdc202d5123e20f62b6d676ac72cb318"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    p = tmp_path / "hss.toml"
    p.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    return p


def cli(cfg: Path, *args: str) -> int:
    return main(["subscriber", "-c", str(cfg), *args])


def db(cfg: Path) -> SqliteStore:
    return SqliteStore(cfg.parent / "data" / "hss.sqlite")


def test_add_show_list_delete(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--msisdn", "+15551234", "--password", "pw", "--sqn", "000000000020"]
    assert cli(cfg, "add", "--imsi", "001010000000042", "--k", K, "--op", OP, *args) == 0
    s = db(cfg).get("001010000000042")
    assert s is not None
    assert s.impi == f"001010000000042@{DOMAIN}"
    assert s.impu_names == (f"sip:001010000000042@{DOMAIN}", f"sip:+15551234@{DOMAIN}",
                            "tel:+15551234")  # fmt: skip
    assert s.opc.hex() == OPC and s.op is not None and s.op.hex() == OP
    assert s.amf == b"\x80\x00" and s.sqn == 0x20
    assert s.schemes == ("akav1", "akav2", "md5")
    assert s.ha1 == auth.ha1(s.impi, DOMAIN, b"pw")
    assert all(p.state == RegState.NOT_REGISTERED for p in s.impus)
    capsys.readouterr()
    assert cli(cfg, "show", "001010000000042") == 0
    out = capsys.readouterr().out
    assert "tel:+15551234" in out and "pw" not in out and K not in out
    assert cli(cfg, "show", "001010000000042", "--secrets") == 0
    assert K in capsys.readouterr().out
    assert cli(cfg, "list") == 0
    out = capsys.readouterr().out
    assert "001010000000042" in out and "1 of 1" in out
    assert cli(cfg, "delete", "001010000000042") == 0
    assert cli(cfg, "delete", "001010000000042") == 1
    assert cli(cfg, "show", "001010000000042") == 1


def test_add_with_opc_and_schemes(cfg: Path) -> None:
    assert cli(cfg, "add", "--imsi", "001010000000007", "--k", K, "--opc", OPC,
               "--amf", "b9b9", "--schemes", "akav1") == 0  # fmt: skip
    s = db(cfg).get("001010000000007")
    assert s is not None and s.op is None and s.opc.hex() == OPC
    assert s.amf.hex() == "b9b9" and s.schemes == ("akav1",) and s.ha1 is None


@pytest.mark.parametrize("args,msg", [
    (["--k", "00"], "k must be 16 bytes"),
    (["--k", "zz" * 16], "k must be hex"),
    (["--schemes", "md5"], "md5 needs a password"),
    (["--schemes", "akav9"], "unknown auth scheme"),
    (["--amf", "80"], "amf must be 2 bytes"),
])  # fmt: skip
def test_add_errors(cfg: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                    msg: str) -> None:  # fmt: skip
    base = {"--imsi": "001010000000001", "--k": K, "--op": OP}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    assert cli(cfg, "add", *[x for kv in base.items() for x in kv]) == 1
    assert msg in capsys.readouterr().err


def test_add_duplicate(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["add", "--imsi", "001010000000001", "--k", K, "--op", OP]
    assert cli(cfg, *args) == 0
    assert cli(cfg, *args) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli(cfg, *args, "--replace") == 0


def test_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense = 1\n")
    assert main(["subscriber", "-c", str(bad), "list"]) == 2
    assert "unknown key" in capsys.readouterr().err
    assert main(["subscriber", "list", "-c", str(tmp_path / "missing.toml")]) == 2


def test_seed_is_documented_and_idempotent(cfg: Path) -> None:
    assert cli(cfg, "seed", "--count", "5") == 0
    assert cli(cfg, "seed", "--count", "7") == 0
    store = db(cfg)
    subs = store.subscribers()
    assert [s.imsi for s in subs] == [f"00101000000000{i}" for i in range(1, 8)]
    s1 = subs[0]
    assert s1.k == b"K001010000000001" and s1.op == b"ims-core-demo-op"
    assert s1.msisdn == "15550000001" and "tel:+15550000001" in s1.impu_names
    assert s1.ha1 == auth.ha1(s1.impi, DOMAIN, b"ims-core-demo")
    assert s1.opc == auth.opc(s1.k, s1.op)


def test_import_csv_and_toml(cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "subs.csv"
    csv.write_text(
        "imsi,k,op,opc,amf,sqn,msisdn,password,schemes\n"
        f"001010000000101,{K},{OP},,,,15550000101,,\n"
        f"001010000000102,{K},,{OPC},8001,000000000040,,secret,md5\n"
    )
    assert cli(cfg, "import", str(csv)) == 0
    toml = tmp_path / "subs.toml"
    toml.write_text(f'''
[[subscriber]]
imsi = "001010000000201"
k = "{K}"
op = "{OP}"
msisdn = "15550000201"
barred = true
[[subscriber.ifcs]]
priority = 10
server_name = "sip:as.example:5060"
spts = [{{ method = "MESSAGE" }}, {{ session_case = 2, group = 1 }}]
''')
    assert cli(cfg, "import", str(toml)) == 0
    store = db(cfg)
    assert store.count() == 3
    s102 = store.get("001010000000102")
    assert s102 is not None and s102.schemes == ("md5",) and s102.sqn == 0x40
    s201 = store.get("001010000000201")
    assert s201 is not None and s201.barred and s201.impus[0].barred
    assert s201.ifcs[0].spts[1].session_case == 2 and s201.has_unregistered_services
    # A bad row rejects the whole file; a duplicate too (nothing half-imported).
    bad = tmp_path / "bad.csv"
    bad.write_text(f"imsi,k,op\n001010000000301,{K},{OP}\n001010000000302,{K},\n")
    capsys.readouterr()
    assert cli(cfg, "import", str(bad)) == 1
    assert "bad.csv:3" in capsys.readouterr().err
    assert cli(cfg, "import", str(csv)) == 1
    assert store.count() == 3
    assert cli(cfg, "import", str(csv), "--replace") == 0
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(f"imsi,k,op,colour\n001010000000401,{K},{OP},red\n")
    assert cli(cfg, "import", str(unknown)) == 1


def test_import_ifcs_in_the_shared_model(cfg: Path, tmp_path: Path) -> None:
    toml = tmp_path / "ifcs.toml"
    toml.write_text(f'''
[[subscriber]]
imsi = "001010000000211"
k = "{K}"
op = "{OP}"
[[subscriber.ifcs]]
priority = 5
server_name = "sip:as.example:5060"
default_handling = 1
condition_type_cnf = false
service_info = "vm"
spts = [{{ method = "INVITE", groups = [0, 1] }},
        {{ sdp_line = "m", sdp_content = "^audio", group = 1, negated = true }}]
''')
    assert cli(cfg, "import", str(toml)) == 0
    s = db(cfg).get("001010000000211")
    assert s is not None
    [ifc] = s.ifcs
    assert ifc == Ifc(5, "sip:as.example:5060", 1, False, service_info="vm", spts=(
        Spt(groups=(0, 1), method="INVITE"),
        Spt(groups=(1,), negated=True, sdp_line="m", sdp_content="^audio")))
    assert not s.has_unregistered_services


@pytest.mark.parametrize("ifc,msg", [
    ('{ priority = 1, server_name = "http://as" }', "sip: or sips: URI"),
    ('{ priority = 1, server_name = "sip:as", colour = "red" }', "unknown field(s) colour"),
    ('{ priority = 1, server_name = "sip:as", spts = [{ method = "A", header = "B" }] }',
     "exactly one of"),
    ('{ priority = 1, server_name = "sip:as", spts = [{ session_case = 9 }] }', "session_case"),
])  # fmt: skip
def test_import_refuses_a_bad_ifc_naming_it(tmp_path: Path, ifc: str, msg: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(f'[[subscriber]]\nimsi = "001010000000212"\nk = "{K}"\nop = "{OP}"\n'
                    f"ifcs = [{ifc}]\n")
    with pytest.raises(provision.ProvisionError, match=r"subscriber\[0\].*" + re.escape(msg)):
        provision.read_import(toml, DOMAIN)


def test_negated_session_case_2_is_no_unregistered_service() -> None:
    s = provision.new_subscriber(imsi="001010000000213", k=K, op=OP, domain=DOMAIN, ifcs=(
        Ifc(1, "sip:as", spts=(Spt(session_case=2, negated=True),)),))
    assert not s.has_unregistered_services
    s = provision.new_subscriber(imsi="001010000000213", k=K, op=OP, domain=DOMAIN, ifcs=(
        Ifc(1, "sip:as", spts=(Spt(method="INVITE"), Spt(session_case=2, groups=(1,)))),))
    assert s.has_unregistered_services


# -- SIPp injection CSV --------------------------------------------------------------------

KW = re.compile(
    r"^\[authentication username=(\S+) aka_K=(\S+) aka_OP=(\S+) aka_AMF=(\S+)\]$"
)


def _unsipp(v: str) -> bytes:
    """What SIPp 3.6.1 makes of a value (checked against the real binary in test_sipp)."""
    if v.startswith('"'):
        v = v[1:-1].replace("\\\\x", "\\x")
        return v.encode("latin-1").decode("unicode_escape").encode("latin-1")
    return v.encode("ascii")


def test_sipp_csv_demo(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(cfg, "seed", "--count", "3") == 0
    cli(cfg, "add", "--imsi", "001010000000050", "--k", K, "--opc", OPC)  # no OP: left out
    capsys.readouterr()
    assert cli(cfg, "sipp-csv", "--count", "2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "SEQUENTIAL"
    assert len(lines) == 3
    imsi, msisdn, kw = lines[1].split(";")
    assert (imsi, msisdn) == ("001010000000001", "15550000001")
    m = KW.match(kw)
    assert m is not None and len(kw) < 256
    assert m.group(1) == f"001010000000001@{DOMAIN}"
    assert m.group(2) == "K001010000000001" and m.group(3) == "ims-core-demo-op"
    assert _unsipp(m.group(4)) == b"\x80"  # + SIPp's NUL terminator = AMF 8000
    assert cli(cfg, "sipp-csv") == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_sipp_values_escape_unsafe_bytes() -> None:
    k = bytes.fromhex(K)  # contains 0x5b '[', 0x5c '\\' and 0x0a
    v = provision.sipp_value(k)
    assert v is not None and v.startswith('"') and "[" not in v and "\n" not in v
    assert _unsipp(v) == k
    assert provision.sipp_value(b"0x41414141414141") != "0x41414141414141"
    assert provision.sipp_value(b"abc\x00") is None


def test_sipp_csv_skips_unrepresentable() -> None:
    ok = provision.new_subscriber(imsi="001010000000001", k=K, op=OP, domain=DOMAIN)
    zero = provision.new_subscriber(imsi="001010000000002", k="00" * 16, op=OP, domain=DOMAIN)
    amf0 = provision.new_subscriber(imsi="001010000000003", k=K, op=OP, amf="0000", domain=DOMAIN)
    text, skipped = provision.sipp_csv([ok, zero, amf0])
    assert skipped == ["001010000000002", "001010000000003"]
    assert text.count("\n") == 2
    kw = text.splitlines()[1].split(";")[2]
    m = KW.match(kw)
    assert m is not None and len(kw) < 256
    assert _unsipp(m.group(2)) == bytes.fromhex(K) and _unsipp(m.group(3)) == bytes.fromhex(OP)


def test_sipp_csv_demo_needs_no_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sipp-csv --demo N --first IMSI``: the demo formula's injection file without the
    store (a SIPp container cannot read the HSS's), the same rows the store would give."""
    cfg = tmp_path / "hss.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "nowhere"}"\n')
    assert main(["subscriber", "-c", str(cfg), "sipp-csv", "--demo", "2", "--first",
                 "001010000000007"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "SEQUENTIAL" and len(rows) == 3
    assert rows[1].startswith("001010000000007;") and rows[2].startswith("001010000000008;")
    assert not (tmp_path / "nowhere").exists()
