"""The ``ims-core`` command: one subcommand per node or tool.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds an
``argparse`` parser whose ``func`` default takes the parsed namespace and returns an exit
status. This is the composition root: the only place that puts the CSCFs' and the HSS's
commands side by side.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hss import cli as hss_cli
from ims_core.auth import cli as auth_cli
from ims_core.cscf import cli as cscf_cli
from ims_core.proxy import cli as proxy_cli
from ims_core.ue import cli as ue_cli

from . import health, lab

# In the order --help lists them.
SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    lab.register,
    cscf_cli.register,
    auth_cli.register,
    hss_cli.register,
    health.register,
    proxy_cli.register,
    ue_cli.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ims-core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in SUBCOMMANDS:
        register(sub)
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
