"""Who the UE is: private and public identity, credentials and the UE's SQN state.

Demo subscribers (``ims-core subscriber seed``, documented in ``config/hss.toml``):
IMPI ``<imsi>@<domain>``, IMPU ``sip:<imsi>@<domain>``, K = ``"K" + IMSI`` as 16 ASCII
octets, OP = ``ims-core-demo-op``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ims_core import auth

DEFAULT_DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
DEMO_OP = b"ims-core-demo-op"


@dataclass(frozen=True, slots=True)
class UeProfile:
    """A UE's identities and secrets. AKA needs ``k`` and ``opc``; MD5 needs ``password``.

    ``sqn_ms`` is the highest SQN the USIM has accepted (TS 33.102 §6.3.3); None means
    the UE accepts any SQN (it keeps no state between runs)."""

    impi: str
    impu: str
    domain: str = DEFAULT_DOMAIN
    k: bytes | None = None
    opc: bytes | None = None
    password: str | None = None
    sqn_ms: bytes | None = None

    @property
    def user(self) -> str:
        """The user part of the IMPU (used in the Contact)."""
        rest = self.impu.split(":", 1)[-1]
        return rest.split("@", 1)[0]

    @property
    def uses_aka(self) -> bool:
        return self.k is not None and self.opc is not None


def demo_k(imsi: str) -> bytes:
    return ("K" + imsi).encode("ascii")[:16].ljust(16, b"-")


def demo_profile(imsi: str, domain: str = DEFAULT_DOMAIN, *, sqn_ms: bytes | None = None,
                 password: str | None = None) -> UeProfile:
    """The profile of demo subscriber ``imsi`` (AKA keys; a password only if given)."""
    k = demo_k(imsi)
    return UeProfile(impi=f"{imsi}@{domain}", impu=f"sip:{imsi}@{domain}", domain=domain,
                     k=k, opc=auth.opc(k, DEMO_OP), password=password, sqn_ms=sqn_ms)
