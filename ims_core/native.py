"""The optional compiled build: the hot path (SIP, transactions, proxy and CSCF cores,
transport, Diameter, the Cx handlers) compiled to C with mypyc, with the Python source
as its pure twin. `make compiled` builds it in place (:func:`main` ``build``), `make
pure` removes it (``clean``); ``ims_core.BUILD`` says which one a process runs
("compiled" or "python").

A process runs the compiled modules when they are all there and none is older than its
source; otherwise, or with ``IMS_CORE_PURE=1``, an import hook loads every listed module
from its ``.py`` file. All or none: a class compiled in one module cannot be subclassed
by one interpreted in another, so a source edited after the build (a stale build) puts
the whole process on the source, with a warning. Not compiled itself: it decides.

mypyc compiles a dataclass's methods but not the ``__init__`` the dataclass decorator
generates, which stays interpreted (several times the cost of a compiled one). The classes
built several times per message are declared ``init=False`` with the ``__init__`` written
out (``object.__setattr__`` for frozen ones, which mypyc turns into a plain field store).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

# What is compiled, relative to the directory holding the ims_core and hss packages.
# Whole packages, less what runs once (configuration, command lines, start-up) and the
# few modules whose Python mypyc does not take (the Diameter dictionary's cached_property;
# hss.model, whose cache builds instances with object.__new__; userdata's surrogates).
PACKAGES = ("ims_core/sip", "ims_core/transaction", "ims_core/proxy", "ims_core/cscf",
            "ims_core/pcscf", "ims_core/icscf", "ims_core/scscf", "ims_core/transport",
            "ims_core/diameter", "hss/cx")
MODULES = ("ims_core/deadlines.py", "ims_core/identity.py", "ims_core/reginfo.py",
           "ims_core/userdata_xml.py", "hss/batch.py", "hss/vectors.py", "hss/userdata.py")
SKIPPED = frozenset({"__init__.py", "config.py", "cli.py", "app.py", "runner.py",
                     "dictionary.py"})
SKIPPED_PREFIX = "dict_"  # the Diameter dictionaries: data, read once
STALE_SLACK = 2.0  # seconds a source may be newer than its build (unpacking order)


def sources(root: Path) -> list[Path]:
    """The source files of the compiled modules, relative to *root*, sorted."""
    found = [root / m for m in MODULES]
    for package in PACKAGES:
        found += [p for p in (root / package).glob("*.py")
                  if p.name not in SKIPPED and not p.name.startswith(SKIPPED_PREFIX)]
    return sorted(p.relative_to(root) for p in found)


def module_name(source: Path) -> str:
    return ".".join(source.with_suffix("").parts)


def _built(root: Path, source: Path) -> Path | None:
    """The extension module built for *source*, if any."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for suffix in suffixes:
        candidate = root / source.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def state(root: Path, files: Sequence[Path] | None = None) -> str:
    """"none" (nothing built), "fresh" (every module built after its source) or
    "stale: <why>" (some built, not all, or a source edited since)."""
    files = sources(root) if files is None else files
    missing: list[str] = []
    newer: list[str] = []
    for source in files:
        built = _built(root, source)
        if built is None:
            missing.append(str(source))
        elif (root / source).stat().st_mtime > built.stat().st_mtime + STALE_SLACK:
            newer.append(str(source))
    if len(missing) == len(files):
        return "none"
    if newer:
        return f"stale: {', '.join(newer[:3])}{' ...' if len(newer) > 3 else ''} edited since"
    if missing:
        return f"stale: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} not built"
    return "fresh"


