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
    ims-core ue register --pcscf 127.0.0.1:5060 --imsi 001010000000001 \
        --call 001010000000002 --call-seconds 10 --message 001010000000002 --text hello
    ims-core ue register --pcscf 10.0.0.1:5060 --local 10.0.0.2:5100 --ipsec \
        --imsi 001010000000001 --duration 600 --then-deregister

``--imsi`` alone means a demo subscriber (K = "K" + IMSI, OP ims-core-demo-op).
``--auth md5`` plays a softphone: no Authorization in the first REGISTER, no USIM keys,
the MD5 challenge answered with ``--password``. ``--subscribe`` and ``--duration`` keep
the UE running (see :data:`EXIT_CODES` for how it ends); so do ``--call`` and
``--message`` until they are over. While it runs the UE answers the calls and MESSAGEs
that reach it. One line per event: ``call sip:…: answered``, ``call sip:…: ended (BYE
200)``, ``MESSAGE to sip:…: 200 OK``, ``MESSAGE from sip:…: hello``, ``incoming call from
sip:…: answered``. ``--then-deregister`` de-registers at the end of ``--duration`` (or,
without it, once the call and MESSAGE are over; right after registering when there are
none; with ``--subscribe`` alone, never by itself) and at SIGINT/SIGTERM (a second one
ends the run at once).

