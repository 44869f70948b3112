"""The layers, read from the source with ``ast``: ``ims_core`` (protocol cores, CSCFs)
never imports ``hss`` or ``ims_lab``; ``hss`` (which builds on ``ims_core``) never imports
``ims_lab``. ``ims_lab``, the composition root, is the one place that imports both.

An import counts wherever it stands (in a function, under ``TYPE_CHECKING``), and so does
a module named as a string: ``importlib.import_module("hss…")``, ``__import__`` or a
dotted literal naming an existing module of the repository (handed to importlib later).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("ims_core", "hss", "ims_lab")
FORBIDDEN: dict[str, tuple[str, ...]] = {"ims_core": ("hss", "ims_lab"), "hss": ("ims_lab",)}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def repo_modules() -> frozenset[str]:
    return frozenset(module_name(p) for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a ``from … import`` names, relative levels resolved against ``module``."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_import_call(call: ast.Call) -> bool:
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return name in ("import_module", "__import__")


def imported(source: str, module: str, *, is_package: bool = False,
             known: frozenset[str] = frozenset()) -> Iterator[tuple[int, str]]:
    """(line, module name) for every module ``source`` imports or names."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and _is_import_call(node) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield node.lineno, arg.value
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and "." in node.value and node.value in known):  # not a bare "hss" node name
            yield node.lineno, node.value


def violations(source: str, module: str, *, is_package: bool = False,
               known: frozenset[str] = frozenset()) -> list[str]:
    """``module:line imports name`` for each import across a forbidden layer boundary."""
    banned = FORBIDDEN.get(module.split(".")[0], ())
    return [f"{module}:{line} imports {name}"
            for line, name in imported(source, module, is_package=is_package, known=known)
            if name.split(".")[0] in banned]


def test_ims_core_and_hss_never_import_upwards() -> None:
    known = repo_modules()
    found: list[str] = []
    checked = 0
    for package in FORBIDDEN:
        for path in sorted((REPO / package).rglob("*.py")):
            checked += 1
            found += violations(path.read_text(), module_name(path),
                                is_package=path.name == "__init__.py", known=known)
    assert checked > 50  # the walk found the sources
    assert found == []


def test_the_composition_root_is_seen_importing_both() -> None:
    # The same reader over ims_lab: were it blind, the test above would pass vacuously.
    source = (REPO / "ims_lab" / "cli.py").read_text()
    # It names the commands' modules as strings (loaded on demand): the known ones count.
    roots = {name.split(".")[0]
             for _, name in imported(source, "ims_lab.cli", known=repo_modules())}
    assert {"hss", "ims_core", "ims_lab"} <= roots


@pytest.mark.parametrize(("module", "source"), [
    ("ims_core.cscf.runner", "import hss.store\n"),
    ("ims_core.cscf.runner", "from hss import provision\n"),
    ("ims_core.cli", "import importlib\nm = importlib.import_module('hss.cli')\n"),
    ("ims_core.cli", "from importlib import import_module\nimport_module('ims_lab')\n"),
    ("ims_core.x", "def f() -> None:\n    from ims_lab.plan import Addresses\n"),
    ("ims_core.x", "if TYPE_CHECKING:\n    import ims_lab\n"),
    ("ims_core.x", "m = __import__('hss')\n"),
    ("ims_core.cli", "MODULES = ('ims_core.ue.cli', 'hss.cli')\n"),
    ("hss.server", "from ims_lab import running\n"),
])
def test_the_checker_catches_a_bad_import(module: str, source: str) -> None:
    found = violations(source, module, known=frozenset({"hss.cli", "ims_core.ue.cli"}))
    assert len(found) >= 1 and found[0].startswith(f"{module}:")


@pytest.mark.parametrize(("module", "source"), [
    ("hss.server", "from ims_core import log, runtime\nimport ims_core.diameter\n"),
    ("hss.cli", "from . import provision\nfrom .store import open_store\n"),
    ("ims_core.cscf.runner", "from ..diameter.node import DiameterNode\n"),
    ("ims_core.diameter.node", "HOST = 'hss.ims.example'\nlog.info('hss', hss='x')\n"),
    ("ims_lab.cli", "from hss import cli\nfrom ims_core.ue import cli as ue_cli\n"),
])
def test_the_checker_lets_allowed_imports_pass(module: str, source: str) -> None:
    assert violations(source, module, known=frozenset({"hss", "hss.cli"})) == []


def test_relative_imports_resolve_against_the_module() -> None:
    src = "from . import a\nfrom ..b import c\nfrom .. import d\n"
    assert [n for _, n in imported(src, "p.q.m")] == ["p.q", "p.q.a", "p.b", "p.b.c", "p",
                                                       "p.d"]
    assert [n for _, n in imported("from . import a\n", "p.q", is_package=True)] == [
        "p.q", "p.q.a"]
