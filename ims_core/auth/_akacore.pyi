"""Type stub for the C auth core ``ims_core.auth._akacore`` (same API as ``akacore_py``).

Bytes parameters accept ``bytes``, ``bytearray`` or ``memoryview``; the twin's annotations
say ``bytes`` and the stub matches them so both modules type-check as one interface.
"""

from typing import ClassVar, final

class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (both a TypeError and a ValueError)."""

def aes_impl() -> str:
    """Which AES the module uses: ``"aesni"`` or ``"portable"``, chosen once at import."""

def with_aes(name: str) -> AkaCore:
    """The module's functions bound to AES path ``name`` (``"aesni"`` or ``"portable"``).

    ``ValueError`` for ``"aesni"`` on a CPU without AES-NI, or for an unknown name.
    """

@final
class AkaCore:
    """The module's functions bound to one AES path; immutable, made by :func:`with_aes`."""

    ArgumentTypeError: ClassVar[type[ArgumentTypeError]]
    def aes_impl(self) -> str: ...
    def opc(self, k: bytes, op: bytes) -> bytes: ...
    def f1(self, k: bytes, opc: bytes, rand: bytes, sqn: bytes, amf: bytes) -> bytes: ...
    def f1star(self, k: bytes, opc: bytes, rand: bytes, sqn: bytes, amf: bytes) -> bytes: ...
    def f2345(self, k: bytes, opc: bytes, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]: ...
    def f5star(self, k: bytes, opc: bytes, rand: bytes) -> bytes: ...
    def generate_vector(
        self, k: bytes, opc: bytes, rand: bytes, sqn: bytes, amf: bytes
    ) -> tuple[bytes, bytes, bytes, bytes]: ...
    def check_autn(
        self, k: bytes, opc: bytes, rand: bytes, autn: bytes
    ) -> tuple[bytes, bytes, bytes, bytes] | None: ...
    def make_auts(self, k: bytes, opc: bytes, rand: bytes, sqn_ms: bytes) -> bytes: ...
    def verify_auts(self, k: bytes, opc: bytes, rand: bytes, auts: bytes) -> bytes | None: ...
    def akav2_password(self, res: bytes, ik: bytes, ck: bytes) -> bytes: ...
    def ha1(self, username: str, realm: str, password: bytes) -> str: ...
    def digest_response(
        self,
        algorithm: str,
        username: str,
        realm: str,
        password: bytes,
        method: str,
        uri: str,
        nonce: str,
        nc: str,
        cnonce: str,
        qop: str,
        body: bytes = b"",
    ) -> str: ...
    def digest_response_ha1(
        self,
        ha1: str,
        method: str,
        uri: str,
        nonce: str,
        nc: str,
        cnonce: str,
        qop: str,
        body: bytes = b"",
    ) -> str: ...
    def verify_response(self, received: str, expected: str) -> bool: ...

def opc(k: bytes, op: bytes) -> bytes: ...
def f1(k: bytes, opc: bytes, rand: bytes, sqn: bytes, amf: bytes) -> bytes: ...
def f1star(k: bytes, opc: bytes, rand: bytes, sqn: bytes, amf: bytes) -> bytes: ...
def f2345(k: bytes, opc: bytes, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]: ...
def f5star(k: bytes, opc: bytes, rand: bytes) -> bytes: ...
def generate_vector(
    k: bytes, opc: bytes, rand: bytes, sqn: bytes, amf: bytes
) -> tuple[bytes, bytes, bytes, bytes]: ...
def check_autn(
    k: bytes, opc: bytes, rand: bytes, autn: bytes
) -> tuple[bytes, bytes, bytes, bytes] | None: ...
def make_auts(k: bytes, opc: bytes, rand: bytes, sqn_ms: bytes) -> bytes: ...
def verify_auts(k: bytes, opc: bytes, rand: bytes, auts: bytes) -> bytes | None: ...
def akav2_password(res: bytes, ik: bytes, ck: bytes) -> bytes: ...
def ha1(username: str, realm: str, password: bytes) -> str: ...
def digest_response(
    algorithm: str,
    username: str,
    realm: str,
    password: bytes,
    method: str,
    uri: str,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str,
    body: bytes = b"",
) -> str: ...
def digest_response_ha1(
    ha1: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str,
    body: bytes = b"",
) -> str: ...
def verify_response(received: str, expected: str) -> bool: ...
