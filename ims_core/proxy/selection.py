"""Choosing the response to forward upstream (RFC 3261 §16.7 step 6)."""

from __future__ import annotations

from collections.abc import Sequence

from ims_core.sip import Response

# §16.7 step 6: within 4xx, these carry information the UAC can act on.
_PREFERRED_4XX = (401, 407, 415, 420, 484)


def best_response(responses: Sequence[Response]) -> Response:
    """The best final response: a 6xx if any (first received), else the lowest class,
    within 4xx preferring 401/407/415/420/484, else the first received of that class.
    `responses` must hold at least one final response."""
    if len(responses) == 1 and responses[0].status >= 200:
        return responses[0]  # one branch (most requests): nothing to choose
    finals = [r for r in responses if r.status >= 200]
    if not finals:
        raise ValueError("no final response to choose from")
    for r in finals:
        if r.status >= 600:
            return r
    lowest = min(r.status // 100 for r in finals)
    in_class = [r for r in finals if r.status // 100 == lowest]
    if lowest == 4:
        for status in _PREFERRED_4XX:
            for r in in_class:
                if r.status == status:
                    return r
    return in_class[0]
