"""What the three CSCFs share: a proxy core that can ask the HSS (sans-I/O), the asyncio
server that carries those questions over Diameter, config, the node runner and CLI."""

from .config import DOMAIN, CscfConfig, DiameterClient, SipListen
from .core import CscfCore, CxOutcome, DiameterQuery, reason_value
from .cxresult import CxVerdict, Procedure, verdict

__all__ = [
    "DOMAIN",
    "CscfConfig",
    "CscfCore",
    "CxOutcome",
    "CxVerdict",
    "DiameterClient",
    "DiameterQuery",
    "Procedure",
    "SipListen",
    "reason_value",
    "verdict",
]
