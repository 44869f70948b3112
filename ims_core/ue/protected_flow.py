"""The UE's flow over IPsec (TS 33.203 §7, TS 24.229 §5.1.1.2): the asyncio adapter of
:class:`~ims_core.ue.protection.Protection`. It owns the sockets of the protected ports
and carries out, in order, the SA sets the protection installs and removes.

- port_us (fixed): a UDP socket, or a TCP listener, where the P-CSCF's requests arrive
  (from its port_pc); they are answered from that port back to the sender.
- port_uc (one per SA set, and the first, unprotected REGISTER's): a UDP socket bound to
  it, or a TCP connection from it, carrying the UE's requests to where
  :meth:`Protection.route` says (the P-CSCF's port_ps; its address at first) and the
  responses back. A port no set uses any more is closed once no transaction needs it.
- the kernel (injected: :class:`~ims_core.ipsec.kernel.NetlinkKernel` in the command,
  :class:`~ims_core.ipsec.kernel.MemoryKernel` in tests) gets every Install before the
  request that needs it goes out; :meth:`ProtectedFlow.close` removes every set it
  still holds, whatever the protection thinks.

The P-CSCF can always reach port_us, so a TCP connection that closes ends nothing: the
next request opens a new one.
"""

from __future__ import annotations

import asyncio

from ims_core.ipsec.kernel import Kernel
from ims_core.ipsec.sa import SaSet
from ims_core.sip import Request
from ims_core.transaction import TimerConfig
from ims_core.transport import TcpConnection

from .client import Flow, Link, connect_tcp
from .messages import Local
from .protection import Install, Protection

TcpKey = tuple[int, str, int]  # (our port, remote host, remote port)


class ProtectedFlow(Flow):
    """Sockets on ``protection.host``: port_us and the port_uc of each SA set."""

    def __init__(self, transport: str, protection: Protection, kernel: Kernel,
                 timers: TimerConfig | None = None) -> None:
        super().__init__(transport, timers)
        self.protection = protection
        self.kernel = kernel
        self.installed: list[SaSet] = []  # in the kernel, put there by us
        self.errors: list[str] = []  # removals the kernel refused
        self._udp: dict[int, asyncio.DatagramTransport] = {}
        self._listener: asyncio.Server | None = None
        self._conns: dict[TcpKey, TcpConnection] = {}
        self._inbound: set[TcpConnection] = set()
        self._connecting = asyncio.Lock()

    @classmethod
    async def start(cls, transport: str, protection: Protection, kernel: Kernel,
                    timers: TimerConfig | None = None) -> ProtectedFlow:
        """Bind port_us; the client ports are bound when a request needs them."""
        flow = cls(transport, protection, kernel, timers)
        host, port_us = protection.host, protection.port_us
        if transport == "udp":
            await flow._udp_socket(port_us)
        else:
            flow._listener = await flow._loop.create_server(
                lambda: flow.tcp_protocol(outbound=False), host, port_us,
                reuse_address=True)
        flow.local = Local(transport, host, port_us)
        return flow

    # -- Flow --------------------------------------------------------------------------------
    async def link_for(self, request: Request) -> Link:
        route = self.protection.route(request.method)
        remote = (route.host, route.port)
        if self.transport == "udp":
            return Link(udp=await self._udp_socket(route.local_port), dest=remote)
        key = (route.local_port, route.host, route.port)
        async with self._connecting:  # one connect per 4-tuple at a time
            conn = self._conns.get(key)
            if conn is None or conn.closed:
                conn = await connect_tcp(self, remote, (self.protection.host, route.local_port))
                self._conns[key] = conn
        return Link(tcp=conn)

    def prepare(self) -> str | None:
        """Install and remove what the protection asks for, in order; close the ports no
        set needs. The kernel's refusal to install, or None."""
        error = None
        for effect in self.protection.take_effects():
            if isinstance(effect, Install):
                try:
                    self.kernel.add(effect.sa_set)
                except OSError as exc:  # XfrmError: the kernel undid its part
                    self.protection.install_failed(effect.sa_set)
                    error = error or str(exc)
                else:
                    self.installed.append(effect.sa_set)
            else:
                self._remove(effect.sa_set)
        self._prune()
        return error

    async def close(self) -> None:
        """Every SA set out of the kernel first, then the sockets."""
        try:
            self.protection.close()
            self.prepare()
        finally:
            for sa_set in list(self.installed):
                self._remove(sa_set, last_try=True)
            await super().close()

    async def _close_links(self) -> None:
        for udp in self._udp.values():
            udp.close()
        self._udp.clear()
        if self._listener is not None:
            self._listener.close()
        for conn in [*self._conns.values(), *self._inbound]:
            conn.close()
        self._conns.clear()
        if self._listener is not None:
            await self._listener.wait_closed()

    # -- sockets -----------------------------------------------------------------------------
    async def _udp_socket(self, port: int) -> asyncio.DatagramTransport:
        udp = self._udp.get(port)
        if udp is None or udp.is_closing():
            udp, _ = await self._loop.create_datagram_endpoint(
                lambda: self.udp_protocol(reply_here=True),
                local_addr=(self.protection.host, port))
            self._udp[port] = udp
        return udp

    def _on_open(self, conn: TcpConnection) -> bool:
        if not conn.outbound:
            self._inbound.add(conn)
        return True

    def _on_close(self, conn: TcpConnection) -> None:
        self._inbound.discard(conn)
        for key in [k for k, c in self._conns.items() if c is conn]:
            del self._conns[key]
        super()._on_close(conn)

    def _prune(self) -> None:
        """Close the client ports (UDP) and connections (TCP) that no SA set, nor the
        next REGISTER, uses, unless a transaction still does."""
        keep = self.protection.client_ports | {self.protection.port_us}
        routes = {(r.local_port, r.host, r.port) for r in self.protection.routes}
        busy = self.links_in_use()
        for port, udp in list(self._udp.items()):
            if port not in keep and not any(link.udp is udp for link in busy):
                udp.close()
                del self._udp[port]
        for key, conn in list(self._conns.items()):
            if key not in routes and not any(link.tcp is conn for link in busy):
                conn.close()
                del self._conns[key]

    # -- the kernel --------------------------------------------------------------------------
    def _remove(self, sa_set: SaSet, *, last_try: bool = False) -> None:
        """Out of the kernel; one the kernel refused to remove stays listed for
        :meth:`close` to try once more (``last_try``), then goes to :attr:`errors`."""
        if sa_set not in self.installed:
            return
        try:
            self.kernel.remove(sa_set)
        except OSError as exc:
            if not last_try:
                return
            self.errors.append(str(exc))
        self.installed.remove(sa_set)
