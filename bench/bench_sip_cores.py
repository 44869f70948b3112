"""CPU per SIP message in the three CSCFs, in-process: SIPp-like IMS-AKA registrations
through the real P-CSCF, I-CSCF and S-CSCF cores, each behind its real `ProxyServer` and
`SipTransport` (receive, parse, transactions, cores, serialise, send), wired by a fake
UDP network and a fake clock; the HSS is the real `hss.cx` handlers on a SQLite store.
No sockets, no asyncio: only the nodes' own work is timed, in CPU time of this thread (the
UE, the HSS and the Diameter codec are not; nor is time the machine gives to others).

    python bench/bench_sip_cores.py [--subscribers 1000] [--rounds 3] [--profile pcscf]

Round 1 registers every subscriber for the first time (the P-CSCF then subscribes to its
reg event: SUBSCRIBE, NOTIFY); later rounds re-register them with new Call-IDs, as SIPp
looping over its injection file does. Figures are µs of CPU per registration and per SIP
message received, per node, for the first and for the later rounds; the baseline is
`parse_message` alone over the same messages, measured in the same run.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import io
import itertools
import json
import os
import pstats
import sys
import tempfile
import time
import types
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The Python sources even after `make compiled`: fakes stand in for the transport's
# sockets here, and a compiled class takes no fake (ims_core/native.py).
os.environ["IMS_CORE_PURE"] = "1"

from hss.config import CxConfig  # noqa: E402
from hss.cx import HANDLERS, CxContext  # noqa: E402
from hss.provision import DEMO_OP, demo_k, demo_subscribers  # noqa: E402
from hss.store.sqlite import SqliteStore  # noqa: E402
from ims_core import auth, log  # noqa: E402
from ims_core.config import LogConfig, load  # noqa: E402
from ims_core.cscf import CscfCore, DiameterQuery  # noqa: E402
from ims_core.diameter import decode  # noqa: E402
from ims_core.icscf import IcscfCore  # noqa: E402
from ims_core.icscf.app import load_config as icscf_config  # noqa: E402
from ims_core.pcscf import PcscfConfig, PcscfCore  # noqa: E402
from ims_core.proxy.server import ProxyServer  # noqa: E402
from ims_core.scscf import ScscfConfig, ScscfCore  # noqa: E402
from ims_core.sip import Response, parse_auth, parse_message  # noqa: E402
from ims_core.transport import TransportConfig  # noqa: E402

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
UE = ("127.0.0.10", 5061)
RATE = 300.0  # registrations per second of fake time


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[_Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(when, callback)
        self.timers.append(timer)
        return timer


class _Timer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


Addr = tuple[str, int]


class _Udp:
    """Stands in for the asyncio datagram transport: sends go on the network queue."""

    def __init__(self, net: Network, local: Addr) -> None:
        self.net, self.local = net, local

    def sendto(self, data: bytes, addr: Addr) -> None:
        self.net.wire.append((data, self.local, (addr[0], int(addr[1])), None))


class _Conn:
    """One end of a fake TCP connection: what is written arrives at the other end."""

    def __init__(self, net: Network, local: Addr, peer: Addr) -> None:
        self.net, self.local, self.peer = net, local, peer
        self.other: _Conn | None = None

    def write(self, data: bytes) -> bool:
        self.net.wire.append((data, self.local, self.peer, self.other))
        return True


class _Endpoint:
    def __init__(self, transport: _Udp) -> None:
        self.transport = transport


_FRAMES: dict[str, Callable[[Callable[[], None]], None]] = {}


def _call(fn: Callable[[], None]) -> None:
    fn()


def _frame(label: str) -> Callable[[Callable[[], None]], None]:
    """`_call` under a name of its own (`_in_<node>__<kind>`), for py-spy's stacks."""
    f = _FRAMES.get(label)
    if f is None:
        name = "_in_" + "".join(c if c.isalnum() else "_" for c in label)
        code = _call.__code__.replace(co_name=name, co_qualname=name)
        f = _FRAMES[label] = types.FunctionType(code, globals(), name)
    return f


