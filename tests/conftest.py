"""Shared test fixtures: the reference data the tests carry in ``tests/data/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"


def load_reference(name: str) -> Any:
    """A JSON file of known answers from ``tests/data/`` (see its README for sources)."""
    return json.loads((DATA / name).read_text())
