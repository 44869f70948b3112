"""A copy of every message a node sends or receives, exactly as on the wire, for capture
(HEP3 export to Homer, :mod:`ims_core.hep`). The transports call the tap, when one is set,
with what they just read or are about to write; the tap must not block or raise."""

from __future__ import annotations

from typing import Literal, Protocol

Payload = Literal["sip", "diameter"]
Proto = Literal["udp", "tcp"]
Address = tuple[str, int]


class WireTap(Protocol):
    def __call__(self, payload: Payload, proto: Proto, src: Address, dst: Address,
                 data: bytes) -> None:
        """``data``: one whole SIP message or Diameter message (after framing)."""