class Node:
    """A core behind its real ProxyServer and SipTransport (UDP faked)."""

    def __init__(self, name: str, core: CscfCore[Any], net: Network) -> None:
        self.name, self.core, self.net = name, core, net
        cfg = core.config
        self.addr = (cfg.host, cfg.port)
        self.server = ProxyServer(core, TransportConfig(host=cfg.host, port=cfg.port))
        self.server._loop = net.clock  # type: ignore[assignment]
        self.server.transport._udp = _Endpoint(_Udp(net, self.addr))  # type: ignore[assignment]
        flush = self.server._flush

        def _flush() -> None:  # CscfServer's part, without asyncio: queries to the HSS
            flush()
            net.queries.extend((self, q) for q in core.queries_to_send())
        self.server._flush = _flush  # type: ignore[method-assign]
        send = self.server.transport.send

        def _send(data: bytes, dest: Any, on_error: Any = None) -> None:
            if dest.transport != "TCP":
                return send(data, dest, on_error)
            conn = dest.conn or net.connect(self.addr, (dest.host, dest.port))
            conn.write(data)
        self.server.transport.send = _send  # type: ignore[method-assign]
        self.cpu = 0.0
        self.received = 0
        self.kinds: dict[str, list[float]] = {}  # what a message was -> [count, seconds]
        self.profile: cProfile.Profile | None = None

    def run(self, fn: Callable[[], None], kind: str = "") -> None:
        prof = self.profile
        t0 = time.thread_time()
        if prof is not None:
            prof.enable()
        _frame(f"{self.name}__{kind}")(fn)  # node and kind, by name, in py-spy's stacks
        if prof is not None:
            prof.disable()
        spent = time.thread_time() - t0
        self.cpu += spent
        entry = self.kinds.setdefault(kind, [0, 0.0])
        entry[0] += 1
        entry[1] += spent


    def datagram(self, data: bytes, src: Addr, conn: _Conn | None) -> None:
        self.received += 1
        if len(self.net.sample) < 5000:
            self.net.sample.append(data)
        tp = self.server.transport
        line = data[:data.find(b"\r")].decode()
        kind = line.split(" ")[0] if not line.startswith("SIP/") else " ".join(line.split(" ")[:2])
        kind = f"{kind} from {self.net.nodes[src].name if src in self.net.nodes else 'ue'}"
        if conn is None:
            self.run(lambda: tp._on_datagram(data, src), kind)
        else:
            self.run(lambda: tp._on_frame(conn, data), kind + "/tcp")  # type: ignore[arg-type]

    def answer(self, query: DiameterQuery, outcome: Any) -> None:
        def deliver() -> None:
            self.core.answer_query(query, outcome, self.net.clock.now)
            self.server._flush()
        self.run(deliver, f"{query.request.name} answer")


class Network:
    def __init__(self, tmp: Path, subscribers: int) -> None:
        self.clock = Clock()
        self.wire: deque[tuple[bytes, Addr, Addr, _Conn | None]] = deque()
        self.conns: dict[tuple[Addr, Addr], _Conn] = {}
        self.queries: deque[tuple[Node, DiameterQuery]] = deque()
        cfg = ROOT / "config"
        pcscf = PcscfCore(load(PcscfConfig, cfg / "pcscf.toml"))
        icscf = IcscfCore.from_config(icscf_config(str(cfg / "icscf.toml")))
        scscf = ScscfCore(load(ScscfConfig, cfg / "scscf.toml"))
        self.nodes = {n.addr: n for n in (Node("pcscf", pcscf, self), Node("icscf", icscf, self),
                                          Node("scscf", scscf, self))}
        self.store = SqliteStore(tmp / "hss.sqlite")
        self.store.add(list(demo_subscribers(subscribers, DOMAIN)))
        self.hss = CxContext(store=self.store, cx=CxConfig(domain=DOMAIN),
                             origin_host=f"hss.{DOMAIN}", origin_realm=DOMAIN)
        self.ue_inbox: list[Response] = []
        self.sample: list[bytes] = []  # messages the nodes received, for the baseline

    def connect(self, local: Addr, peer: Addr) -> _Conn:
        """`local`'s end of a (shared) connection to `peer`."""
        conn = self.conns.get((local, peer))
        if conn is None:
            conn = self.conns[(local, peer)] = _Conn(self, local, peer)
            back = self.conns[(peer, local)] = _Conn(self, peer, local)
            conn.other, back.other = back, conn
        return conn

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes.values() if n.name == name)

    def settle(self) -> None:
        while self.wire or self.queries:
            while self.wire:
                data, src, dst, conn = self.wire.popleft()
                node = self.nodes.get(dst)
                if node is not None:
                    node.datagram(data, src, conn)
                elif dst == UE:
                    msg = parse_message(data)
                    if isinstance(msg, Response) and msg.status >= 200:
                        self.ue_inbox.append(msg)
            if self.queries:
                node, q = self.queries.popleft()
                wire = decode(q.request.encode())
                node.answer(q, decode(HANDLERS[wire.command_code](wire, self.hss).encode()))

    def advance(self, seconds: float) -> None:
        clock = self.clock
        clock.now += seconds
        due = [t for t in clock.timers if t.when <= clock.now]
        clock.timers = [t for t in clock.timers if t.when > clock.now and not t.cancelled]
        for t in due:
            if not t.cancelled:
                node = next(n for n in self.nodes.values() if n.server._timer is cast(Any, t))
                node.run(t.callback, "timers")
        self.settle()


