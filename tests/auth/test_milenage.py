"""Milenage against the TS 35.208 conformance sets, and AUTN/AUTS round trips."""

from __future__ import annotations

from typing import Any

import pytest

from ims_core.auth import AkaCore
from tests.conftest import load_reference

SETS: list[dict[str, Any]] = load_reference("milenage_test_sets_1-6.json")["test_sets"]
h = bytes.fromhex


def _ids() -> list[str]:
    return [f"set{s['test_set']}" for s in SETS]


@pytest.fixture(params=SETS, ids=_ids())
def ts(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {k: (h(v) if isinstance(v, str) else v) for k, v in request.param.items()}


def test_six_sets_present() -> None:
    assert [s["test_set"] for s in SETS] == [1, 2, 3, 4, 5, 6]


def test_opc(impl: AkaCore, ts: dict[str, Any]) -> None:
    assert impl.opc(ts["k"], ts["op"]) == ts["opc"]
    assert impl.opc(k=ts["k"], op=ts["op"]) == ts["opc"]


def test_f1_f1star(impl: AkaCore, ts: dict[str, Any]) -> None:
    args = dict(k=ts["k"], opc=ts["opc"], rand=ts["rand"], sqn=ts["sqn"], amf=ts["amf"])
    assert impl.f1(**args) == ts["f1"]
    assert impl.f1star(**args) == ts["f1star"]


def test_f2345(impl: AkaCore, ts: dict[str, Any]) -> None:
    res, ck, ik, ak = impl.f2345(k=ts["k"], opc=ts["opc"], rand=ts["rand"])
    assert (res, ck, ik, ak) == (ts["f2"], ts["f3"], ts["f4"], ts["f5"])


def test_f5star(impl: AkaCore, ts: dict[str, Any]) -> None:
    assert impl.f5star(k=ts["k"], opc=ts["opc"], rand=ts["rand"]) == ts["f5star"]


def test_generate_vector(impl: AkaCore, ts: dict[str, Any]) -> None:
    autn, xres, ck, ik = impl.generate_vector(
        k=ts["k"], opc=ts["opc"], rand=ts["rand"], sqn=ts["sqn"], amf=ts["amf"]
    )
    sqn_xor_ak = bytes(a ^ b for a, b in zip(ts["sqn"], ts["f5"], strict=True))
    assert autn == sqn_xor_ak + ts["amf"] + ts["f1"]  # TS 33.102 §6.3.2
    assert (xres, ck, ik) == (ts["f2"], ts["f3"], ts["f4"])


def test_accepts_any_buffer(impl: AkaCore, ts: dict[str, Any]) -> None:
    assert impl.opc(bytearray(ts["k"]), memoryview(ts["op"])) == ts["opc"]


def test_ue_checks_autn_and_recovers_sqn(impl: AkaCore, ts: dict[str, Any]) -> None:
    autn, xres, ck, ik = impl.generate_vector(ts["k"], ts["opc"], ts["rand"], ts["sqn"], ts["amf"])
    assert impl.check_autn(ts["k"], ts["opc"], ts["rand"], autn) == (ts["sqn"], xres, ck, ik)
    tampered = autn[:15] + bytes([autn[15] ^ 1])
    assert impl.check_autn(ts["k"], ts["opc"], ts["rand"], tampered) is None
    wrong_amf = autn[:6] + bytes([autn[6] ^ 0x80]) + autn[7:]
    assert impl.check_autn(ts["k"], ts["opc"], ts["rand"], wrong_amf) is None


def test_auts_round_trip(impl: AkaCore, ts: dict[str, Any]) -> None:
    sqn_ms = h("00000000ff21")
    auts = impl.make_auts(k=ts["k"], opc=ts["opc"], rand=ts["rand"], sqn_ms=sqn_ms)
    assert len(auts) == 14
    # AUTS = SQN_MS xor AK* || MAC-S with AMF 0000 (TS 33.102 §6.3.3)
    assert auts[:6] == bytes(a ^ b for a, b in zip(sqn_ms, ts["f5star"], strict=True))
    assert auts[6:] == impl.f1star(ts["k"], ts["opc"], ts["rand"], sqn_ms, b"\0\0")
    assert impl.verify_auts(k=ts["k"], opc=ts["opc"], rand=ts["rand"], auts=auts) == sqn_ms


@pytest.mark.parametrize("byte", [0, 5, 6, 13])
def test_tampered_auts_rejected(impl: AkaCore, ts: dict[str, Any], byte: int) -> None:
    auts = bytearray(impl.make_auts(ts["k"], ts["opc"], ts["rand"], h("0000000012e0")))
    auts[byte] ^= 0x01
    assert impl.verify_auts(ts["k"], ts["opc"], ts["rand"], bytes(auts)) is None


def test_auts_for_other_rand_rejected(impl: AkaCore, ts: dict[str, Any]) -> None:
    auts = impl.make_auts(ts["k"], ts["opc"], ts["rand"], h("0000000012e0"))
    other = bytes(b ^ 0xFF for b in ts["rand"])
    assert impl.verify_auts(ts["k"], ts["opc"], other, auts) is None
