"""The auth core: Milenage, AKA vectors and resynchronisation, HTTP digest.

Uses the C extension ``_akacore`` when it imports, the pure-Python twin ``akacore_py``
otherwise; ``BACKEND`` says which (``"c"`` or ``"python"``). Setting the environment
variable ``IMS_CORE_PURE_AUTH=1`` forces the twin.

The module's AES path is chosen once at import (``IMS_CORE_AES=portable`` picks the
portable one) and never changes; ``with_aes(name)`` returns an immutable ``AkaCore``
with the same functions bound to a given path (``"aesni"`` or ``"portable"``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ims_core.auth.api import API

if TYPE_CHECKING or os.environ.get("IMS_CORE_PURE_AUTH", "") not in ("", "0"):
    from ims_core.auth import akacore_py as _impl
else:
    try:
        from ims_core.auth import _akacore as _impl
    except ImportError:
        from ims_core.auth import akacore_py as _impl

BACKEND: str = "python" if _impl.__name__.endswith("akacore_py") else "c"

AkaCore = _impl.AkaCore
ArgumentTypeError = _impl.ArgumentTypeError
aes_impl = _impl.aes_impl
akav2_password = _impl.akav2_password
check_autn = _impl.check_autn
digest_response = _impl.digest_response
digest_response_ha1 = _impl.digest_response_ha1
f1 = _impl.f1
f1star = _impl.f1star
f2345 = _impl.f2345
f5star = _impl.f5star
generate_vector = _impl.generate_vector
ha1 = _impl.ha1
make_auts = _impl.make_auts
opc = _impl.opc
verify_auts = _impl.verify_auts
verify_response = _impl.verify_response
with_aes = _impl.with_aes

__all__ = ["BACKEND", *API]
