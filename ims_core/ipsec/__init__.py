"""IPsec for sec-agree (TS 33.203 §7, RFC 3329): the ESP SAs that protect SIP between
a UE and its P-CSCF.

``algorithms`` names the integrity and encryption algorithms and derives their keys
from IK and CK (Annex I); ``sa`` builds the four SAs and policies of one registration
(§7.1), the same rule for either side; ``xfrm`` is the sans-I/O NETLINK_XFRM codec;
``kernel`` installs SA sets (:class:`NetlinkKernel`, the adapter; :class:`MemoryKernel`
for tests) and says whether this host can (:func:`check_support`).
"""

from .algorithms import (
    ENCRYPTION,
    INTEGRITY,
    AlgorithmError,
    Encryption,
    Integrity,
    encryption,
    encryption_key,
    integrity,
    integrity_key,
)
from .kernel import Kernel, MemoryKernel, NetlinkKernel, XfrmError, check_support
from .sa import Direction, Endpoint, Policy, SaSet, SecurityAssociation, build_sa_set

__all__ = [
    "ENCRYPTION",
    "INTEGRITY",
    "AlgorithmError",
    "Direction",
    "Encryption",
    "Endpoint",
    "Integrity",
    "Kernel",
    "MemoryKernel",
    "NetlinkKernel",
    "Policy",
    "SaSet",
    "SecurityAssociation",
    "XfrmError",
    "build_sa_set",
    "check_support",
    "encryption",
    "encryption_key",
    "integrity",
    "integrity_key",
]
