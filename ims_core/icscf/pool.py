"""The S-CSCF pool: Server-Name → next hop, and selection by capabilities.

TS 29.228 §6.7 / TS 23.228 §5.3.1.1: when the HSS answers with Server-Capabilities
instead of a Server-Name, the I-CSCF picks an S-CSCF that offers every mandatory
capability and as many optional ones as possible. Server-Name values inside
Server-Capabilities name S-CSCFs the operator prefers; they are tried first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ims_core.sip import SipParseError, SipUri, parse_uri
from ims_core.sip.addressing import Destination, is_ip

from .config import ScscfEntry


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Server-Capabilities from a UAA/LIA (TS 29.229 §6.3.4)."""

    mandatory: tuple[int, ...] = ()
    optional: tuple[int, ...] = ()
    server_names: tuple[str, ...] = ()


def name_key(name: str) -> tuple[str, str, int] | None:
    """How two Server-Names compare: scheme, host (case-insensitive) and port (5060 or
    5061 by default); URI parameters are ignored. None when *name* is no SIP URI."""
    try:
        uri = parse_uri(name.strip())
    except SipParseError:
        return None
    if not isinstance(uri, SipUri):
        return None
    return (uri.scheme.lower(), uri.host.lower(), uri.port or (5061 if uri.secure else 5060))


def uri_destination(name: str, transport: str = "") -> Destination | None:
    """The next hop named by a Server-Name whose host is an IP literal (no DNS here)."""
    try:
        uri = parse_uri(name.strip())
    except SipParseError:
        return None
    if not isinstance(uri, SipUri) or not is_ip(uri.host):
        return None
    transport = (uri.transport or transport).upper()
    return Destination(transport, uri.host, uri.port or (5061 if uri.secure else 5060))


def _address(entry: ScscfEntry) -> Destination | None:
    transport = entry.transport.upper()
    if not entry.address:
        return uri_destination(entry.name, transport)
    host, sep, port = entry.address.rpartition(":")
    if not sep or not port.isdigit():
        return Destination(transport, entry.address, 5060)
    return Destination(transport, host, int(port))


class ScscfPool:
    """The configured S-CSCFs; answers "where does this Server-Name go?" and "which
    S-CSCF fits these capabilities?"."""

    def __init__(self, entries: Iterable[ScscfEntry]) -> None:
        self.entries = tuple(entries)
        self._by_key: dict[tuple[str, str, int], tuple[ScscfEntry, Destination]] = {}
        for entry in self.entries:
            key = name_key(entry.name)
            dest = _address(entry)
            if key is None or dest is None:
                raise ValueError(f"S-CSCF {entry.name!r}: no usable address (give address=)")
            self._by_key.setdefault(key, (entry, dest))

    def lookup(self, name: str) -> ScscfEntry | None:
        key = name_key(name)
        found = self._by_key.get(key) if key is not None else None
        return found[0] if found else None

    def resolve(self, name: str) -> Destination | None:
        """Where a REGISTER for the S-CSCF *name* goes: its pool address, else the
        URI's own IP literal and port; None if neither exists."""
        key = name_key(name)
        found = self._by_key.get(key) if key is not None else None
        if found is not None:
            return found[1]
        return uri_destination(name)

    def select(self, caps: Capabilities) -> str | None:
        """The Server-Name to use for *caps*, or None when nothing fits.

        Order: pool entries named in ``caps.server_names`` that have every mandatory
        capability, then any pool entry with every mandatory capability (most optional
        capabilities first, pool order on ties), then a listed name outside the pool that
        at least resolves (its capabilities are unknown, so only when none are mandatory).
        """
        mandatory = set(caps.mandatory)
        optional = set(caps.optional)

        def fits(entry: ScscfEntry) -> bool:
            return mandatory <= set(entry.capabilities)

        def rank(entries: Sequence[ScscfEntry]) -> ScscfEntry | None:
            best: ScscfEntry | None = None
            best_score = -1
            for entry in entries:
                score = len(optional & set(entry.capabilities))
                if fits(entry) and score > best_score:
                    best, best_score = entry, score
            return best

        listed = [e for n in caps.server_names if (e := self.lookup(n)) is not None]
        chosen = rank(listed) or rank(self.entries)
        if chosen is not None:
            return chosen.name
        if not mandatory:
            for name in caps.server_names:
                if self.resolve(name) is not None:
                    return name
        return None
