"""The S-CSCF (TS 24.229 §5.4): registrar with IMS-AKA and MD5 digest over Cx (MAR/SAR),
a registration store with expiry, and session routing: originating and terminating legs,
iFC evaluation towards Application Servers, forking through the stored Path.

``ScscfCore`` is sans-I/O (driven like every proxy core); ``app.main`` runs it.
"""

from .config import RegistrarSettings, ScscfConfig
from .core import ScscfCore
from .state import ScscfRequest
from .store import Binding, Challenge, MemoryStore, Registration, RegistrationStore

__all__ = [
    "Binding",
    "Challenge",
    "MemoryStore",
    "RegistrarSettings",
    "Registration",
    "RegistrationStore",
    "ScscfConfig",
    "ScscfCore",
    "ScscfRequest",
]
