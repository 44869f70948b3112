"""``ims-core auth``: compute vectors and digest responses from the command line.

Handy to check a UE or another HSS against ours: every value is hex in and hex out.
"""

from __future__ import annotations

import argparse
import base64
import os
from typing import Any

from ims_core import auth


def _hex(size: int) -> Any:
    def parse(text: str) -> bytes:
        try:
            value = bytes.fromhex(text.removeprefix("0x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not hex: {text!r}") from None
        if len(value) != size:
            raise argparse.ArgumentTypeError(f"expected {size} bytes, got {len(value)}")
        return value

    return parse


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("auth", help="auth core tools (Milenage, AKA)")
    asub = p.add_subparsers(dest="auth_command", metavar="ACTION")
    asub.required = True
    v = asub.add_parser("vector", help="compute one AKA vector (TS 33.102 §6.3.2)")
    v.add_argument("--k", type=_hex(16), required=True, help="subscriber key K (hex)")
    key = v.add_mutually_exclusive_group(required=True)
    key.add_argument("--op", type=_hex(16), help="operator variant OP (hex)")
    key.add_argument("--opc", type=_hex(16), help="OPc (hex)")
    v.add_argument("--rand", type=_hex(16), help="RAND (hex; random when omitted)")
    v.add_argument("--sqn", type=_hex(6), default=bytes(6), help="SQN (hex, 6 bytes)")
    v.add_argument("--amf", type=_hex(2), default=b"\x80\x00", help="AMF (hex, default 8000)")
    v.set_defaults(func=run_vector)
    i = asub.add_parser("info", help="which auth backend and AES implementation are in use")
    i.set_defaults(func=run_info)


def run_vector(args: argparse.Namespace) -> int:
    opc = args.opc if args.opc is not None else auth.opc(args.k, args.op)
    rand = args.rand if args.rand is not None else os.urandom(16)
    autn, xres, ck, ik = auth.generate_vector(args.k, opc, rand, args.sqn, args.amf)
    for name, value in (("opc", opc), ("rand", rand), ("autn", autn), ("xres", xres),
                        ("ck", ck), ("ik", ik)):
        print(f"{name:5} {value.hex()}")
    print(f"nonce {base64.b64encode(rand + autn).decode()}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    print(f"backend {auth.BACKEND}\naes     {auth.aes_impl()}")
    return 0
