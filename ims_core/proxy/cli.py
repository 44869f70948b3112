"""``ims-core proxy``: the generic transaction-stateful proxy on UDP and TCP.

Every out-of-dialog request goes to ``--next-hop``; in-dialog requests follow their
Route set (or the Request-URI); responses follow the Via stack.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ims_core import log, runtime
from ims_core.config import LogConfig
from ims_core.sip.addressing import Destination
from ims_core.transport import TransportConfig

from .config import ProxyConfig
from .core import ProxyCore
from .server import ProxyServer


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` for argparse."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "proxy", help="run the generic stateful SIP proxy (UDP and TCP)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("--listen", type=host_port, required=True, metavar="HOST:PORT")
    p.add_argument("--next-hop", type=host_port, required=True, metavar="HOST:PORT")
    p.add_argument("--next-hop-transport", choices=("udp", "tcp"), default=None,
                   help="transport to the next hop (default: the one the request came in on)")
    p.add_argument("--record-route", action="store_true", help="insert Record-Route")
    p.add_argument("--advertise", metavar="HOST", default=None,
                   help="host for Via and Record-Route (default: the --listen host)")
    p.add_argument("--tcp-idle-timeout", type=float, default=300.0, metavar="SECONDS")
    p.add_argument("--log-level", default="info")
    p.add_argument("--log-format", choices=("console", "json"), default="console")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    log.setup(LogConfig(level=args.log_level, format=args.log_format), node="proxy")
    host, port = args.listen
    nh_host, nh_port = args.next_hop
    transport = (args.next_hop_transport or "").upper()
    config = ProxyConfig(
        host=args.advertise or host, port=port, record_route=args.record_route,
        aliases=(host,) if args.advertise else (),
        next_hop=Destination(transport, nh_host, nh_port),
    )
    tconfig = TransportConfig(host=host, port=port, tcp_idle_timeout=args.tcp_idle_timeout)
    core: ProxyCore[None] = ProxyCore(config)
    return runtime.run(serve(ProxyServer(core, tconfig)))


async def serve(server: ProxyServer, stop: asyncio.Event | None = None) -> int:
    """Start, log readiness, run until SIGINT/SIGTERM (or ``stop``), stop cleanly."""
    logger = log.get("proxy")
    try:
        with runtime.stop_on_signals(stop) as stopped:  # before binding: no unguarded window
            try:
                await server.start()
            except OSError as exc:
                logger.error("proxy.bind_failed", error=str(exc))
                return 1
            host, port = server.address
            nh = server.core.config.next_hop
            logger.info("proxy.listening", host=host, port=port, transports="udp,tcp",
                        next_hop=str(nh) if nh else None,
                        record_route=server.core.config.record_route)
            await stopped.wait()
    finally:
        await server.close()
        logger.info("proxy.stopped")
    return 0
