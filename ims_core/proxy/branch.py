"""Via branch values (RFC 3261 §8.1.1.7, §16.6 step 8, §16.11) and loop detection
(§16.3 step 4).

A branch we create is `z9hG4bK-` + a loop hash of the request as received + `.` + the
proxy's salt and a counter of its own. When a request comes back carrying one of our
branches with its own loop hash, nothing that matters for routing changed: that is a
loop, not a spiral.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ims_core.sip import MAGIC_COOKIE, Request

_PREFIX = MAGIC_COOKIE + "-"


def new_salt(rng: Callable[[int], bytes]) -> str:
    """Each proxy instance marks its branches with its own salt, so two proxies in one
    process (tests, embedding) never mistake each other's branches for a loop."""
    return rng(6).hex()


# Where each field that counts goes: the first field of From, To, Call-ID and CSeq (slots
# 0-3), every Route (4) and Proxy-Require (5) field.
_SLOT = {"from": 0, "to": 1, "call-id": 2, "cseq": 3, "route": 4, "proxy-require": 5}


def loop_hash(request: Request) -> str:
    """§16.6 step 8: hash of the fields whose change makes a returning request a spiral:
    Request-URI, From, To, Call-ID, CSeq number, Route set and Proxy-Require (raw
    values; the top Via is left out, see RFC 5393 §4.2). 12 hex digits. Asked of every
    new request: the fields are read in one pass, not looked up one by one, and hashed
    by Python's own (keyed, per process) string hash, which costs half a blake2b: only
    this proxy instance ever compares the values, and its salt is its own anyway."""
    first: list[str | None] = [None, None, None, None]
    routes: list[str] = []
    required: list[str] = []
    slot_of = _SLOT.get
    for field in request.headers.fields:
        slot = slot_of(field[0])
        if slot is None:
            continue
        if slot < 4:
            if first[slot] is None:
                first[slot] = field[2]
        elif slot == 4:
            routes.append(field[2])
        else:
            required.append(field[2])
    text = "\x00".join((
        request.uri_text,
        first[0] or "",
        first[1] or "",
        first[2] or "",
        (first[3] or "").split(" ", 1)[0],
        ",".join(routes),
        ",".join(required),
    ))
    return f"{hash(text) & 0xFFFFFFFFFFFF:012x}"


def new_branch(loop: str, salt: str, seq: int) -> str:
    """A fresh branch for a stateful forward, unique in space and time (§8.1.1.7): the
    salt is the proxy's own, `seq` a number it never uses twice."""
    return f"{_PREFIX}{loop}.{salt}{seq:x}"


def _same_request_digest(request: Request, purpose: str) -> str:
    """Hex digits that are the same for every copy of ``request`` (a retransmission):
    from its top Via (the branch), Request-URI and Call-ID."""
    top = request.headers.values("via")[0] if "via" in request.headers else ""
    text = f"{purpose}\x00{top}\x00{request.uri_text}\x00{request.headers.get('call-id') or ''}"
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


def stateless_branch(request: Request) -> str:
    """§16.11: a branch that is the same each time the same request (an ACK for a 2xx)
    is forwarded, derived from the incoming top Via branch (or its fields)."""
    return f"{_PREFIX}s{_same_request_digest(request, '')}"


def stateless_tag(request: Request) -> str:
    """§8.2.7: our To tag in a response sent without a transaction, the same each time
    the same request (a retransmission) is answered."""
    return _same_request_digest(request, "tag")


def is_own_branch(branch: str, salt: str) -> bool:
    """True for a branch this proxy instance (`salt`) made for a stateful forward."""
    return branch.startswith(_PREFIX) and f".{salt}" in branch


def is_looped(request: Request, loop: str, salt: str) -> bool:
    """True when a Via of `request` carries one of our branches (`salt`) with hash `loop`."""
    marker = f"{_PREFIX}{loop}.{salt}"
    # One search over the joined values (no marker holds a NUL: none spans two).
    return marker in "\x00".join(request.headers.get_all("via"))
