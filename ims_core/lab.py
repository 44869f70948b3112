"""``ims-core lab``: run the whole IMS core on loopback.

The four nodes (P-CSCF, I-CSCF, S-CSCF, HSS) arrive with the registration issue; until
then this command says what the installed build offers instead of pretending to start them.
"""

from __future__ import annotations

import argparse
from typing import Any

from ims_core import auth


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("lab", help="start the whole IMS core on loopback")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("ims-core lab: the P-/I-/S-CSCF and HSS nodes are not built yet.")
    print(f"Available now: the auth core (backend: {auth.BACKEND}, AES: {auth.aes_impl()}).")
    print("Try:  ims-core auth vector --k 465b5ce8b199b49faa5f0a2ee238a6bc \\")
    print("        --op cdc202d5123e20f62b6d676ac72cb318 --sqn ff9bb4d0b607 --amf b9b9")
    return 0
