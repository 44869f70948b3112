"""What the four Cx procedures share: outcomes, the handler context, identity checks.

Each procedure module has a *decision* function on plain dataclasses (request fields in,
outcome and answer fields out; only the store is touched) and a thin ``handle`` that
reads the request :class:`~ims_core.diameter.Message` and builds the answer. Both are
blocking; the server runs them in a worker thread.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Callable
from typing import Any

from hss.config import CapabilitiesConfig, CxConfig
from hss.model import PublicIdentity, Subscriber, identity_key
from hss.store.base import Store
from ims_core.diameter import (
    CxResult,
    DiameterError,
    Message,
    ResultCode,
    SessionIds,
    make_answer,
)
from ims_core.diameter.avp import missing_avp
from ims_core.metrics.groups import HssMetrics


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class Outcome:
    """A base Result-Code or a Cx Experimental-Result-Code (vendor 10415), never both."""

    result_code: int | None = None
    experimental: int | None = None

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, result_code: int | None = None, experimental: int | None = None) -> None:
        object.__setattr__(self, "result_code", result_code)
        object.__setattr__(self, "experimental", experimental)

    @property
    def ok(self) -> bool:
        code = self.result_code if self.result_code is not None else self.experimental
        return code is not None and 2000 <= code < 3000

    @classmethod
    def of(cls, ans: Message) -> Outcome:
        """The result a peer's answer carries (Result-Code first if it sent both)."""
        if ans.result_code is not None:
            return cls(result_code=ans.result_code)
        er = ans.experimental_result
        return cls(experimental=None if er is None else er[1])

    def __str__(self) -> str:
        # Codes come from peers too: one outside our enums is shown as a number.
        names: type[enum.IntEnum] = CxResult if self.experimental is not None else ResultCode
        code = self.experimental if self.experimental is not None else self.result_code
        if code is None:
            return "no result"
        try:
            return f"{names(code).name}({code})"
        except ValueError:
            return str(code)


SUCCESS = Outcome(result_code=ResultCode.SUCCESS)


def base(code: int) -> Outcome:
    return Outcome(result_code=code)


def exp(code: int) -> Outcome:
    return Outcome(experimental=code)


@dataclasses.dataclass(frozen=True, slots=True)
class CxContext:
    """What a handler needs besides the request."""

    store: Store
    cx: CxConfig
    origin_host: str
    origin_realm: str
    rand_source: Callable[[int], bytes] = os.urandom
    # Session-Ids of the requests the HSS sends (RTR, PPR).
    session_ids: SessionIds = dataclasses.field(default_factory=SessionIds)
    # What the handlers count (SQN resynchronisations); a private registry by default.
    metrics: HssMetrics = dataclasses.field(default_factory=HssMetrics.create)


class Rejected(Exception):
    """Ends a decision early with this outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(str(outcome))
        self.outcome = outcome


def subscriber_for(
    store: Store, impi: str | None, impu: str | None
) -> tuple[Subscriber, PublicIdentity | None]:
    """Resolve IMPI and/or IMPU to one subscription (TS 29.228 §6.1.1.1 steps 1-2).

    Unknown identity → 5001 DIAMETER_ERROR_USER_UNKNOWN; IMPI and IMPU of different
    subscriptions → 5002 DIAMETER_ERROR_IDENTITIES_DONT_MATCH.
    """
    impu_n = identity_key(impu) if impu else None
    if impi:
        sub = store.by_impi(impi)
        if sub is None:
            raise Rejected(exp(CxResult.ERROR_USER_UNKNOWN))
        if impu_n is None:
            return sub, None
        ident = sub.identity(impu_n)
        if ident is not None:  # the common case: one look-up
            return sub, ident
        if store.by_impu(impu_n) is None:
            raise Rejected(exp(CxResult.ERROR_USER_UNKNOWN))
        raise Rejected(exp(CxResult.ERROR_IDENTITIES_DONT_MATCH))
    if impu_n is None:
        raise Rejected(exp(CxResult.ERROR_USER_UNKNOWN))
    by_u = store.by_impu(impu_n)
    if by_u is None:
        raise Rejected(exp(CxResult.ERROR_USER_UNKNOWN))
    return by_u, by_u.identity(impu_n)


def capabilities_value(caps: CapabilitiesConfig) -> dict[str, Any]:
    """Server-Capabilities as a grouped value (TS 29.229 §6.3.4)."""
    return {
        "Mandatory-Capability": list(caps.mandatory),
        "Optional-Capability": list(caps.optional),
        "Server-Name": list(caps.server_names),
    }


def answer(req: Message, ctx: CxContext, outcome: Outcome) -> Message:
    """The answer skeleton with the result, Origin-Host and Origin-Realm."""
    return make_answer(
        req,
        outcome.result_code,
        experimental=outcome.experimental,
        origin_host=ctx.origin_host,
        origin_realm=ctx.origin_realm,
    )


def text(req: Message, name: str, *, required: bool = False) -> str | None:
    """A string AVP; OctetString values are decoded as UTF-8."""
    return text_value(req.require(name) if required else req.get(name), name)


def required_text(req: Message, value: object, name: str) -> str:
    """:func:`text` with ``required``, for a *value* already read (``first_values``)."""
    if value is None:
        raise missing_avp(req.dictionary.avp(name))
    return text_value(value, name) or ""


def text_value(v: object, name: str) -> str | None:
    """The value of string AVP *name* as text (see :func:`text`)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            raise DiameterError(ResultCode.INVALID_AVP_VALUE, f"{name} is not UTF-8") from None
    raise DiameterError(ResultCode.INVALID_AVP_VALUE, f"{name} has the wrong type")


def server_answer(
    req: Message, ctx: CxContext, outcome: Outcome, server_name: str | None, capabilities: bool
) -> Message:
    """UAA/LIA: the result plus Server-Name, or else Server-Capabilities when asked
    (TS 29.229 §6.1.2, §6.1.6)."""
    ans = answer(req, ctx, outcome)
    if server_name:
        ans.add("Server-Name", server_name)
    elif capabilities:
        ans.add("Server-Capabilities", capabilities_value(ctx.cx.capabilities))
    return ans
