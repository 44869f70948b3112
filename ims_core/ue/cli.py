"""``ims-core ue register|deregister``: our UE against a P-CSCF.

    ims-core ue register --pcscf 127.0.0.1:5060 --imsi 001010000000001
    ims-core ue register --pcscf 127.0.0.1:5060 --impi alice@DOMAIN --impu sip:alice@DOMAIN \\
        --password secret
    ims-core ue register --pcscf 127.0.0.1:5060 --imsi 001010000000001 --sqn-ms ffffffffff00
    ims-core ue register --pcscf 127.0.0.1:5060 --imsi 001010000000001 --auth md5 \\
        --password ims-core-demo
    ims-core ue register --pcscf 127.0.0.1:5060 --imsi 001010000000001 --subscribe
    ims-core ue register --pcscf 127.0.0.1:5060 --imsi 001010000000001 --duration 3600
    ims-core ue deregister --pcscf 127.0.0.1:5060 --imsi 001010000000001

``--imsi`` alone means a demo subscriber (K = "K" + IMSI, OP ims-core-demo-op).
``--auth md5`` plays a softphone: no Authorization in the first REGISTER, no USIM keys,
the MD5 challenge answered with ``--password``. ``--subscribe`` and ``--duration`` keep
the UE running (see :data:`EXIT_CODES` for how it ends).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ims_core import auth
from ims_core.runtime import stop_on_signals
from ims_core.transaction import TimerConfig

from . import messages
from .agent import (
    EXIT_DEREGISTERED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    Agent,
    Ending,
    Registered,
    Report,
)
from .challenge import FirstRegister
from .client import Flow, run, stay, timers_for
from .profile import DEFAULT_DOMAIN, UeProfile, demo_profile
from .registration import Outcome, Registration
from .subscription import DEFAULT_EXPIRES

EXIT_CODES = f"""exit status:
  {EXIT_OK}  registered (with --subscribe/--duration: stayed until --duration ran out, or
     SIGINT/SIGTERM)
  {EXIT_FAILED}  a REGISTER, re-REGISTER or SUBSCRIBE failed or got no answer, or the
     subscription ended for good
  {EXIT_USAGE}  bad arguments
  {EXIT_DEREGISTERED}  the network de-registered the UE (reg event: its contact or registration
     terminated: deactivated, expired, probation...); it may register again
  {EXIT_REJECTED}  the network de-registered the UE with "rejected": do not re-register"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("ue", help="a UE: register / de-register")
    acts = p.add_subparsers(dest="ue_action", metavar="ACTION")
    acts.required = True
    for name, help_text in (("register", "REGISTER with IMS-AKA or MD5 digest"),
                            ("deregister", "REGISTER with Expires: 0")):
        a = acts.add_parser(name, help=help_text, epilog=EXIT_CODES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        _common(a)
        if name == "register":
            a.add_argument("--expires", type=int, default=600, help="seconds (default 600)")
            a.add_argument("--subscribe", action="store_true",
                           help="after the 200, SUBSCRIBE to the reg event of the registered "
                                "identity, print one line per NOTIFY and stay registered "
                                "until the network de-registers the UE (or --duration)")
            a.add_argument("--subscribe-expires", type=int, default=DEFAULT_EXPIRES,
                           metavar="SECONDS",
                           help=f"Expires of the SUBSCRIBE (default {DEFAULT_EXPIRES})")
            a.add_argument("--duration", type=float, metavar="SECONDS",
                           help="stay registered this long, re-registering (and "
                                "re-subscribing) before expiry, then exit 0")
        else:
            a.add_argument("--star", action="store_true",
                           help="Contact: * (remove every binding of the IMPU); the default "
                                "without --local, since a new local port matches no binding")
        a.set_defaults(func=_main, ue_deregister=name == "deregister")


def _common(a: argparse.ArgumentParser) -> None:
    a.add_argument("--pcscf", required=True, metavar="HOST:PORT")
    a.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    a.add_argument("--local", metavar="HOST:PORT", help="local address (default: any)")
    who = a.add_mutually_exclusive_group(required=True)
    who.add_argument("--imsi", help="demo subscriber IMSI (IMPI/IMPU/K/OP derived)")
    who.add_argument("--impi", help="private identity user@domain")
    a.add_argument("--impu", help="public identity (default sip:<IMPI>)")
    a.add_argument("--domain", default=DEFAULT_DOMAIN, help="home domain / realm")
    a.add_argument("--k", help="K, 32 hex digits")
    keys = a.add_mutually_exclusive_group()
    keys.add_argument("--op", help="OP, 32 hex digits")
    keys.add_argument("--opc", help="OPc, 32 hex digits")
    a.add_argument("--password", help="SIP Digest password (MD5)")
    a.add_argument("--auth", choices=("aka", "md5"),
                   help="aka: an IMS UE, the empty Authorization first (TS 24.229); md5: a "
                        "softphone, no Authorization first, MD5 with --password; default: "
                        "aka with keys, else the empty Authorization with algorithm=MD5")
    a.add_argument("--sqn-ms", help="the USIM's highest accepted SQN, 12 hex digits")
    a.add_argument("--timeout", type=float, default=32.0,
                   help="per request: Timer F = 64*T1 (default 32, T1 0.5)")
    a.add_argument("--json", action="store_true", help="print the outcome as JSON")


def _hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, not {text!r}")
    return host, int(port)


def _hex(name: str, text: str | None, size: int) -> bytes | None:
    if text is None:
        return None
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise ValueError(f"--{name} must be hex") from None
    if len(raw) != size:
        raise ValueError(f"--{name} must be {2 * size} hex digits")
    return raw


def profile_from_args(args: argparse.Namespace) -> UeProfile:
    sqn_ms = _hex("sqn-ms", args.sqn_ms, 6)
    k, op, opc = _hex("k", args.k, 16), _hex("op", args.op, 16), _hex("opc", args.opc, 16)
    if args.imsi:
        base = demo_profile(args.imsi, args.domain, sqn_ms=sqn_ms, password=args.password)
        if k is not None:
            base = UeProfile(base.impi, base.impu, base.domain, k, opc or
                             (auth.opc(k, op) if op is not None else base.opc),
                             args.password, sqn_ms)
        return base
    impu = args.impu or f"sip:{args.impi}"
    if k is not None and opc is None:
        if op is None:
            raise ValueError("--k needs --op or --opc")
        opc = auth.opc(k, op)
    if k is None and args.password is None:
        raise ValueError("give --k with --op/--opc (AKA) or --password (MD5)")
    return UeProfile(args.impi, impu, args.domain, k, opc, args.password, sqn_ms)


def auth_from_args(args: argparse.Namespace, profile: UeProfile
                   ) -> tuple[UeProfile, FirstRegister]:
    """``--auth``: the profile to use and what the first REGISTER carries."""
    if args.auth == "md5":
        if profile.password is None:
            raise ValueError("--auth md5 needs --password")
        # A softphone has no USIM: it cannot answer an AKA challenge.
        return replace(profile, k=None, opc=None, sqn_ms=None), FirstRegister.SOFTPHONE
    if args.auth == "aka" and not profile.uses_aka:
        raise ValueError("--auth aka needs --imsi or --k with --op/--opc")
    return profile, FirstRegister.IMS


async def register_once(profile: UeProfile, pcscf: tuple[str, int], transport: str, *,
                        expires: int, local: tuple[str, int] | None = None,
                        contact_star: bool = False,
                        first: FirstRegister = FirstRegister.IMS,
                        timers: TimerConfig | None = None) -> Outcome:
    """Open a flow, run one (de-)registration, close the flow."""
    flow = await Flow.open(transport, pcscf, local, timers)
    try:
        assert flow.local is not None
        reg = Registration(profile, flow.local, expires=expires, contact_star=contact_star,
                           first=first)
        return await run(reg, flow)
    finally:
        await flow.close()


def _main(args: argparse.Namespace) -> int:
    try:
        profile, first = auth_from_args(args, profile_from_args(args))
        pcscf = _hostport(args.pcscf)
        local = _hostport(args.local) if args.local else None
        timers = timers_for(args.timeout)
    except ValueError as exc:
        print(f"ims-core ue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    expires = 0 if args.ue_deregister else args.expires
    if not args.ue_deregister and (args.subscribe or args.duration is not None):
        if args.duration is not None and not args.duration > 0:
            print("ims-core ue: --duration must be a positive number of seconds",
                  file=sys.stderr)
            return EXIT_USAGE
        if expires <= 0 or args.subscribe_expires <= 0:
            print("ims-core ue: --expires and --subscribe-expires must be positive",
                  file=sys.stderr)
            return EXIT_USAGE
        return _stay(args, profile, first, pcscf, local, timers)
    # RFC 3261 §10.2.2: without the registered contact (--local) only `*` removes it.
    star = args.ue_deregister and (bool(args.star) or local is None)
    try:
        outcome = asyncio.run(register_once(profile, pcscf, args.transport, expires=expires,
                                            local=local, contact_star=star, first=first,
                                            timers=timers))
    except OSError as exc:
        print(f"ims-core ue: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print(outcome, args.json)
    return EXIT_OK if outcome.ok else EXIT_FAILED


async def stay_registered(profile: UeProfile, pcscf: tuple[str, int], transport: str, *,
                          expires: int, subscribe: bool, subscribe_expires: int,
                          duration: float | None, report: Callable[[Report], None],
                          local: tuple[str, int] | None = None,
                          first: FirstRegister = FirstRegister.IMS,
                          timers: TimerConfig | None = None,
                          stop: asyncio.Event | None = None) -> Ending:
    """Open a flow and run an :class:`Agent` on it until it ends (or ``stop``)."""
    flow = await Flow.open(transport, pcscf, local, timers)
    try:
        assert flow.local is not None
        agent = Agent(profile, flow.local,
                      messages.outbound_proxy(pcscf[0], pcscf[1], transport),
                      expires=expires, subscribe=subscribe,
                      subscribe_expires=subscribe_expires, duration=duration, first=first)
        with stop_on_signals(stop) as stopping:
            return await stay(agent, flow, report, stopping)
    finally:
        await flow.close()


def _stay(args: argparse.Namespace, profile: UeProfile, first: FirstRegister,
          pcscf: tuple[str, int], local: tuple[str, int] | None,
          timers: TimerConfig) -> int:
    def report(item: Report) -> None:
        if isinstance(item, Registered):
            if item.initial:
                _print(item.outcome, args.json)
            else:
                o = item.outcome
                print(f"re-registered: {o.status} {o.reason}"
                      + (f", expires {o.contact_expires}" if o.contact_expires is not None
                         else ""))
        else:
            print(item)
        sys.stdout.flush()

    try:
        ending = asyncio.run(stay_registered(
            profile, pcscf, args.transport, expires=args.expires, subscribe=args.subscribe,
            subscribe_expires=args.subscribe_expires, duration=args.duration, report=report,
            local=local, first=first, timers=timers))
    except OSError as exc:
        print(f"ims-core ue: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if ending.message:
        print(ending.message, flush=True)
    return ending.code


def _print(o: Outcome, as_json: bool) -> None:
    if as_json:
        print(json.dumps(o.as_dict()))
        return
    print(f"status: {o.status} {o.reason}")
    if o.error:
        print(f"error: {o.error}")
    print(f"challenges: {o.challenges}" + (" (resynchronised with AUTS)" if o.resynced else "")
          + (f" algorithm={o.algorithm}" if o.algorithm else ""))
    for name, values in (("Service-Route", o.service_routes),
                         ("P-Associated-URI", o.associated_uris), ("Path", o.paths),
                         ("Contact", o.contacts)):
        for v in values:
            print(f"{name}: {v}")
    if o.contact_expires is not None:
        print(f"expires: {o.contact_expires}")
