"""Registrations per second through a P-CSCF, with or without IPsec, from one process
(run inside the VM by tests/vm/ipsec_lab.py --bench, itself started by
bench/bench_ipsec.py): `--count` demo subscribers from `--first`, `--concurrency` at a
time, each an initial IMS-AKA registration (two REGISTERs) from its own ports; with
`--ipsec` each also negotiates, installs and at the end removes its SA set.

Prints ``rate R/s ok N failed M seconds S``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from ims_core.ipsec import NetlinkKernel
from ims_core.ue.cli import Ipsec, register_once
from ims_core.ue.profile import demo_profile
from ims_lab.plan import imsi

PORT_BASE = 20000
PORT_STRIDE = 20  # a UE takes PORT..PORT+16 (server port, then client ports)


async def run(args: argparse.Namespace) -> tuple[int, int, float]:
    kernel = NetlinkKernel() if args.ipsec else None
    pcscf_host, _, pcscf_port = args.pcscf.rpartition(":")
    slots = asyncio.Semaphore(args.concurrency)
    ok = failed = 0

    async def one(i: int) -> None:
        nonlocal ok, failed
        async with slots:
            port = PORT_BASE + PORT_STRIDE * (i % args.concurrency)
            outcome = await register_once(
                demo_profile(imsi(args.first + i), args.domain), (pcscf_host, int(pcscf_port)),
                "udp", expires=args.expires, local=(args.local, port),
                ipsec=Ipsec(kernel=kernel) if kernel is not None else None)
            if outcome.ok:
                ok += 1
            else:
                failed += 1
                print(f"failed: {imsi(args.first + i)} {outcome.status} {outcome.error}",
                      flush=True)

    began = time.monotonic()
    try:
        await asyncio.gather(*(one(i) for i in range(args.count)))
    finally:
        if kernel is not None:
            kernel.close()
    return ok, failed, time.monotonic() - began


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.vm.ipsec_bench")
    p.add_argument("--pcscf", required=True, metavar="HOST:PORT")
    p.add_argument("--domain", required=True)
    p.add_argument("--local", required=True, metavar="IP")
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--first", type=int, default=100, help="demo subscriber number")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--expires", type=int, default=60)
    p.add_argument("--ipsec", action="store_true")
    args = p.parse_args(argv)
    ok, failed, seconds = asyncio.run(run(args))
    print(f"rate {ok / seconds:.2f}/s ok {ok} failed {failed} seconds {seconds:.1f}",
          flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
