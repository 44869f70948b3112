"""The I-CSCF (TS 24.229 §5.3): asks the HSS which S-CSCF serves a registering user
(UAR, TS 29.228 §6.1.1), picks one from its pool when the HSS gives capabilities, and
forwards the REGISTER there; keeps no registration state. Initial requests to a user
get a Location-Info query (LIR, TS 29.228 §6.1.4) and go to the S-CSCF it names."""

from .config import IcscfConfig, ScscfEntry
from .core import IcscfCore, IcscfRequest
from .pool import Capabilities, ScscfPool
from .uar import AuthType, ForwardTo, Reject, SelectBy, UarFields, decide, uar_fields

__all__ = [
    "AuthType",
    "Capabilities",
    "ForwardTo",
    "IcscfConfig",
    "IcscfCore",
    "IcscfRequest",
    "Reject",
    "ScscfEntry",
    "ScscfPool",
    "SelectBy",
    "UarFields",
    "decide",
    "uar_fields",
]
