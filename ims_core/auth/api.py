"""What the auth core exports: the C module ``_akacore`` and its pure-Python twin
``akacore_py`` define every one of these names, and the package re-exports them."""

from __future__ import annotations

API: tuple[str, ...] = (
    "AkaCore",
    "ArgumentTypeError",
    "aes_impl",
    "akav2_password",
    "check_autn",
    "digest_response",
    "digest_response_ha1",
    "f1",
    "f1star",
    "f5star",
    "f2345",
    "generate_vector",
    "ha1",
    "make_auts",
    "opc",
    "verify_auts",
    "verify_response",
    "with_aes",
)
