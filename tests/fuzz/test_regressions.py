"""Bugs the fuzzer found, one test each (the inputs themselves are replayed from
tests/data/fuzz/ by test_corpus_replay.py). The XML ones are in tests/test_xmlsafe.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from hss.config import HssConfig
from ims_core.config import ConfigError, load
from ims_core.sip.inbound import Answer, Deliver, receive


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    # Found by fuzzing: tomllib decodes the file itself and its UnicodeDecodeError escaped.
    path = tmp_path / "hss.toml"
    path.write_bytes(b'[diameter]\nrealm = "ims\xff"\n')
    with pytest.raises(ConfigError, match=r"hss.toml: not UTF-8: invalid start byte at octet"):
        load(HssConfig, path, environ={})


@pytest.mark.parametrize("text", ["a = " + "[" * 1000, "a = " + "{b = " * 1000])
def test_deeply_nested_toml_is_a_config_error(tmp_path: Path, text: str) -> None:
    # Found by review next to the fuzzer: tomllib recurses, its RecursionError escaped.
    path = tmp_path / "hss.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load(HssConfig, path, environ={})


def test_a_deeply_nested_override_is_refused_as_a_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "hss.toml"
    path.write_text("")
    env = {"IMS_CORE__DIAMETER__LISTEN_PORT": "3999"}
    assert load(HssConfig, path, environ=env).diameter.listen_port == 3999
    with pytest.raises(ConfigError, match="LISTEN_PORT: expected int"):
        load(HssConfig, path, environ={"IMS_CORE__DIAMETER__LISTEN_PORT": "[" * 1000})


def _invite(via: str) -> bytes:
    return (f"INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {via}\r\n"
            "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: x\r\n"
            "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def test_a_via_port_beyond_65535_is_a_400_answered_to_the_source() -> None:
    # Found by fuzzing: responses went to port 86070, where sendto raises OverflowError
    # and asyncio closes the node's UDP transport.
    verdict = receive(_invite("192.0.2.9:86070;branch=z9hG4bK1"), "udp", "192.0.2.9", 5062)
    assert isinstance(verdict, Answer) and verdict.status == 400
    assert (verdict.dest.host, verdict.dest.port) == ("192.0.2.9", 5062)


@pytest.mark.parametrize("rport", ["99999", "0065536", "12345678901"])
def test_an_rport_that_is_no_port_is_replaced_by_the_source_port(rport: str) -> None:
    data = _invite(f"192.0.2.9:5060;branch=z9hG4bK1;rport={rport}")
    verdict = receive(data, "udp", "192.0.2.9", 5062)
    assert isinstance(verdict, Deliver) and verdict.source.reply_to is not None
    assert verdict.source.reply_to.port == 5062
    assert verdict.message.top_via().param("rport") == "5062"
