"""``ims-core health {pcscf,icscf,scscf,hss} -c FILE [--set KEY=VALUE] [--timeout SECONDS]``:
is the node the config describes serving? Exit 0 healthy, 1 not, with one line on stdout
saying why (a container's HEALTHCHECK; Docker reserves status 2, so a bad config is 1 too).

The node's config is read as the node reads it (the file, ``IMS_CORE__*`` variables,
``--set``), so in a container the probe finds the node the same settings describe.

- A CSCF: an OPTIONS over UDP for its own URI (``sip:<advertised host>:<port>``), sent to
  the address it binds (a wildcard is probed on loopback). 200 is healthy. An I-CSCF or S-CSCF
  answers 503 with Retry-After while its Diameter connection to the HSS is not open
  (:meth:`ims_core.cscf.CscfCore.options_response`).
- The HSS: a CER to its Diameter listen address must get a CEA, and its store must be
  reachable without writing it (SQLite opened read-only, PostgreSQL ``SELECT 1``). The
  probe's Origin-Host is ``health.<realm>``, which the HSS does not list as a peer: it
  answers 3010 DIAMETER_UNKNOWN_PEER and closes. Any CEA means the Diameter stack is
  serving; a probe that is accepted (an HSS that takes any peer) disconnects with DPR.
- ``--http [URL]``: instead, a GET of the node's ``/readyz`` (URL left out: the ``[metrics]``
  address of its config). 200 is healthy; a 503 lists why the node is not ready.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import ipaddress
import math
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hss.config import HssConfig, load_config
from ims_core.config import ConfigError, add_config_args, cli_overrides, load
from ims_core.cscf import CscfConfig
from ims_core.diameter import DiameterConfig, DiameterError, Framer, Message, decode
from ims_core.diameter.capabilities import CER, DPR, build_cer, build_dpr
from ims_core.diameter.errors import ResultCode
from ims_core.sip import Headers, Request, Response, SipParseError, parse_message
from ims_core.sip.fields import MAGIC_COOKIE

from .readyz import DEFAULT_TIMEOUT, NODES, Verdict, probe_http

# A CSCF's config class, in its own package (imported only when that node is probed).
CSCF_CONFIGS = {"pcscf": "PcscfConfig", "icscf": "IcscfConfig", "scscf": "ScscfConfig"}
T1 = 0.5  # RFC 3261 §17.1.2.2: the OPTIONS is sent again after T1, 2·T1, … (Timer E)
DISCONNECT_CAUSE = 2  # DO_NOT_WANT_TO_TALK_TO_YOU (RFC 6733 §5.4.3): a probe, not a peer

Rng = Callable[[int], bytes]


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.seconds = seconds

    def left(self) -> float:
        return max(self.at - time.monotonic(), 0.0)


def _probe_host(host: str) -> str:
    """Where to reach a node bound to *host*: loopback for a wildcard."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host  # a name: resolved when connecting
    if ip.is_unspecified:
        return "::1" if ip.version == 6 else "127.0.0.1"
    return str(ip)


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# -- a CSCF: OPTIONS to itself (RFC 3261 §11) ---------------------------------------------


def options_request(target: tuple[str, int], local: tuple[str, int], rng: Rng) -> Request:
    """An OPTIONS addressed to the node at *target* (its own URI, so it answers it
    itself, §11.2), from *local*, asking for the answer at the source port (RFC 3581)."""
    host, port = _uri_host(target[0]), target[1]
    lhost = _uri_host(local[0])
    h = Headers()
    h.add("Via", f"SIP/2.0/UDP {lhost}:{local[1]};branch={MAGIC_COOKIE}{rng(8).hex()};rport")
    h.add("Max-Forwards", "70")
    h.add("From", f"<sip:health@{lhost}>;tag={rng(5).hex()}")
    h.add("To", f"<sip:{host}:{port}>")
    h.add("Call-ID", f"{rng(10).hex()}@{lhost}")
    h.add("CSeq", "1 OPTIONS")
    h.add("User-Agent", "ims-core-health")
    h.add("Content-Length", "0")
    return Request("OPTIONS", f"sip:{host}:{port}", h)


def options_verdict(node: str, response: Response, where: str) -> Verdict:
    """200: serving. Anything else is not, and says what the node said (Reason,
    Retry-After: a CSCF whose HSS connection is down answers 503)."""
    said = f"{response.status} {response.reason}"
    if response.status == 200:
        return Verdict(True, f"{node}: OPTIONS answered {said} by {where}")
    extra = [f"{name}: {value}" for name in ("Reason", "Retry-After")
             if (value := response.headers.get(name)) is not None]
    detail = f" ({'; '.join(extra)})" if extra else ""
    return Verdict(False, f"{node}: OPTIONS answered {said} by {where}{detail}")


