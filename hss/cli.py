"""``ims-core hss`` (run the Cx server), ``ims-core hss-api`` (the provisioning REST API,
:mod:`hss.api`) and ``ims-core subscriber …`` (provisioning).

Provisioning works directly on the store named by the HSS config (``-c``, default
``config/hss.toml``), so it can run while the HSS is up (SQLite WAL, Postgres MVCC).
``deregister``, ``update`` and ``delete`` of a registered subscriber queue an RTR or PPR in
the store's outbox, which the running HSS sends to the S-CSCF; the command waits for the
answer (``--wait``) and exits 0 when it was accepted (or nothing needed sending),
1 when it failed, 3 when no answer was reported in time (the request stays queued).
Both commands take ``--set KEY=VALUE`` and read ``IMS_CORE__*`` variables (see
:mod:`ims_core.config`); a bad config exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from hss import admin, provision
from hss.config import DEFAULT_CONFIG, HssConfig, load_config
from hss.cx import rtr
from hss.cx.push import describe
from hss.model import Push, PushState, Subscriber
from hss.store import DuplicateError, Store, StoreError
from ims_core import runtime
from ims_core.config import SETTINGS_HELP, ConfigError, add_config_args, cli_overrides

# A ``subscriber`` action: its arguments, the HSS config and its open store → exit status.
StoreAction = Callable[[argparse.Namespace, HssConfig, Store], int]

EXIT_OK, EXIT_FAILED, EXIT_QUEUED = 0, 1, 3
DEFAULT_WAIT = 5.0  # seconds; the HSS's push.answer_timeout (3 s) fits in it
_EXIT_CODES = (
    "exit status: 0 the S-CSCF accepted (or nothing needed sending), 1 it refused, did not "
    "answer or is not connected (or another error), 3 not over within --wait: still queued "
    "(no HSS running on this store took it; it will when one does) or sent and unanswered"
)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "hss", help="run the HSS (Diameter Cx server)",
        description="Run the HSS (Diameter Cx server); [seed] count demo subscribers go "
                    "into an empty store first.",
        epilog=f"{SETTINGS_HELP} Logs go to stdout (log.format = \"json\": one JSON "
               f"object per line). {runtime.EXIT_HELP_HSS}.")  # fmt: skip
    _config_arg(p)
    p.set_defaults(func=_run_hss)

    api: argparse.ArgumentParser = sub.add_parser(
        "hss-api", help="run the HSS provisioning REST API (on the HSS's store)",
        description="Serve the provisioning REST API (/api/v1, OpenAPI at /openapi.json) on "
                    "[api] host:port, on the store the HSS config names. Every /api/v1 "
                    "request needs X-API-Key: [api] api_key, or the key generated into "
                    "<data_dir>/api-key at the first start.",
        epilog=f"{SETTINGS_HELP} {runtime.EXIT_HELP_HSS}.")  # fmt: skip
    _config_arg(api)
    api.set_defaults(func=_run_api)

    s: argparse.ArgumentParser = sub.add_parser(
        "subscriber", help="provision subscribers in the HSS store", epilog=SETTINGS_HELP
    )
    _config_arg(s)
    ss = s.add_subparsers(dest="action", metavar="ACTION")
    ss.required = True

    a = _action(ss, "add", "add one subscriber", _add)
    a.add_argument("--imsi", required=True)
    a.add_argument("--k", required=True, help="K, 32 hex digits")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--op", help="OP, 32 hex digits (OPc is derived)")
    g.add_argument("--opc", help="OPc, 32 hex digits")
    a.add_argument("--amf", default="8000", help="AMF, 4 hex digits (default 8000)")
    a.add_argument("--sqn", help="last used SQN, 12 hex digits (default 0)")
    a.add_argument("--msisdn", help="MSISDN digits: adds sip:+MSISDN@domain and tel:+MSISDN")
    a.add_argument("--password", help="SIP Digest password (stored as HA1 only)")
    a.add_argument("--schemes", help="akav1,akav2,md5 (default akav1,akav2 [+md5 with password])")
    a.add_argument("--barred", action="store_true", help="bar all public identities")
    a.add_argument("--replace", action="store_true", help="overwrite an existing IMSI")

    _action(ss, "list", "list subscribers", _list).add_argument("--limit", type=int)

    sh = _action(ss, "show", "show one subscriber", _show)
    sh.add_argument("imsi")
    sh.add_argument("--secrets", action="store_true", help="also print K, OP, OPc")

    de = _action(ss, "delete", "delete one subscriber (RTR first when registered)", _delete)
    de.add_argument("imsi")
    _wait_arg(de)

    dr = _action(ss, "deregister", "network-initiated de-registration: RTR to the S-CSCF",
                 _deregister)  # fmt: skip
    dr.add_argument("imsi")
    dr.add_argument("--reason", choices=sorted(rtr.REASONS), default="permanent",
                    help="Deregistration-Reason's Reason-Code (default permanent: the UE "
                         "must not re-register; the others ask it to)")  # fmt: skip
    dr.add_argument("--info", metavar="TEXT", help="Reason-Info, shown to the user")
    dr.add_argument("--impu", action="append", metavar="IMPU",
                    help="IMPU-list form (repeatable); default: the IMPI-only form")
    _wait_arg(dr)

    up = _action(ss, "update", "change the service profile (PPR to the S-CSCF when registered)",
                 _update)  # fmt: skip
    up.add_argument("imsi")
    up.add_argument("--ifc-file", metavar="FILE",
                    help="replace the iFCs: a TOML file of [[ifcs]] tables, fields as in an "
                         "import file's [[subscriber.ifcs]] (ifcs = [] removes them all)")
    up.add_argument("--add-impu", action="append", default=[], metavar="URI",
                    help="add a public identity to the implicit registration set (repeatable)")
    up.add_argument("--remove-impu", action="append", default=[], metavar="URI",
                    help="remove a public identity (repeatable)")
    up.add_argument("--bar", action="append", default=[], metavar="URI",
                    help="bar one public identity (repeatable)")
    up.add_argument("--unbar", action="append", default=[], metavar="URI",
                    help="lift one public identity's barring (repeatable)")
    b = up.add_mutually_exclusive_group()
    b.add_argument("--barred", action="store_true", default=None,
                   help="bar the subscription and all its public identities (as add --barred)")
    b.add_argument("--unbarred", dest="barred", action="store_false",
                   help="lift the subscription's barring and that of all its identities")
    _wait_arg(up)

    im = _action(ss, "import", "import subscribers from CSV or TOML", _import)
    im.add_argument("file")
    im.add_argument("--replace", action="store_true", help="overwrite existing IMSIs")

    se = _action(ss, "seed", "create demo subscribers (keys documented in hss.provision)", _seed)
    se.add_argument("--count", type=int, default=1000)
    se.add_argument("--first", default=provision.DEMO_FIRST_IMSI, help="first IMSI")

    sc = _action(ss, "sipp-csv", "print a SIPp injection CSV for subscribers with an OP",
                 _sipp_csv)
    sc.add_argument("--count", type=int)
    sc.add_argument("--demo", type=int, metavar="N",
                    help="the N demo subscribers from --first, by the demo formula, without "
                         "reading the store (what `[seed] count` put in an HSS elsewhere)")
    sc.add_argument("--first", default=provision.DEMO_FIRST_IMSI, help="first demo IMSI")
    sc.set_defaults(func=_sipp_csv_command)


def _wait_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", type=float, default=DEFAULT_WAIT, metavar="SECONDS",
                   help=f"how long to wait for the S-CSCF's answer (default {DEFAULT_WAIT:g}; "
                        "0: queue and return)")  # fmt: skip
    p.epilog = _EXIT_CODES


def _action(actions: Any, name: str, summary: str,
            action: StoreAction) -> argparse.ArgumentParser:
    """A ``subscriber`` action; it takes ``-c`` after its name too."""
    p: argparse.ArgumentParser = actions.add_parser(name, help=summary, description=summary)
    _config_arg(p, suppress=True)
    p.set_defaults(func=partial(_with_store, action=action))
    return p


def _config_arg(p: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    add_config_args(p, None, f"HSS config (default {DEFAULT_CONFIG})", suppress=suppress)


def _config(args: argparse.Namespace) -> HssConfig:
    return load_config(getattr(args, "config", None), overrides=cli_overrides(args),
                       environ=os.environ)


def _store(cfg: HssConfig) -> Store:
    from hss.server import open_hss_store

    return open_hss_store(cfg)


def _err(msg: str, status: int = EXIT_FAILED) -> int:
    print(f"ims-core: {msg}", file=sys.stderr)
    return status


def _with_store(args: argparse.Namespace, *, action: StoreAction) -> int:
    """Run a ``subscriber`` action on the store the config names; a bad config exits 2,
    other errors 1."""
    try:
        cfg = _config(args)
    except ConfigError as exc:
        return _err(str(exc), runtime.EXIT_CONFIG)
    try:
        store = _store(cfg)
    except StoreError as exc:
        return _err(str(exc))
    try:
        return action(args, cfg, store)
    except (admin.AdminError, provision.ProvisionError, StoreError, OSError) as exc:
        return _err(str(exc))
    finally:
        store.close()


def _add(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    sub = provision.new_subscriber(
        imsi=args.imsi, k=args.k, op=args.op, opc=args.opc, amf=args.amf, sqn=args.sqn,
        msisdn=args.msisdn, password=args.password, schemes=args.schemes,
        barred=args.barred, domain=cfg.cx.domain,
    )
    admin.add(store, sub, replace=args.replace)
    print(f"added {sub.imsi}: {sub.impi} {' '.join(sub.impu_names)}")
    return 0


def _list(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    subs = store.subscribers(args.limit)
    print(f"{'IMSI':<16} {'MSISDN':<16} {'SCHEMES':<18} {'SQN':<13} {'STATE':<15} S-CSCF")
    for s in subs:
        print(
            f"{s.imsi:<16} {s.msisdn or '-':<16} {','.join(s.schemes):<18} "
            f"{s.sqn:012x}  {s.state.name:<15} {s.scscf_name or '-'}"
        )
    print(f"{len(subs)} of {store.count()} subscriber(s)")
    return 0


def _show(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    s = store.get(args.imsi)
    if s is None:
        return _err(f"no subscriber {args.imsi}")
    print(f"IMSI:     {s.imsi}")
    print(f"IMPI:     {s.impi}")
    print(f"MSISDN:   {s.msisdn or '-'}")
    print(f"schemes:  {','.join(s.schemes)}")
    print(f"AMF:      {s.amf.hex()}")
    print(f"SQN:      {s.sqn:012x}")
    print(f"HA1:      {'set' if s.ha1 else '-'}")
    print(f"barred:   {'yes' if s.barred else 'no'}")
    host = f" (Diameter {s.scscf_host})" if s.scscf_name and s.scscf_host else ""
    print(f"S-CSCF:   {s.scscf_name or '-'}{host}")
    if args.secrets:
        print(f"K:        {s.k.hex()}")
        print(f"OP:       {s.op.hex() if s.op else '-'}")
        print(f"OPc:      {s.opc.hex()}")
    for p in s.impus:
        barred = " barred" if p.barred else ""
        print(f"IMPU:     {p.impu}  {p.state.name}{barred}")
    for i in s.ifcs:
        print(f"iFC:      priority {i.priority} -> {i.server_name}")
    return 0


def _delete(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    done = admin.delete(store, args.imsi, time.time())
    if done.not_sent is not None:
        print(f"ims-core: warning: no RTR sent: {done.not_sent}", file=sys.stderr)
    print(f"deleted {args.imsi}")
    if done.push is None:
        return EXIT_OK
    return _await_push(store, done.push, args.wait)


def _deregister(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    push = admin.deregister(store, args.imsi, rtr.REASONS[args.reason], time.time(),
                            info=args.info, impus=args.impu or ())  # fmt: skip
    if push is None:
        print(f"{args.imsi} is not registered: no RTR sent")
        return EXIT_OK
    return _await_push(store, push, args.wait)


def _update(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    admin.get(store, args.imsi)  # an unknown IMSI is said first
    changes = (args.ifc_file, args.add_impu, args.remove_impu, args.bar, args.unbar)
    if not any(changes) and args.barred is None:
        return _err("nothing to change: give --ifc-file, --add-impu, --remove-impu, --bar, "
                    "--unbar, --barred or --unbarred")  # fmt: skip
    ifcs = provision.read_ifcs(args.ifc_file) if args.ifc_file else None
    done = admin.change_profile(store, args.imsi, lambda sub: provision.updated(
        sub, ifcs=ifcs, add_impus=args.add_impu, remove_impus=args.remove_impu,
        bar=args.bar, unbar=args.unbar, barred=args.barred,
    ), time.time())  # fmt: skip
    if not done.changed:
        print(f"{args.imsi}: nothing changed; no PPR sent")
        return EXIT_OK
    new = done.subscriber
    print(f"updated {args.imsi}: {' '.join(new.impu_names)}; {len(new.ifcs)} iFC(s)")
    if done.not_sent is not None:
        return _err(f"no PPR sent: {done.not_sent}")
    if done.push is None:
        print(f"{args.imsi} is not registered: no PPR sent")
        return EXIT_OK
    return _await_push(store, done.push, args.wait)


def _await_push(store: Store, push: Push, wait: float) -> int:
    """Wait up to *wait* seconds for the HSS to report the answer to the queued push."""
    what, host, push_id = push.kind.value, push.destination_host, push.id
    if wait <= 0:
        print(f"queued {what} #{push_id} for {host}")
        return EXIT_OK
    try:
        got = admin.await_push(store, push_id, wait)
    except admin.NotFound:
        return _err(f"{what} #{push_id} is gone from the outbox")
    if not got.state.finished:
        if got.state == PushState.PENDING:
            print(f"ims-core: {what} #{push_id} for {host} stays queued: no HSS took it "
                  f"within {wait:g} s (is `ims-core hss` running on this store?)",
                  file=sys.stderr)  # fmt: skip
        else:
            print(f"ims-core: {what} #{push_id} sent to {host}; no answer reported "
                  f"within {wait:g} s", file=sys.stderr)  # fmt: skip
        return EXIT_QUEUED
    if got.state == PushState.DONE:
        print(f"{what} sent to {host}: {describe(got)}")
        return EXIT_OK
    print(f"ims-core: {what} to {host} failed: {describe(got)}", file=sys.stderr)
    return EXIT_FAILED


def _import(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    subs = provision.read_import(args.file, cfg.cx.domain)
    try:
        n = store.add(subs, replace=args.replace)
    except DuplicateError as exc:
        return _err(f"{exc} (use --replace to overwrite; nothing was imported)")
    print(f"imported {n} subscriber(s)")
    return 0


def _seed(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    if args.count < 0:
        return _err("--count must be >= 0")
    subs = [
        s for s in provision.demo_subscribers(args.count, cfg.cx.domain, args.first)
        if store.get(s.imsi) is None
    ]
    n = store.add(subs)
    print(f"seeded {n} demo subscriber(s) ({args.count - n} already present)")
    return 0


def _sipp_csv_command(args: argparse.Namespace) -> int:
    """``sipp-csv``: from the store, or with ``--demo`` from the demo formula alone (a
    SIPp container cannot read the HSS's store)."""
    if args.demo is None:
        return _with_store(args, action=_sipp_csv)
    try:
        cfg = _config(args)
    except ConfigError as exc:
        return _err(str(exc), runtime.EXIT_CONFIG)
    try:
        return _print_sipp_csv(provision.demo_subscribers(args.demo, cfg.cx.domain,
                                                          args.first), args.count)
    except provision.ProvisionError as exc:
        return _err(str(exc))


def _sipp_csv(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    return _print_sipp_csv(store.subscribers(), args.count)


def _print_sipp_csv(subs: Iterable[Subscriber], count: int | None) -> int:
    text, skipped = provision.sipp_csv(subs, count)
    sys.stdout.write(text)
    if skipped:
        print(
            f"ims-core: skipped {len(skipped)} subscriber(s) whose K/OP/AMF SIPp cannot "
            f"carry (0x00 octet or keyword too long): {', '.join(skipped[:5])}",
            file=sys.stderr,
        )
    return 0


def _run_api(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
    except ConfigError as exc:
        return _err(str(exc), runtime.EXIT_CONFIG)
    from hss.api.process import run

    return run(cfg)


def _run_hss(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
    except ConfigError as exc:
        return _err(str(exc), runtime.EXIT_CONFIG)
    from hss.server import run

    return run(cfg)
