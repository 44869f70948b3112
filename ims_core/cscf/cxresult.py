"""What the outcome of a Cx exchange means for the SIP request waiting on it: the one
table of Diameter result → SIP status for every CSCF (TS 24.229 §5.3.1.2 UAA, §5.3.2.1
LIA, §5.4.1.2 MAA and SAA; TS 29.228 §6.1, §6.3 result codes).

The outcome is the answer, or the exception that stood in for one. :func:`verdict`
sorts it into three kinds:

- **ok**: a 2xxx Result-Code or Experimental-Result-Code;
- **rejected**: the HSS answered no (unknown user, identities that don't match, barred,
  authentication rejected…): a SIP status of its own per procedure;
- **no answer**: nothing usable came back — the peer is down (DiameterUnavailable), the
  answer did not come in time (DiameterTimeout), or a 3xxx/4xxx Result-Code says the
  request could not be delivered or satisfied now (RFC 6733 §7.1.3, §7.1.4). The node
  decides the status (the I-CSCF answers 480 or the configured 504 for UAR, 504 for LIR;
  the S-CSCF 504), always with a Reason header (RFC 3326).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ims_core.diameter import (
    VENDOR_3GPP,
    CxResult,
    DiameterTimeout,
    DiameterUnavailable,
    Message,
    ResultCode,
)


class Procedure(enum.Enum):
    """The Cx request whose answer is judged; the value names the answer."""

    UAR = "UAA"
    LIR = "LIA"
    MAR = "MAA"
    SAR = "SAA"


@dataclass(frozen=True, slots=True, init=False)
class CxVerdict:
    """``ok``: go on. Otherwise answer ``status`` (with ``phrase`` as the reason phrase
    when set) and put ``text`` in the Reason header; ``no_answer`` means the status is
    the node's HSS-failure status, not ``status``. ``code``: the Diameter result seen."""

    ok: bool
    status: int = 0
    text: str = ""
    phrase: str | None = None
    code: int | None = None
    no_answer: bool = False

    # Written out (init=False): mypyc compiles it; see ims_core/native.py.
    def __init__(self, ok: bool, status: int = 0, text: str = "", phrase: str | None = None,
                 code: int | None = None, no_answer: bool = False) -> None:
        object.__setattr__(self, "ok", ok)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "phrase", phrase)
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "no_answer", no_answer)


OK = CxVerdict(True)

# TS 24.229 §5.3.1.2 (UAA), §5.4.1.2.1 (MAA, SAA): a negative answer → 403.
_FORBIDDEN: dict[int, str] = {
    CxResult.ERROR_USER_UNKNOWN: "User Unknown",
    CxResult.ERROR_IDENTITIES_DONT_MATCH: "Identities Don't Match",
    CxResult.ERROR_IDENTITY_NOT_REGISTERED: "Not Registered",
    CxResult.ERROR_ROAMING_NOT_ALLOWED: "Roaming Not Allowed",
    CxResult.ERROR_AUTH_SCHEME_NOT_SUPPORTED: "Authentication Scheme Not Supported",
    CxResult.ERROR_IN_ASSIGNMENT_TYPE: "Error In Assignment Type",
}
# TS 24.229 §5.3.2.1 (LIA): the user is unknown → 404; not registered (and no
# unregistered services) → 480.
_LIA_EXPERIMENTAL: dict[int, tuple[int, str | None]] = {
    CxResult.ERROR_USER_UNKNOWN: (404, "Not Found"),
    CxResult.ERROR_IDENTITY_NOT_REGISTERED: (480, "Temporarily Unavailable"),
}


def _code_name(code: int) -> str:
    for enum_cls in (ResultCode, CxResult):
        try:
            return f"{enum_cls(code).name} ({code})"
        except ValueError:
            continue
    return str(code)


def no_answer_text(outcome: object, procedure: Procedure) -> str:
    """Why no usable answer came, for logs and the Reason header."""
    if isinstance(outcome, DiameterTimeout):
        return f"HSS timeout: no {procedure.value} in time"
    if isinstance(outcome, DiameterUnavailable):
        return f"HSS unreachable: {outcome}" if str(outcome) else "HSS unreachable"
    if isinstance(outcome, Message):
        code = outcome.result_code
        return f"HSS error {_code_name(code)}" if code is not None else "HSS error"
    return f"HSS error: {type(outcome).__name__}"


def verdict(outcome: object, procedure: Procedure) -> CxVerdict:
    """Judge a Cx outcome (an answer, or the exception raised instead); see the module
    docstring for the three kinds."""
    if not isinstance(outcome, Message):
        return CxVerdict(False, 504, no_answer_text(outcome, procedure), no_answer=True)
    rc = outcome.result_code
    experimental = outcome.experimental_result
    if rc is None and experimental is not None:
        vendor, code = experimental
        if vendor not in (VENDOR_3GPP, 0):
            return CxVerdict(False, 500, f"unexpected {procedure.value} result {code}",
                             code=code)
        if 2000 <= code < 3000:
            return CxVerdict(True, code=code)
        return _experimental(procedure, code)
    if rc is None:
        return CxVerdict(False, 500, f"{procedure.value} without a result")
    if 2000 <= rc < 3000:
        return CxVerdict(True, code=rc)
    if rc == ResultCode.AUTHORIZATION_REJECTED:  # e.g. every identity barred
        if procedure is Procedure.LIR:
            return CxVerdict(False, 404, "authorization rejected", "Not Found", rc)
        return CxVerdict(False, 403, "authorization rejected",
                         "Forbidden - Authorization Rejected", rc)
    if rc == ResultCode.AUTHENTICATION_REJECTED:  # e.g. a failed resynchronisation
        return CxVerdict(False, 403, "authentication rejected",
                         "Forbidden - Authentication Rejected", rc)
    if 3000 <= rc < 5000:  # could not be delivered, or a transient failure
        return CxVerdict(False, 504, no_answer_text(outcome, procedure), code=rc,
                         no_answer=True)
    return CxVerdict(False, 500, f"HSS error {_code_name(rc)}", code=rc)


def _experimental(procedure: Procedure, code: int) -> CxVerdict:
    if procedure is Procedure.LIR:
        status, phrase = _LIA_EXPERIMENTAL.get(code, (500, None))
        return CxVerdict(False, status, f"HSS {_code_name(code)}", phrase, code)
    known = _FORBIDDEN.get(code)
    if known is not None:
        return CxVerdict(False, 403, known.lower(), f"Forbidden - {known}", code)
    if procedure is Procedure.UAR:  # any other negative UAA is a refusal (§5.3.1.2)
        return CxVerdict(False, 403, f"HSS {_code_name(code)}",
                         f"Forbidden - HSS Experimental-Result {code}", code)
    return CxVerdict(False, 500, f"HSS {_code_name(code)}", code=code)
