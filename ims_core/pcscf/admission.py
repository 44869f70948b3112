"""Which initial requests the P-CSCF lets through while it sheds load
(:mod:`ims_core.cscf.overload`; the 503 itself is ``CscfCore.overload_response``).

Shed first is new work from UEs; protected, because refusing them would waste work
already done or cut off a UE that is being served:

| request                                            | why                                  |
|----------------------------------------------------|--------------------------------------|
| any request from a core node (I-CSCF, S-CSCF)      | the core already spent its work on   |
|                                                    | it, and sheds at its own door        |
| REGISTER over the UE's IPsec SAs (TS 33.203 §7),   | a refresh, or the answer to a        |
| or carrying a challenge's nonce                    | challenge: half a registration done  |
| REGISTER of an identity registered on this flow    | a re-REGISTER (TS 24.229 §5.2.2.1):  |
|                                                    | refusing it would de-register the UE |

Asked only when no token is left, so its store look-up costs nothing at normal load;
asked before any transaction or protection check (the refusal is stateless).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ims_core.cscf.core import answers_challenge
from ims_core.identity import to_uri
from ims_core.proxy import RequestContext
from ims_core.sip import SipParseError

from .registrations import registration_key
from .state import PcscfRequest

if TYPE_CHECKING:
    from .core import PcscfCore


def protected(core: PcscfCore, ctx: RequestContext[PcscfRequest]) -> bool:
    """The table above; ``PcscfCore.protected`` (the :class:`CscfCore` hook)."""
    if core.from_core(ctx.source):
        return True
    request = ctx.request
    if request.method != "REGISTER":
        return False
    # Over an SA set: asked before check_protection() has marked it when the shedding
    # is stateless (CscfCore.refuse_statelessly).
    if (ctx.state.protected is not None or answers_challenge(request)
            or (core.ipsec is not None and core.ipsec.arrival(ctx.source) is not None)):
        return True
    from .core import flow_key  # here: core imports this module
    try:
        key = registration_key(flow_key(ctx.source), str(to_uri(request)))
    except SipParseError:
        return False  # not a refresh; once admitted, the malformed To gets its 400
    reg = core.store.get(key)
    return reg is not None and reg.expires > ctx.created
