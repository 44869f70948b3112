"""Store fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``IMS_CORE_TEST_PG_DSN`` when set, else a throwaway cluster made
with Debian's ``initdb``/``pg_ctl`` in a temp dir, listening on a Unix socket only (as the
``postgres`` user when the tests run as root). Without either, those tests skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hss import sqn as sqnmod
from hss.model import PublicIdentity, Subscriber
from hss.store.base import Store
from hss.store.sqlite import SqliteStore
from ims_core import auth
from ims_core.identity import default_impi, default_impus

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_pg_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else []


def _start_cluster() -> tuple[str, Path] | str:
    """(dsn, base dir) or the reason it could not start."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN}"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    prefix = _as_pg_user()
    if os.geteuid() == 0 and not prefix:
        return "running as root without runuser"
    base = Path(tempfile.mkdtemp(prefix="ims-hss-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    if prefix:
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(base, "postgres", "postgres")
    run = {"capture_output": True, "text": True, "timeout": 120}
    r = subprocess.run(
        [*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
         "--no-sync", "-E", "UTF8"], check=False, **run,
    )  # fmt: skip
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        return f"initdb failed: {r.stderr.strip()[:200]}"
    opts = f"-k {base} -c listen_addresses='' -c fsync=off -c max_connections=100"
    r = subprocess.run(
        [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-t", "60",
         "-l", str(base / "log"), "start"], check=False, **run,
    )  # fmt: skip
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        return f"pg_ctl start failed: {r.stderr.strip()[:200]}"
    return f"host={base} port=5432 dbname=postgres user=postgres", base


def _stop_cluster(base: Path) -> None:
    subprocess.run(
        [*_as_pg_user(), str(PG_BIN / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate",
         "stop"], check=False, capture_output=True, timeout=60,
    )  # fmt: skip
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    dsn = os.environ.get("IMS_CORE_TEST_PG_DSN")
    if dsn:
        yield dsn
        return
    started = _start_cluster()
    if isinstance(started, str):
        pytest.skip(f"PostgreSQL unavailable: {started}")
    dsn, base = started
    try:
        yield dsn
    finally:
        _stop_cluster(base)


def reset_pg(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "sqlite":
        return SqliteStore(tmp_path / "hss.sqlite")
    from hss.store.postgres import PostgresStore

    dsn: str = request.getfixturevalue("pg_dsn")
    reset_pg(dsn)
    return PostgresStore(dsn)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    s = make_store(backend, tmp_path, request)
    try:
        yield s
    finally:
        s.close()


def subscriber(
    imsi: str = "001010000000001",
    msisdn: str | None = "15550000001",
    **kw: object,
) -> Subscriber:
    """A test subscriber with the TS 35.208 test set 1 K/OP-derived OPc."""
    fields: dict[str, object] = {
        "imsi": imsi,
        "impi": default_impi(imsi, DOMAIN),
        "k": bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc"),
        "opc": bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf"),
        "op": bytes.fromhex("cdc202d5123e20f62b6d676ac72cb318"),
        "msisdn": msisdn,
        "impus": tuple(PublicIdentity(i) for i in default_impus(imsi, DOMAIN, msisdn)),
    }
    fields.update(kw)
    return Subscriber(**fields)  # type: ignore[arg-type]


def resync_authorization(s: Subscriber, rand: bytes, seq: int, ind: int) -> bytes:
    """RAND ‖ AUTS: what the USIM of ``s``, challenged with ``rand``, sends to resynchronise
    the HSS to its SQN_MS = SEQ ‖ IND (TS 33.102 §6.3.3, §6.3.5)."""
    return rand + auth.make_auts(s.k, s.opc, rand, sqnmod.to_bytes(sqnmod.join(seq, ind)))
