"""The ``ims-core`` command: one subcommand per node or tool.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds an
``argparse`` parser whose ``func`` default takes the parsed namespace and returns an exit
status. This is the composition root: the only place that puts the CSCFs' and the HSS's
commands side by side.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

# Each command -> the module whose ``register`` adds it, in the order --help lists them.
# Only the named command's module is imported (an emulated or busy host starts a node or a
# UE seconds sooner); --help and unknown commands load them all.
COMMANDS: dict[str, str] = {
    "lab": "ims_lab.lab",
    "pcscf": "ims_core.cscf.cli", "icscf": "ims_core.cscf.cli", "scscf": "ims_core.cscf.cli",
    "auth": "ims_core.auth.cli",
    "hss": "hss.cli", "hss-api": "hss.cli", "subscriber": "hss.cli",
    "health": "ims_lab.health",
    "proxy": "ims_core.proxy.cli",
    "ue": "ims_core.ue.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for *command* only, or (None, or a name not in :data:`COMMANDS`) for
    every command."""
    parser = argparse.ArgumentParser(prog="ims-core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    wanted = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    register: Callable[[Any], None]
    for module in dict.fromkeys(wanted):
        register = importlib.import_module(module).register
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["health"]:
        from . import readyz  # http.client: loaded for this command only

        probed = readyz.quick(argv)
        if probed is not None:
            return probed
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
