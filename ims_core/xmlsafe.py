"""Parsing XML from peers (Cx User-Data, reginfo NOTIFY bodies) without entity tricks.

Nothing we read needs a DTD, so any DOCTYPE or entity declaration is refused before the
parser runs: no entity expansion (billion laughs, quadratic blowup), no external entity
or DTD fetch (XXE). The check must see the characters the parser will see, so bytes are
decoded as UTF-8 here (the encoding TS 29.228 and RFC 3680 use) and the parser is given
text, which makes it ignore the declared encoding: a UTF-16 document cannot hide a
DOCTYPE from the check, and an unknown declared encoding cannot reach the codec lookup.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class UnsafeXmlError(ValueError):
    """The document is too large, not UTF-8, declares a DTD or entity, or is not XML."""


def checked_text(data: bytes | str, max_size: int) -> str:
    """*data* as the text a parser may be given (a leading BOM is the parser's to skip);
    UnsafeXmlError for anything refused above but XML that is not well-formed."""
    if len(data) > max_size:
        raise UnsafeXmlError("document too large")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsafeXmlError(f"document is not UTF-8: {exc.reason}") from None
    if "<!" in data:  # upper-casing only letters, never '<' or '!': most documents skip it
        upper = data.upper()
        if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
            raise UnsafeXmlError("DTDs and entity declarations are not accepted")
    return data


def parse(data: bytes | str, max_size: int) -> ET.Element:
    """The root element of *data*; UnsafeXmlError for anything refused above."""
    return _root(checked_text(data, max_size))


def _root(text: str) -> ET.Element:
    try:
        return ET.fromstring(text.removeprefix("\ufeff"))
    except ET.ParseError as exc:
        raise UnsafeXmlError(f"not well-formed XML: {exc}") from None


def read(data: bytes | str, max_size: int, fast: Callable[[str], T | None] | None,
         tree: Callable[[ET.Element], T]) -> T:
    """The document in *data* (text as UTF-8, unpaired surrogates refused), every check
    above first: by *fast* (a reader of one writer's own form, None for any other text)
    when it knows it, else by *tree* from the parsed root. UnsafeXmlError for anything
    refused; what the readers raise passes through."""
    if isinstance(data, str) and not data.isascii():  # ASCII holds no surrogate to refuse
        data = data.encode("utf-8", "surrogatepass")
    text = checked_text(data, max_size)
    found = fast(text) if fast is not None else None
    return found if found is not None else tree(_root(text))
