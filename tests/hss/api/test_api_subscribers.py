"""/api/v1/subscribers: create, read, list, change, delete; identities, iFCs and
authentication data (K, OP and OPc never read back)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hss.api.schemas import MAX_SPTS, MAX_TEXT
from hss.model import Ifc, RegState, Spt
from hss.store.base import Store
from hss.store.sqlite import SqliteStore
from ims_core import auth
from tests.hss.api.conftest import IMSI, OP, OPC, V1, K, client_for, new
from tests.hss.conftest import DOMAIN
from tests.hss.conftest import subscriber as conftest_subscriber

SUBS = f"{V1}/subscribers"
ONE = f"{SUBS}/{IMSI}"
IMPU = f"sip:{IMSI}@{DOMAIN}"
TEL = "tel:+15550000001"
IFC = {"priority": 3, "server_name": "sip:as.example.org:5060",
       "spts": [{"method": "MESSAGE"}, {"session_case": 0, "groups": [1]}]}


def _keys(body: Any) -> set[str]:
    if isinstance(body, dict):
        return set(body) | {k for v in body.values() for k in _keys(v)}
    if isinstance(body, list):
        return {k for v in body for k in _keys(v)}
    return set()


def _no_secrets(body: Any, *secrets: str) -> None:
    text = str(body).lower()
    for secret in secrets:
        assert secret.lower() not in text
    assert not _keys(body) & {"k", "op", "opc", "ha1", "password"}


async def test_create_read_delete(store: Store) -> None:
    """The life of a subscriber, on SQLite and PostgreSQL."""
    _, client = client_for(store)
    async with client as api:
        r = await api.post(SUBS, json=new(password="secret"))
        assert r.status_code == 201, r.text
        assert r.headers["location"] == ONE
        body = r.json()
        assert body["impi"] == f"{IMSI}@{DOMAIN}" and body["msisdn"] == "15550000001"
        assert [p["impu"] for p in body["registration"]["impus"]] == [
            IMPU, f"sip:+15550000001@{DOMAIN}", TEL]
        assert body["auth"] == {"schemes": ["akav1", "akav2", "md5"], "amf": "8000", "sqn": 0,
                                "op_kind": "op", "password_set": True}
        assert body["registration"]["state"] == "not_registered"
        assert (await api.get(ONE)).json() == body
        stored = store.get(IMSI)
        assert stored is not None and stored.opc.hex() == OPC and stored.k.hex() == K
        assert stored.ha1 == auth.ha1(stored.impi, DOMAIN, b"secret")
        r = await api.delete(ONE)
        assert r.status_code == 200 and r.json() == {"imsi": IMSI, "push": None,
                                                     "push_error": None}
        assert (await api.get(ONE)).status_code == 404
        assert (await api.delete(ONE)).status_code == 404
        assert store.get(IMSI) is None


async def test_secrets_are_write_only(api: httpx.AsyncClient) -> None:
    await api.post(SUBS, json=new())
    await api.post(SUBS, json={"imsi": "001010000000002", "k": K, "opc": OPC})
    for path in (ONE, f"{ONE}/auth", f"{SUBS}/001010000000002", f"{SUBS}/001010000000002/auth",
                 SUBS, f"{ONE}/registration"):
        r = await api.get(path)
        assert r.status_code == 200
        _no_secrets(r.json(), K, OP, OPC)
    assert (await api.get(f"{SUBS}/001010000000002/auth")).json()["op_kind"] == "opc"
    r = await api.patch(f"{ONE}/auth", json={"k": "00" * 16})
    _no_secrets(r.json(), "00" * 16, OP)


@pytest.mark.parametrize(("body", "field"), [
    (new(imsi="12345"), "imsi"),
    (new(imsi="00101000000000x"), "imsi"),
    (new(k="zz" * 16), "k"),
    (new(k="00" * 15), "k"),
    (new(msisdn="+1555"), "msisdn"),
    (new(amf="80000"), "amf"),
    (new(sqn=1 << 48), "sqn"),
    (new(schemes=["akav3"]), "schemes"),
    (new(schemes=[]), "schemes"),
    (new(colour="blue"), "colour"),
    (new(ifcs=[{"priority": 1, "server_name": "not a uri"}]), "ifcs"),
])
async def test_create_refuses_bad_fields(api: httpx.AsyncClient, body: dict[str, Any],
                                         field: str) -> None:
    r = await api.post(SUBS, json=body)
    assert r.status_code == 422, r.text
    assert any(field in err["loc"] for err in r.json()["detail"]), r.json()


@pytest.mark.parametrize(("body", "why"), [
    (new(opc=OPC), "exactly one of op and opc"),
    ({"imsi": IMSI, "k": K}, "exactly one of op and opc"),
    (new(schemes=["md5"]), "needs a password"),
])
async def test_create_refuses_what_json_schema_cannot_say(
    api: httpx.AsyncClient, body: dict[str, Any], why: str
) -> None:
    r = await api.post(SUBS, json=body)
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert why in err["msg"] and err["loc"] == ["body"]


async def test_duplicates_conflict(api: httpx.AsyncClient) -> None:
    assert (await api.post(SUBS, json=new())).status_code == 201
    r = await api.post(SUBS, json=new())
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    # Another IMSI with the same MSISDN: its tel URI is taken.
    assert (await api.post(SUBS, json=new("001010000000002", msisdn="15550000001"))
            ).status_code == 409


async def test_paging_and_filters(api: httpx.AsyncClient, sqlite_store: SqliteStore) -> None:
    imsis = [f"00101000000000{i}" for i in range(1, 8)]
    for imsi in imsis:
        assert (await api.post(SUBS, json=new(imsi))).status_code == 201
    await api.post(SUBS, json=new("001020000000001", msisdn=None, barred=True))
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 3, "imsi_prefix": "00101"}
        if after:
            params["after"] = after
        page = (await api.get(SUBS, params=params)).json()
        seen += [s["imsi"] for s in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == imsis

    async def imsis_where(**params: Any) -> list[str]:
        r = await api.get(SUBS, params=params)
        assert r.status_code == 200, r.text
        return [s["imsi"] for s in r.json()["items"]]

    assert await imsis_where(msisdn="15550000004") == [imsis[3]]
    assert await imsis_where(impu="tel:+1-555-000-0005") == [imsis[4]]  # any form of it
    assert await imsis_where(impu=f"<sip:{imsis[5]}@{DOMAIN.upper()};user=phone>") == [imsis[5]]
    assert await imsis_where(barred="true") == ["001020000000001"]
    sub = sqlite_store.get(imsis[1])
    assert sub is not None
    sqlite_store.update_registration(imsis[1], {sub.impus[0].impu: RegState.REGISTERED},
                                     scscf_name="sip:scscf.example:5060")
    assert await imsis_where(state="registered") == [imsis[1]]
    assert len(await imsis_where(state="not_registered")) == 7
    assert await imsis_where(state="unregistered") == []
    for bad in ({"limit": 0}, {"limit": 1001}, {"state": "gone"}, {"after": "x"},
                {"imsi_prefix": "1234567890123456"}, {"msisdn": "12"}):
        assert (await api.get(SUBS, params=bad)).status_code == 422, bad


async def test_patch_and_put(api: httpx.AsyncClient) -> None:
    await api.post(SUBS, json=new())
    r = await api.patch(ONE, json={"barred": True})
    assert r.status_code == 200
    body = r.json()
    assert body["changed"] and body["push"] is None and body["push_error"] is None
    sub = body["subscriber"]
    assert sub["barred"] and all(p["barred"] for p in sub["registration"]["impus"])
    # The same again changes nothing.
    assert not (await api.patch(ONE, json={"barred": True})).json()["changed"]
    assert not (await api.patch(ONE, json={})).json()["changed"]
    r = await api.patch(ONE, json={"msisdn": None, "ifcs": [IFC]})
    sub = r.json()["subscriber"]
    assert sub["msisdn"] is None and sub["ifcs"][0]["spts"][1]["groups"] == [1]
    assert sub["barred"]  # left alone
    r = await api.put(ONE, json={"msisdn": "4930123", "barred": False, "ifcs": []})
    sub = r.json()["subscriber"]
    assert (sub["msisdn"], sub["barred"], sub["ifcs"]) == ("4930123", False, [])
    assert not any(p["barred"] for p in sub["registration"]["impus"])
    assert (await api.put(ONE, json={"barred": False})).status_code == 422  # PUT: all of it
    assert (await api.patch(f"{SUBS}/001019999999999", json={})).status_code == 404


async def test_identities(api: httpx.AsyncClient) -> None:
    await api.post(SUBS, json=new())
    await api.post(SUBS, json=new("001010000000002"))
    alias = "sip:alias@example.org"
    r = await api.post(f"{ONE}/impus", json={"impu": alias, "barred": True})
    assert r.status_code == 201 and r.json()["changed"]
    listed = (await api.get(f"{ONE}/impus")).json()
    assert [p["impu"] for p in listed][-1] == alias and listed[-1]["barred"]
    # Any form names it: parameters and case of the host do not matter.
    got = await api.get(f"{ONE}/impus/sip:alias@EXAMPLE.org;transport=tcp")
    assert got.status_code == 200 and got.json()["impu"] == alias
    r = await api.patch(f"{ONE}/impus/{alias}", json={"barred": False})
    assert not r.json()["subscriber"]["registration"]["impus"][-1]["barred"]
    assert (await api.post(f"{ONE}/impus", json={"impu": alias})).status_code == 409
    taken = f"sip:001010000000002@{DOMAIN}"
    assert (await api.post(f"{ONE}/impus", json={"impu": taken})).status_code == 409
    assert (await api.post(f"{ONE}/impus", json={"impu": "mailto:x@y"})).status_code == 422
    assert (await api.delete(f"{ONE}/impus/{alias}")).status_code == 200
    assert (await api.get(f"{ONE}/impus/{alias}")).status_code == 404
    assert (await api.delete(f"{ONE}/impus/{alias}")).status_code == 404
    assert (await api.patch(f"{ONE}/impus/{alias}", json={"barred": True})).status_code == 404
    # A slash in an identity still reaches the route (and names nothing here).
    assert (await api.get(f"{ONE}/impus/sip:a%2Fb@example.org")).status_code == 404
    # The last identity cannot go.
    for p in listed[:-2]:
        assert (await api.delete(f"{ONE}/impus/{p['impu']}")).status_code == 200
    r = await api.delete(f"{ONE}/impus/{TEL}")
    assert r.status_code == 422 and "at least one public identity" in r.text


async def test_ifcs(api: httpx.AsyncClient, sqlite_store: SqliteStore) -> None:
    await api.post(SUBS, json=new())
    r = await api.put(f"{ONE}/ifcs", json=[IFC, {**IFC, "priority": 1, "spts": []}])
    assert r.status_code == 200
    got = (await api.get(f"{ONE}/ifcs")).json()
    assert [i["priority"] for i in got] == [3, 1]
    # What GET gives, PUT takes back unchanged (the store's own shape).
    assert not (await api.put(f"{ONE}/ifcs", json=got)).json()["changed"]
    sub = sqlite_store.get(IMSI)
    assert sub is not None and sub.ifcs[0].spts[0].method == "MESSAGE"
    for bad in ([{**IFC, "spts": [{"method": "A", "header": "B"}]}],
                [{**IFC, "default_handling": 2}], [{**IFC, "unknown": 1}],
                [{"priority": 1}], {"priority": 1}):
        assert (await api.put(f"{ONE}/ifcs", json=bad)).status_code == 422, bad


async def test_auth_data(api: httpx.AsyncClient, sqlite_store: SqliteStore) -> None:
    await api.post(SUBS, json=new())
    new_k = "0123456789abcdef0123456789abcdef"
    r = await api.patch(f"{ONE}/auth", json={"k": new_k, "amf": "9001",
                                              "schemes": ["akav2"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"schemes": ["akav2"], "amf": "9001", "sqn": 0, "op_kind": "op",
                        "password_set": False}
    sub = sqlite_store.get(IMSI)
    assert sub is not None and sub.k.hex() == new_k
    assert sub.opc == auth.opc(bytes.fromhex(new_k), bytes.fromhex(OP))  # follows K
    r = await api.patch(f"{ONE}/auth", json={"opc": OPC})
    assert r.json()["op_kind"] == "opc"
    r = await api.patch(f"{ONE}/auth", json={"k": K})
    assert r.status_code == 422 and "needs op or opc" in r.text
    assert (await api.patch(f"{ONE}/auth", json={"op": OP, "opc": OPC})).status_code == 422
    assert (await api.patch(f"{ONE}/auth", json={"schemes": ["md5"]})).status_code == 422
    r = await api.patch(f"{ONE}/auth", json={"schemes": ["akav1", "md5"], "password": "pw"})
    assert r.json()["password_set"]
    # The password cannot go while md5 needs it; with md5 it can.
    assert (await api.patch(f"{ONE}/auth", json={"password": None})).status_code == 422
    r = await api.patch(f"{ONE}/auth", json={"password": None, "schemes": ["akav1"]})
    assert r.status_code == 200 and not r.json()["password_set"]
    assert (await api.patch(f"{V1}/subscribers/001019999999999/auth", json={})
            ).status_code == 404


async def test_stored_data_beyond_the_request_bounds_still_reads(
    api: httpx.AsyncClient, sqlite_store: SqliteStore
) -> None:
    """An import may store more than a request may carry: reads do not refuse it."""
    spts = tuple(Spt(method=f"M{i}") for i in range(MAX_SPTS + 6))
    big = Ifc(1, "sip:as.example.org", spts=spts, service_info="x" * (MAX_TEXT + 10))
    sqlite_store.add([conftest_subscriber(ifcs=(big,))])
    r = await api.get(f"{ONE}/ifcs")
    assert r.status_code == 200 and len(r.json()[0]["spts"]) == MAX_SPTS + 6
    assert (await api.get(ONE)).status_code == 200
    assert (await api.put(f"{ONE}/ifcs", json=r.json())).status_code == 422  # too big to take
