"""The Diameter node tests' HSS: a DiameterNode on 127.0.0.1, port 0, answering MAR
(2001, or 5001 for an unknown user) and LIR (a handler raising DiameterError 5012)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ims_core.diameter import LIR, MAR, DiameterNode

from .test_node import HOST, handle_lir, handle_mar, hss_config


@pytest.fixture
async def hss() -> AsyncIterator[tuple[DiameterNode, int]]:
    node = DiameterNode(hss_config())
    node.add_handler(MAR, handle_mar)
    node.add_handler(LIR, handle_lir)
    port = await node.listen(HOST, 0)
    yield node, port
    await node.stop()
