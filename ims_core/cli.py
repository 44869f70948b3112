"""The ``ims-core`` command: one subcommand per node or tool.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds an
``argparse`` parser whose ``func`` default takes the parsed namespace and returns an exit
status. Modules are listed here so ``ims-core --help`` shows them all.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand modules, in the order --help lists them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "ims_core.lab",
    "ims_core.cscf.cli",
    "ims_core.auth.cli",
    "hss.cli",
    "ims_core.proxy.cli",
    "ims_core.ue.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ims-core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
