"""An IMS core: P-CSCF, I-CSCF, S-CSCF and HSS as asyncio processes, with a C auth core."""

from ims_core import native as _native

__version__ = "0.1.0"

# "compiled" when the mypyc build (`make compiled`) is there, fresh, and not refused with
# IMS_CORE_PURE=1; "python" otherwise (ims_core/native.py).
BUILD: str = _native.select()
