"""Provisioning: build subscribers, demo seed, CSV/TOML import, SIPp injection CSV.

Demo subscribers (``ims-core subscriber seed``), documented in ``config/hss.toml``:
IMSI ``001010000000001`` + i, MSISDN ``1555`` + 7 digits of i (``15550000001`` …),
K = ``"K" + IMSI`` as 16 ASCII characters (``K001010000000001``), OP =
``ims-core-demo-op``, AMF ``8000``, password ``ims-core-demo`` (stored as HA1 only),
schemes AKAv1-MD5, AKAv2-MD5 and SIP Digest. Printable keys let SIPp 3.6.1 read them raw.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hss.model import (
    DEFAULT_AMF,
    Ifc,
    PublicIdentity,
    Subscriber,
    identity_key,
    parse_schemes,
)
from ims_core import auth, userdata
from ims_core.identity import default_impi, default_impus

DEMO_FIRST_IMSI = "001010000000001"
DEMO_OP = b"ims-core-demo-op"
DEMO_PASSWORD = "ims-core-demo"
DEMO_AMF = DEFAULT_AMF
SIPP_KEYWORD_MAX = 255  # SIPp keeps keywords in a 256-byte buffer


class ProvisionError(ValueError):
    """Bad provisioning input (message names the field)."""


class UnknownIdentity(ProvisionError):
    """A change names a public identity the subscriber does not have."""


class IdentityExists(ProvisionError):
    """A change adds a public identity the subscriber already has."""


def demo_k(imsi: str) -> bytes:
    return ("K" + imsi).encode("ascii")[:16].ljust(16, b"-")


def demo_msisdn(imsi: str) -> str:
    return "1555" + imsi[-7:]


def _hex(name: str, value: str | bytes | None, size: int) -> bytes | None:
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = bytes.fromhex(value.strip().removeprefix("0x"))
        except ValueError:
            raise ProvisionError(f"{name} must be hex") from None
    if len(raw) != size:
        raise ProvisionError(f"{name} must be {size} bytes ({2 * size} hex digits), not {len(raw)}")
    return raw


def new_subscriber(
    *,
    imsi: str,
    k: str | bytes,
    domain: str,
    op: str | bytes | None = None,
    opc: str | bytes | None = None,
    amf: str | bytes | None = None,
    sqn: str | int | None = None,
    msisdn: str | None = None,
    password: str | None = None,
    schemes: str | Iterable[str] | None = None,
    barred: bool = False,
    ifcs: Iterable[Ifc] = (),
) -> Subscriber:
    """A subscriber with the IMPI/IMPUs derived from IMSI, MSISDN and the home domain."""
    k_b = _hex("k", k, 16)
    op_b, opc_b = _hex("op", op, 16), _hex("opc", opc, 16)
    if k_b is None:
        raise ProvisionError("k is required")
    if (op_b is None) == (opc_b is None):
        raise ProvisionError("give exactly one of op and opc")
    if opc_b is None:
        assert op_b is not None
        opc_b = auth.opc(k_b, op_b)
    amf_b = _hex("amf", amf, 2) or DEFAULT_AMF
    if sqn is None or sqn == "":
        sqn_i = 0
    elif isinstance(sqn, int):
        sqn_i = sqn
    else:
        sqn_b = _hex("sqn", sqn, 6)
        sqn_i = int.from_bytes(sqn_b or b"", "big")
    msisdn = (msisdn or "").lstrip("+") or None
    scheme_t: tuple[str, ...]
    if schemes is None:
        scheme_t = ("akav1", "akav2", "md5") if password else ("akav1", "akav2")
    else:
        try:
            scheme_t = parse_schemes(schemes if isinstance(schemes, str) else list(schemes))
        except ValueError as exc:
            raise ProvisionError(str(exc)) from None
    impi = default_impi(imsi, domain)
    ha1 = auth.ha1(impi, domain, password.encode("utf-8")) if password else None
    impus = tuple(PublicIdentity(identity_key(i), barred=barred)
                  for i in default_impus(imsi, domain, msisdn))
    try:
        return Subscriber(
            imsi=imsi, impi=impi, k=k_b, opc=opc_b, op=op_b, amf=amf_b, sqn=sqn_i,
            schemes=scheme_t, ha1=ha1, msisdn=msisdn, barred=barred, impus=impus,
            ifcs=tuple(ifcs),
        )
    except ValueError as exc:
        raise ProvisionError(str(exc)) from None


def demo_subscribers(count: int, domain: str, first: str = DEMO_FIRST_IMSI) -> Iterator[Subscriber]:
    start = int(first)
    width = len(first)
    for i in range(count):
        imsi = str(start + i).zfill(width)
        yield new_subscriber(
            imsi=imsi, k=demo_k(imsi), op=DEMO_OP, amf=DEMO_AMF, domain=domain,
            msisdn=demo_msisdn(imsi), password=DEMO_PASSWORD,
        )


# -- import ---------------------------------------------------------------------------

_FIELDS = ("imsi", "k", "op", "opc", "amf", "sqn", "msisdn", "password", "schemes", "barred")


def _from_record(rec: Mapping[str, Any], domain: str, where: str) -> Subscriber:
    unknown = set(rec) - set(_FIELDS) - {"ifcs"}
    if unknown:
        raise ProvisionError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        ifcs = tuple(Ifc.from_dict(d) for d in rec.get("ifcs", ()))
        barred = rec.get("barred", False)
        if isinstance(barred, str):
            barred = barred.strip().lower() in ("1", "true", "yes")
        return new_subscriber(
            imsi=str(rec.get("imsi", "")).strip(),
            k=rec.get("k", ""),
            op=rec.get("op") or None,
            opc=rec.get("opc") or None,
            amf=rec.get("amf") or None,
            sqn=rec.get("sqn") or None,
            msisdn=str(rec["msisdn"]) if rec.get("msisdn") else None,
            password=rec.get("password") or None,
            schemes=rec.get("schemes") or None,
            barred=bool(barred),
            domain=domain,
            ifcs=ifcs,
        )
    except (ProvisionError, ValueError, TypeError) as exc:
        raise ProvisionError(f"{where}: {exc}") from None


def read_import(path: str | Path, domain: str) -> list[Subscriber]:
    """Subscribers from a CSV file (header row with the field names) or a TOML file
    with ``[[subscriber]]`` tables (which may carry ``ifcs``)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProvisionError(f"{p}: {exc}") from None
        recs = data.get("subscriber", [])
        return [_from_record(r, domain, f"{p}: subscriber[{i}]") for i, r in enumerate(recs)]
    rows = csv.DictReader(io.StringIO(text))
    return [
        _from_record({k.strip(): (v or "").strip() for k, v in r.items()}, domain, f"{p}:{n + 2}")
        for n, r in enumerate(rows)
    ]


