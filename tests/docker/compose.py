"""The part of the Compose file format the netns harness understands, without Docker.

Reads ``docker/compose.yaml`` with PyYAML and ``docker/.env``, interpolates variables as
``docker compose`` does (Compose specification, "Interpolation": ``$VAR``, ``${VAR}``,
``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``,
``${VAR:+replacement}``, ``${VAR+replacement}``, ``$$`` for a literal ``$``; the shell's
environment wins over ``.env``) and keeps the services of the default profile (those
without ``profiles:``). No I/O but :func:`load_project`; everything else takes text or
parsed data, so it is unit-tested without Docker or root.

Scalars are read as YAML 1.2 strings (Compose uses YAML 1.2: ``on``/``yes`` are no
booleans, ``5060:5060`` is no base-60 number); only ``null`` and merge keys (``<<``) keep
their meaning. Service keys that would change how a service runs and that the harness does
not model (``entrypoint``, ``working_dir``, ``env_file``, ...) are refused by name, so a
compose file that outgrows the harness fails loudly instead of running differently.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ComposeError", "Healthcheck", "Network", "Project", "Service", "Volume",
    "interpolate", "interpolate_tree", "load_project", "parse_duration", "parse_env_file",
    "parse_project", "parse_yaml",
]


class ComposeError(ValueError):
    """The compose file or .env cannot be read as Compose reads it, or uses something the
    harness does not model (the message names the service and key)."""


# -- YAML ---------------------------------------------------------------------------------


# Every scalar a string except null (YAML 1.2 core: "~", "null", "Null", "NULL", empty);
# merge keys kept.
_Yaml12Strings: Any = type("_Yaml12Strings", (yaml.SafeLoader,), {})
_Yaml12Strings.yaml_implicit_resolvers = {
    first: [(tag, re.compile(r"^(?:~|null|Null|NULL|)$") if tag.endswith(":null") else rx)
            for tag, rx in resolvers
            if tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:merge")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_Yaml12Strings)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ComposeError(f"compose file is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ComposeError("compose file: the top level must be a mapping")
    return data


# -- interpolation -------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", re.DOTALL)


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start`` (nested
    ``${...}`` in a default are skipped)."""
    depth, i = 1, start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ComposeError(f"invalid interpolation format in {text!r}: unclosed '${{'")


def interpolate(text: str, variables: Mapping[str, str],
                unset: set[str] | None = None) -> str:
    """``text`` with its variables substituted as Compose does. A plain ``${VAR}`` or
    ``$VAR`` of an unset variable becomes "" and its name is added to ``unset``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        after = text[dollar + 1:dollar + 2]
        if after == "$":
            out.append("$")
            i = dollar + 2
        elif after == "{":
            end = _closing_brace(text, dollar + 2)
            out.append(_braced(text[dollar + 2:end], variables, unset, text))
            i = end + 1
        elif (name := _NAME.match(text, dollar + 1)) is not None:
            out.append(_plain(name.group(), variables, unset))
            i = name.end()
        else:
            raise ComposeError(f"invalid interpolation format in {text!r}: a lone '$' "
                               "(write '$$' for a literal '$')")
    return "".join(out)


def _plain(name: str, variables: Mapping[str, str], unset: set[str] | None) -> str:
    if name not in variables and unset is not None:
        unset.add(name)
    return variables.get(name, "")


def _braced(body: str, variables: Mapping[str, str], unset: set[str] | None,
            text: str) -> str:
    m = _BRACED.fullmatch(body)
    if m is None:
        raise ComposeError(f"invalid interpolation format in {text!r}: '${{{body}}}'")
    name, op, rest = m.group(1), m.group(2), m.group(3) or ""
    if op is None:
        return _plain(name, variables, unset)
    value = variables.get(name)
    present = value is not None and (value != "" or not op.startswith(":"))
    if op.endswith("-"):
        return value if present and value is not None else interpolate(rest, variables, unset)
    if op.endswith("+"):
        return interpolate(rest, variables, unset) if present else ""
    if not present or value is None:  # "?" / ":?"
        message = interpolate(rest, variables, unset) or "not set"
        raise ComposeError(f"required variable {name} is missing a value: {message}")
    return value


def interpolate_tree(node: Any, variables: Mapping[str, str],
                     unset: set[str] | None = None) -> Any:
    """Every string value of a parsed YAML tree interpolated (mapping keys are not)."""
    if isinstance(node, str):
        return interpolate(node, variables, unset)
    if isinstance(node, dict):
        return {k: interpolate_tree(v, variables, unset) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, variables, unset) for v in node]
    return node


# -- .env ----------------------------------------------------------------------------------

_ENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(=\s*(.*))?")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$$"}


def parse_env_file(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of a Compose ``.env`` file: ``KEY=VALUE`` lines, ``#`` comments
    (whole lines, or after whitespace in an unquoted value), ``export`` prefixes, values in
    single quotes (literal) or double quotes (escapes ``\\n \\t \\" \\\\``, interpolated)
    or unquoted (trimmed, interpolated). Interpolation sees the earlier lines, then
    ``environ``. A bare ``KEY`` takes its value from ``environ`` when it is there."""
    environ = environ or {}
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ENV_LINE.fullmatch(line)
        if m is None:
            raise ComposeError(f".env line {number}: not KEY=VALUE: {raw!r}")
        key, assigned, value = m.group(1), m.group(2), m.group(3) or ""
        if assigned is None:
            if key in environ:
                result[key] = environ[key]
            continue
        scope = {**environ, **result}
        result[key] = _env_value(value, scope, number)
    return result


