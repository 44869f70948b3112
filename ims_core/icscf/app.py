"""``ims-core icscf -c config/icscf.toml``: run the I-CSCF."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from ims_core.config import ConfigError, load
from ims_core.cscf.runner import run_node

from .config import IcscfConfig
from .core import IcscfCore


def load_config(path: str, overrides: Sequence[str] = (),
                environ: Mapping[str, str] | None = None) -> IcscfConfig:
    cfg = load(IcscfConfig, path, overrides=overrides, environ=environ)
    if cfg.diameter is None:
        raise ConfigError(f"{path}: the I-CSCF needs a [diameter] table (the HSS to ask)")
    if not cfg.scscf:
        raise ConfigError(f"{path}: the I-CSCF needs at least one [[scscf]] entry")
    return cfg


def main(config_path: str, overrides: Sequence[str] = (),
         environ: Mapping[str, str] | None = None) -> int:
    try:
        cfg = load_config(config_path, overrides, environ)
        core = IcscfCore.from_config(cfg)
    except (ConfigError, ValueError) as exc:
        print(f"ims-core icscf: {exc}", file=sys.stderr)
        return 2
    return run_node("icscf", core, cfg)
