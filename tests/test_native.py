"""The optional compiled build (ims_core/native.py): which modules it lists, when a
process uses it, and — built for real with mypyc in a copy of the tree — a lab of four
compiled nodes that SIPp registers through over UDP and TCP."""

from __future__ import annotations

import enum
import importlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims_core import native
from ims_lab.plan import SIP_PORT, Addresses, split_sipp_csv
from ims_lab.running import start_lab
from tests.integration.conftest import require_tools, run_sipp

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "config" / "sipp"
SO = importlib.machinery.EXTENSION_SUFFIXES[0]  # this interpreter's, as a build names them


def fake_tree(root: Path, built: bool) -> list[Path]:
    """The listed sources as empty files, each with an "extension" beside it."""
    files = native.sources(ROOT)
    for source in files:
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_text("")
        if built:
            (root / source.with_suffix(SO)).write_bytes(b"")
    return files


def test_the_list_names_existing_hot_modules_and_leaves_out_the_start_up_code() -> None:
    names = {native.module_name(s) for s in native.sources(ROOT)}
    assert {"ims_core.sip.parser", "ims_core.proxy.core", "ims_core.transaction.server",
            "ims_core.pcscf.core", "ims_core.scscf.core", "ims_core.diameter.codec",
            "hss.cx.mar"} <= names
    assert not {n for n in names if n.endswith((".config", ".cli", "__init__"))}
    assert "ims_core.native" not in names and "ims_core.diameter.dictionary" not in names
    assert all((ROOT / s).is_file() for s in native.sources(ROOT))


def test_no_compiled_class_takes_a_function_assigned_in_its_body() -> None:
    """A compiled class keeps only the methods it defines: a function assigned in its body
    (``bind_metrics = gauges.bind_metrics``) is never called through its instances — the
    base class's method is. Checked on the sources: every function in a listed class's
    namespace is defined there."""
    aliased = []
    for source in native.sources(ROOT):
        module = importlib.import_module(native.module_name(source))
        for cls in vars(module).values():
            if (not isinstance(cls, type) or cls.__module__ != module.__name__
                    or issubclass(cls, enum.Enum)):  # enums stay Python classes
                continue
            for name, value in vars(cls).items():
                if name.startswith("__"):
                    continue  # what @dataclass(slots=True) adds (__getstate__, ...)
                if (isinstance(value, types.FunctionType)
                        and not value.__qualname__.startswith(f"{cls.__qualname__}.")):
                    aliased.append(f"{module.__name__}.{cls.__qualname__}.{name}")
    assert aliased == []


def test_state_none_fresh_and_stale(tmp_path: Path) -> None:
    files = fake_tree(tmp_path, built=False)
    assert native.state(tmp_path, files) == "none"
    fake_tree(tmp_path, built=True)
    assert native.state(tmp_path, files) == "fresh"
    edited = tmp_path / files[3]
    later = time.time() + 60
    os.utime(edited, (later, later))  # a source edited after the build
    assert native.state(tmp_path, files).startswith(f"stale: {files[3]}")
    os.utime(edited, (0, 0))
    for source in files:  # stubs setuptools copied from an earlier build, with their times
        os.utime(tmp_path / source.with_suffix(SO), (0, 0))
    os.utime(tmp_path / files[3])
    assert native.state(tmp_path, files).startswith("stale:")
    native.mark_built(tmp_path)  # what a build ends with
    assert native.state(tmp_path, files) == "fresh"
    (tmp_path / files[5].with_suffix(SO)).unlink()  # one module not built
    assert native.state(tmp_path, files) == f"stale: {files[5]} not built"


def test_clean_removes_every_stub_beside_a_source_and_nothing_else(tmp_path: Path) -> None:
    """A module built once and since dropped from the list keeps a stub that Python imports
    before its source and that asks the next build's library for a module it lacks: every
    process importing it failed (found after a trial build with three more modules)."""
    files = fake_tree(tmp_path, built=True)
    dropped = tmp_path / "ims_core" / "metrics" / "families.py"  # not in the list
    dropped.parent.mkdir(parents=True, exist_ok=True)
    dropped.write_text("")
    dropped.with_suffix(SO).write_bytes(b"")
    keep = [tmp_path / "ims_core" / "auth" / f"_akacore{SO}",  # C extensions, no twin .py
            tmp_path / "ims_core" / "sip" / f"_sipfast{SO}"]
    for path in keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    (tmp_path / "ims_core" / f"_compiled__mypyc{SO}").write_bytes(b"")
    native.clean(tmp_path)
    assert native.state(tmp_path, files) == "none"
    assert not dropped.with_suffix(SO).exists() and dropped.exists()
    assert not (tmp_path / "ims_core" / f"_compiled__mypyc{SO}").exists()
    assert all(path.exists() for path in keep)