def _env_value(value: str, scope: Mapping[str, str], number: int) -> str:
    if value[:1] == "'":
        end = value.find("'", 1)
        _after_quote(value, end, number)
        return value[1:end]
    if value[:1] == '"':
        chars: list[str] = []
        i = 1
        while i < len(value) and value[i] != '"':
            if value[i] == "\\" and i + 1 < len(value):
                chars.append(_ESCAPES.get(value[i + 1], "\\" + value[i + 1]))
                i += 2
                continue
            chars.append(value[i])
            i += 1
        _after_quote(value, i if i < len(value) else -1, number)
        return interpolate("".join(chars), scope)
    comment = re.search(r"\s#", value)
    if comment is not None:
        value = value[:comment.start()]
    return interpolate(value.strip(), scope)


def _after_quote(value: str, end: int, number: int) -> None:
    if end < 0:
        raise ComposeError(f".env line {number}: unterminated quote")
    rest = value[end + 1:].strip()
    if rest and not rest.startswith("#"):
        raise ComposeError(f".env line {number}: text after the closing quote: {rest!r}")


# -- durations -----------------------------------------------------------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """A Compose duration (Go syntax: ``1m30s``, ``1.5s``, ``500ms``) in seconds."""
    text = text.strip()
    if text == "0":
        return 0.0
    total, pos = 0.0, 0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ComposeError(f"not a duration: {text!r} (e.g. 2s, 500ms, 1m30s)")
    return total


