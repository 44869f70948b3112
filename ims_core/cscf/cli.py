"""``ims-core pcscf|icscf|scscf -c config/<node>.toml [--set KEY=VALUE ...]``: run one CSCF.

Each node package provides ``app.main(config_path, overrides, environ) -> int``; it is
imported only when that node is started. Settings from ``IMS_CORE__*`` variables and
``--set`` apply to the config it loads (:func:`ims_core.config.load`).
"""

from __future__ import annotations

import argparse
import importlib
import os
from typing import Any

from ims_core.config import SETTINGS_HELP, add_config_args, cli_overrides
from ims_core.runtime import EXIT_HELP

NODES = {
    "pcscf": "P-CSCF: first hop for UEs (TS 24.229 §5.2)",
    "icscf": "I-CSCF: entry to the home network, S-CSCF selection (TS 24.229 §5.3)",
    "scscf": "S-CSCF: registrar and session control (TS 24.229 §5.4)",
}
EPILOG = (f"{SETTINGS_HELP} Logs go to stdout (log.format = \"json\": one JSON object per "
          "line). With metrics.enabled: /metrics (Prometheus), /healthz and /readyz over HTTP "
          f"on metrics.host:port. {EXIT_HELP} (SIP or metrics address), "
          "4 [persist] state store unreachable.")


def register(sub: Any) -> None:
    for name, help_text in NODES.items():
        p: argparse.ArgumentParser = sub.add_parser(
            name, help=f"run the {help_text}", description=f"Run the {help_text}.",
            epilog=EPILOG)
        add_config_args(p, f"config/{name}.toml", "node config")
        p.set_defaults(func=_runner(name))


def _runner(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        app = importlib.import_module(f"ims_core.{name}.app")
        status: int = app.main(args.config, cli_overrides(args), os.environ)
        return status

    return run
