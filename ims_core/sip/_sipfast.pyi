"""Type stub for the C fast paths of the SIP parser ``ims_core.sip._sipfast``.

Each function returns what the pure-Python code builds for plain input, or None: the
caller then runs the Python code, which gives the result or the SipParseError.
"""

Field = tuple[str, str, str, str | None]
# (status, text, uri_text, version, fields, body): status 0 and text the method for a
# request, else the status code and text the reason phrase (uri_text "").
Split = tuple[int, str, str, str, list[Field], bytes]

def split_message(
    data: bytes,
    max_size: int,
    max_headers: int,
    max_line: int,
    stream: bool,
    known: dict[str, str],
    cache: dict[str, Field],
    cache_size: int,
    cache_max_len: int,
    /,
) -> Split | None:
    """Start line, header fields (parser._parse_fields) and body of one message whose
    header block is plain: ASCII, CRLF line ends, no folding, token names, version
    SIP/2.0, at most one valid Content-Length, within the limits."""

def plain_params(text: str, pos: int, /) -> list[tuple[str, str | None]] | None:
    """``parse_generic_params(text, pos)`` when ``text[pos:]`` is ``1*(";" token
    ["=" token])``, else None."""
