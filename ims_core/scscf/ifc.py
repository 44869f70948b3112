"""Initial Filter Criteria evaluation (TS 29.228 Annex B.2.2, Annex C and Annex F;
TS 23.218 §6.4), pure functions.

An iFC's TriggerPoint is a boolean formula over Service Point Triggers (SPTs):

* ``ConditionTypeCNF = 1`` (conjunctive normal form): the SPTs sharing a ``Group``
  number are ORed, and the groups are ANDed;
* ``ConditionTypeCNF = 0`` (disjunctive normal form): the SPTs of a group are ANDed,
  and the groups are ORed.

An SPT may belong to several groups. ``ConditionNegated`` inverts an SPT's result. An
iFC without a TriggerPoint always matches (Annex B.2.2: the TriggerPoint is optional,
"unconditional" service). The iFCs of a profile are tried by ascending Priority.

SPT conditions (Annex B.2.2 tSePoTri):

* ``Method``: the request method, case-insensitive; a ``Method`` of REGISTER with
  RegistrationType values matches only those kinds of REGISTER (initial, re-, de-
  registration) when the caller says which kind it evaluates (Annex B.2.2: without
  the extension's support, or without values, it matches every REGISTER);
* ``RequestURI``: a regular expression searched in the Request-URI text (as Kamailio
  and other cores do; Annex F leaves the matching rule to the implementation);
* ``SIPHeader``: the header is present, and when ``Content`` is given, a regular
  expression searched in any of its values;
* ``SessionCase``: 0 originating, 1 terminating registered, 2 terminating unregistered,
  3 originating unregistered;
* ``SessionDescription``: an SDP line of type ``Line`` (e.g. ``m``) whose value matches
  ``Content`` (any line of that type when ``Content`` is absent).

A regular expression that does not compile never matches (and a negated one then
matches): the HSS's data is not ours to crash on. The model is ``ims_core.userdata``'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ims_core.sip import Request, Response
from ims_core.userdata import Ifc, RegistrationType, Spt


def _regex(pattern: str) -> re.Pattern[str] | None:
    # re keeps its own cache of compiled patterns; a pattern that does not compile is
    # the HSS's data, not ours to crash on.
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _search(pattern: str, text: str) -> bool:
    rx = _regex(pattern)
    return rx is not None and rx.search(text) is not None


def sdp_text(request: Request) -> list[str]:
    """The lines of an application/sdp body (RFC 8866 §5), none for any other body.
    Evaluating a profile decodes them once (:func:`next_match`), not once per SPT."""
    ctype = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if ctype != "application/sdp" or not request.body:
        return []
    return request.body.decode("utf-8", "replace").splitlines()


def _sdp_lines(lines: list[str], kind: str) -> list[str]:
    """Values of the SDP lines ``kind=...``."""
    prefix = f"{kind.strip()}="
    return [line[len(prefix):] for line in lines if line.startswith(prefix)]


class _Sdp:
    """The request's SDP lines, decoded on first need."""

    __slots__ = ("lines", "request")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.lines: list[str] | None = None

    def get(self) -> list[str]:
        if self.lines is None:
            self.lines = sdp_text(self.request)
        return self.lines


def _any(values: Sequence[str], content: str | None) -> bool:
    """Present (content None), or *content* found in one of *values*."""
    return bool(values) if content is None else any(_search(content, v) for v in values)


def spt_matches(spt: Spt, request: Request, session_case: int,
                registration_type: RegistrationType | None = None,
                sdp: _Sdp | None = None) -> bool:
    """One SPT against *request* in *session_case*, negation applied;
    *registration_type*: what kind of REGISTER *request* is, when it is one; *sdp*: the
    request's SDP lines when a caller evaluates several SPTs."""
    if spt.method is not None:
        hit = request.method.upper() == spt.method.strip().upper()
        if hit and spt.registration_types and registration_type is not None:
            hit = request.method.upper() != "REGISTER" or (
                registration_type in spt.registration_types)
    elif spt.request_uri is not None:
        hit = _search(spt.request_uri, request.uri_text)
    elif spt.header is not None:
        name = spt.header.strip()
        hit = _any(request.headers.get_all(name) if name else [], spt.header_content)
    elif spt.session_case is not None:
        hit = spt.session_case == session_case
    else:
        lines = (sdp or _Sdp(request)).get()
        hit = _any(_sdp_lines(lines, spt.sdp_line or ""), spt.sdp_content)
    return hit != spt.negated


def trigger_matches(ifc: Ifc, request: Request, session_case: int,
                    registration_type: RegistrationType | None = None,
                    sdp: _Sdp | None = None) -> bool:
    """The iFC's TriggerPoint (CNF or DNF over groups, Annex C) against *request*."""
    if not ifc.spts:
        return True
    if sdp is None:
        sdp = _Sdp(request)
    groups: dict[int, list[bool]] = {}
    for spt in ifc.spts:
        result = spt_matches(spt, request, session_case, registration_type, sdp)
        for g in spt.groups:
            groups.setdefault(g, []).append(result)
    if ifc.condition_type_cnf:
        return all(any(results) for results in groups.values())
    return any(all(results) for results in groups.values())


def as_failed(response: Response) -> bool:
    """An AS that failed, which its iFC's DefaultHandling decides about (TS 24.229
    §5.4.3.2, §5.4.3.3, §5.4.1.7; TS 29.228 Annex B.2.2): 408 or 5xx, which includes the
    408 / 503 a proxy core generates for no answer or a transport failure."""
    return response.status == 408 or 500 <= response.status < 600


def next_match(ifcs: Sequence[Ifc], request: Request, session_case: int,
               start: int = 0) -> tuple[int, Ifc] | None:
    """The first iFC at index ``>= start`` (of *ifcs*, already sorted by Priority) that
    matches, with its index; None when none does (TS 23.218 §6.4: evaluation goes on
    with the next iFC after each AS the request came back from)."""
    sdp = _Sdp(request)
    for index in range(max(start, 0), len(ifcs)):
        ifc = ifcs[index]
        if trigger_matches(ifc, request, session_case, sdp=sdp):
            return index, ifc
    return None
