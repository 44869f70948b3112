"""The header edits a P-CSCF makes on session requests, as small functions on a message.

- identity: the UE's own P-Asserted-Identity goes (RFC 3325 §5: it is outside the trust
  domain), the registered identity is asserted (TS 24.229 §5.2.6.3.3; a registered
  P-Preferred-Identity is honoured, RFC 3325 §9.2, else the default public identity);
- privacy: `Privacy: id` hides P-Asserted-Identity from the UE (RFC 3325 §7, RFC 3323,
  TS 24.229 §5.2.6.4);
- sec-agree: what RFC 3329 §2 has the first hop consume (Security-Client,
  Security-Verify, the `sec-agree` option tag in Require/Proxy-Require, TS 24.229 §5.2.6.3);
- charging: P-Charging-Vector / P-Charging-Function-Addresses never reach the UE
  (RFC 3455 §4.5-§4.6: trust-domain headers);
- Record-Route with our `ims-leg` parameter (RFC 3261 §16.6 step 4: the leg travels in
  our own URI parameter, so in-dialog requests say which side they belong to).
"""

from __future__ import annotations

from collections.abc import Sequence

from ims_core.sip import Message, Request, SipParseError

from .registrations import impu_key

SEC_AGREE = "sec-agree"
SEC_AGREE_HEADERS = ("security-client", "security-verify")
CHARGING_HEADERS = ("p-charging-vector", "p-charging-function-addresses")


def remove_option_tag(message: Message, header: str, tag: str) -> bool:
    """Remove option tag `tag` from a list header (Require, Proxy-Require, Supported),
    however its values are split over fields; the header goes when nothing is left.
    True if something changed."""
    values = message.headers.values(header)
    kept = [v for v in values if v.strip(" \t").lower() != tag]
    if len(kept) == len(values):
        return False
    if kept:
        message.headers.set(header, ", ".join(kept))
    else:
        message.headers.remove(header)
    return True


def strip_sec_agree(request: Request) -> bool:
    """RFC 3329 §2.5/§2.6, TS 24.229 §5.2.2.1 and §5.2.6.3: the security agreement ends
    at the P-CSCF, so its headers and option tags do not travel on. True if any went."""
    changed = False
    for name in SEC_AGREE_HEADERS:
        changed = request.headers.remove(name) > 0 or changed
    for name in ("require", "proxy-require"):
        changed = remove_option_tag(request, name, SEC_AGREE) or changed
    return changed


def preferred_identities(request: Request, impus: Sequence[str]) -> list[str]:
    """The P-Preferred-Identity values that are in the UE's implicit set `impus`, as
    registered; at most one SIP(S) and one tel URI (RFC 3325 §9.1). A malformed
    P-Preferred-Identity counts as absent."""
    keys = {impu_key(i): i for i in impus}
    chosen: dict[str, str] = {}
    try:
        addresses = request.addresses("p-preferred-identity")
        for addr in addresses:
            hit = keys.get(impu_key(addr.uri))
            if hit is not None:
                chosen.setdefault("tel" if hit.lower().startswith("tel:") else "sip", hit)
    except SipParseError:
        return []
    return list(chosen.values())


def assert_identity(request: Request, identities: Sequence[str]) -> None:
    """RFC 3325 §6 / TS 24.229 §5.2.6.3.3: replace whatever P-Asserted-Identity and
    P-Preferred-Identity the UE sent with the identities we vouch for."""
    request.headers.remove("p-asserted-identity")
    request.headers.remove("p-preferred-identity")
    for identity in identities:
        request.headers.add("P-Asserted-Identity", f"<{identity}>")


def privacy_values(message: Message) -> set[str]:
    """The priv-values of the Privacy header (RFC 3323 §4.2: `;`-separated), lower case."""
    out: set[str] = set()
    for field in message.headers.get_all("privacy"):
        for part in field.replace(",", ";").split(";"):
            token = part.strip(" \t").lower()
            if token:
                out.add(token)
    return out


def prepare_for_ue(request: Request) -> None:
    """Edits on a request about to leave the trust domain towards a UE: `Privacy: id`
    removes P-Asserted-Identity (RFC 3325 §7, TS 24.229 §5.2.6.4) and the charging
    headers stay behind (RFC 3455 §4.5-§4.6)."""
    if "id" in privacy_values(request):
        request.headers.remove("p-asserted-identity")
    for name in CHARGING_HEADERS:
        request.headers.remove(name)


def record_route(host: str, port: int, leg: str, transport: str = "UDP") -> str:
    """Our Record-Route on leg `leg` ("orig"/"term"). Loose (`lr`); the transport of the
    UE's flow when it is not UDP, so the UE sends its in-dialog requests over it too
    (RFC 3261 §16.6 step 4)."""
    params = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
    return f"<sip:{host}:{port}{params};lr;ims-leg={leg}>"
