"""Replay the kept fuzz inputs (tests/data/fuzz/<target>/: seeds and every input that once
found a bug) through the fuzz targets, without atheris: each must end quietly or with an
error its target allows (fuzz/targets.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fuzz.targets import TARGETS, run_one

CORPUS = Path(__file__).resolve().parents[1] / "data" / "fuzz"


def _inputs() -> list[tuple[str, Path]]:
    return [(d.name, f) for d in sorted(CORPUS.iterdir()) if d.is_dir()
            for f in sorted(d.iterdir()) if f.is_file()]


def test_every_target_has_a_corpus_and_every_corpus_a_target() -> None:
    names = {d.name for d in CORPUS.iterdir() if d.is_dir()}
    assert names == set(TARGETS)
    for name in names:
        assert any((CORPUS / name).glob("seed-*")), name


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_replay(target: str) -> None:
    files = [f for name, f in _inputs() if name == target]
    start = time.monotonic()
    for f in files:
        try:
            run_one(TARGETS[target], f.read_bytes())
        except Exception as exc:  # name the file that fails
            raise AssertionError(f"{f.relative_to(CORPUS)}: {exc!r}") from exc
    assert time.monotonic() - start < 5, "replay is meant to take well under a second"
