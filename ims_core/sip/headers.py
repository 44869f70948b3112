"""The header block of a message: ordered, raw-preserving, looked up lazily.

Theory of operation: the parser stores each header field as a tuple
`(key, name, value, raw)`: `key` is the canonical lower-case long name (compact forms
expanded, §7.3.3), `name` the name as received, `value` the field value with folding
undone (§7.3.1), and `raw` the exact text of the line(s) as received. Text is the wire
bytes decoded as UTF-8 with `surrogateescape`, so encoding it again is lossless.
Serialisation writes `raw` for every field nobody touched; an edited field has
`raw=None` and is written as `name: value`. Nothing is parsed beyond this until a typed
view is asked for (see message.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .address import split_values
from .grammar import header_key, known_key

Field = tuple[str, str, str, str | None]
# Callers mostly name headers in a known spelling ("via", "Content-Length"): one dict hit
# before the call to header_key (which computes any other spelling).
_known_get = known_key

# Preferred spelling for headers created locally (§7.3.1 leaves case free).
_CANONICAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "p-asserted-identity": "P-Asserted-Identity",
}


def canonical_name(name: str) -> str:
    """`via` -> `Via`, `record-route` -> `Record-Route` (for headers we create)."""
    key = _known_get(name) or header_key(name)
    spelled = _CANONICAL.get(key)
    if spelled is not None:
        return spelled
    if name != key and len(name) > 1:
        return name
    return "-".join(part[:1].upper() + part[1:] for part in key.split("-"))


class Headers:
    """Ordered header fields with case-insensitive, compact-form-aware lookup."""

    __slots__ = ("_fields",)

    def __init__(self, fields: list[Field] | None = None) -> None:
        self._fields: list[Field] = fields if fields is not None else []

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Headers:
        return cls([(header_key(n), n, v, None) for n, v in pairs])

    def copy(self) -> Headers:
        return Headers(list(self._fields))

    # -- reading ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._fields)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """(name as received, value) pairs in wire order."""
        for _, name, value, _ in self._fields:
            yield name, value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _known_get(name) or header_key(name)
        for f in self._fields:  # a loop beats `in map(...)` or any() on a dozen fields
            if f[0] == key:
                break
        else:
            return False
        return True

    @property
    def fields(self) -> list[Field]:
        """The raw field tuples (do not mutate; use the editing methods)."""
        return self._fields

    def get(self, name: str) -> str | None:
        """Value of the first field called `name`, or None."""
        key = _known_get(name) or header_key(name)
        for f in self._fields:
            if f[0] == key:
                return f[2]
        return None

    def first_field(self, name: str) -> Field | None:
        """The first field called `name` (its tuple), or None. Every edit replaces a
        field's tuple, so its identity tells whether the field changed."""
        key = _known_get(name) or header_key(name)
        for f in self._fields:
            if f[0] == key:
                return f
        return None

    def get_all(self, name: str) -> list[str]:
        """Values of every field called `name`, in order (no comma splitting)."""
        key = _known_get(name) or header_key(name)
        return [f[2] for f in self._fields if f[0] == key]

    def values(self, name: str) -> list[str]:
        """All comma-separated values across every field called `name` (§7.3.1)."""
        key = _known_get(name) or header_key(name)
        out: list[str] = []
        for f in self._fields:
            if f[0] == key:
                value = f[2]
                if "," in value or '"' in value:
                    out.extend(split_values(value))
                else:  # one value: what split_values would give, without the call
                    out.append(value.strip(" \t"))
        return out

    def count(self, name: str) -> int:
        key = _known_get(name) or header_key(name)
        return sum(1 for f in self._fields if f[0] == key)

    # -- editing ---------------------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        """Append a field at the end."""
        self._fields.append((_known_get(name) or header_key(name), name, value, None))

    def prepend(self, name: str, value: str) -> None:
        """Insert a field before the first field of the same name (top of a list
        header such as Via, Record-Route, Route, Path); at the top if there is none."""
        key = _known_get(name) or header_key(name)
        fields = self._fields
        for i, f in enumerate(fields):
            if f[0] == key:
                fields.insert(i, (key, name, value, None))
                return
        fields.insert(0, (key, name, value, None))

    def set(self, name: str, value: str) -> None:
        """Replace the first field called `name` in place (keeping the received name)
        and remove any others; append if absent."""
        key = _known_get(name) or header_key(name)
        fields = self._fields
        for i, f in enumerate(fields):
            if f[0] == key:
                fields[i] = (key, f[1], value, None)
                for j in range(i + 1, len(fields)):  # rarely a second one: rebuild only then
                    if fields[j][0] == key:
                        fields[j:] = [g for g in fields[j:] if g[0] != key]
                        break
                return
        fields.append((key, name, value, None))

    def remove(self, name: str) -> int:
        """Remove every field called `name`; return how many were removed."""
        key = _known_get(name) or header_key(name)
        fields = self._fields
        # Mostly called for headers that are absent (a proxy strips what must not pass):
        # the list is rebuilt only when there is something to remove.
        for f in fields:
            if f[0] == key:
                break
        else:
            return 0
        before = len(fields)
        fields[:] = [f for f in fields if f[0] != key]
        return before - len(fields)

    def pop_first_value(self, name: str) -> str | None:
        """Remove the topmost value of a list header (e.g. top Via, top Route).

        When the first field holds several comma-separated values only the first is
        removed and the field is rewritten; otherwise the whole field goes."""
        key = _known_get(name) or header_key(name)
        fields = self._fields
        for i, f in enumerate(fields):
            if f[0] == key:
                if "," not in f[2]:
                    del fields[i]
                    return f[2]
                parts = split_values(f[2])
                if len(parts) == 1:
                    del fields[i]
                else:
                    fields[i] = (key, f[1], ", ".join(parts[1:]), None)
                return parts[0]
        return None

    def replace_first_value(self, name: str, value: str) -> bool:
        """Replace the topmost value of a list header; False if the header is absent."""
        key = _known_get(name) or header_key(name)
        fields = self._fields
        for i, f in enumerate(fields):
            if f[0] == key:
                if "," in f[2]:
                    parts = split_values(f[2])
                    value = ", ".join([value, *parts[1:]])
                fields[i] = (key, f[1], value, None)
                return True
        return False

    # -- output ----------------------------------------------------------------------
    def lines(self) -> list[str]:
        """Each field as written on the wire (raw if untouched)."""
        return [f[3] if f[3] is not None else f"{f[1]}: {f[2]}" for f in self._fields]

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"
