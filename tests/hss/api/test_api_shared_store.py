"""One store, three doors: what the API writes, ``ims-core subscriber`` and the Cx
handlers see at once, and the other way round."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from lxml import etree

from hss.model import PushKind, RegState
from hss.store.sqlite import SqliteStore
from ims_core.diameter import CxResult, ResultCode
from ims_lab.cli import main
from tests.hss.api.conftest import IMSI, V1, client_for, new
from tests.hss.conftest import DOMAIN
from tests.hss.cxutil import IMPI, IMPU, SCSCF, TEL, context, request, result, run

ONE = f"{V1}/subscribers/{IMSI}"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    p = tmp_path / "hss.toml"
    p.write_text(f'data_dir = "{tmp_path}"\n[cx]\ndomain = "{DOMAIN}"\n')
    return p


def cli(config: Path, *args: str) -> int:
    return main(["subscriber", "-c", str(config), *args])


async def test_cli_and_api_see_the_same_subscribers(
    api: httpx.AsyncClient, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await api.post(f"{V1}/subscribers", json=new())).status_code == 201
    assert cli(config, "show", IMSI) == 0
    out = capsys.readouterr().out
    assert f"IMPI:     {IMPI}" in out and "MSISDN:   15550000001" in out
    assert cli(config, "add", "--imsi", "001010000000002", "--k", "00" * 16,
               "--opc", "11" * 16) == 0  # fmt: skip
    r = await api.get(f"{V1}/subscribers/001010000000002")
    assert r.status_code == 200 and r.json()["auth"]["op_kind"] == "opc"
    # Deleted by one, gone in the other.
    assert cli(config, "delete", "001010000000002") == 0
    assert (await api.get(f"{V1}/subscribers/001010000000002")).status_code == 404
    assert (await api.delete(ONE)).status_code == 200
    capsys.readouterr()
    assert cli(config, "show", IMSI) == 1
    assert f"no subscriber {IMSI}" in capsys.readouterr().err


async def test_barring_through_the_api_reaches_cx_at_once(tmp_path: Path) -> None:
    """The HSS's own store (another connection, caching what it read within its batches)
    answers the next UAR from the API's change."""
    hss = SqliteStore(tmp_path / "hss.sqlite")
    api_store = SqliteStore(tmp_path / "hss.sqlite")
    ctx = context(hss)

    def uar() -> tuple[str, int]:
        with hss.batch():  # as the server runs Cx requests on SQLite
            return result(run(ctx, request("UAR", User_Name=IMPI, Public_Identity=IMPU,
                                           Visited_Network_Identifier=DOMAIN.encode())))

    try:
        _, client = client_for(api_store)
        async with client as api:
            assert (await api.post(f"{V1}/subscribers", json=new())).status_code == 201
            assert uar() == ("exp", CxResult.FIRST_REGISTRATION)
            assert (await api.patch(ONE, json={"barred": True})).status_code == 200
            assert uar() == ("base", ResultCode.AUTHORIZATION_REJECTED)
            assert (await api.patch(ONE, json={"barred": False})).status_code == 200
            assert uar() == ("exp", CxResult.FIRST_REGISTRATION)
            # And an identity barred alone, with the others free, still registers.
            r = await api.patch(f"{ONE}/impus/{IMPU}", json={"barred": True})
            assert r.json()["subscriber"]["registration"]["impus"][0]["barred"]
            assert uar() == ("exp", CxResult.FIRST_REGISTRATION)
            # The subscriber deleted through the API is unknown to Cx.
            assert (await api.delete(ONE)).status_code == 200
            assert uar() == ("exp", CxResult.ERROR_USER_UNKNOWN)
    finally:
        api_store.close()
        hss.close()


async def test_api_profile_change_queues_the_ppr_the_hss_sends(tmp_path: Path) -> None:
    """A registered subscriber's new iFCs: the PPR waits in the outbox the HSS polls."""
    hss = SqliteStore(tmp_path / "hss.sqlite")
    api_store = SqliteStore(tmp_path / "hss.sqlite")
    try:
        _, client = client_for(api_store)
        async with client as api:
            assert (await api.post(f"{V1}/subscribers", json=new())).status_code == 201
            hss.update_registration(IMSI, {IMPU: RegState.REGISTERED}, scscf_name=SCSCF,
                                    scscf_host=f"scscf.{DOMAIN}")
            r = await api.put(f"{ONE}/ifcs", json=[{"priority": 1,
                                                    "server_name": "sip:as.example.org"}])
            push = r.json()["push"]
        [claimed] = hss.claim_pushes(10, time.time())  # what the HSS's pusher does
        assert (claimed.id, claimed.kind, claimed.destination_host) == (
            push["id"], PushKind.PPR, f"scscf.{DOMAIN}")
        sub = hss.get(IMSI)
        assert sub is not None and sub.ifcs[0].server_name == "sip:as.example.org"
    finally:
        api_store.close()
        hss.close()


async def test_api_profile_changes_reach_the_next_saa_user_data(tmp_path: Path) -> None:
    """The HSS keeps the User-Data it built and the subscribers it read; every profile
    change made through the API (another connection) is in the very next SAA."""
    hss = SqliteStore(tmp_path / "hss.sqlite")
    api_store = SqliteStore(tmp_path / "hss.sqlite")
    ctx = context(hss)
    extra = f"sip:extra@{DOMAIN}"

    def user_data() -> etree._Element:
        with hss.batch():  # as the server runs Cx requests on SQLite
            ans = run(ctx, request("SAR", User_Name=IMPI, Public_Identity=IMPU,
                                   Server_Name=SCSCF, Server_Assignment_Type=1,
                                   User_Data_Already_Available=0))
        assert result(ans) == ("base", ResultCode.SUCCESS)
        return etree.fromstring(ans.get_bytes("User-Data"))

    def barring(doc: etree._Element) -> dict[str | None, str | None]:
        return {p.findtext("Identity"): p.findtext("BarringIndication")
                for p in doc.iterfind("ServiceProfile/PublicIdentity")}

    try:
        _, client = client_for(api_store)
        async with client as api:
            assert (await api.post(f"{V1}/subscribers", json=new())).status_code == 201
            first = user_data()
            assert set(barring(first).values()) == {"0"}
            assert etree.tostring(user_data()) == etree.tostring(first)  # registered now
            r = await api.patch(f"{ONE}/impus/{IMPU}", json={"barred": True})
            assert r.status_code == 200
            assert barring(user_data())[IMPU] == "1"
            r = await api.put(f"{ONE}/ifcs", json=[{"priority": 1,
                                                    "server_name": "sip:as.example.org"}])
            assert r.status_code == 200
            assert user_data().findtext(
                "ServiceProfile/InitialFilterCriteria/ApplicationServer/ServerName"
            ) == "sip:as.example.org"
            assert (await api.post(f"{ONE}/impus", json={"impu": extra})).status_code == 201
            assert barring(user_data())[extra] == "0"
            assert (await api.patch(ONE, json={"barred": True})).status_code == 200
            assert set(barring(user_data()).values()) == {"1"}
            # Unbarring the subscription unbars each of its identities.
            assert (await api.patch(ONE, json={"barred": False})).status_code == 200
            assert (await api.delete(f"{ONE}/impus/{extra}")).status_code == 200
            doc = user_data()
            assert barring(doc) == {IMPU: "0", f"sip:+15550000001@{DOMAIN}": "0", TEL: "0"}
            assert doc.find("ServiceProfile/InitialFilterCriteria") is not None
    finally:
        api_store.close()
        hss.close()
