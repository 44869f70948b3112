"""``ims-core pcscf|icscf|scscf -c config/<node>.toml``: run one CSCF.

Each node package provides ``app.main(config_path: str) -> int``; it is imported only
when that node is started.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

NODES = {
    "pcscf": "P-CSCF: first hop for UEs (TS 24.229 §5.2)",
    "icscf": "I-CSCF: entry to the home network, S-CSCF selection (TS 24.229 §5.3)",
    "scscf": "S-CSCF: registrar and session control (TS 24.229 §5.4)",
}


def register(sub: Any) -> None:
    for name, help_text in NODES.items():
        p: argparse.ArgumentParser = sub.add_parser(name, help=f"run the {help_text}")
        p.add_argument("-c", "--config", default=f"config/{name}.toml", metavar="FILE",
                       help=f"node config (default config/{name}.toml)")
        p.set_defaults(func=_runner(name))


def _runner(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        app = importlib.import_module(f"ims_core.{name}.app")
        status: int = app.main(args.config)
        return status

    return run
