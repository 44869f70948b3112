"""Typed configuration: frozen dataclasses filled from TOML (``tomllib``).

Each node declares its own dataclass tree; :func:`load` reads a TOML file into it and
:func:`from_dict` does the same for an already-parsed mapping. Unknown keys and values of
the wrong type are errors with the dotted path of the offending key, so a typo in a config
file is reported instead of silently ignored.

Settings can also come from outside the file, for containers that mount one config and vary
addresses per service. Precedence: the TOML file < the environment < ``--set``.

- ``IMS_CORE__<A>__<B>=value`` sets the key ``a.b`` (segments lower-cased, separated by a
  double underscore; single underscores belong to key names);
- ``--set a.b=value`` on the command line (the key may use TOML's quoted segments,
  ``home_networks."ims.example.org"=...``).

A numeric segment indexes an array of tables (``scscf.0.address``; the next free index adds
an element). A value is read as a TOML value when it parses as one (``5060``, ``true``,
``["a", "b"]``, ``"text"``), else taken as a plain string; a key whose type is a string
always takes the text as written. An override naming no key of the schema, or giving a
value of the wrong type, is an error that names its source: ``--set sip.port: expected int,
got str``.
"""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

T = TypeVar("T")

ENV_PREFIX = "IMS_CORE__"
ENV_SEPARATOR = "__"


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or does not match its schema."""


@dataclasses.dataclass(frozen=True, slots=True)
class LogConfig:
    """Logging: ``format`` is ``console`` (human) or ``json`` (one object per line).

    ``exchanges``: the line per SIP transaction and per Diameter exchange (call-id or
    Session-Id, method or command, status or result, peer, latency). ``auto`` logs them
    at info in JSON mode (machines read them) and at debug on the console (a person
    watching a lab under load would see nothing else); ``info``, ``debug`` or ``off``."""

    level: str = "info"
    format: str = "console"
    exchanges: str = "auto"

    def __post_init__(self) -> None:
        if self.format not in ("console", "json"):
            raise ConfigError(f"log.format must be 'console' or 'json', not {self.format!r}")
        if self.level.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise ConfigError(f"log.level {self.level!r} is not a logging level")
        if self.exchanges not in ("auto", "info", "debug", "off"):
            raise ConfigError(f"log.exchanges must be auto, info, debug or off, "
                              f"not {self.exchanges!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class Override:
    """One setting from outside the file: the key's path, its text, where it came from
    (``--set sip.port`` or ``IMS_CORE__SIP__PORT``: what error messages name)."""

    path: tuple[str, ...]
    text: str
    source: str


def load(cls: type[T], path: str | Path, *, overrides: Sequence[str] = (),
         environ: Mapping[str, str] | None = None) -> T:
    """Read the TOML file at *path* into the dataclass *cls*, then apply the
    ``IMS_CORE__*`` variables of *environ* and the ``key=value`` *overrides* (``--set``)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # a TOML document is UTF-8 (TOML 1.0)
        raise ConfigError(f"{p}: not UTF-8: {exc.reason} at octet {exc.start}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise ConfigError(f"{p}: invalid TOML: arrays or tables nested too deeply") from None
    data = with_overrides(cls, data, overrides, environ)
    try:
        return from_dict(cls, data, where=str(p))
    except ConfigError as exc:
        sources = [o.source for o in (*environment_overrides(environ),
                                      *(parse_set(s) for s in overrides))]
        if not sources:
            raise
        raise ConfigError(f"{exc} (settings from outside the file: "
                          f"{', '.join(sources)})") from None


def with_overrides(cls: type[Any], data: Mapping[str, Any], overrides: Sequence[str] = (),
                   environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A copy of the parsed TOML *data* with the environment's and then *overrides*'
    settings applied, each checked against *cls*'s schema."""
    out: dict[str, Any] = _copy(data)
    for item in (*environment_overrides(environ), *(parse_set(s) for s in overrides)):
        _apply(cls, out, item)
    return out


def environment_overrides(environ: Mapping[str, str] | None) -> list[Override]:
    """The ``IMS_CORE__A__B=value`` variables of *environ*, in name order."""
    if environ is None:
        return []
    out = []
    for name in sorted(n for n in environ if n.startswith(ENV_PREFIX)):
        path = tuple(seg.lower() for seg in name[len(ENV_PREFIX):].split(ENV_SEPARATOR))
        if not all(path):
            raise ConfigError(f"{name}: empty key segment (segments are separated by "
                              f"'{ENV_SEPARATOR}')")
        out.append(Override(path, environ[name], name))
    return out


def parse_set(text: str) -> Override:
    """``a.b=value`` (the key in TOML's dotted-key syntax) as an :class:`Override`."""
    key, sep, value = text.partition("=")
    key = key.strip()
    source = f"--set {key}"
    if not sep or not key:
        raise ConfigError(f"--set {text}: expected KEY=VALUE")
    try:
        parsed = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"{source}: not a key (a.b.c, quoting segments with dots)") from None
    path: list[str] = []
    node: Any = parsed
    while isinstance(node, dict):
        if len(node) != 1:  # "a = 0\nb" cannot come back from one key; be sure anyway
            raise ConfigError(f"{source}: not a single key")
        [(segment, node)] = node.items()
        path.append(segment)
    return Override(tuple(path), value, source)


# -- the command line --------------------------------------------------------------------

SETTINGS_HELP = (
    "Settings: the config file < environment variables IMS_CORE__<A>__<B>=value (key a.b; "
    "a numeric segment indexes an array of tables) < --set a.b=value."
)


def add_config_args(p: argparse.ArgumentParser, default: str | None, what: str, *,
                    suppress: bool = False) -> None:
    """``-c FILE`` and the repeatable ``--set KEY=VALUE`` of a command that loads a config;
    ``suppress``: a sub-command's copy of them, which leaves the outer one's alone."""
    p.add_argument("-c", "--config", metavar="FILE",
                   default=argparse.SUPPRESS if suppress else default,
                   help=f"{what} (default {default})" if default else what)
    p.add_argument("--set", dest="overrides_after" if suppress else "overrides",
                   action="append", default=argparse.SUPPRESS if suppress else [],
                   metavar="KEY=VALUE",
                   help="set a config key, e.g. log.format=json (repeatable; applied after the "
                        "file and the IMS_CORE__* environment variables)")


def cli_overrides(args: argparse.Namespace) -> list[str]:
    """Every ``--set`` of :func:`add_config_args`, in command-line order."""
    return [*getattr(args, "overrides", []), *getattr(args, "overrides_after", [])]


def _copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


def _toml_value(text: str) -> tuple[bool, Any]:
    """(True, value) when *text* is one TOML value, else (False, None)."""
    try:
        doc = tomllib.loads(f"v = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        return False, None
    return (True, doc["v"]) if len(doc) == 1 else (False, None)


def _unwrap(tp: Any) -> Any:
    """``X | None`` → ``X`` (what a key can hold once it is set)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _takes_str(tp: Any) -> bool:
    if get_origin(tp) in (Union, types.UnionType):
        return any(_takes_str(a) for a in get_args(tp))
    return tp is str


def _value_for(tp: Any, text: str) -> Any:
    ok, value = _toml_value(text)
    if _takes_str(tp) and not (ok and isinstance(value, str)):
        return text  # a string key takes the text as written: 5060 stays "5060"
    return value if ok else text


def _step(tp: Any, segment: str, where: str, source: str) -> tuple[Any, str | int]:
    """The type under key *segment* of a table or array of type *tp*, and the key or
    index to store it under."""
    tp = _unwrap(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if segment not in {f.name for f in dataclasses.fields(tp)}:
            raise ConfigError(f"{source}: unknown key {where}")
        return typing.get_type_hints(tp)[segment], segment
    if tp is Any or get_origin(tp) is dict:
        return (get_args(tp) or (str, Any))[1], segment
    if not segment.isdigit():
        raise ConfigError(f"{source}: {where}: an array takes a numeric index")
    return (get_args(tp) or (Any,))[0], int(segment)


def _kind(tp: Any) -> type[dict[str, Any]] | type[list[Any]] | None:
    """What a value of type *tp* is in parsed TOML when keys go under it: a table, an
    array (of tables), or None for a scalar."""
    tp = _unwrap(tp)
    if tp is Any or get_origin(tp) is dict or (dataclasses.is_dataclass(tp)
                                                and isinstance(tp, type)):
        return dict
    return list if get_origin(tp) in (list, tuple) else None


def _apply(cls: type[Any], data: dict[str, Any], item: Override) -> None:
    tp: Any = cls
    node: Any = data
    for i, segment in enumerate(item.path):
        where = ".".join(item.path[: i + 1])
        tp, key = _step(tp, segment, where, item.source)
        if i == len(item.path) - 1:
            value = _value_for(tp, item.text)
            _convert(tp, value, item.source)  # a wrong type is the override's fault
            _put(node, key, value, where, item.source)
            return
        kind = _kind(tp)
        if kind is None:
            raise ConfigError(f"{item.source}: {where} is not a table")
        child = _get(node, key, where, item.source)
        if child is None:
            child = kind()
            _put(node, key, child, where, item.source)
        elif not isinstance(child, kind):
            raise ConfigError(f"{item.source}: {where} in the file is not "
                              f"{'a table' if kind is dict else 'an array'}")
        node = child


def _index(node: list[Any], key: int, where: str, source: str) -> int:
    if key > len(node):
        raise ConfigError(f"{source}: {where}: index {key} is past the end "
                          f"(the array has {len(node)})")
    return key


def _get(node: Any, key: str | int, where: str, source: str) -> Any:
    if isinstance(key, int):
        return node[key] if _index(node, key, where, source) < len(node) else None
    return node.get(key)


def _put(node: Any, key: str | int, value: Any, where: str, source: str) -> None:
    if isinstance(key, int) and _index(node, key, where, source) == len(node):
        node.append(value)  # the next free index adds an element
    else:
        node[key] = value


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
