"""Registration state and actions: deregister (RTR through the outbox), profile changes
of a registered subscriber (PPR), delete (RTR first), reset-sqn, and push outcomes."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from hss import sqn as sqnmod
from hss.model import PushKind, PushState, RegState
from hss.store.sqlite import SqliteStore
from tests.hss.api.conftest import IMSI, V1, new
from tests.hss.conftest import DOMAIN

ONE = f"{V1}/subscribers/{IMSI}"
IMPU = f"sip:{IMSI}@{DOMAIN}"
SCSCF = f"sip:scscf.{DOMAIN}:5060"
SCSCF_HOST = f"scscf.{DOMAIN}"


def _register(store: SqliteStore, host: str | None = SCSCF_HOST) -> None:
    store.update_registration(IMSI, {IMPU: RegState.REGISTERED}, scscf_name=SCSCF,
                              scscf_host=host)  # fmt: skip


@pytest.fixture
async def registered(api: httpx.AsyncClient, sqlite_store: SqliteStore) -> httpx.AsyncClient:
    assert (await api.post(f"{V1}/subscribers", json=new())).status_code == 201
    _register(sqlite_store)
    return api


async def test_registration_state(registered: httpx.AsyncClient) -> None:
    reg = (await registered.get(f"{ONE}/registration")).json()
    assert (reg["state"], reg["scscf_name"], reg["scscf_host"]) == (
        "registered", SCSCF, SCSCF_HOST)
    assert [(p["impu"], p["state"]) for p in reg["impus"]] == [
        (IMPU, "registered"), (f"sip:+15550000001@{DOMAIN}", "not_registered"),
        ("tel:+15550000001", "not_registered")]
    assert (await registered.get(f"{V1}/subscribers/001019999999999/registration")
            ).status_code == 404


async def test_deregister_queues_an_rtr(registered: httpx.AsyncClient,
                                        sqlite_store: SqliteStore) -> None:
    r = await registered.post(f"{ONE}/deregister",
                              json={"reason": "new-server", "info": "moved",
                                    "impus": ["tel:+1-555-000-0001"]})
    assert r.status_code == 200, r.text
    body = r.json()
    push = body["push"]
    assert (push["kind"], push["state"], push["destination_host"]) == (
        "RTR", "pending", SCSCF_HOST)
    assert (push["reason_code"], push["reason_info"], push["impus"]) == (
        1, "moved", ["tel:+15550000001"])
    assert body["detail"] == f"queued RTR #{push['id']} for {SCSCF_HOST}"
    stored = sqlite_store.get_push(push["id"])
    assert stored is not None and stored.kind == PushKind.RTR
    assert stored.state == PushState.PENDING
    got = await registered.get(f"{V1}/pushes/{push['id']}")
    assert got.status_code == 200 and got.json() == push


async def test_deregister_waits_for_the_answer(registered: httpx.AsyncClient,
                                               sqlite_store: SqliteStore) -> None:
    """What a running HSS does with the queued RTR, played by a thread: the request
    returns with the answer."""

    def hss() -> None:
        for _ in range(200):
            claimed = sqlite_store.claim_pushes(10, time.time())
            if claimed:
                sqlite_store.finish_push(claimed[0].id, PushState.DONE, time.time(),
                                         result_code=2001)
                return
            time.sleep(0.01)

    t = threading.Thread(target=hss)
    t.start()
    r = await registered.post(f"{ONE}/deregister", json={"wait": 5})
    t.join()
    push = r.json()["push"]
    assert (push["state"], push["result_code"], push["outcome"]) == ("done", 2001, "RTA 2001")
    assert r.json()["detail"] == f"RTR to {SCSCF_HOST}: RTA 2001"


async def test_deregister_wait_is_bounded(registered: httpx.AsyncClient) -> None:
    started = time.monotonic()
    r = await registered.post(f"{ONE}/deregister", json={"wait": 0.3})
    assert time.monotonic() - started < 3
    assert r.json()["push"]["state"] == "pending"
    assert "not answered within 0.3 s" in r.json()["detail"]
    for bad in ({"wait": 31}, {"wait": -1}, {"reason": "bored"}, {"impus": ["mailto:x@y"]},
                {"extra": 1}):
        assert (await registered.post(f"{ONE}/deregister", json=bad)).status_code == 422, bad


async def test_deregister_when_nothing_can_be_sent(api: httpx.AsyncClient,
                                                   sqlite_store: SqliteStore) -> None:
    assert (await api.post(f"{V1}/subscribers", json=new())).status_code == 201
    r = await api.post(f"{ONE}/deregister", json={})
    assert r.json() == {"imsi": IMSI, "push": None,
                        "detail": f"{IMSI} is not registered: no RTR sent"}
    _register(sqlite_store, host=None)  # registered before hosts were recorded
    r = await api.post(f"{ONE}/deregister", json={})
    assert r.status_code == 409 and "Diameter host is not recorded" in r.json()["detail"]
    _register(sqlite_store)
    r = await api.post(f"{ONE}/deregister", json={"impus": ["sip:other@example.org"]})
    assert r.status_code == 404 and "not a public identity" in r.json()["detail"]
    assert (await api.post(f"{V1}/subscribers/001019999999999/deregister", json={})
            ).status_code == 404


async def test_profile_change_of_a_registered_subscriber_queues_a_ppr(
    registered: httpx.AsyncClient, sqlite_store: SqliteStore
) -> None:
    ids = []
    for method, path, body in (
        ("PATCH", ONE, {"barred": True}),
        ("POST", f"{ONE}/impus", {"impu": "sip:alias@example.org"}),
        ("PATCH", f"{ONE}/impus/sip:alias@example.org", {"barred": False}),
        ("DELETE", f"{ONE}/impus/sip:alias@example.org", None),
        ("PUT", f"{ONE}/ifcs", [{"priority": 1, "server_name": "sip:as.example.org"}]),
    ):
        r = await registered.request(method, path, json=body)
        assert r.status_code in (200, 201), r.text
        push = r.json()["push"]
        assert push is not None and (push["kind"], push["state"]) == ("PPR", "pending"), path
        ids.append(push["id"])
    assert len(set(ids)) == len(ids)
    assert all(p.kind == PushKind.PPR for p in sqlite_store.claim_pushes(10, time.time()))
    # No change, no PPR; a change of the credentials is no profile change either.
    r = await registered.patch(ONE, json={"barred": True})
    assert not r.json()["changed"] and r.json()["push"] is None
    await registered.patch(f"{ONE}/auth", json={"amf": "0000"})
    assert sqlite_store.claim_pushes(10, time.time()) == []
    # Held by an S-CSCF whose host is unknown: stored, and said why nothing was sent.
    _register(sqlite_store, host=None)
    r = await registered.patch(ONE, json={"barred": False})
    assert r.json()["changed"] and r.json()["push"] is None
    assert "Diameter host is not recorded" in r.json()["push_error"]


async def test_delete_of_a_registered_subscriber_queues_the_rtr(
    registered: httpx.AsyncClient, sqlite_store: SqliteStore
) -> None:
    r = await registered.delete(ONE)
    push = r.json()["push"]
    assert (push["kind"], push["reason_code"], push["impus"]) == ("RTR", 0, [])
    assert sqlite_store.get(IMSI) is None
    stored = sqlite_store.get_push(push["id"])
    assert stored is not None and stored.impi == f"{IMSI}@{DOMAIN}"


async def test_reset_sqn(api: httpx.AsyncClient, sqlite_store: SqliteStore) -> None:
    start = sqnmod.join(4000, 17)
    assert (await api.post(f"{V1}/subscribers", json=new(sqn=start))).status_code == 201
    r = await api.post(f"{ONE}/reset-sqn")
    assert r.json() == {"imsi": IMSI, "previous": start, "sqn": 0}
    assert [sqnmod.split(x) for x in sqlite_store.next_sqns(IMSI, 1)] == [(1, 1)]
    r = await api.post(f"{ONE}/reset-sqn", json={"sqn": 64})
    assert r.json()["sqn"] == 64 and r.json()["previous"] == sqnmod.join(1, 1)
    assert (await api.get(f"{ONE}/auth")).json()["sqn"] == 64
    for bad in ({"sqn": 1 << 48}, {"sqn": -1}, {"sqn": "0"}, {"seq": 1}):
        assert (await api.post(f"{ONE}/reset-sqn", json=bad)).status_code == 422, bad
    assert (await api.post(f"{V1}/subscribers/001019999999999/reset-sqn")).status_code == 404


async def test_unknown_pushes(api: httpx.AsyncClient) -> None:
    assert (await api.get(f"{V1}/pushes/1")).status_code == 404
    for bad in ("0", "x", str(2**63)):
        assert (await api.get(f"{V1}/pushes/{bad}")).status_code == 422
