"""Typed configuration: frozen dataclasses filled from TOML (``tomllib``).

Each node declares its own dataclass tree; :func:`load` reads a TOML file into it and
:func:`from_dict` does the same for an already-parsed mapping. Unknown keys and values of
the wrong type are errors with the dotted path of the offending key, so a typo in a config
file is reported instead of silently ignored.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or does not match its schema."""


@dataclasses.dataclass(frozen=True, slots=True)
class LogConfig:
    """Logging: ``format`` is ``console`` (human) or ``json`` (one object per line)."""

    level: str = "info"
    format: str = "console"

    def __post_init__(self) -> None:
        if self.format not in ("console", "json"):
            raise ConfigError(f"log.format must be 'console' or 'json', not {self.format!r}")
        if self.level.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise ConfigError(f"log.level {self.level!r} is not a logging level")


def load(cls: type[T], path: str | Path) -> T:
    """Read the TOML file at *path* into the dataclass *cls*."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    return from_dict(cls, data, where=str(p))


def from_dict(cls: type[T], data: typing.Mapping[str, Any], where: str = "config") -> T:
    """Build the dataclass *cls* from *data*, checking keys and value types."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where}: {exc}") from None


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for arg in get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected an array, got {type(value).__name__}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        _, val_tp = get_args(tp) or (str, Any)
        return {k: _convert(val_tp, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(tp, type):
        # bool is an int subclass; do not let `true` pass for a port number.
        if tp is int and isinstance(value, bool):
            raise ConfigError(f"{where}: expected int, got bool")
        if not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__}")
        return value
    raise ConfigError(f"{where}: unsupported config type {tp!r}")
