"""Configs for a four-node lab on chosen loopback addresses (no pytest here: the
benchmark uses it too). SIP on 5060 and Diameter on 3868 of each node's own address."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.interop.hss_process import write_config as write_hss_config

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
SERVER_NAME = f"sip:scscf.{DOMAIN}:5060"
SIP_PORT, DIAMETER_PORT = 5060, 3868


@dataclass(frozen=True)
class Addresses:
    pcscf: str
    icscf: str
    scscf: str
    hss: str


def imsi(n: int) -> str:
    """Demo subscriber number n (1-based): 001010000000001 + n - 1."""
    return f"{1010000000000 + n:015d}"


def node_configs(workdir: Path, a: Addresses, *, log_level: str = "info",
                 min_expires: int = 1) -> dict[str, Path]:
    """Write hss/scscf/icscf/pcscf configs into ``workdir``; returns node → path. The HSS
    runs with avoid_res_zero_octet (SIPp) and its SQLite database under workdir/hss."""
    hss_dir = workdir / "hss"
    hss_dir.mkdir(exist_ok=True)
    paths = {"hss": write_hss_config(hss_dir, a.hss, DIAMETER_PORT, avoid_res_zero_octet=True)}
    log = f'[log]\nlevel = "{log_level}"\nformat = "console"\n'
    diameter = (f'hss_host = "{a.hss}"\nhss_port = {DIAMETER_PORT}\n'
                f'origin_realm = "{DOMAIN}"\nrequest_timeout = 2.0\n')
    texts = {
        "scscf": f"""domain = "{DOMAIN}"
server_name = "{SERVER_NAME}"
service_route = "<sip:orig@{a.scscf}:{SIP_PORT};lr>"
icscf = "{a.icscf}:{SIP_PORT}"
[sip]
host = "{a.scscf}"
port = {SIP_PORT}
[diameter]
origin_host = "scscf.{DOMAIN}"
{diameter}
[registrar]
min_expires = {min_expires}
default_expires = 600
max_expires = 7200
{log}""",
        "icscf": f"""domain = "{DOMAIN}"
[sip]
host = "{a.icscf}"
port = {SIP_PORT}
[diameter]
origin_host = "icscf.{DOMAIN}"
{diameter}
[[scscf]]
name = "{SERVER_NAME}"
address = "{a.scscf}:{SIP_PORT}"
capabilities = []
{log}""",
        "pcscf": f"""domain = "{DOMAIN}"
visited_network_id = "{DOMAIN}"
[sip]
host = "{a.pcscf}"
port = {SIP_PORT}
advertise = "{a.pcscf}"
[home_networks]
"{DOMAIN}" = "{a.icscf}:{SIP_PORT}"
{log}""",
    }
    for name, text in texts.items():
        paths[name] = workdir / f"{name}.toml"
        paths[name].write_text(text)
    return paths


def split_sipp_csv(text: str, ranges: dict[str, range]) -> dict[str, str]:
    """Cut ``ims-core subscriber sipp-csv`` output into one SEQUENTIAL file text per range
    of subscriber numbers."""
    rows = {r.split(";", 1)[0]: r for r in text.splitlines()[1:] if r.strip()}
    return {name: "\n".join(["SEQUENTIAL", *(rows[imsi(n)] for n in numbers)]) + "\n"
            for name, numbers in ranges.items()}