# -- the model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    """A short-syntax mount ``source:target[:mode]``. ``source`` is an absolute host path
    for a bind mount (relative sources are relative to the compose file's directory), the
    volume's name for a named volume, "" for an anonymous one."""

    source: str
    target: str
    read_only: bool
    named: bool


@dataclass(frozen=True)
class Healthcheck:
    """``test`` is the argv to run: ``CMD`` lists as they are, ``CMD-SHELL`` (or a string)
    as ``/bin/sh -c``. Durations in seconds; defaults as Docker's."""

    test: tuple[str, ...]
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0
    start_interval: float = 5.0

    def delay(self, since_start: float) -> float:
        """Seconds from one probe's end to the next, ``since_start`` after the start."""
        return self.start_interval if since_start < self.start_period else self.interval


@dataclass(frozen=True)
class Service:
    name: str
    command: tuple[str, ...]
    environment: Mapping[str, str]
    volumes: tuple[Volume, ...]
    network: str
    ipv4_address: ipaddress.IPv4Address
    healthcheck: Healthcheck | None
    depends_on: Mapping[str, str]  # service → condition
    stop_grace_period: float = 10.0  # SIGTERM, then SIGKILL this much later


@dataclass(frozen=True)
class Network:
    name: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address


@dataclass(frozen=True)
class Project:
    directory: Path
    services: Mapping[str, Service]  # the default profile, in file order
    network: Network
    named_volumes: tuple[str, ...]
    unset_variables: frozenset[str] = field(default=frozenset())
    # Addresses the services of other profiles take: not free for extra hosts either.
    other_addresses: frozenset[ipaddress.IPv4Address] = field(default=frozenset())

    def start_order(self) -> list[str]:
        """Services with their dependencies first (file order among equals)."""
        order: list[str] = []
        visiting: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            if name in visiting:
                raise ComposeError(f"depends_on cycle: {' -> '.join([*visiting, name])}")
            visiting.append(name)
            for dep in self.services[name].depends_on:
                visit(dep)
            visiting.pop()
            order.append(name)

        for name in self.services:
            visit(name)
        return order

    @property
    def reserved(self) -> frozenset[ipaddress.IPv4Address]:
        """Every address the compose file gives a service, in any profile."""
        return frozenset(s.ipv4_address for s in self.services.values()) | self.other_addresses


# Keys that change nothing for a process run on a host (image, publishing, restart policy,
# container cosmetics and hardening) and keys the harness models.
_IGNORED = frozenset({
    "image", "build", "ports", "expose", "restart", "container_name", "hostname", "labels",
    "logging", "init", "stop_signal", "read_only", "security_opt",
    "cap_drop", "cap_add", "tmpfs", "ulimits", "user", "pull_policy", "deploy", "platform",
})
_MODELLED = frozenset({"command", "environment", "volumes", "networks", "healthcheck",
                       "depends_on", "profiles", "stop_grace_period"})
_CONDITIONS = frozenset({"service_started", "service_healthy",
                         "service_completed_successfully"})


def _mapping(node: Any, where: str) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise ComposeError(f"{where}: expected a mapping")
    return node


def _string_list(node: Any, where: str) -> tuple[str, ...]:
    if isinstance(node, str):
        return tuple(shlex.split(node))
    if not isinstance(node, list) or not all(isinstance(x, str) for x in node):
        raise ComposeError(f"{where}: expected a list of strings")
    return tuple(node)


def _environment(node: Any, variables: Mapping[str, str], where: str) -> dict[str, str]:
    if isinstance(node, list):  # ["KEY=VALUE", "KEY"]
        pairs: dict[str, Any] = {}
        for item in _string_list(node, where):
            key, sep, value = item.partition("=")
            pairs[key] = value if sep else None
        node = pairs
    env: dict[str, str] = {}
    for key, value in _mapping(node, where).items():
        if value is None:  # "KEY:" takes the value Compose itself sees, if any
            if key in variables:
                env[key] = variables[key]
        elif isinstance(value, str):
            env[key] = value
        else:
            raise ComposeError(f"{where}.{key}: expected a string")
    return env


def _volume(spec: Any, directory: Path, named: Mapping[str, Any], where: str) -> Volume:
    if not isinstance(spec, str):
        raise ComposeError(f"{where}: only the short syntax 'source:target[:mode]' is "
                           "understood")
    parts = spec.split(":")
    if len(parts) == 1:
        return Volume("", parts[0], False, True)
    if len(parts) > 3:
        raise ComposeError(f"{where}: {spec!r} is not 'source:target[:mode]'")
    source, target = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 else []
    if not target.startswith("/"):
        raise ComposeError(f"{where}: the target of {spec!r} must be an absolute path")
    read_only = "ro" in modes
    if source.startswith((".", "/", "~")):
        host = Path(os.path.expanduser(source))
        return Volume(str((directory / host).resolve()), target, read_only, False)
    if source not in named:
        raise ComposeError(f"{where}: named volume {source!r} is not declared under the "
                           "top-level volumes:")
    return Volume(source, target, read_only, True)


def _healthcheck(node: Any, where: str) -> Healthcheck | None:
    hc = _mapping(node, where)
    if not hc or hc.get("disable") in ("true", "True"):
        return None
    test = hc.get("test")
    argv: tuple[str, ...]
    if isinstance(test, str):
        argv = ("/bin/sh", "-c", test)
    else:
        items = _string_list(test, f"{where}.test")
        if items[:1] == ("NONE",):
            return None
        if items[:1] == ("CMD",) and len(items) > 1:
            argv = items[1:]
        elif items[:1] == ("CMD-SHELL",) and len(items) == 2:
            argv = ("/bin/sh", "-c", items[1])
        else:
            raise ComposeError(f"{where}.test: expected ['CMD', ...] or ['CMD-SHELL', cmd]")
    defaults = Healthcheck(argv)
    try:
        retries = int(hc.get("retries", defaults.retries))
    except ValueError:
        raise ComposeError(f"{where}.retries: expected an integer") from None

    def duration(key: str, default: float) -> float:
        value = hc.get(key)
        return default if value is None else parse_duration(str(value))

    return Healthcheck(argv, duration("interval", defaults.interval),
                       duration("timeout", defaults.timeout), retries,
                       duration("start_period", defaults.start_period),
                       duration("start_interval", defaults.start_interval))


def _depends_on(node: Any, where: str) -> dict[str, str]:
    if isinstance(node, list):
        return {name: "service_started" for name in _string_list(node, where)}
    deps: dict[str, str] = {}
    for name, spec in _mapping(node, where).items():
        condition = _mapping(spec, f"{where}.{name}").get("condition", "service_started")
        if condition not in _CONDITIONS:
            raise ComposeError(f"{where}.{name}.condition: {condition!r} is not one of "
                               f"{', '.join(sorted(_CONDITIONS))}")
        deps[name] = condition
    return deps


def _network(name: str, node: Any) -> Network:
    where = f"networks.{name}"
    configs = _mapping(_mapping(node, where).get("ipam"), f"{where}.ipam").get("config")
    if not isinstance(configs, list) or len(configs) != 1:
        raise ComposeError(f"{where}.ipam.config: expected one entry with a subnet")
    entry = _mapping(configs[0], f"{where}.ipam.config[0]")
    try:
        subnet = ipaddress.IPv4Network(str(entry.get("subnet")))
        gateway = (ipaddress.IPv4Address(entry["gateway"]) if entry.get("gateway")
                   else next(subnet.hosts()))
    except ValueError as exc:
        raise ComposeError(f"{where}.ipam.config[0]: {exc}") from None
    if gateway not in subnet:
        raise ComposeError(f"{where}: gateway {gateway} is not in {subnet}")
    return Network(name, subnet, gateway)


def _service(name: str, node: Any, directory: Path, variables: Mapping[str, str],
             named: Mapping[str, Any], networks: Mapping[str, Network]) -> Service:
    where = f"services.{name}"
    svc = _mapping(node, where)
    unknown = sorted(set(svc) - _IGNORED - _MODELLED)
    if unknown:
        raise ComposeError(f"{where}: key(s) the netns harness does not model: "
                           f"{', '.join(unknown)}")
    if "command" not in svc:
        raise ComposeError(f"{where}: no command (the image's entrypoint is ims-core; the "
                           "command names the node)")
    nets = _mapping(svc.get("networks"), f"{where}.networks")
    if len(nets) != 1:
        raise ComposeError(f"{where}.networks: expected exactly one network with an "
                           "ipv4_address")
    (net_name, net_spec), = nets.items()
    if net_name not in networks:
        raise ComposeError(f"{where}.networks: {net_name!r} is not a declared network")
    address = _mapping(net_spec, f"{where}.networks.{net_name}").get("ipv4_address")
    try:
        ipv4 = ipaddress.IPv4Address(str(address))
    except ValueError:
        raise ComposeError(f"{where}.networks.{net_name}.ipv4_address: {address!r} is not "
                           "an IPv4 address") from None
    if ipv4 not in networks[net_name].subnet:
        raise ComposeError(f"{where}: {ipv4} is not in {networks[net_name].subnet}")
    volumes = svc.get("volumes") or []
    if not isinstance(volumes, list):
        raise ComposeError(f"{where}.volumes: expected a list")
    return Service(
        name=name,
        command=_string_list(svc["command"], f"{where}.command"),
        environment=_environment(svc.get("environment"), variables, f"{where}.environment"),
        volumes=tuple(_volume(v, directory, named, f"{where}.volumes[{i}]")
                      for i, v in enumerate(volumes)),
        network=net_name,
        ipv4_address=ipv4,
        healthcheck=_healthcheck(svc.get("healthcheck"), f"{where}.healthcheck"),
        depends_on=_depends_on(svc.get("depends_on"), f"{where}.depends_on"),
        stop_grace_period=parse_duration(str(svc.get("stop_grace_period", "10s"))),
    )


def _addresses_of(services: Mapping[str, Any], skip: set[str]
                  ) -> frozenset[ipaddress.IPv4Address]:
    """The ``ipv4_address``es of the services not in ``skip``, where they parse."""
    found = set()
    for name, spec in services.items():
        nets = spec.get("networks") if isinstance(spec, dict) and name not in skip else None
        for net in (nets or {}).values() if isinstance(nets, dict) else ():
            if isinstance(net, dict):
                with contextlib.suppress(ValueError):
                    found.add(ipaddress.IPv4Address(str(net.get("ipv4_address"))))
    return frozenset(found)


def parse_project(data: Mapping[str, Any], directory: Path,
                  variables: Mapping[str, str]) -> Project:
    """The default-profile project of a parsed (not yet interpolated) compose file."""
    unset: set[str] = set()
    tree = interpolate_tree(dict(data), variables, unset)
    named = _mapping(tree.get("volumes"), "volumes")
    networks = {n: _network(n, spec) for n, spec in _mapping(tree.get("networks"),
                                                               "networks").items()}
    all_services = _mapping(tree.get("services"), "services")
    chosen = {name: spec for name, spec in all_services.items()
              if not _mapping(spec, f"services.{name}").get("profiles")}
    services = {name: _service(name, spec, directory, variables, named, networks)
                for name, spec in chosen.items()}
    if not services:
        raise ComposeError("no service in the default profile")
    used = {s.network for s in services.values()}
    if len(used) != 1:
        raise ComposeError(f"the default profile uses {len(used)} networks; the harness "
                           "builds one bridge")
    for svc in services.values():
        missing = [d for d in svc.depends_on if d not in services]
        if missing:
            raise ComposeError(f"services.{svc.name}.depends_on: {', '.join(missing)} not "
                               "in the default profile")
    seen: dict[ipaddress.IPv4Address, str] = {}
    for svc in services.values():
        if svc.ipv4_address in seen:
            raise ComposeError(f"{svc.name} and {seen[svc.ipv4_address]} share "
                               f"{svc.ipv4_address}")
        seen[svc.ipv4_address] = svc.name
    project = Project(directory, services, networks[used.pop()], tuple(named),
                      frozenset(unset), _addresses_of(all_services, set(chosen)))
    project.start_order()  # refuses cycles now
    return project


def load_project(compose_file: Path, env_file: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> Project:
    """Read ``compose_file`` and ``env_file`` (default: ``.env`` beside it, if present);
    ``environ`` (default ``os.environ``) wins over ``.env`` as in Compose."""
    environ = dict(os.environ if environ is None else environ)
    env_path = env_file or compose_file.parent / ".env"
    dotenv = parse_env_file(env_path.read_text(), environ) if env_path.exists() else {}
    data = parse_yaml(compose_file.read_text())
    return parse_project(data, compose_file.parent.resolve(), {**dotenv, **environ})


def probing_every(project: Project, seconds: float) -> Project:
    """``project`` with each healthcheck's ``start_interval`` at ``seconds``: a starting
    node is probed that often, not every 5 s (Docker's default). The file cannot say so
    itself: Debian's docker-compose 1.29 refuses the key."""
    return replace(project, services={
        name: svc if svc.healthcheck is None
        else replace(svc, healthcheck=replace(svc.healthcheck, start_interval=seconds))
        for name, svc in project.services.items()})
