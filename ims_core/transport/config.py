"""Transport settings (one dataclass, filled from a node's TOML or the command line)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ims_core.sip import DEFAULT_LIMITS, Limits


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Listen on `host:port` over UDP and TCP.

    `tcp_idle_timeout`: seconds without traffic after which a TCP connection is closed.
    `tcp_connect_timeout`: seconds to wait for an outbound connection.
    `max_connections`: TCP connections beyond this are refused (accepted, then closed).
    `max_write_buffer`: bytes queued for one connection before it is dropped as stuck.
    `limits`: parser limits; they also bound each connection's read buffer.
    `name_ttl`: seconds a next hop's resolved name is reused; `name_failure_ttl`: seconds
    a failed lookup is remembered; `name_cache_size`: names kept at most.
    `server_ports`: further ports listened on over UDP and TCP; `client_ports`: further
    UDP ports to send from (and receive on). A request that arrives on one of them is
    answered from that port to its source address and port — the protected ports of
    IPsec security associations (TS 33.203 §7.1), which pair exact ports.
    """

    host: str = "127.0.0.1"
    port: int = 5060
    tcp_idle_timeout: float = 300.0
    tcp_connect_timeout: float = 5.0
    max_connections: int = 10000
    max_write_buffer: int = 1 << 20
    udp_receive_buffer: int = 4 << 20
    limits: Limits = field(default=DEFAULT_LIMITS)
    name_ttl: float = 30.0
    name_failure_ttl: float = 1.0
    name_cache_size: int = 1024
    server_ports: tuple[int, ...] = ()
    client_ports: tuple[int, ...] = ()
