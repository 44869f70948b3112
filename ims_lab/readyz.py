"""``ims-core health NODE --http URL``: one GET of a node's ``/readyz``, imported without
the rest of the command (:func:`quick`).

A container's HEALTHCHECK runs this every few seconds in every container: loading the
CSCF and HSS packages to parse that one argument cost about 250 ms of CPU per probe here,
and 6-8 s under software emulation; this path needs ``http.client`` only. Anything it does
not recognise (``-c``, ``--set``, ``--http`` without a URL, ``--help``) goes to the full
command in :mod:`.health`, which reports the same :class:`Verdict` the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
from collections.abc import Sequence
from urllib.parse import urlsplit

NODES = ("pcscf", "icscf", "scscf", "hss")
DEFAULT_TIMEOUT = 3.0
HEALTHY, UNHEALTHY = 0, 1


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    healthy: bool
    reason: str

    def report(self) -> int:
        """One line on stdout; the exit status (Docker reserves 2: never used)."""
        print(f"{'healthy' if self.healthy else 'unhealthy'}: {self.reason}", flush=True)
        return HEALTHY if self.healthy else UNHEALTHY


def probe_http(node: str, url: str, timeout: float) -> Verdict:
    """GET *url* (plain HTTP, no proxy): 200 healthy; otherwise what the node answered
    (a 503 from ``/readyz`` gives its reasons, one per line)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return Verdict(False, f"{node}: {url!r} is no http:// URL")
    try:
        port = parts.port or 80
    except ValueError:
        return Verdict(False, f"{node}: {url!r} has a bad port")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "ims-core-health"})
        response = conn.getresponse()
        body = response.read(4096).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return Verdict(False, f"{node}: no HTTP answer from {url}: {reason or type(exc).__name__}")
    finally:
        conn.close()
    said = "; ".join(line.strip() for line in body.splitlines() if line.strip())
    text = f"{node}: {url} answered {response.status} {response.reason}"
    return Verdict(response.status == 200, f"{text}: {said}" if said else text)


class _NotOurs(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _NotOurs(message)  # the full command says what is wrong


def quick(argv: Sequence[str]) -> int | None:
    """Run ``health NODE --http URL [--timeout SECONDS]`` and return its exit status;
    None for any other command line (the caller runs the full command)."""
    if not argv or argv[0] != "health":
        return None
    parser = _Parser(add_help=False)
    parser.add_argument("node", choices=NODES)
    parser.add_argument("--http", required=True)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    try:
        args = parser.parse_args(argv[1:])
    except _NotOurs:
        return None
    if not args.http or args.http.startswith("-"):
        return None
    return probe_http(args.node, args.http, max(args.timeout, 0.1)).report()