def probe_cscf(node: str, cfg: CscfConfig, timeout: float, rng: Rng = os.urandom) -> Verdict:
    host = _probe_host(cfg.sip.host)  # what it binds: reachable from its own host
    where = f"udp:{_uri_host(host)}:{cfg.sip.port}"
    deadline = _Deadline(timeout)
    try:
        family, _, _, _, addr = socket.getaddrinfo(host, cfg.sip.port, type=socket.SOCK_DGRAM)[0]
    except OSError as exc:
        return Verdict(False, f"{node}: cannot resolve {host}: {exc}")
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(addr)
            local = sock.getsockname()
            request = options_request((cfg.sip.public_host, cfg.sip.port), local[:2], rng)
            response = _exchange(sock, request, deadline)
        except OSError as exc:  # ICMP port unreachable shows as ConnectionRefusedError
            return Verdict(False, f"{node}: no SIP on {where}: {exc.strerror or exc}")
    if response is None:
        return Verdict(False, f"{node}: no answer to OPTIONS from {where} within {timeout:g}s")
    return options_verdict(node, response, where)


def _exchange(sock: socket.socket, request: Request, deadline: _Deadline) -> Response | None:
    """Send *request*, again after T1, 2·T1, … (Timer E, §17.1.2.2), until a final
    response with its Call-ID arrives or the deadline passes."""
    data = request.to_bytes()
    call_id = request.headers.get("call-id")
    interval = T1
    while deadline.left() > 0:
        sock.send(data)
        resend_at = time.monotonic() + interval
        interval = min(interval * 2, 4.0)
        while (wait := min(resend_at - time.monotonic(), deadline.left())) > 0:
            sock.settimeout(wait)
            try:
                got = sock.recv(65535)
            except TimeoutError:
                break
            try:
                msg = parse_message(got)
            except SipParseError:
                continue
            if (isinstance(msg, Response) and msg.status >= 200
                    and msg.headers.get("call-id") == call_id):
                return msg
    return None


# -- the HSS: a CEA and a reachable store ------------------------------------------------


def probe_cer(realm: str, local_ip: str, rng: Rng = os.urandom) -> Message:
    """Our CER (RFC 6733 §5.3.1) as ``health.<realm>``, a host no HSS lists as a peer."""
    cfg = DiameterConfig(origin_host=f"health.{realm}", origin_realm=realm,
                         host_ip_addresses=(local_ip,), product_name="ims-core-health",
                         origin_state_id=int(time.time()) & 0xFFFFFFFF)
    cer = build_cer(cfg)
    cer.hop_by_hop = int.from_bytes(rng(4), "big")
    cer.end_to_end = int.from_bytes(rng(4), "big")
    return cer


def cea_verdict(cea: Message, where: str) -> Verdict:
    """Any CEA means the HSS's Diameter stack reads, decodes and answers."""
    rc = cea.result_code
    try:
        name = ResultCode(rc).name if rc is not None else "none"
    except ValueError:
        name = "unknown"
    note = " (the probe is no configured peer)" if rc == ResultCode.UNKNOWN_PEER else ""
    return Verdict(True, f"Diameter CEA {rc} {name}{note} from {where}")


def _read_message(sock: socket.socket, framer: Framer, deadline: _Deadline) -> Message | None:
    while deadline.left() > 0:
        sock.settimeout(deadline.left())
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return None
        if not data:
            return None
        frames = framer.feed(data)
        if frames:
            return decode(frames[0])
    return None


def probe_diameter(cfg: HssConfig, deadline: _Deadline, rng: Rng = os.urandom) -> Verdict:
    d = cfg.diameter
    host = _probe_host(d.listen_host)
    where = f"{_uri_host(host)}:{d.listen_port}"
    try:
        sock = socket.create_connection((host, d.listen_port), timeout=deadline.left() or 0.01)
    except OSError as exc:
        return Verdict(False, f"no Diameter on {where}: {exc.strerror or exc}")
    with sock:
        try:
            sock.sendall(probe_cer(d.origin_realm, sock.getsockname()[0], rng).encode())
            answer = _read_message(sock, Framer(), deadline)
        except (OSError, DiameterError) as exc:
            return Verdict(False, f"Diameter on {where} failed: {exc}")
        if answer is None or answer.command_code != CER or answer.is_request:
            return Verdict(False, f"no CEA from {where} within {deadline.seconds:g}s")
        if answer.result_code == ResultCode.SUCCESS:  # accepted: leave as a peer would
            dpr = build_dpr(DiameterConfig(f"health.{d.origin_realm}", d.origin_realm),
                            DISCONNECT_CAUSE)
            dpr.hop_by_hop = dpr.end_to_end = int.from_bytes(rng(4), "big")
            with contextlib.suppress(OSError, DiameterError):
                sock.sendall(dpr.encode())
                framer = Framer()
                while (msg := _read_message(sock, framer, deadline)) is not None:
                    if msg.command_code == DPR and not msg.is_request:
                        break
        return cea_verdict(answer, where)


