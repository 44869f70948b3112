"""Stand docker/compose.yaml's default topology up as network namespaces (as the test
does, without Docker), run SIPp through it and print SIPp's counts and what each node's
/readyz and /metrics say (scraped as the compose file's Prometheus would); everything is
torn down at the end. Needs root, iproute2 and SIPp.

    .venv/bin/python -m tests.docker.run_topology --registrations 200 --calls 50
    .venv/bin/python -m tests.docker.run_topology --keep 60   # stay up a minute

Exit status 0 when every registration and call succeeded, the softphone registered, every
node was ready and scraped, stopped with 0 and nothing was left behind; 1 otherwise; 2 when
it cannot run here.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ims_core.config import ConfigError
from tests.docker.compose import ComposeError, load_project
from tests.docker.netns import (
    TopologyError,
    compose_environ,
    leftovers,
    missing_requirements,
    running,
)
from tests.docker.scrape import NodeScrape, scrape_nodes
from tests.docker.traffic import Plan, Traffic, ensure_seeded

COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"


def traffic_counts(scrapes: Sequence[NodeScrape]) -> str:
    """Per node: SIP requests received and Cx requests, as its /metrics counts them."""
    return ", ".join(
        f"{s.node} {s.value('ims_sip_requests_received_total'):g} SIP requests, "
        f"{s.value('ims_cx_requests_total'):g} Cx requests" for s in scrapes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.docker.run_topology",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--compose", type=Path, default=COMPOSE)
    parser.add_argument("--registrations", type=int, default=200)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rate", type=int, default=100, help="SIPp calls/registrations per s")
    parser.add_argument("--timeout", type=float, default=60.0, help="for the topology to be "
                        "healthy (s)")
    parser.add_argument("--keep", type=float, default=0.0, metavar="SECONDS",
                        help="stay up this long after the traffic")
    parser.add_argument("--workdir", type=Path, help="logs, volumes and SIPp files here "
                        "(default: a temporary directory, removed after a clean run)")
    args = parser.parse_args(argv)
    reason = missing_requirements()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    plan = Plan(args.registrations, args.calls)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ims-netns-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"work directory (logs, SIPp files): {workdir}")
    notes: list[str] = []
    ok = False
    try:
        project = load_project(args.compose, environ=compose_environ())
        with running(project, workdir, extra_hosts=("ue", "ue-callee"),
                     timeout=args.timeout,
                     prepare=lambda t: notes.append(ensure_seeded(t, plan))) as topology:
            print(f"healthy in {topology.up_seconds:.1f}s: " + ", ".join(
                f"{name} {run.service.ipv4_address}" for name, run in topology.services.items()))
            print(*notes, sep="\n")
            scrapes = scrape_nodes(topology)
            print(*(s.summary() for s in scrapes), sep="\n")
            scraped = all(s.ready.status == 200 and s.metrics.status == 200 for s in scrapes)
            traffic = Traffic(topology, plan)
            ue, callee = topology.hosts["ue"], topology.hosts["ue-callee"]
            start = time.monotonic()
            register = traffic.register(ue, rate=args.rate)
            print(f"{register.summary()} in {time.monotonic() - start:.1f}s")
            traffic.start_callee(callee)
            start = time.monotonic()
            calls = traffic.call(ue, rate=args.rate)
            print(f"{calls.summary()} (the first registers the caller) in "
                  f"{time.monotonic() - start:.1f}s")
            softphone = traffic.softphone_register(ue)
            print(f"softphone (MD5) register: exit {softphone.code}, "
                  f"status {softphone.status}")
            if args.keep > 0:
                print(f"up for {args.keep:g}s more (Ctrl-C ends it)")
                time.sleep(args.keep)
            print(f"metrics: {traffic_counts(scrape_nodes(topology))}")
            ok = scraped and register.ok and calls.ok and softphone.code == 0
            for run in (register, calls):
                if not run.ok:
                    print(run.detail(), file=sys.stderr)
        print("stopped: " + ", ".join(f"{n} exit {c}" for n, c in topology.exit_codes.items()))
        left = leftovers(topology.token)
        print(f"left behind: {', '.join(left)}" if left else "network removed")
        ok = ok and not left and all(topology.exit_codes[n] == 0 for n in topology.services)
    except (ComposeError, ConfigError, TopologyError) as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    if ok and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
