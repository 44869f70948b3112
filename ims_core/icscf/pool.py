"""The S-CSCF pool: Server-Name → next hop, and selection by capabilities.

TS 29.228 §6.7 / TS 23.228 §5.3.1.1: when the HSS answers with Server-Capabilities
instead of a Server-Name, the I-CSCF picks an S-CSCF that offers every mandatory
capability and as many optional ones as possible. Server-Name values inside
Server-Capabilities name S-CSCFs the operator prefers; they are tried first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ims_core.identity import impu_key
from ims_core.sip import SipParseError, SipUri, parse_uri
from ims_core.sip.addressing import Destination, destination, is_ip, uri_destination

from .config import ScscfEntry


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Server-Capabilities from a UAA/LIA (TS 29.229 §6.3.4)."""

    mandatory: tuple[int, ...] = ()
    optional: tuple[int, ...] = ()
    server_names: tuple[str, ...] = ()


def _sip_uri(name: str) -> SipUri | None:
    try:
        uri = parse_uri(name.strip())
    except SipParseError:
        return None
    return uri if isinstance(uri, SipUri) else None


_NAME_KEYS: dict[str, str | None] = {}  # name_key's answers: few names, asked per request
_NAME_KEYS_MAX = 1024


def name_key(name: str) -> str | None:
    """How two Server-Names compare: the identity key (:func:`ims_core.identity.impu_key`:
    scheme, user, host case-insensitively, no parameters) with an absent port read as
    5060 (5061 for sips). None when *name* is no SIP URI.

    The port default departs from RFC 3261 §19.1.4 on purpose: a Server-Name names a
    server to route to, not a dialog party, and the HSS, the pool and peer S-CSCFs
    write the same server as ``sip:scscf.domain`` or ``sip:scscf.domain:5060`` (both
    reach port 5060, RFC 3263 §4.2 without SRV)."""
    try:
        return _NAME_KEYS[name]
    except KeyError:
        pass
    uri = _sip_uri(name)
    key = None
    if uri is not None:
        if uri.port is None:
            uri = uri.copy()
            uri.port = 5061 if uri.secure else 5060
        key = impu_key(uri)
    if len(_NAME_KEYS) >= _NAME_KEYS_MAX:
        _NAME_KEYS.clear()
    _NAME_KEYS[name] = key
    return key


def server_destination(name: str, transport: str = "") -> Destination | None:
    """The next hop named by a Server-Name (RFC 3263 rules of
    :func:`ims_core.sip.addressing.uri_destination`) when that is an IP literal: a
    Server-Name's host is not looked up (a pool ``address`` may name a host instead).
    ``transport``: the default when the URI names none."""
    uri = _sip_uri(name)
    if uri is None:
        return None
    dest = uri_destination(uri, transport.upper())
    return dest if is_ip(dest.host) else None


def _address(entry: ScscfEntry) -> Destination | None:
    transport = entry.transport.upper()
    if not entry.address:
        return server_destination(entry.name, transport)
    host, sep, port = entry.address.rpartition(":")
    if not sep or not port.isdigit():
        return destination(transport, entry.address, 5060)
    return destination(transport, host, int(port))


class ScscfPool:
    """The configured S-CSCFs; answers "where does this Server-Name go?" and "which
    S-CSCF fits these capabilities?"."""

    def __init__(self, entries: Iterable[ScscfEntry]) -> None:
        self.entries = tuple(entries)
        self._by_key: dict[str, tuple[ScscfEntry, Destination]] = {}
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
        return server_destination(name)

    def select(self, caps: Capabilities) -> str | None:
        """The Server-Name to use for *caps*, or None when nothing fits (the first of
        :meth:`candidates`)."""
        names = self.candidates(caps)
        return names[0] if names else None

    def candidates(self, caps: Capabilities) -> list[str]:
        """Every Server-Name that fits *caps*, best first (tried in turn when one does
        not answer, TS 24.229 §5.3.1.3).

        Order: pool entries named in ``caps.server_names`` that have every mandatory
        capability, then the other pool entries with every mandatory capability (most
        optional capabilities first, pool order on ties within each group), then listed
        names outside the pool that at least resolve (their capabilities are unknown, so
        only when none are mandatory).
        """
        mandatory = set(caps.mandatory)
        optional = set(caps.optional)

        def ranked(entries: Sequence[ScscfEntry]) -> list[ScscfEntry]:
            fit = [e for e in entries if mandatory <= set(e.capabilities)]
            return sorted(fit, key=lambda e: -len(optional & set(e.capabilities)))

        listed = [e for n in caps.server_names if (e := self.lookup(n)) is not None]
        names: list[str] = []
        keys: set[str | None] = set()
        for entry in ranked(listed) + ranked(self.entries):
            key = name_key(entry.name)
            if key not in keys:
                keys.add(key)
                names.append(entry.name)
        if not mandatory:
            for name in caps.server_names:
                key = name_key(name)
                if key not in keys and self.resolve(name) is not None:
                    keys.add(key)
                    names.append(name)
        return names
