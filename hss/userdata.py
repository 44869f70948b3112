"""User-Data for SAA and PPR: a subscriber as the IMSSubscription document (TS 29.228
Annex B). Both answers carry what :func:`build` makes, nothing else.

The document itself is :mod:`ims_core.userdata`'s (one model, builder and parser for the
HSS and the S-CSCF); this module only says what of a :class:`Subscriber` goes into it:
one ServiceProfile holding the implicit registration set and the iFCs by priority; an
identity is barred when it or the whole subscription is.
``hss/CxDataType.xsd`` is a reduced copy of the Annex B schema the tests validate it with.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from hss.model import Ifc, PublicIdentity, Subscriber
from ims_core import userdata, userdata_xml


def profile(sub: Subscriber, impus: Iterable[PublicIdentity] | None = None) -> userdata.Profile:
    """*sub*'s subscription; *impus* (default: the stored ones) carry the barring to send."""
    return _profile(sub.impi, sub.barred, _sent(sub, impus), sub.ifcs)


def build(sub: Subscriber, impus: Iterable[PublicIdentity] | None = None) -> bytes:
    """The IMSSubscription document for *sub* (see :func:`profile`)."""
    return _document(sub.impi, sub.barred, _sent(sub, impus), sub.ifcs)


# What the document says of an identity: IMPU, barring, identity type (not its
# registration state, which a SAR changes: a key with it missed on every first one).
_Sent = tuple[tuple[str, bool, int], ...]


def _sent(sub: Subscriber, impus: Iterable[PublicIdentity] | None) -> _Sent:
    return tuple((p.impu, p.barred, p.identity_type)
                 for p in (sub.impus if impus is None else impus))


def _profile(impi: str, barred: bool, impus: _Sent, ifcs: tuple[Ifc, ...]) -> userdata.Profile:
    identities = tuple(userdata.PublicIdentity(impu, own or barred, kind)
                       for impu, own, kind in impus)
    by_priority = tuple(sorted(ifcs, key=_priority))
    return userdata.Profile(impi, (userdata.ServiceProfile(identities, by_priority),))


@functools.lru_cache(maxsize=8192)
def _document(impi: str, barred: bool, impus: _Sent, ifcs: tuple[Ifc, ...]) -> bytes:
    # Most SAAs carry the document, and it was half a SAR's CPU. Keyed by every value
    # _profile reads (immutable values), so any provisioning change is another key and no
    # entry can go stale; bounded. Written from the stored values, checked when stored:
    # what `userdata.build(_profile(...))` writes (tests/hss/test_userdata.py).
    rows = [(impu, own or barred, kind) for impu, own, kind in impus]
    return userdata_xml.write(impi, ((rows, sorted(ifcs, key=_priority)),))


def _priority(ifc: Ifc) -> int:
    return ifc.priority
