"""An IMS core: P-CSCF, I-CSCF, S-CSCF and HSS as asyncio processes, with a C auth core."""

__version__ = "0.1.0"
