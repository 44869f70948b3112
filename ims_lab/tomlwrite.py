"""Config dataclasses back to TOML: what :func:`ims_core.config.load` reads into the same
dataclass. The lab writes node configs with it, so they follow the nodes' own schema."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def toml_text(obj: Any) -> str:
    """A frozen config dataclass as TOML: strings, numbers, booleans, arrays of those,
    nested dataclasses as tables, arrays of dataclasses as arrays of tables and
    ``dict[str, scalar]`` fields as tables with quoted keys. ``None`` fields are left out
    (they load back as their default)."""
    lines: list[str] = []

    def emit(prefix: str, o: Any) -> None:
        # Scalars first, then each sub-table right after: a table under an array-of-tables
        # element belongs to the element written last.
        subtables: list[tuple[str, Any, bool]] = []  # (name, dataclass or dict, array)
        items = o.items() if isinstance(o, dict) else (
            (f.name, getattr(o, f.name)) for f in dataclasses.fields(o))
        for key, v in items:
            name = _value(key) if isinstance(o, dict) else key
            if dataclasses.is_dataclass(v) or isinstance(v, dict):
                subtables.append((f"{prefix}{name}", v, False))
            elif isinstance(v, (list, tuple)) and v and dataclasses.is_dataclass(v[0]):
                subtables.extend((f"{prefix}{name}", item, True) for item in v)
            elif v is not None:
                lines.append(f"{name} = {_value(v)}")
        for name, sub, array in subtables:
            lines.append(f"\n[[{name}]]" if array else f"\n[{name}]")
            emit(f"{name}.", sub)

    emit("", obj)
    return "\n".join(lines) + "\n"


def write_toml(path: Path, obj: Any, comment: str = "") -> Path:
    """Write ``obj`` as TOML to ``path`` (parents created), ``comment`` as a first line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((f"# {comment}\n" if comment else "") + toml_text(obj))
    return path
