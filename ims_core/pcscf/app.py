"""`ims-core pcscf -c config/pcscf.toml`: load the config, build the core, run the node."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from ims_core.config import ConfigError, load
from ims_core.cscf.runner import run_node

from .config import PcscfConfig
from .core import PcscfCore


def build(config_path: str, overrides: Sequence[str] = (),
          environ: Mapping[str, str] | None = None) -> tuple[PcscfCore, PcscfConfig]:
    cfg = load(PcscfConfig, config_path, overrides=overrides, environ=environ)
    return PcscfCore(cfg), cfg


def main(config_path: str, overrides: Sequence[str] = (),
         environ: Mapping[str, str] | None = None) -> int:
    """Run the node from *config_path*, *environ*'s ``IMS_CORE__*`` and ``--set``
    *overrides* applied (:func:`ims_core.config.load`)."""
    try:
        core, cfg = build(config_path, overrides, environ)
    except ConfigError as exc:
        print(f"ims-core pcscf: {exc}", file=sys.stderr)
        return 2
    return run_node("pcscf", core, cfg)
