"""``ims-core scscf -c config/scscf.toml``: load the config, build the core, run the node."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from ims_core.config import ConfigError, load
from ims_core.cscf.runner import run_node

from .config import ScscfConfig
from .core import ScscfCore


def main(config_path: str, overrides: Sequence[str] = (),
         environ: Mapping[str, str] | None = None) -> int:
    try:
        cfg = load(ScscfConfig, config_path, overrides=overrides, environ=environ)
    except ConfigError as exc:
        print(f"ims-core scscf: {exc}", file=sys.stderr)
        return 2
    return run_node("scscf", ScscfCore(cfg), cfg)