_calls = itertools.count(1)


def register(imsi: str, call_id: str, cseq: int, authorization: str) -> bytes:
    impu = f"sip:{imsi}@{DOMAIN}"
    n = next(_calls)
    return (
        f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {UE[0]}:{UE[1]};rport;branch=z9hG4bK-{n}-{cseq}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <{impu}>;tag=4242SIPpTag00{n}\r\n"
        f"To: <{impu}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{imsi}@{UE[0]}:{UE[1]};transport=UDP>\r\n"
        f"{authorization}\r\n"
        "Expires: 600\r\n"
        "Supported: path\r\n"
        "User-Agent: SIPp ims-core tests\r\n"
        "Content-Length: 0\r\n\r\n").encode()


def aka_authorization(imsi: str, challenge: Response) -> str:
    ch = parse_auth(challenge.headers.get("www-authenticate") or "")
    raw = base64.b64decode(ch.nonce or "")
    k = demo_k(imsi)
    out = auth.check_autn(k, auth.opc(k, DEMO_OP), raw[:16], raw[16:32])
    assert out is not None
    _, res, _, _ = out
    impi, uri = f"{imsi}@{DOMAIN}", f"sip:{DOMAIN}"
    response = auth.digest_response("AKAv1-MD5", impi, DOMAIN, res, "REGISTER", uri,
                                    ch.nonce or "", "00000001", "0a4f113b", "auth")
    return (f'Authorization: Digest username="{impi}",realm="{DOMAIN}",'
            f'nonce="{ch.nonce}",uri="{uri}",response="{response}",algorithm=AKAv1-MD5,'
            'cnonce="0a4f113b",nc=00000001,qop=auth')


def registration(net: Network, imsi: str, call_id: str) -> None:
    first = (f'Authorization: Digest username="{imsi}@{DOMAIN}", realm="{DOMAIN}", '
             f'nonce="", uri="sip:{DOMAIN}", response=""')
    pcscf = net.node("pcscf").addr
    net.wire.append((register(imsi, call_id, 1, first), UE, pcscf, None))
    net.settle()
    [r401] = net.ue_inbox
    net.ue_inbox.clear()
    assert r401.status == 401, r401
    net.wire.append((register(imsi, call_id, 2, aka_authorization(imsi, r401)), UE, pcscf, None))
    net.settle()
    [ok] = net.ue_inbox
    net.ue_inbox.clear()
    assert ok.status == 200, ok
    net.advance(1 / RATE)


def run_round(net: Network, imsis: list[str], tag: str) -> dict[str, tuple[float, int]]:
    before = {n.name: (n.cpu, n.received) for n in net.nodes.values()}
    collections = sum(s["collections"] for s in gc.get_stats())
    for imsi in imsis:
        registration(net, imsi, f"{tag}-{imsi}@{UE[0]}")
    figures = {n.name: (n.cpu - before[n.name][0], n.received - before[n.name][1])
               for n in net.nodes.values()}
    if gc.isenabled():
        figures["gc"] = (0.0, sum(s["collections"] for s in gc.get_stats()) - collections)
    return figures


