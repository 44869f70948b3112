"""`ims-core pcscf -c config/pcscf.toml`: load the config, build the core, run the node."""

from __future__ import annotations

import sys

from ims_core.config import ConfigError, load
from ims_core.cscf.runner import run_node

from .config import PcscfConfig
from .core import PcscfCore


def build(config_path: str) -> tuple[PcscfCore, PcscfConfig]:
    cfg = load(PcscfConfig, config_path)
    return PcscfCore(cfg), cfg


def main(config_path: str) -> int:
    try:
        core, cfg = build(config_path)
    except ConfigError as exc:
        print(f"ims-core pcscf: {exc}", file=sys.stderr)
        return 2
    return run_node("pcscf", core, cfg)
