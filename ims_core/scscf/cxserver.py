"""The S-CSCF's answers to the requests the HSS sends it over Cx (sans-I/O):

- RTR, Registration-Termination (TS 29.228 §6.1.3; TS 29.229 §6.1.9-6.1.10): the HSS
  de-registers a private identity (User-Name plus the IMPIs of Associated-Identities),
  every registration of it (IMPI-only form) or only those holding the listed
  Public-Identity values (IMPU-list form). Each goes through
  ``ScscfCore.network_deregister`` with the reg-event ``event`` TS 24.229 §5.4.1.5 asks
  for, and no SAR (the HSS already knows).
- PPR, Push-Profile (TS 29.228 §6.2.2; TS 29.229 §6.1.11-6.1.12): a new IMSSubscription
  for the IMPI's registrations, through ``ScscfCore.update_profile``. A PPR carrying only
  Charging-Information (or SIP-Auth-Data-Item) has nothing to change here.

:func:`answer` never raises: a missing or wrong AVP gets its base Result-Code with
Failed-AVP (RFC 6733 §7.5), a core that fails 5012 DIAMETER_UNABLE_TO_COMPLY, and the
Cx refusals their Experimental-Result (vendor 10415, TS 29.229 §6.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ims_core import log
from ims_core.diameter import (
    PPR,
    RTR,
    CxResult,
    DiameterError,
    Message,
    ResultCode,
    error_answer,
    make_answer,
)
from ims_core.identity import impu_key
from ims_core.sip import SipParseError
from ims_core.userdata import UserDataError
from ims_core.userdata import parse as parse_user_data

from .store import Registration

if TYPE_CHECKING:
    from .core import ScscfCore

_log = log.get("scscf")

# Deregistration-Reason / Reason-Code (TS 29.229 §6.3.17) → the reg-event contact event
# (RFC 3680 §5.2.2; TS 24.229 §5.4.1.5): "rejected" when the UE must not register again,
# "deactivated" when it should (a new S-CSCF, a server change, this S-CSCF removed).
EVENT_FOR_REASON: dict[int, str] = {
    0: "rejected",  # PERMANENT_TERMINATION
    1: "deactivated",  # NEW_SERVER_ASSIGNED
    2: "deactivated",  # SERVER_CHANGE
    3: "deactivated",  # REMOVE_S-CSCF
}


def answer(core: ScscfCore, request: Message, now: float) -> Message:
    """The answer to an HSS-initiated Cx request (RTR or PPR; any other command gets
    3001 DIAMETER_COMMAND_UNSUPPORTED); see the module docstring."""
    try:
        if request.command_code == RTR:
            return _rtr(core, request, now)
        if request.command_code == PPR:
            return _ppr(core, request, now)
        raise DiameterError(ResultCode.COMMAND_UNSUPPORTED, f"{request.name} is not served here")
    except DiameterError as err:
        _log.info("scscf.cx_request_refused", command=request.name, code=err.result_code,
                  why=str(err))
        return _error(core, request, err)
    except Exception:
        _log.exception("scscf.cx_request_failed", command=request.name)
        return _error(core, request, DiameterError(ResultCode.UNABLE_TO_COMPLY))


# -- RTR ----------------------------------------------------------------------------------
def _rtr(core: ScscfCore, request: Message, now: float) -> Message:
    impis = _impis(request)
    request.require("Deregistration-Reason")  # 5005 with Failed-AVP when absent
    reason = request.get_grouped("Deregistration-Reason")
    assert reason is not None
    reason.require("Reason-Code")
    code_avp = reason.find("Reason-Code")
    assert code_avp is not None
    event = EVENT_FOR_REASON.get(code_avp.value) if isinstance(code_avp.value, int) else None
    if event is None:
        raise DiameterError(ResultCode.INVALID_AVP_VALUE, f"Reason-Code {code_avp.value!r}",
                            failed_avp=code_avp.encode())
    wanted = _impu_keys(request)
    regs = [reg for reg in _registrations(core, impis)
            if wanted is None or not wanted.isdisjoint(reg.identities)]
    if not regs:
        _log.info("scscf.rtr_unknown", impi=impis[0], impus=sorted(wanted or ()))
        return _answer(core, request, experimental=CxResult.ERROR_USER_UNKNOWN)
    # TS 29.228 §6.1.3: the private identities de-registered along with those named
    # (other users of the same implicit set) go back in Associated-Identities.
    others = _impis_of(regs) - set(impis)
    _log.info("scscf.rtr", impi=impis[0], reg_event=event, registrations=len(regs),
              why=reason.get_str("Reason-Info"))
    for reg in regs:
        core.network_deregister(reg, now, event=event)
    ans = _answer(core, request, ResultCode.SUCCESS)
    if others:
        ans.add("Associated-Identities", {"User-Name": sorted(others)})
    return ans


def _impis(request: Message) -> list[str]:
    """User-Name, then the User-Name values of Associated-Identities (TS 29.229 §6.1.9)."""
    impis = [_user_name(request)]
    assoc = request.get_grouped("Associated-Identities")
    if assoc is not None:
        impis += [name for name in assoc.get_all("User-Name")
                  if isinstance(name, str) and name not in impis]
    return impis


def _user_name(request: Message) -> str:
    """User-Name: 5005 when absent, 5004 when it is not text."""
    request.require("User-Name")
    name = request.get_str("User-Name")
    assert name is not None
    return name


def _impu_keys(request: Message) -> set[str] | None:
    """The Public-Identity values as keys; None when there are none (IMPI-only form)."""
    avps = request.find_all("Public-Identity")
    if not avps:
        return None
    keys = set()
    for avp in avps:
        try:
            keys.add(impu_key(avp.value))
        except (SipParseError, TypeError):
            raise DiameterError(ResultCode.INVALID_AVP_VALUE, "Public-Identity is no URI",
                                failed_avp=avp.encode()) from None
    return keys


def _registrations(core: ScscfCore, impis: Iterable[str]) -> list[Registration]:
    """Every registration of these IMPIs, each once, in the store's order."""
    seen: dict[int, Registration] = {}
    for impi in impis:
        for reg in core.store.by_impi(impi):
            seen.setdefault(id(reg), reg)
    return list(seen.values())