def kinds(net: Network, count: int) -> None:
    """µs per event of each kind, per node (all rounds)."""
    for node in net.nodes.values():
        print(f"  {node.name}:")
        for kind, (n, spent) in sorted(node.kinds.items(), key=lambda kv: -kv[1][1]):
            print(f"    {kind:32} {n / count:5.2f}/reg {spent / n * 1e6:8.1f} µs each")


def parse_baseline(sample: list[bytes]) -> float:
    """µs of CPU per message to parse the messages in `sample` (best of three)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.thread_time()
        for data in sample:
            parse_message(data)
        best = min(best, time.thread_time() - t0)
    return best / max(len(sample), 1) * 1e6


def report(title: str, figures: dict[str, tuple[float, int]], count: int) -> None:
    print(title)
    total = 0.0
    for name, (cpu, received) in figures.items():
        if name == "gc":
            print(f"  {received / count:.2f} collections per registration (all processes)")
            continue
        total += cpu
        print(f"  {name:6} {cpu / count * 1e6:8.1f} µs/registration  "
              f"{cpu / max(received, 1) * 1e6:6.1f} µs/message  ({received / count:.1f} msg/reg)")
    print(f"  all    {total / count * 1e6:8.1f} µs/registration")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="rounds after the first")
    ap.add_argument("--profile", choices=("pcscf", "icscf", "scscf"), action="append",
                    default=[], help="cProfile this node in the later rounds")
    ap.add_argument("--profile-first", action="store_true",
                    help="profile the first round instead")
    ap.add_argument("--gc", type=str, default="", metavar="A,B,C",
                    help="leave the cyclic GC on with these thresholds (its pauses land in "
                         "whatever node runs); off by default")
    ap.add_argument("--json", action="store_true", help="one JSON line of µs/registration")
    ap.add_argument("--kinds", action="store_true", help="µs per kind of event, per node")
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--lines", type=int, default=45)
    args = ap.parse_args(argv)
    log.setup(LogConfig(level="info"), stream=io.StringIO())
    with tempfile.TemporaryDirectory() as d:
        net = Network(Path(d), args.subscribers)
        imsis = [s.imsi for s in demo_subscribers(args.subscribers, DOMAIN)]
        gc.collect()
        gc.freeze()
        if args.gc:
            a, b, c = (int(x) for x in args.gc.split(","))
            gc.set_threshold(a, b, c)
        else:
            gc.disable()
        if args.profile_first:
            for name in args.profile:
                net.node(name).profile = cProfile.Profile()
        first = run_round(net, imsis, "r0")
        if not args.json:
            report("first registrations", first, len(imsis))
        if not args.profile_first:
            for name in args.profile:
                net.node(name).profile = cProfile.Profile()
        later = [run_round(net, imsis, f"r{i}") for i in range(1, args.rounds + 1)]
        if later:
            summed = {k: (sum(r[k][0] for r in later), sum(r[k][1] for r in later))
                      for k in later[0]}
            if args.json:
                n = len(imsis)
                print(json.dumps({f"{phase}.{k}": round(v[0] / count * 1e6, 1)
                                  for phase, figs, count in (("first", first, n),
                                                             ("again", summed, n * len(later)))
                                  for k, v in figs.items() if k != "gc"}))
            else:
                report("re-registrations", summed, len(imsis) * len(later))
                per_message = sum(v[0] for k, v in summed.items() if k != "gc") / max(
                    sum(v[1] for k, v in summed.items() if k != "gc"), 1) * 1e6
                base = parse_baseline(net.sample)
                print(f"baseline: parse_message alone {base:.1f} µs/message "
                      f"(a node spends {per_message / base:.1f}x that per message)")
        if args.kinds:
            print("events (all rounds):")
            kinds(net, len(imsis) * (1 + len(later)))
        for name in args.profile:
            prof = net.node(name).profile
            assert prof is not None
            print(f"\n== {name} ==")
            pstats.Stats(prof).sort_stats(args.sort).print_stats(args.lines)
        net.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
