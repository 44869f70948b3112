"""Where a listening asyncio server ended up (port 0 lets the kernel pick the port)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence


def bound_address(server: asyncio.AbstractServer) -> tuple[str, int]:
    """The host and port of *server*'s first socket. Read untyped: uvloop hands back a
    list where asyncio's stubs say a tuple, which compiled (mypyc) callers would refuse."""
    sockets: Sequence[socket.socket] = getattr(server, "sockets")  # noqa: B009
    host, port = sockets[0].getsockname()[:2]
    return str(host), int(port)
