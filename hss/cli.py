"""``ims-core hss`` (run the Cx server) and ``ims-core subscriber …`` (provisioning).

Provisioning works directly on the store named by the HSS config (``-c``, default
``config/hss.toml``), so it can run while the HSS is up (SQLite WAL, Postgres MVCC).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from hss import provision
from hss.config import DEFAULT_CONFIG, HssConfig, load_config
from hss.model import RegState, Subscriber
from hss.store import DuplicateError, Store, StoreError, open_store
from ims_core.config import ConfigError

# A ``subscriber`` action: its arguments, the HSS config and its open store → exit status.
StoreAction = Callable[[argparse.Namespace, HssConfig, Store], int]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("hss", help="run the HSS (Diameter Cx server)")
    _config_arg(p)
    p.set_defaults(func=_run_hss)

    s: argparse.ArgumentParser = sub.add_parser(
        "subscriber", help="provision subscribers in the HSS store"
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

    _action(ss, "delete", "delete one subscriber", _delete).add_argument("imsi")

    im = _action(ss, "import", "import subscribers from CSV or TOML", _import)
    im.add_argument("file")
    im.add_argument("--replace", action="store_true", help="overwrite existing IMSIs")

    se = _action(ss, "seed", "create demo subscribers (keys documented in hss.provision)", _seed)
    se.add_argument("--count", type=int, default=1000)
    se.add_argument("--first", default=provision.DEMO_FIRST_IMSI, help="first IMSI")

    _action(ss, "sipp-csv", "print a SIPp injection CSV for subscribers with an OP",
            _sipp_csv).add_argument("--count", type=int)


def _action(actions: Any, name: str, summary: str,
            action: StoreAction) -> argparse.ArgumentParser:
    """A ``subscriber`` action; it takes ``-c`` after its name too."""
    p: argparse.ArgumentParser = actions.add_parser(name, help=summary)
    _config_arg(p, suppress=True)
    p.set_defaults(func=partial(_with_store, action=action))
    return p


def _config_arg(p: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    p.add_argument(
        "-c", "--config", metavar="FILE",
        default=argparse.SUPPRESS if suppress else None,
        help=f"HSS config (default {DEFAULT_CONFIG})",
    )


def _config(args: argparse.Namespace) -> HssConfig:
    return load_config(getattr(args, "config", None))


def _store(cfg: HssConfig) -> Store:
    return open_store(cfg.store, data_dir=cfg.data_dir, ind_bits=cfg.cx.ind_bits)


def _err(msg: str) -> int:
    print(f"ims-core: {msg}", file=sys.stderr)
    return 1


def _with_store(args: argparse.Namespace, *, action: StoreAction) -> int:
    """Run a ``subscriber`` action on the store the config names; errors as exit 1."""
    try:
        cfg = _config(args)
        store = _store(cfg)
    except (ConfigError, StoreError) as exc:
        return _err(str(exc))
    try:
        return action(args, cfg, store)
    except (provision.ProvisionError, StoreError, OSError) as exc:
        return _err(str(exc))
    finally:
        store.close()


def _add(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    sub = provision.new_subscriber(
        imsi=args.imsi, k=args.k, op=args.op, opc=args.opc, amf=args.amf, sqn=args.sqn,
        msisdn=args.msisdn, password=args.password, schemes=args.schemes,
        barred=args.barred, domain=cfg.cx.domain,
    )
    try:
        store.add([sub], replace=args.replace)
    except DuplicateError:
        return _err(f"subscriber {sub.imsi} (or one of its identities) already exists")
    print(f"added {sub.imsi}: {sub.impi} {' '.join(sub.impu_names)}")
    return 0


def _list(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    subs = store.subscribers(args.limit)
    print(f"{'IMSI':<16} {'MSISDN':<16} {'SCHEMES':<18} {'SQN':<13} {'STATE':<15} S-CSCF")
    for s in subs:
        print(
            f"{s.imsi:<16} {s.msisdn or '-':<16} {','.join(s.schemes):<18} "
            f"{s.sqn:012x}  {_state(s):<15} {s.scscf_name or '-'}"
        )
    print(f"{len(subs)} of {store.count()} subscriber(s)")
    return 0


def _state(s: Subscriber) -> str:
    states = {p.state for p in s.impus}
    for st in (RegState.REGISTERED, RegState.UNREGISTERED):
        if st in states:
            return st.name
    return RegState.NOT_REGISTERED.name


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
    print(f"S-CSCF:   {s.scscf_name or '-'}")
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
    if not store.delete(args.imsi):
        return _err(f"no subscriber {args.imsi}")
    print(f"deleted {args.imsi}")
    return 0


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


def _sipp_csv(args: argparse.Namespace, cfg: HssConfig, store: Store) -> int:
    text, skipped = provision.sipp_csv(store.subscribers(), args.count)
    sys.stdout.write(text)
    if skipped:
        print(
            f"ims-core: skipped {len(skipped)} subscriber(s) whose K/OP/AMF SIPp cannot "
            f"carry (0x00 octet or keyword too long): {', '.join(skipped[:5])}",
            file=sys.stderr,
        )
    return 0


def _run_hss(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
    except ConfigError as exc:
        return _err(str(exc))
    from hss.server import run

    return run(cfg)
