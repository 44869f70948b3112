"""Runs INSIDE the test VM (tests/vm/test_xfrm_vm.py) as root, where the kernel has ESP:
installs P-CSCF SA sets with NetlinkKernel and checks them against what ``ip xfrm``
prints, against our own dump decoder, and with traffic: a UDP exchange and a TCP
connection over loopback through the SAs, with the selectors' protocol "any".

    python -m tests.ipsec.xfrm_probe [--traffic] [--capture DIR]

Prints one line per check ("ok: ..." / "FAIL: ..."), the finding on protocol "any"
("proto-any udp=yes tcp=yes"), and exits 1 if a check failed. ``--capture`` writes one
SA and one policy message of the kernel's dumps to DIR, in hex.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

from ims_core.ipsec import (
    Direction,
    Endpoint,
    NetlinkKernel,
    SaSet,
    XfrmError,
    build_sa_set,
    check_support,
)
from ims_core.ipsec import xfrm as codec

IK = bytes.fromhex("f769bcd751044604127672711c6d3441")  # TS 35.208 set 1 f4
CK = bytes.fromhex("b40ba9a3c58b2a05bbf0d987b21bf8cb")  # f3
PCSCF = Endpoint("192.0.2.1", port_c=5066, port_s=5064, spi_c=0x1001, spi_s=0x1002)
UE = Endpoint("192.0.2.10", port_c=40001, port_s=40000, spi_c=0x2001, spi_s=0x2002)
# One P-CSCF set per algorithm pair, each with its own UE address and SPIs.
SETS = (
    ("hmac-sha-1-96", "aes-cbc", PCSCF, UE),
    ("hmac-md5-96", "des-ede3-cbc", replace(PCSCF, spi_c=0x1101, spi_s=0x1102),
     replace(UE, host="192.0.2.11", spi_c=0x2101, spi_s=0x2102)),
    ("hmac-sha-1-96", "null", replace(PCSCF, spi_c=0x1201, spi_s=0x1202),
     replace(UE, host="192.0.2.12", spi_c=0x2201, spi_s=0x2202)),
    ("hmac-md5-96", "aes-cbc", replace(PCSCF, host="2001:db8::1", spi_c=0x1301, spi_s=0x1302),
     replace(UE, host="2001:db8::10", spi_c=0x2301, spi_s=0x2302)),
)
# Loopback traffic: the P-CSCF on 127.0.0.1, the UE on 127.0.0.2; one kernel holds both
# sides, so the UE's SAs are the P-CSCF's (same destination and SPI) and only its
# policies are added.
LO_PCSCF = Endpoint("127.0.0.1", port_c=5166, port_s=5164, spi_c=0x3001, spi_s=0x3002)
LO_UE = Endpoint("127.0.0.2", port_c=41001, port_s=41000, spi_c=0x4001, spi_s=0x4002)
WAIT = 3.0  # seconds for a datagram or a connection over loopback


class Probe:
    def __init__(self) -> None:
        self.failures = 0
        self.checks = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        self.checks += 1
        if ok:
            print(f"ok: {what}")
        else:
            self.failures += 1
            print(f"FAIL: {what}" + (f"\n{detail}" if detail else ""))
        return ok


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30,
                          check=True).stdout


def blocks(text: str) -> list[str]:
    """``ip xfrm`` output cut into one block per SA or policy (continuations indent)."""
    out: list[str] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            out.append(line)
        elif out:
            out[-1] += "\n" + line
    return [" ".join(b.split()) for b in out]


def prefix(host: str) -> str:
    return f"{host}/{32 if ':' not in host else 128}"


def check_listing(probe: Probe, sa_set: SaSet, label: str) -> None:
    states, policies = blocks(ip("xfrm", "state")), blocks(ip("xfrm", "policy"))
    for sa in sa_set.sas:
        want = [f"src {sa.src} dst {sa.dst}", f"proto esp spi 0x{sa.spi:08x}",
                "mode transport", f"auth-trunc {sa.auth} 0x{sa.auth_key.hex()} 96",
                f"enc {sa.enc} 0x{sa.enc_key.hex()}" if sa.enc_key else f"enc {sa.enc}",
                f"sel src {prefix(sa.src)} dst {prefix(sa.dst)} sport {sa.sport} "
                f"dport {sa.dport}"]
        found = [b for b in states if f"spi 0x{sa.spi:08x}" in b and f"dst {sa.dst} " in b]
        probe.check(len(found) == 1 and all(w in found[0] for w in want),
                    f"{label}: ip xfrm state shows SA 0x{sa.spi:08x}",
                    "\n".join(["want:", *want, "got:", *found]))
    for pol in sa_set.policies:
        want = [f"src {prefix(pol.src)} dst {prefix(pol.dst)} sport {pol.sport} "
                f"dport {pol.dport}", f"dir {pol.direction.name.lower()}",
                f"tmpl src {pol.src} dst {pol.dst}",
                f"proto esp spi 0x{pol.spi:08x} reqid 0 mode transport"]
        found = [b for b in policies if b.startswith(want[0] + " ")]
        probe.check(len(found) == 1 and all(w in found[0] for w in want),
                    f"{label}: ip xfrm policy shows {pol.direction.name} "
                    f"{pol.sport}->{pol.dport}", "\n".join(["want:", *want, "got:", *found]))


def check_dumps(probe: Probe, kernel: NetlinkKernel, sa_set: SaSet, label: str) -> None:
    """Our decoder on the kernel's own dump messages."""
    sas = {(s.dst, s.spi): s for s in kernel.dump_sas()}
    for sa in sa_set.sas:
        got = sas.get((sa.dst, sa.spi))
        probe.check(
            got is not None and (got.src, got.auth, got.auth_key, got.auth_trunc_bits, got.enc,
                                 got.enc_key, got.mode, got.proto) == (
                sa.src, sa.auth, sa.auth_key, 96, sa.enc, sa.enc_key,
                codec.XFRM_MODE_TRANSPORT, codec.IPPROTO_ESP)
            and (got.selector.src, got.selector.dst, got.selector.sport, got.selector.dport,
                 got.selector.proto) == (sa.src, sa.dst, sa.sport, sa.dport, 0),
            f"{label}: dump decodes SA 0x{sa.spi:08x}", repr(got))
    policies = {(p.selector.src, p.selector.dst, p.selector.sport, p.selector.dport,
                 p.direction): p for p in kernel.dump_policies()}
    for pol in sa_set.policies:
        found = policies.get((pol.src, pol.dst, pol.sport, pol.dport, pol.direction))
        probe.check(
            found is not None and [(t.src, t.dst, t.spi, t.proto, t.mode)
                                   for t in found.templates] == [
                (pol.src, pol.dst, pol.spi, codec.IPPROTO_ESP, codec.XFRM_MODE_TRANSPORT)],
            f"{label}: dump decodes policy {pol.direction.name} {pol.sport}->{pol.dport}",
            repr(found))