def _impis_of(regs: Iterable[Registration]) -> set[str]:
    out: set[str] = set()
    for reg in regs:
        out.add(reg.impi)
        out.update(b.impi for b in reg.bindings.values())
    return out


# -- PPR ----------------------------------------------------------------------------------
def _ppr(core: ScscfCore, request: Message, now: float) -> Message:
    impi = _user_name(request)
    regs = _registrations(core, [impi])
    if not regs:
        _log.info("scscf.ppr_unknown", impi=impi)
        return _answer(core, request, experimental=CxResult.ERROR_USER_UNKNOWN)
    data_avp = request.find("User-Data")
    if data_avp is None:  # Charging-Information / SIP-Auth-Data-Item only: kept elsewhere
        return _answer(core, request, ResultCode.SUCCESS)
    try:
        if not isinstance(data_avp.value, bytes | str):
            raise UserDataError("User-Data is not an octet string")
        profile = parse_user_data(data_avp.value)
    except UserDataError as exc:
        # TS 29.228 §6.2.2.1, TS 29.229 §6.2.2.9: data we cannot read or do not support.
        _log.warning("scscf.ppr_bad_user_data", impi=impi, error=str(exc))
        return _answer(core, request, experimental=CxResult.ERROR_NOT_SUPPORTED_USER_DATA)
    _log.info("scscf.ppr", impi=impi, registrations=len(regs))
    for reg in regs:
        core.update_profile(reg, profile, now)
    return _answer(core, request, ResultCode.SUCCESS)


# -- answers ------------------------------------------------------------------------------
def _origin(core: ScscfCore) -> tuple[str | None, str | None]:
    """Our Origin-Host/Realm (the node fills them in when we have no [diameter])."""
    d = core.cfg.diameter
    return (d.origin_host or None, d.origin_realm or None) if d is not None else (None, None)


def _answer(core: ScscfCore, request: Message, result: int | None = None, *,
            experimental: int | None = None) -> Message:
    host, realm = _origin(core)
    return make_answer(request, result, experimental=experimental, origin_host=host,
                       origin_realm=realm)


def _error(core: ScscfCore, request: Message, err: DiameterError) -> Message:
    host, realm = _origin(core)
    return error_answer(request, err, origin_host=host, origin_realm=realm,
                        dictionary=request.dictionary)
