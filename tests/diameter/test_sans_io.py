"""The codec, dictionary and peer import and run with asyncio and socket blocked."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
sys.modules["asyncio"] = None
sys.modules["socket"] = None
from ims_core.diameter import DiameterConfig, Peer, Role, decode, make_request
from ims_core.diameter.ids import EndToEnd
p = Peer(DiameterConfig("a", "r"), Role.INITIATOR, end_to_end=EndToEnd(0))
p.start(0.0)
p.connection_made(0.0)
assert decode(p.data_to_send()).name == "CER"
print("ok")
"""


def test_sans_io_import() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