def packets(kernel: NetlinkKernel) -> dict[int, int]:
    return {s.spi: s.packets for s in kernel.dump_sas()}


def udp_exchange(src: tuple[str, int], dst: tuple[str, int]) -> bool:
    """A datagram src -> dst and the answer back; False if either got lost."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as a, \
            closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as b:
        for s, address in ((a, src), (b, dst)):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(address)
            s.settimeout(WAIT)
        try:
            a.sendto(b"REGISTER", dst)
            data, peer = b.recvfrom(100)
            b.sendto(b"SIP/2.0 200 OK", peer)
            return data == b"REGISTER" and peer == src and a.recv(100) == b"SIP/2.0 200 OK"
        except OSError:
            return False


def tcp_exchange(src: tuple[str, int], dst: tuple[str, int]) -> bool:
    """A TCP connection src -> dst carrying one message each way."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as server, \
            closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as client:
        for s, address in ((server, dst), (client, src)):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(address)
            s.settimeout(WAIT)
        server.listen(1)
        try:
            client.connect(dst)
            conn, peer = server.accept()
            with conn:
                conn.settimeout(WAIT)
                client.sendall(b"INVITE")
                data = conn.recv(100)
                conn.sendall(b"SIP/2.0 100 Trying")
                return (data == b"INVITE" and peer == src
                        and client.recv(100) == b"SIP/2.0 100 Trying")
        except OSError:
            return False


def through(kernel: NetlinkKernel, spis: tuple[int, ...],
            exchange: Callable[[], bool]) -> tuple[bool, dict[int, int]]:
    """Run ``exchange``; whether it got through and how many packets each SA carried."""
    before = packets(kernel)
    ok = exchange()
    after = packets(kernel)
    return ok, {spi: after.get(spi, 0) - before.get(spi, 0) for spi in spis}


@contextmanager
def installed(kernel: NetlinkKernel, sa_set: SaSet) -> Iterator[SaSet]:
    kernel.add(sa_set)
    try:
        yield sa_set
    finally:
        kernel.remove(sa_set)


@contextmanager
def xfrm_on_lo() -> Iterator[None]:
    """IPv4 on lo skips xfrm by default (devinet.c sets disable_xfrm and disable_policy
    for loopback): turned on for the traffic checks, put back afterwards."""
    conf = Path("/proc/sys/net/ipv4/conf/lo")
    saved = {name: (conf / name).read_text() for name in ("disable_xfrm", "disable_policy")}
    try:
        for name in saved:
            (conf / name).write_text("0\n")
        yield
    finally:
        for name, value in saved.items():
            (conf / name).write_text(value)


