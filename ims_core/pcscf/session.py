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
- credentials: Proxy-Authorization is for the UE's first hop (RFC 3261 §22.3) and names
  the caller's private identity, so it does not enter the core (TS 24.229 §5.2.6.3).
"""

from __future__ import annotations

from collections.abc import Sequence

from ims_core.identity import impu_key
from ims_core.sip import Message, Request, SipParseError
from ims_core.sip.secagree import SEC_AGREE, SEC_AGREE_HEADERS

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
    present = {f[0] for f in request.headers.fields}  # one pass, not one per header
    changed = False
    for name in SEC_AGREE_HEADERS:
        if name in present:
            changed = request.headers.remove(name) > 0 or changed
    for name in ("require", "proxy-require"):
        if name in present:
            changed = remove_option_tag(request, name, SEC_AGREE) or changed
    return changed


def preferred_identities(message: Message, impus: Sequence[str]) -> list[str]:
    """The P-Preferred-Identity values that are in the UE's implicit set `impus`, as
    registered; at most one SIP(S) and one tel URI (RFC 3325 §9.1). A malformed
    P-Preferred-Identity counts as absent."""
    keys = {impu_key(i): i for i in impus}
    chosen: dict[str, str] = {}
    try:
        addresses = message.addresses("p-preferred-identity")
        for addr in addresses:
            hit = keys.get(impu_key(addr.uri))
            if hit is not None:
                chosen.setdefault("tel" if hit.lower().startswith("tel:") else "sip", hit)
    except SipParseError:
        return []
    return list(chosen.values())


def claimed_identities(message: Message, *headers: str) -> list[str]:
    """The `impu_key`s of the URIs in `headers` of `message`, in that order (e.g. a UE's
    P-Preferred-Identity then From, TS 24.229 §5.2.6.3.1): whom it says it is, to tell
    registrations sharing a flow apart — never a proof. A header that does not parse
    counts as absent."""
    out: list[str] = []
    for name in headers:
        try:
            out += [impu_key(a.uri) for a in message.addresses(name)]
        except SipParseError:
            continue
    return out


def served_identities(message: Message, impus: Sequence[str], default: str) -> list[str]:
    """The identities to assert for a UE's message (TS 24.229 §5.2.6.3.3 for its
    requests, §5.2.6.4.4 / §5.2.6.4.8 for its responses): its P-Preferred-Identity
    values that are in its implicit set `impus`, else its default public identity."""
    return preferred_identities(message, impus) or [default]


def drop_ue_identity(message: Message) -> None:
    """RFC 3325 §5: identity headers from outside the trust domain are not believed, and
    a P-Preferred-Identity stops at the first trusted proxy (§9.2)."""
    message.headers.remove("p-asserted-identity")
    message.headers.remove("p-preferred-identity")


def assert_identity(message: Message, identities: Sequence[str]) -> None:
    """RFC 3325 §6 / TS 24.229 §5.2.6.3.3: replace whatever P-Asserted-Identity and
    P-Preferred-Identity the UE sent with the identities we vouch for."""
    drop_ue_identity(message)
    for identity in identities:
        message.headers.add("P-Asserted-Identity", f"<{identity}>")


def strip_proxy_credentials(request: Request) -> bool:
    """Proxy-Authorization from a UE is meant for its first hop, us (RFC 3261 §22.3:
    proxy credentials are consumed hop by hop), and carries the private identity, which
    stays out of the core (TS 24.229 §5.2.6.3). Authorization stays: the registrar needs
    it on REGISTER (§5.2.2.1). True if any went."""
    return request.headers.remove("proxy-authorization") > 0


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