# -- profile changes (``subscriber update``) ------------------------------------------------


def read_ifcs(path: str | Path) -> tuple[Ifc, ...]:
    """iFCs from a TOML file: ``[[ifcs]]`` tables (or ``ifcs = [...]``) with the fields of an
    import file's ``[[subscriber.ifcs]]``; an empty list removes every iFC."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProvisionError(f"{p}: {exc}") from None
    unknown = set(data) - {"ifcs"}
    if unknown or "ifcs" not in data:
        raise ProvisionError(f"{p}: expected only an ifcs list (as in [[ifcs]] tables)")
    recs = data["ifcs"]
    if not isinstance(recs, list):
        raise ProvisionError(f"{p}: ifcs must be a list of tables")
    try:
        return tuple(Ifc.from_dict(r) for r in recs)
    except (ValueError, TypeError) as exc:
        raise ProvisionError(f"{p}: {exc}") from None


def identity_of(uri: str) -> str:
    """The key form (:func:`identity_key`) of a public identity to provision: a sip:,
    sips: or tel: URI, or :class:`ProvisionError` saying why not."""
    key = identity_key(uri)
    try:
        userdata.PublicIdentity(key)
    except ValueError as exc:
        raise ProvisionError(str(exc)) from None
    return key


def _identity(sub: Subscriber, uri: str) -> PublicIdentity:
    ident = sub.identity(uri)
    if ident is None:
        raise UnknownIdentity(f"{uri} is not a public identity of {sub.imsi}")
    return ident


def updated(
    sub: Subscriber,
    *,
    ifcs: Iterable[Ifc] | None = None,
    add_impus: Iterable[str] = (),
    remove_impus: Iterable[str] = (),
    bar: Iterable[str] = (),
    unbar: Iterable[str] = (),
    barred: bool | None = None,
) -> Subscriber:
    """*sub* with its service profile changed: removals, then additions (at the end, in the
    state of the implicit registration set they join, TS 29.228 §6.5.2.1), then *barred*
    (the subscription and all its identities, as ``add --barred``), then per-identity
    barring. Identities are compared by :func:`identity_key`."""
    impus = list(sub.impus)
    for uri in remove_impus:
        gone = _identity(sub, uri)
        impus = [p for p in impus if p.impu != gone.impu]
    for uri in add_impus:
        key = identity_of(uri)
        if any(p.impu == key for p in impus):
            raise IdentityExists(f"{uri} is already a public identity of {sub.imsi}")
        impus.append(PublicIdentity(key, barred=sub.barred, state=sub.state))
    if barred is not None:
        impus = [dataclasses.replace(p, barred=barred) for p in impus]
    for uri, flag in [*((u, True) for u in bar), *((u, False) for u in unbar)]:
        key = identity_key(uri)
        if not any(p.impu == key for p in impus):
            raise UnknownIdentity(f"{uri} is not a public identity of {sub.imsi}")
        impus = [dataclasses.replace(p, barred=flag) if p.impu == key else p for p in impus]
    try:
        return dataclasses.replace(
            sub, impus=tuple(impus), ifcs=sub.ifcs if ifcs is None else tuple(ifcs),
            barred=sub.barred if barred is None else barred,
        )  # fmt: skip
    except ValueError as exc:
        raise ProvisionError(str(exc)) from None


def with_auth(
    sub: Subscriber,
    *,
    domain: str,
    k: str | bytes | None = None,
    op: str | bytes | None = None,
    opc: str | bytes | None = None,
    amf: str | bytes | None = None,
    schemes: str | Iterable[str] | None = None,
    password: str | None = None,
    remove_password: bool = False,
) -> Subscriber:
    """*sub* with new authentication data; what is not given is kept. OPc follows K
    (TS 35.206 §4.1: OPc = OP ⊕ E_K(OP)): a new *k* recomputes it from the stored OP, and
    needs *op* or *opc* when only an OPc is stored. *opc* forgets a stored OP. A
    *password* is kept as HA1 only, for ``md5`` (which needs one)."""
    if op not in (None, "") and opc not in (None, ""):
        raise ProvisionError("give at most one of op and opc")
    k_b = _hex("k", k, 16) or sub.k
    op_b, opc_b = _hex("op", op, 16), _hex("opc", opc, 16)
    if opc_b is None and op_b is None:
        if k_b != sub.k and sub.op is None:
            raise ProvisionError("a new k needs op or opc: the stored OPc was derived "
                                 "from the old k")
        op_b = sub.op
        opc_b = auth.opc(k_b, op_b) if op_b is not None else sub.opc
    elif opc_b is None:
        assert op_b is not None
        opc_b = auth.opc(k_b, op_b)
    ha1 = None if remove_password else sub.ha1
    if password:
        ha1 = auth.ha1(sub.impi, domain, password.encode("utf-8"))
    try:
        scheme_t = sub.schemes if schemes is None else parse_schemes(
            schemes if isinstance(schemes, str) else list(schemes))
        return dataclasses.replace(sub, k=k_b, op=op_b, opc=opc_b, ha1=ha1,
                                   amf=_hex("amf", amf, 2) or sub.amf, schemes=scheme_t)
    except ValueError as exc:
        raise ProvisionError(str(exc)) from None


# -- SIPp injection CSV (SIPp -inf files) ------------------------------------------

_SIPP_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+,:/@!*~")


def sipp_value(raw: bytes) -> str | None:
    """*raw* as SIPp 3.6.1 reads it back, or None when it cannot (a 0x00 octet).

    Safe printable bytes go raw; otherwise the value is quoted and every unsafe byte is
    written ``\\\\xNN`` (SIPp re-reads the value as scenario text, which unescapes once).
    """
    if not raw or 0 in raw:
        return None
    if all(b in _SIPP_SAFE for b in raw) and not raw.lower().startswith(b"0x"):
        return raw.decode("ascii")
    return '"' + "".join(chr(b) if b in _SIPP_SAFE else f"\\\\x{b:02x}" for b in raw) + '"'


def sipp_keyword(sub: Subscriber) -> str | None:
    """``[authentication username=IMPI aka_K=… aka_OP=… aka_AMF=…]`` or None."""
    if sub.op is None:
        return None
    # SIPp copies AMF from a C string: a trailing 00 octet comes from the terminator.
    amf = sub.amf[:1] if sub.amf[1] == 0 else sub.amf
    k, op, amf_s = sipp_value(sub.k), sipp_value(sub.op), sipp_value(amf)
    if k is None or op is None or amf_s is None:
        return None
    kw = f"[authentication username={sub.impi} aka_K={k} aka_OP={op} aka_AMF={amf_s}]"
    return kw if len(kw) <= SIPP_KEYWORD_MAX else None


def sipp_csv(subs: Iterable[Subscriber], count: int | None = None) -> tuple[str, list[str]]:
    """(file text, IMSIs skipped because SIPp cannot carry their keys)."""
    lines, skipped = ["SEQUENTIAL"], []
    for s in subs:
        if count is not None and len(lines) > count:
            break
        if s.op is None:
            continue
        kw = sipp_keyword(s)
        if kw is None:
            skipped.append(s.imsi)
            continue
        lines.append(f"{s.imsi};{s.msisdn or ''};{kw}")
    return "\n".join(lines) + "\n", skipped
