"""The message and transaction layers import without asyncio or socket (sans-I/O)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
sys.modules["asyncio"] = None
sys.modules["socket"] = None
import ims_core.sip, ims_core.transaction
from ims_core.sip import parse_message
from ims_core.transaction import TransactionTable
assert "asyncio" not in {m for m, v in sys.modules.items() if v is not None}
"""


def test_imports_without_asyncio_or_socket() -> None:
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
