"""`ims-core pcscf -c config/pcscf.toml`: load the config, build the core, run the node."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from ims_core.config import ConfigError, load
from ims_core.cscf.runner import run_node
from ims_core.ipsec import Kernel, NetlinkKernel, check_support
from ims_core.runtime import EXIT_CONFIG, EXIT_FAILED

from .config import PcscfConfig
from .core import PcscfCore


class IpsecUnsupported(Exception):
    """`[ipsec] enabled` on a host that cannot do it (capability or kernel)."""


def build(config_path: str, overrides: Sequence[str] = (),
          environ: Mapping[str, str] | None = None) -> tuple[PcscfCore, PcscfConfig]:
    cfg = load(PcscfConfig, config_path, overrides=overrides, environ=environ)
    kernel: Kernel | None = None
    if cfg.ipsec.enabled:
        missing = check_support()
        if missing is not None:
            raise IpsecUnsupported(f"[ipsec] enabled, but {missing}")
        kernel = NetlinkKernel()
    return PcscfCore(cfg, kernel=kernel), cfg


def main(config_path: str, overrides: Sequence[str] = (),
         environ: Mapping[str, str] | None = None) -> int:
    """Run the node from *config_path*, *environ*'s ``IMS_CORE__*`` and ``--set``
    *overrides* applied (:func:`ims_core.config.load`)."""
    try:
        core, cfg = build(config_path, overrides, environ)
    except ConfigError as exc:
        print(f"ims-core pcscf: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (IpsecUnsupported, OSError) as exc:  # OSError: the netlink socket
        print(f"ims-core pcscf: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        return run_node("pcscf", core, cfg)
    finally:
        if core.ipsec is not None:  # leave no SA behind (TS 33.203 §7.4: they die with us)
            core.ipsec.close()
