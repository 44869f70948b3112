"""Security agreement (RFC 3329) with the ipsec-3gpp mechanism (TS 33.203 §7, Annex H),
sans-I/O: reading and writing Security-Client/-Server/-Verify values, the P-CSCF's
choice, the list a 494 carries, the Security-Verify check and the UE's offer.

Grammar (RFC 3329 §2.2; the ipsec-3gpp parameters from TS 33.203 Annex H):

    security-client = "Security-Client" HCOLON sec-mechanism *(COMMA sec-mechanism)
    sec-mechanism   = mechanism-name *(SEMI mech-parameters)
    mech-parameters = preference / digest-algorithm / digest-qop / digest-verify
                    / algorithm / protocol / mode / encrypt-algorithm / spi / port1
                    / port2 / extension          ; extension = generic-param
    preference      = "q" EQUAL qvalue
    algorithm       = "alg" EQUAL ( "hmac-md5-96" / "hmac-sha-1-96" )
    protocol        = "prot" EQUAL ( "ah" / "esp" )
    mode            = "mod" EQUAL ( "trans" / "tun" )
    encrypt-algorithm = "ealg" EQUAL ( "des-ede3-cbc" / "aes-cbc" / "null" )
    spi             = ( "spi-c" / "spi-s" ) EQUAL spivalue   ; 0 to 4294967295
    port1 / port2   = ( "port-c" / "port-s" ) EQUAL port

Names are tokens and compared case-insensitively (RFC 3261 §7.3.1), so mechanism and
parameter names are kept in lower case; values are kept as received.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .address import split_values
from .errors import SipParseError
from .grammar import GENERIC_PARAM_RE, LWS, TOKEN, is_token
from .headers import canonical_name
from .message import Message
from .params import Param, format_params, parse_generic_params

SEC_AGREE = "sec-agree"  # the option tag (RFC 3329 §2.1)
# What the first hop consumes from requests (RFC 3329 §2.5-§2.6, TS 24.229 §5.2.6.3).
SEC_AGREE_HEADERS = ("security-client", "security-verify")
IPSEC_3GPP = "ipsec-3gpp"
NULL = "null"  # TS 33.203 Annex H: an entry without ealg offers no encryption

MAX_SPI = 2**32 - 1
# RFC 4303 §2.1: SPIs 1-255 are reserved by IANA and 0 never goes on the wire.
MIN_USABLE_SPI = 256
SA_PARAMS = ("spi-c", "spi-s", "port-c", "port-s")

_HEAD_RE = re.compile(rf"{LWS}({TOKEN})")
# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )  (RFC 3261 §25.1)
_QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_NUMBER_RE = re.compile(r"[0-9]{1,10}")
_NUMERIC = {"spi-c": (0, MAX_SPI), "spi-s": (0, MAX_SPI),
            "port-c": (1, 65535), "port-s": (1, 65535)}
_TOKENS = ("alg", "ealg", "prot", "mod")
_KNOWN = frozenset({"q", *_TOKENS, *_NUMERIC})


@dataclass(frozen=True, slots=True)
class Mechanism:
    """One sec-mechanism: ``ipsec-3gpp;alg=hmac-sha-1-96;spi-c=...``. Construction checks
    the values of the parameters it knows (ValueError); ``format()`` writes it."""

    name: str
    params: tuple[Param, ...] = ()

    def __post_init__(self) -> None:
        if not is_token(self.name):
            raise ValueError(f"mechanism name {self.name!r} is not a token")
        params = tuple((n.lower(), v) for n, v in self.params)
        object.__setattr__(self, "name", self.name.lower())
        object.__setattr__(self, "params", params)
        seen: set[str] = set()
        for name, value in params:
            text = f";{name}" if value is None else f";{name}={value}"
            m = GENERIC_PARAM_RE.fullmatch(text)
            if m is None or m.group(1) != name or m.group(2) != value:
                raise ValueError(f"parameter {text!r} is not a generic-param")
            if name in _KNOWN:
                if name in seen:
                    raise ValueError(f"{name} appears twice")
                seen.add(name)
                _check_known(name, value)

    def param(self, name: str) -> str | None:
        """The value of parameter `name` (None when absent or valueless)."""
        lname = name.lower()
        return next((v for n, v in self.params if n == lname), None)

    def _lower(self, name: str) -> str | None:
        value = self.param(name)
        return None if value is None else value.lower()

    def _int(self, name: str) -> int | None:
        value = self.param(name)
        return None if value is None else int(value)

    @property
    def alg(self) -> str | None:
        return self._lower("alg")

    @property
    def ealg(self) -> str | None:
        return self._lower("ealg")

    @property
    def prot(self) -> str | None:
        return self._lower("prot")

    @property
    def mod(self) -> str | None:
        return self._lower("mod")

    @property
    def q(self) -> float | None:
        value = self.param("q")
        return None if value is None else float(value)

    @property
    def spi_c(self) -> int | None:
        return self._int("spi-c")

    @property
    def spi_s(self) -> int | None:
        return self._int("spi-s")

    @property
    def port_c(self) -> int | None:
        return self._int("port-c")

    @property
    def port_s(self) -> int | None:
        return self._int("port-s")

    def format(self) -> str:
        return self.name + format_params(list(self.params))

    def __str__(self) -> str:
        return self.format()


def _check_known(name: str, value: str | None) -> None:
    if value is None:
        raise ValueError(f"{name} needs a value")
    if name == "q":
        if _QVALUE_RE.fullmatch(value) is None:
            raise ValueError("q is not a qvalue")
    elif name in _TOKENS:
        if not is_token(value):
            raise ValueError(f"{name} is not a token")
    else:
        lo, hi = _NUMERIC[name]
        if _NUMBER_RE.fullmatch(value) is None or not lo <= int(value) <= hi:
            raise ValueError(f"{name} is not a number in {lo}-{hi}")


def format_mechanisms(mechanisms: Sequence[Mechanism]) -> str:
    """A header value listing `mechanisms` in order."""
    return ", ".join(m.format() for m in mechanisms)


def parse_mechanisms(value: str, header: str = "security-client", *,
                     need_sa: bool = True) -> list[Mechanism]:
    """One header value (a comma list). SipParseError(400, "Bad <header>") on anything
    malformed; the detail is the exception's cause. An ipsec-3gpp entry needs alg and,
    unless `need_sa` is False (a 494's list, RFC 3329 §2.3.1), spi-c, spi-s, port-c and
    port-s."""
    try:
        return [_parse_one(part, need_sa) for part in split_values(value)]
    except ValueError as exc:  # SipParseError from the generic parsers included
        raise SipParseError(f"Bad {canonical_name(header)}") from exc


def _parse_one(text: str, need_sa: bool) -> Mechanism:
    m = _HEAD_RE.match(text)
    if m is None:
        raise ValueError("no mechanism name")
    mech = Mechanism(m.group(1), tuple(parse_generic_params(text, m.end())))
    if mech.name == IPSEC_3GPP:
        needed = ("alg", *SA_PARAMS) if need_sa else ("alg",)
        missing = [n for n in needed if mech.param(n) is None]
        if missing:
            raise ValueError(f"ipsec-3gpp without {', '.join(missing)}")
    return mech


def mechanisms(message: Message, header: str, *, need_sa: bool = True) -> list[Mechanism]:
    """Every entry of every `header` field of `message`, in order; [] when absent."""
    out: list[Mechanism] = []
    for value in message.headers.get_all(header):
        out += parse_mechanisms(value, header, need_sa=need_sa)
    return out


@dataclass(frozen=True, slots=True)
class Choice:
    """The offer entry the P-CSCF takes and the algorithms it names (lower case)."""

    offer: Mechanism
    alg: str
    ealg: str


def _installable(m: Mechanism) -> bool:
    """An ipsec-3gpp entry for ESP in transport mode (absent prot/mod mean those, TS 33.203
    Annex H) with SPIs that may go on the wire and both ports."""
    return (m.name == IPSEC_3GPP and m.prot in (None, "esp") and m.mod in (None, "trans")
            and all(v is not None for v in (m.port_c, m.port_s))
            and all(v is not None and v >= MIN_USABLE_SPI for v in (m.spi_c, m.spi_s)))


def choose(offer: Sequence[Mechanism], integrity: Sequence[str],
           encryption: Sequence[str]) -> Choice | None:
    """The first (alg, ealg) in our preference order, integrity before encryption, that
    an installable ipsec-3gpp entry of `offer` names; None when there is none (494,
    RFC 3329 §2.3.1). Other mechanisms (digest, tls, ...) are ignored."""
    usable = [m for m in offer if _installable(m)]
    for alg in (a.lower() for a in integrity):
        for ealg in (e.lower() for e in encryption):
            for m in usable:
                if m.alg == alg and (m.ealg or NULL) == ealg:
                    return Choice(m, alg, ealg)
    return None


def _format_q(q: float) -> str:
    if not 0 <= q <= 1:
        raise ValueError(f"q {q} is not in 0-1")
    return f"{q:.3f}".rstrip("0").rstrip(".")


def _ipsec(alg: str, ealg: str, sa: tuple[int, int, int, int] | None = None,
           q: float | None = None) -> Mechanism:
    params: list[Param] = [("prot", "esp"), ("mod", "trans")]
    if sa is not None:
        params += [(n, str(v)) for n, v in zip(SA_PARAMS, sa, strict=True)]
    params += [("ealg", ealg), ("alg", alg)]
    if q is not None:
        params.append(("q", _format_q(q)))
    return Mechanism(IPSEC_3GPP, tuple(params))


def server_mechanism(choice: Choice, *, spi_c: int, spi_s: int, port_c: int, port_s: int,
                     q: float | None = None) -> Mechanism:
    """The P-CSCF's Security-Server entry for `choice` with its own SPIs and ports
    (TS 33.203 §7.2, TS 24.229 §5.2.2.1); ValueError when one is out of range."""
    return _ipsec(choice.alg, choice.ealg, (spi_c, spi_s, port_c, port_s), q)


def supported_mechanisms(integrity: Sequence[str],
                         encryption: Sequence[str]) -> list[Mechanism]:
    """What a 494 lists (RFC 3329 §2.3.1): one entry per (alg, ealg) we accept, in our
    preference order, without SPIs or ports."""
    return [_ipsec(a, e) for a in integrity for e in encryption]


def offer_mechanisms(integrity: Sequence[str], encryption: Sequence[str], *, spi_c: int,
                     spi_s: int, port_c: int, port_s: int) -> list[Mechanism]:
    """The UE's Security-Client (TS 33.203 §7.1): one entry per (alg, ealg), all naming
    the same SPIs and ports."""
    sa = (spi_c, spi_s, port_c, port_s)
    return [_ipsec(a, e, sa) for a in integrity for e in encryption]


def _normal(name: str, value: str | None) -> tuple[str, int | str | None]:
    """A parameter as compared: numbers as numbers (q in thousandths), quoted strings
    exactly, other values case-insensitively."""
    if value is None or value.startswith('"'):
        return name, value
    if name == "q" and _QVALUE_RE.fullmatch(value):
        return name, round(float(value) * 1000)
    if value.isascii() and value.isdigit():
        return name, int(value)
    return name, value.lower()


def _compared(m: Mechanism) -> tuple[str, Counter[tuple[str, int | str | None]]]:
    return m.name, Counter(_normal(n, v) for n, v in m.params)


def verify_matches(verify: Sequence[Mechanism], server: Sequence[Mechanism]) -> bool:
    """RFC 3329 §2.3.1/§2.4: Security-Verify repeats the Security-Server that was sent,
    the same mechanisms in the same order with the same parameters (in any order)."""
    return len(verify) == len(server) and all(
        _compared(v) == _compared(s) for v, s in zip(verify, server, strict=True))