def test_select_uses_a_fresh_build_and_otherwise_loads_the_sources(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hooks: list[object] = []
    monkeypatch.setattr(sys, "meta_path", hooks)  # select() installs its hook here
    monkeypatch.delenv("IMS_CORE_PURE", raising=False)
    files = fake_tree(tmp_path, built=False)
    assert native.select(tmp_path) == "python" and hooks == []  # nothing built: plain

    fake_tree(tmp_path, built=True)
    assert native.select(tmp_path) == "compiled" and hooks == []

    monkeypatch.setenv("IMS_CORE_PURE", "1")
    assert native.select(tmp_path) == "python"
    assert capsys.readouterr().err == ""  # asked for: no warning
    [hook] = hooks
    assert isinstance(hook, native.SourceFirst)
    name = native.module_name(files[0])
    spec = hook.find_spec(name, [str((tmp_path / files[0]).parent)])
    assert spec is not None and spec.origin == str(tmp_path / files[0])  # the .py, not .so
    assert hook.find_spec("json", None) is None

    monkeypatch.delenv("IMS_CORE_PURE")
    later = time.time() + 60
    os.utime(tmp_path / files[0], (later, later))
    assert native.select(tmp_path) == "python" and len(hooks) == 2
    assert "compiled build not used (stale:" in capsys.readouterr().err


# -- the real build ------------------------------------------------------------------------
LAB = Addresses("127.0.0.211", "127.0.0.212", "127.0.0.213", "127.0.0.214")
SIPP_HOST = "127.0.0.215"
SUBSCRIBERS = 200


def python_in(tree: Path, code: str, pure: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("IMS_CORE_PURE", None)
    if pure:
        env["IMS_CORE_PURE"] = "1"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tree, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def compiled_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages, built with mypyc (optimisation 0: a quicker C compile;
    what is checked is that the compiled code runs, not how fast)."""
    if shutil.which("gcc") is None:
        pytest.fail("the compiled build needs gcc (make tools)")
    tree = tmp_path_factory.mktemp("native")
    for item in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / item, tree / item)
    skip = shutil.ignore_patterns("__pycache__", "*__mypyc*", *(f"{s.stem}.*.so" for s in
                                                                 native.sources(ROOT)))
    for package in ("ims_core", "hss", "ims_lab"):
        shutil.copytree(ROOT / package, tree / package, ignore=skip)
    python_in(tree, "import sys; from ims_core.native import main; sys.exit(main(['build', '0']))")
    # The shared library is inside the package: a top-level one is on no import path of an
    # installed project (only this test's PYTHONPATH would find it).
    assert list(tree.glob("*__mypyc*")) == [] and list(tree.glob("ims_core/_compiled__mypyc*"))
    return tree


@pytest.mark.integration
def test_the_build_is_used_unless_refused(compiled_tree: Path) -> None:
    probe = "import ims_core, ims_core.proxy.core as m; print(ims_core.BUILD, m.__file__)"
    build, where = python_in(compiled_tree, probe).split()
    assert build == "compiled" and where.endswith(".so")
    build, where = python_in(compiled_tree, probe, pure=True).split()
    assert build == "python" and where.endswith("core.py")


@pytest.fixture(scope="module")
def compiled_lab(compiled_tree: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[Path, dict[str, int]]]:
    workdir = tmp_path_factory.mktemp("native_lab")
    saved = dict(os.environ)
    os.environ["PYTHONPATH"] = str(compiled_tree)  # the nodes inherit it
    os.environ.pop("IMS_CORE_PURE", None)
    try:
        lab = start_lab(workdir, LAB, subscribers=SUBSCRIBERS, log_level="warning")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    (workdir / "users.csv").write_text(
        split_sipp_csv(lab.sipp_csv, {"all": range(1, SUBSCRIBERS + 1)})["all"])
    try:
        yield workdir, lab.pids
    finally:
        lab.stop()


@pytest.mark.integration
def test_sipp_registers_through_four_compiled_nodes(
        compiled_lab: tuple[Path, dict[str, int]]) -> None:
    require_tools("sipp")
    workdir, pids = compiled_lab
    for node, pid in pids.items():  # each node really runs the compiled library
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "__mypyc" in maps, f"{node} did not load the compiled modules"
    # The same subscribers twice: first registrations over UDP, then over TCP again.
    for transport, port, count in (("u1", 15260, 100), ("t1", 15261, 100)):
        name = f"native_{transport}"
        argv = ["sipp", f"{LAB.pcscf}:{SIP_PORT}", "-sf", str(SCENARIOS / "register_aka.xml"),
                "-inf", str(workdir / "users.csv"), "-i", SIPP_HOST, "-p", str(port),
                "-t", transport, "-m", str(count), "-r", "100", "-l", "100", "-nostdin",
                "-timeout", "60s", "-timeout_error", "-recv_timeout", "10000"]
        result = run_sipp(workdir, name, argv, timeout=90)
        detail = f"{transport}: exit {result.returncode}, {result.stats}\n{result.screen[-2000:]}"
        assert result.returncode == 0, detail
        assert result.successful == count and result.failed == 0, detail