def probe_store(cfg: HssConfig, timeout: float) -> Verdict:
    """The store answers a read, and nothing is created, migrated or written."""
    s = cfg.store
    if s.backend == "sqlite":
        path = s.sqlite_path(cfg.data_dir)
        if not path.is_file():
            return Verdict(False, f"store: no SQLite database at {path}")
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=timeout)
            try:
                conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return Verdict(False, f"store: SQLite {path}: {exc}")
        return Verdict(True, f"store sqlite {path} readable")
    try:
        import psycopg
    except ImportError:
        return Verdict(False, "store: PostgreSQL needs psycopg (pip install 'ims-core[postgres]')")
    try:
        with psycopg.connect(s.dsn, autocommit=True,
                             connect_timeout=max(1, math.ceil(timeout))) as pg:
            pg.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        return Verdict(False, f"store: PostgreSQL: {str(exc).strip()}")
    return Verdict(True, "store postgres answers")


def probe_hss(cfg: HssConfig, timeout: float, rng: Rng = os.urandom) -> Verdict:
    deadline = _Deadline(timeout)
    diameter = probe_diameter(cfg, deadline, rng)
    if not diameter.healthy:
        return Verdict(False, f"hss: {diameter.reason}")
    store = probe_store(cfg, max(deadline.left(), 0.5))
    return Verdict(store.healthy, f"hss: {diameter.reason}; {store.reason}")


# -- any node: GET /readyz on its metrics listener ---------------------------------------


def metrics_url(host: str, port: int, path: str = "/readyz") -> str:
    """``path`` on the metrics listener bound to host:port (a wildcard: on loopback)."""
    return f"http://{_uri_host(_probe_host(host))}:{port}{path}"


def config_readyz_url(node: str, config: str | None, overrides: Sequence[str],
                      environ: Mapping[str, str] | None) -> str:
    """The ``/readyz`` URL of *node*'s ``[metrics]`` table, read as the node reads it;
    :class:`ConfigError` when it is off there."""
    cfg: HssConfig | CscfConfig
    if node == "hss":
        cfg = load_config(config, overrides=overrides, environ=environ)
    else:
        cfg = load(_cscf_config(node), config or f"config/{node}.toml", overrides=overrides,
                   environ=environ)
    if not cfg.metrics.enabled:
        raise ConfigError("metrics.enabled is false: the node serves no /readyz")
    return metrics_url(cfg.metrics.host, cfg.metrics.port)


# -- the command ---------------------------------------------------------------------------


def _cscf_config(node: str) -> type[CscfConfig]:
    cls: type[CscfConfig] = getattr(importlib.import_module(f"ims_core.{node}.config"),
                                    CSCF_CONFIGS[node])
    return cls


def probe(node: str, config: str | None, overrides: Sequence[str],
          environ: Mapping[str, str] | None, timeout: float) -> Verdict:
    """Load *node*'s config as the node does and probe it."""
    try:
        if node == "hss":
            return probe_hss(load_config(config, overrides=overrides, environ=environ),
                             timeout)
        cfg = load(_cscf_config(node), config or f"config/{node}.toml", overrides=overrides,
                   environ=environ)
    except ConfigError as exc:
        return Verdict(False, f"{node}: bad config: {exc}")
    return probe_cscf(node, cfg, timeout)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "health", help="probe a node: exit 0 healthy, 1 not",
        description="Is the node the config describes serving? Exit 0 healthy, 1 not (also "
                    "for a config it cannot read: Docker reserves status 2), with one line "
                    "on stdout saying why.",
        epilog="CSCF: OPTIONS over UDP to its [sip] address, 200 = healthy (503 while an "
               "I-/S-CSCF has no Diameter connection to the HSS). HSS: a CEA to a CER on "
               "its Diameter address and a readable store. --http: GET /readyz instead "
               "(any node with [metrics] on), 200 = healthy.")
    p.add_argument("node", choices=NODES)
    add_config_args(p, None, "the node's config (default config/<node>.toml)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"how long to wait for the node (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--http", nargs="?", const="", default=None, metavar="URL",
                   help="GET the node's /readyz instead, e.g. http://127.0.0.1:9090/readyz "
                        "(URL left out: from the config's [metrics] host and port)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    timeout = max(args.timeout, 0.1)
    if args.http is None:
        verdict = probe(args.node, args.config, cli_overrides(args), os.environ, timeout)
    else:
        url = args.http
        try:
            url = url or config_readyz_url(args.node, args.config, cli_overrides(args),
                                        os.environ)
        except ConfigError as exc:
            verdict = Verdict(False, f"{args.node}: bad config: {exc}")
        else:
            verdict = probe_http(args.node, url, timeout)
    return verdict.report()
