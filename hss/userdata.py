"""User-Data for SAA and PPR: a subscriber as the IMSSubscription document (TS 29.228
Annex B). Both answers carry what :func:`build` makes, nothing else.

The document itself is :mod:`ims_core.userdata`'s (one model, builder and parser for the
HSS and the S-CSCF); this module only says what of a :class:`Subscriber` goes into it:
one ServiceProfile holding the implicit registration set and the iFCs by priority; an
identity is barred when it or the whole subscription is.
``hss/CxDataType.xsd`` is a reduced copy of the Annex B schema the tests validate it with.
"""

from __future__ import annotations

from collections.abc import Iterable

from hss.model import PublicIdentity, Subscriber
from ims_core import userdata


def profile(sub: Subscriber, impus: Iterable[PublicIdentity] | None = None) -> userdata.Profile:
    """*sub*'s subscription; *impus* (default: the stored ones) carry the barring to send."""
    identities = tuple(userdata.PublicIdentity(p.impu, p.barred or sub.barred, p.identity_type)
                       for p in (impus if impus is not None else sub.impus))
    ifcs = tuple(sorted(sub.ifcs, key=lambda i: i.priority))
    return userdata.Profile(sub.impi, (userdata.ServiceProfile(identities, ifcs),))


def build(sub: Subscriber, impus: Iterable[PublicIdentity] | None = None) -> bytes:
    """The IMSSubscription document for *sub* (see :func:`profile`)."""
    return userdata.build(profile(sub, impus))
