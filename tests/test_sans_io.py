"""The sans-I/O layers import with asyncio and socket blocked: every module of the
protocol cores (SIP, transactions, Diameter codec and peer, auth, the proxy core, the
three CSCF cores, the UE's state machine and the HSS's Cx procedures), directly and
through their package ``__init__``s. Only the named asyncio adapters are exempt."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Packages whose every module must be sans-I/O, and the adapters (asyncio by design)
# that are allowed to live inside them.
SANS_IO_PACKAGES = (
    "ims_core.sip",
    "ims_core.transaction",
    "ims_core.auth",
    "ims_core.diameter",
    "ims_core.proxy",
    "ims_core.cscf",
    "ims_core.pcscf",
    "ims_core.icscf",
    "ims_core.scscf",
    "ims_core.ue",
    "ims_core.ipsec",
    "ims_core.persist",
    "hss.cx",
)
# Single sans-I/O modules outside those packages.
SANS_IO_MODULES = (
    "ims_core.identity", "ims_core.config", "ims_core.userdata", "ims_core.deadlines",
    "ims_core.reginfo",
)
ADAPTERS = frozenset({
    "ims_core.auth.cli",
    "ims_core.diameter.node",
    "ims_core.diameter.connection",
    "ims_core.proxy.server",
    "ims_core.proxy.cli",
    "ims_core.cscf.server",
    "ims_core.cscf.runner",
    "ims_core.cscf.cli",
    "ims_core.cscf.drain",
    "ims_core.persist.writer",
    "ims_core.persist.node",
    "ims_core.pcscf.app",
    "ims_core.icscf.app",
    "ims_core.scscf.app",
    "ims_core.ue.client",
    "ims_core.ue.protected_flow",
    "ims_core.ue.cli",
})

CHECK = """
import importlib, sys
sys.modules["asyncio"] = None
sys.modules["socket"] = None
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed.append(f"{name}: {exc}")
loaded = {m for m, v in sys.modules.items() if v is not None}
assert not loaded & {"asyncio", "socket", "selectors"}, loaded & {"asyncio", "socket"}
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def sans_io_modules() -> list[str]:
    out: list[str] = list(SANS_IO_MODULES)
    for package in SANS_IO_PACKAGES:
        path = REPO.joinpath(*package.split("."))
        out.append(package)
        for info in pkgutil.walk_packages([str(path)], prefix=f"{package}."):
            if info.name not in ADAPTERS:
                out.append(info.name)
    return out


def check(modules: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHECK, *modules], capture_output=True,
                          text=True, timeout=120, cwd=REPO)


def test_every_core_module_imports_without_asyncio_or_socket() -> None:
    modules = sans_io_modules()
    assert "ims_core.proxy.core" in modules and "hss.cx.sar" in modules
    assert "ims_core.pcscf.core" in modules and "ims_core.scscf.session" in modules
    result = check(modules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_adapters_listed_exist() -> None:
    """A renamed adapter must not leave a stale exemption behind."""
    for name in ADAPTERS:
        assert REPO.joinpath(*name.split(".")).with_suffix(".py").is_file(), name


@pytest.mark.parametrize("adapter", ["ims_core.transport", "ims_core.cscf.server"])
def test_the_guard_catches_an_asyncio_import(adapter: str) -> None:
    """The check itself fails for a module that imports asyncio (so it cannot pass
    vacuously)."""
    result = check([adapter])
    assert result.returncode != 0
    assert adapter in result.stdout