def traffic(probe: Probe, kernel: NetlinkKernel) -> None:
    p = build_sa_set(LO_PCSCF, LO_UE, alg="hmac-sha-1-96", ealg="aes-cbc", ck=CK, ik=IK)
    u = build_sa_set(LO_UE, LO_PCSCF, alg="hmac-sha-1-96", ealg="aes-cbc", ck=CK, ik=IK)
    ue_policies = SaSet(sas=(), policies=u.policies)
    uc, us = (LO_UE.host, LO_UE.port_c), (LO_UE.host, LO_UE.port_s)
    pc, ps = (LO_PCSCF.host, LO_PCSCF.port_c), (LO_PCSCF.host, LO_PCSCF.port_s)
    found: dict[str, bool] = {}
    with xfrm_on_lo(), installed(kernel, p), installed(kernel, ue_policies):
        # UE requests port_uc -> port_ps (SPI spi_ps), answers back (SPI spi_uc).
        ue_spis = (LO_PCSCF.spi_s, LO_UE.spi_c)
        for proto, exchange in (("udp", udp_exchange), ("tcp", tcp_exchange)):
            ok, counted = through(kernel, ue_spis, partial(exchange, uc, ps))
            # On one host each packet passes its SA twice: out, then in.
            found[proto] = ok and all(n >= 2 for n in counted.values())
            probe.check(found[proto], f"{proto} UE port_uc -> P port_ps and back through "
                        f"the SAs (packets per SPI {counted})")
        # P-CSCF requests port_pc -> port_us (SPI spi_us), answers (SPI spi_pc).
        ok, counted = through(kernel, (LO_UE.spi_s, LO_PCSCF.spi_c),
                              partial(udp_exchange, pc, us))
        probe.check(ok and all(n >= 2 for n in counted.values()),
                    f"udp P port_pc -> UE port_us and back through the SAs ({counted})")
        print(ip("-s", "xfrm", "state"))
        # Without the UE's outbound policy its request leaves in clear: the P-CSCF's
        # inbound policy must drop it.
        request = next(x for x in ue_policies.policies
                       if x.direction is Direction.OUT and x.dport == LO_PCSCF.port_s)
        kernel.remove(SaSet((), (request,)))
        try:
            probe.check(not udp_exchange(uc, ps),
                        "an unprotected datagram port_uc -> port_ps is dropped")
        finally:
            kernel.add(SaSet((), (request,)))
    print(f"proto-any udp={'yes' if found['udp'] else 'no'} "
          f"tcp={'yes' if found['tcp'] else 'no'}")


def capture(kernel: NetlinkKernel, out: Path) -> None:
    """One SA and one policy message as the kernel dumps them (for tests/ipsec)."""
    sa_set = build_sa_set(PCSCF, UE, alg="hmac-sha-1-96", ealg="aes-cbc", ck=CK, ik=IK)
    with installed(kernel, SaSet(sa_set.sas[:1], sa_set.policies[:1])):
        for name, request in (("sa", codec.dump_sas), ("policy", codec.dump_policies)):
            messages = kernel._dump(request, f"dump {name}")  # the raw messages
            assert len(messages) == 1, messages
            m = messages[0]
            header = codec.NLMSGHDR.pack(codec.NLMSGHDR.size + len(m.payload), m.type,
                                         m.flags, 0, 0)
            (out / f"dump_{name}.hex").write_text((header + m.payload).hex() + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.ipsec.xfrm_probe")
    parser.add_argument("--capture", type=Path)
    parser.add_argument("--traffic", action="store_true",
                        help="also send traffic over lo (turns xfrm on for lo meanwhile)")
    args = parser.parse_args(argv)
    probe = Probe()
    reason = check_support()
    if not probe.check(reason is None, "check_support() finds ESP", str(reason)):
        return 1
    with NetlinkKernel() as kernel:
        if args.capture is not None:
            capture(kernel, args.capture)
        start = kernel.count()
        probe.check(start == (0, 0), f"nothing installed at the start {start}")
        sets = [build_sa_set(p, u, alg=alg, ealg=ealg, ck=CK, ik=IK)
                for alg, ealg, p, u in SETS]
        for sa_set, (alg, ealg, *_) in zip(sets, SETS, strict=True):
            try:
                kernel.add(sa_set)
            except XfrmError as exc:
                probe.check(False, f"{alg}/{ealg}: add", str(exc))
                continue
            probe.check(True, f"{alg}/{ealg}: add")
        probe.check(kernel.count() == (16, 16), f"16 SAs and 16 policies {kernel.count()}")
        for sa_set, (alg, ealg, *_) in zip(sets, SETS, strict=True):
            check_listing(probe, sa_set, f"{alg}/{ealg}")
            check_dumps(probe, kernel, sa_set, f"{alg}/{ealg}")
        try:
            kernel.add(sets[0])
            probe.check(False, "adding a set twice fails")
        except XfrmError as exc:
            probe.check(exc.errno == 17 and kernel.count() == (16, 16),
                        "adding a set twice fails with EEXIST and leaves all in place",
                        str(exc))
        for sa_set in sets:
            kernel.remove(sa_set)
        kernel.remove(sets[0])  # already gone: fine
        probe.check(kernel.count() == (0, 0), f"remove() leaves nothing {kernel.count()}")
        if args.traffic:
            traffic(probe, kernel)
        probe.check(kernel.count() == (0, 0), f"nothing left after traffic {kernel.count()}")
    print(f"xfrm probe: {probe.checks} checks, {probe.failures} failed")
    return 1 if probe.failures else 0


if __name__ == "__main__":
    sys.exit(main())