``--ipsec`` (TS 33.203 §7, needs CAP_NET_ADMIN and the kernel's ESP): with ``--local
IP:PORT``, PORT is the protected server port (port_us, in the Contact and the Via) and
each registration exchange takes the next client port (port_uc) in PORT+1..PORT+16;
the first REGISTER goes unprotected from port_uc to ``--pcscf``, everything after the
401 over the SAs to the P-CSCF's protected server port. Every SA the run installed is
removed when it ends (de-registration, ``--duration``, a failure, SIGINT/SIGTERM).
``ue deregister --ipsec`` is an exchange of its own: it negotiates a new SA set for its
de-REGISTER (the P-CSCF answers its unprotected first REGISTER with a 401 like any
other) and removes it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ims_core import auth
from ims_core.ipsec.algorithms import ENCRYPTION, INTEGRITY
from ims_core.ipsec.kernel import Kernel, NetlinkKernel, check_support
from ims_core.runtime import stop_on_signals
from ims_core.sip import is_ip
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
from .call import CallPlan, MessagePlan
from .challenge import FirstRegister
from .client import Flow, run, stay, timers_for
from .profile import DEFAULT_DOMAIN, UeProfile, demo_profile
from .protected_flow import ProtectedFlow
from .protection import CLIENT_PORTS, Protection
from .registration import Outcome, Registration
from .subscription import DEFAULT_EXPIRES

T = TypeVar("T")

EXIT_CODES = f"""exit status:
  {EXIT_OK}  registered (with --subscribe/--duration: stayed until --duration ran out, or
     SIGINT/SIGTERM; with --then-deregister: de-registered)
  {EXIT_FAILED}  a REGISTER, re-REGISTER, SUBSCRIBE, call or MESSAGE failed or got no
     answer, the kernel refused an IPsec SA set, or the subscription ended for good
  {EXIT_USAGE}  bad arguments; --ipsec without CAP_NET_ADMIN or the kernel's ESP
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
            a.add_argument("--then-deregister", action="store_true",
                           help="at the end of --duration (or once the --call/--message "
                                "is done), and at SIGINT/SIGTERM, de-register before "
                                "exiting")
            a.add_argument("--call", metavar="TARGET",
                           help="once registered, call TARGET (a SIP/tel URI, user@host or "
                                "a user at --domain), hang up after --call-seconds")
            a.add_argument("--call-seconds", type=float, default=5.0, metavar="SECONDS",
                           help="how long the --call lasts once answered (default 5)")
            a.add_argument("--message", metavar="TARGET",
                           help="once registered, send a MESSAGE with --text to TARGET")
            a.add_argument("--text", help="the text of the --message")
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
    a.add_argument("--ipsec", action="store_true",
                   help="sec-agree with IPsec ESP SAs to the P-CSCF (TS 33.203 §7); needs "
                        "--local IP:PORT (PORT = port_us; port_uc from PORT+1.."
                        f"PORT+{CLIENT_PORTS}), an IP --pcscf, IMS-AKA, CAP_NET_ADMIN "
                        "and the kernel's ESP")
    a.add_argument("--ipsec-alg", choices=INTEGRITY,
                   help="offer only this integrity algorithm (default: all, "
                        f"{', '.join(INTEGRITY)})")
    a.add_argument("--ipsec-ealg", choices=ENCRYPTION,
                   help="offer only this encryption algorithm (default: all, "
                        f"{', '.join(ENCRYPTION)})")


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


@dataclass(frozen=True, slots=True)
class Ipsec:
    """``--ipsec``: what the UE offers and the kernel its SAs go into."""

    integrity: tuple[str, ...] = INTEGRITY
    encryption: tuple[str, ...] = ENCRYPTION
    kernel: Kernel | None = None  # None: a NetlinkKernel of the run's own


def ipsec_from_args(args: argparse.Namespace, first: FirstRegister,
                    pcscf: tuple[str, int], local: tuple[str, int] | None) -> Ipsec | None:
    """``--ipsec`` and its options, checked (ValueError says what is wrong)."""
    if not args.ipsec:
        if args.ipsec_alg or args.ipsec_ealg:
            raise ValueError("--ipsec-alg and --ipsec-ealg need --ipsec")
        return None
    if local is None:
        raise ValueError("--ipsec needs --local IP:PORT (PORT is the protected server "
                         "port, port_us)")
    if not is_ip(local[0]) or not is_ip(pcscf[0]):
        raise ValueError("--ipsec needs IP addresses in --local and --pcscf (the SAs name "
                         "them)")
    if not 0 < local[1] <= 65535 - CLIENT_PORTS:
        raise ValueError(f"--ipsec: the --local port must be 1-{65535 - CLIENT_PORTS} "
                         f"(port_uc takes the {CLIENT_PORTS} ports above it)")
    if first is FirstRegister.SOFTPHONE:
        raise ValueError("--ipsec needs IMS-AKA (its CK and IK make the SAs), not --auth md5")
    return Ipsec((args.ipsec_alg,) if args.ipsec_alg else INTEGRITY,
                 (args.ipsec_ealg,) if args.ipsec_ealg else ENCRYPTION)


async def open_flow(transport: str, pcscf: tuple[str, int], local: tuple[str, int] | None,
                    timers: TimerConfig | None, ipsec: Ipsec | None,
                    kernel: Kernel | None = None) -> Flow:
    """A plain flow to the P-CSCF, or with ``ipsec`` the protected one (its sec-agree
    state ``flow.protection``; SAs into ``kernel``)."""
    if ipsec is None:
        return await Flow.open(transport, pcscf, local, timers)
    if local is None or kernel is None:
        raise ValueError("IPsec needs the local address and a kernel")
    protection = Protection(local[0], local[1], pcscf, integrity=ipsec.integrity,
                            encryption=ipsec.encryption)
    return await ProtectedFlow.start(transport, protection, kernel, timers)


async def _closed(flow: Flow) -> None:
    """Close ``flow``; say what the kernel refused to remove (with IPsec)."""
    await flow.close()
    for error in flow.errors if isinstance(flow, ProtectedFlow) else ():
        print(f"ims-core ue: an SA set could not be removed: {error}", file=sys.stderr)


@contextlib.contextmanager
def _kernel(ipsec: Ipsec | None) -> Iterator[Kernel | None]:
    """The kernel the run's SAs go into: the one ``ipsec`` names, or one of its own."""
    if ipsec is None:
        yield None
    elif ipsec.kernel is not None:
        yield ipsec.kernel
    else:
        kernel = NetlinkKernel()
        try:
            yield kernel
        finally:
            kernel.close()


def _protection(flow: Flow) -> Protection | None:
    return flow.protection if isinstance(flow, ProtectedFlow) else None


async def register_once(profile: UeProfile, pcscf: tuple[str, int], transport: str, *,
                        expires: int, local: tuple[str, int] | None = None,
                        contact_star: bool = False,
                        first: FirstRegister = FirstRegister.IMS,
                        timers: TimerConfig | None = None,
                        ipsec: Ipsec | None = None) -> Outcome:
    """Open a flow, run one (de-)registration, close the flow (with ``ipsec``: remove
    every SA it installed)."""
    with _kernel(ipsec) as kernel:
        flow = await open_flow(transport, pcscf, local, timers, ipsec, kernel)
        try:
            assert flow.local is not None
            reg = Registration(profile, flow.local, expires=expires,
                               contact_star=contact_star, first=first,
                               protection=_protection(flow))
            return await run(reg, flow)
        finally:
            await _closed(flow)


async def _unless_stopped(main: Coroutine[object, object, T]) -> T | None:
    """``main``'s result, or None when SIGINT/SIGTERM came first (``main`` is cancelled,
    so what it set up is undone)."""
    with stop_on_signals() as stop:
        task = asyncio.ensure_future(main)
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, stopper, return_exceptions=True)
            return None
        await asyncio.gather(stopper, return_exceptions=True)
        return task.result()


def plans_from_args(args: argparse.Namespace
                    ) -> tuple[list[CallPlan], list[MessagePlan]]:
    """``--call``/``--call-seconds`` and ``--message``/``--text``, checked."""
    if (args.message is None) != (args.text is None):
        raise ValueError("--message TARGET and --text TEXT go together")
    if not args.call_seconds > 0:
        raise ValueError("--call-seconds must be a positive number of seconds")
    calls = [CallPlan(args.call, seconds=args.call_seconds)] if args.call else []
    texts = [MessagePlan(args.message, args.text)] if args.message is not None else []
    return calls, texts


