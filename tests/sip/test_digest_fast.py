"""parse_auth's shortcuts give what the param-by-param grammar scan gives: the split of
the common shape and check_auth (same values, same errors), a parsed header's params
built only when asked for, and get()'s remembered index after set() and remove()."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_core.sip import AuthHeader, AuthParam, SipParseError, digest, parse_auth
from ims_core.sip.digest import _scan, _scan_grammar, check_auth

SETTINGS = settings(max_examples=500, deadline=None)

NAMES = ("username", "realm", "nonce", "Realm", "qop", "x-y", "ck")
_names = st.sampled_from(NAMES)
_tokens = st.text("aZ09-.!%*_+`'~", min_size=1, max_size=6)
_clean_quoted = st.builds(lambda s: f'"{s}"', st.text("ab ,=@:", max_size=6))
_odd_values = st.sampled_from(["", '"a\\"b"', '"a\\b"', '"a\rb"', '"open', "a b", "a\"b"])
_odd_seps = st.sampled_from(["", " ", ",,", " ,", ",\t", ",  ", ";", "\t,"])
_odd_heads = st.sampled_from(["Digest", "Digest  ", "Digest\t", " Digest ", "Dig est ",
                              "", "Digest=", "Digest, ", '"D" ', "Digest,"])
_odd_tails = st.sampled_from([" ", ",", ", ", "x", '"', "\t", "=", ",x"])


@st.composite
def _headers(draw: st.DrawFn) -> str:
    """A well-formed header of the common shape, with at most one of the ways it goes
    wrong or merely looks different (spacing, escapes, an empty value, a stray comma)."""
    names = draw(st.lists(_names, min_size=1, max_size=5))
    values = [draw(st.one_of(_tokens, _clean_quoted)) for _ in names]
    seps = [draw(st.sampled_from([",", ", "])) for _ in names[1:]]
    head, tail = draw(st.sampled_from(["Digest ", "digest ", "Basic "])), ""
    where = draw(st.integers(0, 4))
    if where == 1:
        values[draw(st.integers(0, len(values) - 1))] = draw(_odd_values)
    elif where == 2 and seps:
        seps[draw(st.integers(0, len(seps) - 1))] = draw(_odd_seps)
    elif where == 3:
        head = draw(_odd_heads)
    elif where == 4:
        tail = draw(_odd_tails)
    params = [f"{n}={v}" for n, v in zip(names, values, strict=True)]
    return head + "".join(p + s for p, s in zip(params, [*seps, ""], strict=True)) + tail


_inputs = st.one_of(_headers(), st.text('Digst ,=\\"\t\r\nab', max_size=30))


def _outcome(fn: Callable[[str], object], value: str) -> tuple[str, object]:
    try:
        return ("ok", fn(value))
    except SipParseError as exc:
        return ("error", str(exc))


@SETTINGS
@given(_inputs)
def test_scan_is_the_grammar_scan(value: str) -> None:
    expected = _outcome(_scan_grammar, value)
    assert _outcome(_scan, value) == expected
    assert _outcome(check_auth, value) == (expected if expected[0] == "error" else ("ok", None))


@SETTINGS
@given(_inputs)
def test_get_reads_what_the_params_say(value: str) -> None:
    try:
        scheme, items = _scan_grammar(value)
    except SipParseError:
        return
    lazy = parse_auth(value)
    eager = AuthHeader(scheme, [AuthParam(*item) for item in items])
    names = [n for n, _, _ in items] + ["missing"]
    assert [lazy.get(n) for n in names] == [eager.get(n) for n in names]
    assert [lazy.get(n.upper()) for n in names] == [eager.get(n) for n in names]
    assert lazy == eager and str(lazy) == str(eager) and repr(lazy) == repr(eager)
    for n in names:  # the first param of a name, as RFC 2617 readers take it
        first = next((v for m, v, _ in items if m.lower() == n.lower()), None)
        assert eager.get(n) == first


def test_the_common_shape_takes_the_split(monkeypatch: pytest.MonkeyPatch) -> None:
    value = 'Digest username="a@b", realm="b",nonce="n=,x", qop=auth, nc=00000001'
    expected = _scan_grammar(value)

    def refuse(text: str) -> object:
        raise AssertionError(f"grammar scan of {text!r}")

    monkeypatch.setattr(digest, "_scan_grammar", refuse)
    assert _scan(value) == expected
    assert expected[1][2] == ("nonce", "n=,x", True)
    check_auth(value)
    assert parse_auth(value).nc == "00000001"


def test_get_follows_set_and_remove() -> None:
    h = parse_auth('Digest realm="a", Realm="b", nonce="n"')
    assert h.realm == "a" and h.nonce == "n"
    h.set("REALM", "c")
    assert h.realm == "c" and h.get("nonce") == "n"
    h.remove("realm")
    assert h.realm is None and h.nonce == "n"
    h.set("stale", "true")
    assert h.stale == "true" and str(h) == 'Digest nonce="n",stale=true'
    assert AuthHeader("Digest", [AuthParam("ik", "00", True)]).ik == "00"
    assert parse_auth(str(h)) == h  # the index takes no part in equality


def test_params_handed_out_may_be_edited() -> None:
    h = parse_auth('Digest realm="a", nonce="n"')
    assert h.realm == "a"
    params = h.params
    params[0].value = "z"
    params.append(AuthParam("opaque", "o", True))
    assert h.realm == "z" and h.opaque == "o"
    h.params = [AuthParam("realm", "r", True)]
    assert h.realm == "r" and h.nonce is None and str(h) == 'Digest realm="r"'
    assert h != "Digest realm=\"r\"" and h == AuthHeader("Digest", [AuthParam("realm", "r", True)])
