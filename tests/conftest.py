"""Shared test fixtures: paths to the shared reference data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"


def load_reference(name: str) -> Any:
    path = REFERENCE / name
    if not path.exists():
        pytest.fail(f"reference data missing: {path} (shared/ must sit beside the repo)")
    return json.loads(path.read_text())