def _main(args: argparse.Namespace) -> int:
    try:
        profile, first = auth_from_args(args, profile_from_args(args))
        pcscf = _hostport(args.pcscf)
        local = _hostport(args.local) if args.local else None
        timers = timers_for(args.timeout)
        ipsec = ipsec_from_args(args, first, pcscf, local)
    except ValueError as exc:
        print(f"ims-core ue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if ipsec is not None:
        missing = check_support()
        if missing is not None:
            print(f"ims-core ue: --ipsec: {missing}", file=sys.stderr)
            return EXIT_USAGE
    expires = 0 if args.ue_deregister else args.expires
    if not args.ue_deregister and (args.subscribe or args.duration is not None
                                   or args.then_deregister or args.call or args.message
                                   or args.text is not None):
        if args.duration is not None and not args.duration > 0:
            print("ims-core ue: --duration must be a positive number of seconds",
                  file=sys.stderr)
            return EXIT_USAGE
        if expires <= 0 or args.subscribe_expires <= 0:
            print("ims-core ue: --expires and --subscribe-expires must be positive",
                  file=sys.stderr)
            return EXIT_USAGE
        try:
            calls, texts = plans_from_args(args)
        except ValueError as exc:
            print(f"ims-core ue: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return _stay(args, profile, first, pcscf, local, timers, ipsec, calls, texts)
    # RFC 3261 §10.2.2: without the registered contact (--local) only `*` removes it.
    star = args.ue_deregister and (bool(args.star) or local is None)
    try:
        outcome = asyncio.run(_unless_stopped(register_once(
            profile, pcscf, args.transport, expires=expires, local=local, contact_star=star,
            first=first, timers=timers, ipsec=ipsec)))
    except OSError as exc:
        print(f"ims-core ue: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if outcome is None:
        print("ims-core ue: stopped", file=sys.stderr)
        return EXIT_FAILED
    _print(outcome, args.json)
    return EXIT_OK if outcome.ok else EXIT_FAILED


async def stay_registered(profile: UeProfile, pcscf: tuple[str, int], transport: str, *,
                          expires: int, subscribe: bool, subscribe_expires: int,
                          duration: float | None, report: Callable[[Report], None],
                          local: tuple[str, int] | None = None,
                          first: FirstRegister = FirstRegister.IMS,
                          timers: TimerConfig | None = None,
                          stop: asyncio.Event | None = None,
                          ipsec: Ipsec | None = None,
                          deregister: bool = False,
                          calls: Sequence[CallPlan] = (),
                          texts: Sequence[MessagePlan] = ()) -> Ending:
    """Open a flow and run an :class:`Agent` on it until it ends (or ``stop``): place
    ``calls``, send ``texts``, answer what arrives; with ``ipsec`` every SA it installed
    is removed at the end."""
    with _kernel(ipsec) as kernel:
        flow = await open_flow(transport, pcscf, local, timers, ipsec, kernel)
        try:
            assert flow.local is not None
            agent = Agent(profile, flow.local,
                          messages.outbound_proxy(pcscf[0], pcscf[1], transport),
                          expires=expires, subscribe=subscribe,
                          subscribe_expires=subscribe_expires, duration=duration,
                          first=first, protection=_protection(flow), deregister=deregister,
                          calls=calls, texts=texts, timers=flow.timers)
            hurry = asyncio.Event()
            with stop_on_signals(stop, again=hurry.set) as stopping:
                return await stay(agent, flow, report, stopping, hurry)
        finally:
            await _closed(flow)


def _stay(args: argparse.Namespace, profile: UeProfile, first: FirstRegister,
          pcscf: tuple[str, int], local: tuple[str, int] | None,
          timers: TimerConfig, ipsec: Ipsec | None, calls: Sequence[CallPlan],
          texts: Sequence[MessagePlan]) -> int:
    def report(item: Report) -> None:
        if isinstance(item, Registered):
            if item.initial:
                _print(item.outcome, args.json)
            else:
                o = item.outcome
                print(f"re-registered: {o.status} {o.reason}"
                      + (f", expires {o.contact_expires}" if o.contact_expires is not None
                         else "") + (f"; {o.ipsec}" if o.ipsec else ""))
        else:
            print(item)
        sys.stdout.flush()

    try:
        ending = asyncio.run(stay_registered(
            profile, pcscf, args.transport, expires=args.expires, subscribe=args.subscribe,
            subscribe_expires=args.subscribe_expires, duration=args.duration, report=report,
            local=local, first=first, timers=timers, ipsec=ipsec,
            deregister=args.then_deregister, calls=calls, texts=texts))
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
    if o.ipsec:
        print(f"ipsec: {o.ipsec}")
