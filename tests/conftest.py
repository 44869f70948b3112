"""Shared test fixtures: the reference data the tests carry in ``tests/data/``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# The suite tests the Python sources, here and in the nodes it starts, even when a
# compiled build is in the tree (its fakes and subclasses are Python; ims_core/native.py).
# tests/test_native.py builds a copy and checks the compiled nodes itself.
os.environ["IMS_CORE_PURE"] = "1"

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"


def load_reference(name: str) -> Any:
    """A JSON file of known answers from ``tests/data/`` (see its README for sources)."""
    return json.loads((DATA / name).read_text())
