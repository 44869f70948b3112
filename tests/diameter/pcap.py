"""Write Diameter messages to a pcap file (raw IPv4 + TCP, one message per segment) so that
``tshark`` can check the encoding. No capture, no sockets: a file only."""

from __future__ import annotations

import struct
from pathlib import Path

LINKTYPE_RAW = 101


def _ip_tcp(
    src: int, dst: int, sport: int, dport: int, seq: int, ack: int, payload: bytes
) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, 0x18, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack(">BBHHHBBHII", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    return ip + tcp + payload


def write_pcap(path: Path, messages: list[tuple[bool, bytes]]) -> None:
    """*messages*: (from_client, wire bytes) in order; client 127.0.0.3 -> server 127.0.0.4:3868."""
    client, server = 0x7F000003, 0x7F000004
    seq = {True: 1000, False: 5000}
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW)]
    for i, (from_client, data) in enumerate(messages):
        if from_client:
            pkt = _ip_tcp(client, server, 40000, 3868, seq[True], seq[False], data)
        else:
            pkt = _ip_tcp(server, client, 3868, 40000, seq[False], seq[True], data)
        seq[from_client] += len(data)
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(pkt), len(pkt)) + pkt)
    path.write_bytes(b"".join(out))