class SourceFirst(importlib.abc.MetaPathFinder):
    """Loads the listed modules from their ``.py`` files, past the extension modules
    the normal finder would pick first."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names or not path:
            return None
        leaf = fullname.rpartition(".")[2] + ".py"
        for entry in path:
            candidate = os.path.join(entry, leaf)
            if os.path.exists(candidate):
                return importlib.util.spec_from_file_location(fullname, candidate)
        return None


def select(root: Path | None = None) -> str:
    """Decide for this process (called once, from ``ims_core/__init__``): "compiled",
    or "python" with the source-first hook installed when a build is there but must
    not be used."""
    root = Path(__file__).resolve().parent.parent if root is None else root
    files = sources(root)
    found = state(root, files)
    if found == "none":
        return "python"
    if found == "fresh" and os.environ.get("IMS_CORE_PURE", "") in ("", "0"):
        return "compiled"
    if found != "fresh":
        print(f"ims_core: compiled build not used ({found}); `make compiled` rebuilds it,"
              " `make pure` removes it", file=sys.stderr)
    sys.meta_path.insert(0, SourceFirst(frozenset(module_name(s) for s in files)))
    return "python"


# The shared library the compiled modules load is ims_core._compiled__mypyc, inside the
# package (mypyc's default puts it at the top level, next to ims_core/, which is on no
# import path of an installed project).
# distutils compiles an extension's C files one after another; mypyc writes one per module
# (about 120), so they are compiled on every core instead (the same steps as
# CCompiler.compile, with the per-file step in a thread pool: gcc runs outside the GIL).
_SETUP = """
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from mypyc.build import mypycify
from setuptools import setup
from distutils.ccompiler import CCompiler

def compile_on_every_core(self, sources, output_dir=None, macros=None, include_dirs=None,
                          debug=False, extra_preargs=None, extra_postargs=None,
                          depends=None):
    macros, objects, extra_postargs, pp_opts, todo = self._setup_compile(
        output_dir, macros, include_dirs, sources, depends, extra_postargs)
    cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)
    def one(obj):
        src, ext = todo[obj]
        self._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(one, [obj for obj in objects if obj in todo]))
    return objects

CCompiler.compile = compile_on_every_core
extensions = mypycify(sys.argv[2:], opt_level=sys.argv[1], multi_file=True,
                      group_name="ims_core._compiled")
for extension in extensions:  # the group's headers go beside it, in build/ims_core
    extension.include_dirs.append("build/ims_core")
setup(name="ims-core-native", py_modules=[], ext_modules=extensions,
      script_args=["build_ext", "--inplace"])
"""


def build(root: Path, opt_level: str = "2") -> None:
    """Compile the listed modules next to their sources (a minute or two; C compiler
    optimisation *opt_level*). Runs in *root* on the Python sources."""
    import subprocess  # here: the cores import this module and stay free of selectors

    clean(root)
    files = [str(s) for s in sources(root)]
    subprocess.run([sys.executable, "-c", _SETUP, opt_level, *files], cwd=root, check=True,
                   env={**os.environ, "IMS_CORE_PURE": "1"})
    mark_built(root)
    print(f"ims_core: compiled {len(files)} modules; check: {state(root)}")


def mark_built(root: Path) -> None:
    """Date every compiled module now. A module's own extension is a stub that loads the
    shared library, unchanged when its source changes: setuptools then copies the one
    left in build/ with its old time, and the build would look stale at once."""
    for source in sources(root):
        built = _built(root, source)
        if built is not None:
            os.utime(built)


def clean(root: Path) -> None:
    """Remove the compiled modules (the C auth core and SIP fast paths stay): every
    extension module beside a ``.py`` of the same name, listed or not. A module dropped
    from the list would otherwise keep its stub, which Python imports before the source
    and which asks the next build's library for a module it no longer has."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for package in {Path(m).parts[0] for m in (*PACKAGES, *MODULES)}:
        for path in (root / package).rglob("*.so"):
            for suffix in suffixes:
                if path.name.endswith(suffix) and (
                        path.with_name(path.name.removesuffix(suffix) + ".py").exists()):
                    path.unlink()
                    break
    for shared in [*root.glob("*__mypyc*"), *(root / "ims_core").glob("*__mypyc*")]:
        shared.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(__file__).resolve().parent.parent
    if args[:1] == ["build"] and len(args) <= 2:
        build(root, *args[1:])
    elif args == ["clean"]:
        clean(root)
    elif args == ["state"]:
        print(state(root))
    else:
        print("usage: ims_core.native.main([build [OPT_LEVEL] | clean | state])",
              file=sys.stderr)
        return 2
    return 0
