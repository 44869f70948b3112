"""The P-CSCF (TS 24.229 §5.2): first SIP hop for UEs. A sans-I/O proxy core that adds
Path, P-Visited-Network-ID and P-Charging-Vector to REGISTERs, sends them to the home
network's I-CSCF, strips ck/ik from challenges, remembers registrations (behind a store
interface), admits requests only from registered UEs and subscribes to their reg event
(`regsub`). `app.main` runs it."""

from .config import PcscfConfig, RegEventConfig, parse_next_hop
from .core import PcscfCore, flow_key
from .registrations import (
    Binding,
    FlowKey,
    MemoryRegistrationStore,
    Registration,
    RegistrationStore,
    RegKey,
)
from .state import Leg, PcscfRequest

__all__ = [
    "Binding",
    "FlowKey",
    "Leg",
    "MemoryRegistrationStore",
    "PcscfConfig",
    "PcscfCore",
    "PcscfRequest",
    "RegEventConfig",
    "RegKey",
    "Registration",
    "RegistrationStore",
    "flow_key",
    "parse_next_hop",
]
