"""Ordered, case-insensitive parameter lists shared by URIs, name-addrs and Via.

Parameters keep the name and value exactly as received (values of quoted parameters
keep their quotes), so re-serialising an unmodified value changes nothing.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from types import ModuleType

from .errors import SipParseError
from .grammar import GENERIC_PARAM_RE, TOKEN


# The C fast paths of the SIP parsers (_sipfast.c: the message split, plain params) when
# they import; IMS_CORE_PURE_SIP=1 keeps to the Python code alone. Chosen here, in the
# module the other parsers import, once; BACKEND says which ("c" or "python").
def _load_sipfast() -> ModuleType | None:
    if os.environ.get("IMS_CORE_PURE_SIP", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module("ims_core.sip._sipfast")
    except ImportError:  # not built
        return None


sipfast = _load_sipfast()
BACKEND: str = "python" if sipfast is None else "c"

Param = tuple[str, str | None]


class HasParams:
    """Mixin for objects with a `params: list[Param]` attribute."""

    __slots__ = ()
    params: list[Param]

    def param(self, name: str) -> str | None:
        """Value of parameter `name` (None if absent or valueless)."""
        lname = name.lower()
        for pname, value in self.params:
            if pname.lower() == lname:
                return value
        return None

    def has_param(self, name: str) -> bool:
        lname = name.lower()
        return lname in [pname.lower() for pname, _ in self.params]  # no generator: faster

    def set_param(self, name: str, value: str | None = None) -> None:
        """Replace parameter `name` in place, or append it."""
        lname = name.lower()
        for i, (pname, _) in enumerate(self.params):
            if pname.lower() == lname:
                self.params[i] = (pname, value)
                return
        self.params.append((name, value))

    def remove_param(self, name: str) -> None:
        lname = name.lower()
        self.params[:] = [p for p in self.params if p[0].lower() != lname]


def format_params(params: list[Param]) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


# The usual shape: `;name` or `;name=token`, no blanks, quotes or colons. For such text
# GENERIC_PARAM_RE takes each param whole (a token value cannot be a bare IPv6 address,
# which needs a colon), so splitting at ";" and "=" gives what matching it would.
_PLAIN_PARAMS_RE = re.compile(rf"(?:;{TOKEN}(?:={TOKEN})?)+")


# The same split in C: the list, or None for text that is not plain (or not ASCII).
_PlainParams = Callable[[str, int], list[Param] | None]
_plain_params: _PlainParams | None = None if sipfast is None else sipfast.plain_params


def parse_generic_params(text: str, pos: int = 0) -> list[Param]:
    """Parse `*( SEMI generic-param )` from `text[pos:]` to the end (§25.1)."""
    if pos >= len(text):
        return []
    if _plain_params is not None:
        split = _plain_params(text, pos)
        if split is not None:
            return split
    if _PLAIN_PARAMS_RE.fullmatch(text, pos) is None:
        return _params_by_grammar(text, pos)
    params: list[Param] = []
    for item in text[pos + 1 :].split(";"):
        name, eq, value = item.partition("=")
        params.append((name, value if eq else None))
    return params


def _params_by_grammar(text: str, pos: int) -> list[Param]:
    """parse_generic_params for any text: GENERIC_PARAM_RE, one param at a time."""
    params: list[Param] = []
    end = len(text)
    match = GENERIC_PARAM_RE.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            if text[pos:].strip(" \t"):
                raise SipParseError(f"Bad parameter near {text[pos:pos + 20]!r}")
            break
        params.append((m.group(1), m.group(2)))
        pos = m.end()
    return params
