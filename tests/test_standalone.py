"""The repository stands alone: nothing a user clones refers to files outside it.

A user's ``git clone`` has only this tree, so no file the tests, benchmarks, code or
configs read may point at a sibling directory (the team's folder beside the checkout) or
an absolute path of the machine it was written on.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHECKED = ("tests", "bench", "ims_core", "hss", "ims_lab", "config", "docker", ".ci",
           "Makefile", "pyproject.toml")
# What a reference out of the tree looks like: the team's shared folder, a parent-
# directory path, or a path under the machine's work directory.
OUTSIDE = re.compile(r"(?<![\w.])(?:\.\./|shared/reference|/work/)")
ALLOWED = {Path("tests/test_standalone.py")}  # this file names the patterns
PARENT_PATH = re.compile(r"(?<![\w.])((?:\.\./)+[\w./-]*)")


def tracked_files() -> list[Path]:
    """Files git tracks (or would track) under the checked paths."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                          "--", *CHECKED], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    return [Path(line) for line in out.splitlines() if line]


def offenders() -> list[str]:
    found = []
    for rel in tracked_files():
        path = REPO / rel
        if rel in ALLOWED or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (a capture, a built extension)
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(_within(line, path.parent)):
                found.append(f"{rel}:{n}: {line.strip()}")
    return found


def _within(line: str, where: Path) -> str:
    """*line* less the ``../`` paths that, from *where*, name something in this tree
    (docker/compose.yaml mounts ``../config/sipp``)."""
    def inside(m: re.Match[str]) -> str:
        target = (where / m.group(1)).resolve()
        return "" if target.is_relative_to(REPO) and target.exists() else m.group(1)

    return PARENT_PATH.sub(inside, line)


def test_no_file_refers_outside_the_repository() -> None:
    found = offenders()
    assert not found, "files refer to paths outside the repository:\n" + "\n".join(found)


def test_the_check_sees_such_a_reference(tmp_path: Path) -> None:
    """The pattern catches the forms a reference takes (so the test above can fail)."""
    team = "sha" + "red"  # spelt in two pieces so this file names no such path itself
    for line in (f'CAPTURE = ROOT / "../{team}/reference/seeds/x.md"',
                 f"REFERENCE = SHARED / '{team}/reference'",
                 f'open("/work/{team}/reference/cx.md")'):
        assert OUTSIDE.search(line), line
    for line in ("from ..config import X", "see tests/data/README.md", "a/b/c"):
        assert not OUTSIDE.search(line), line
    # A parent path is fine when it stays in the tree, not when it leaves it.
    assert not OUTSIDE.search(_within("- ../config/sipp:/etc/sipp:ro", REPO / "docker"))
    assert OUTSIDE.search(_within(f"- ../../{team}/x:/y", REPO / "docker"))
