"""Versioned schema migrations, applied in order when a store opens.

Each entry is (version, statements for SQLite, statements for PostgreSQL). Never edit a
released entry; append a new one. The applied version lives in ``schema_version``.
"""

from __future__ import annotations

Migration = tuple[int, tuple[str, ...], tuple[str, ...]]

_V1_SUBSCRIBERS = """
CREATE TABLE subscribers (
    imsi        TEXT PRIMARY KEY,
    impi        TEXT NOT NULL UNIQUE,
    msisdn      TEXT,
    k           {blob} NOT NULL,
    opc         {blob} NOT NULL,
    op          {blob},
    amf         {blob} NOT NULL,
    sqn         {int64} NOT NULL DEFAULT 0,
    schemes     TEXT NOT NULL,
    ha1         TEXT,
    barred      INTEGER NOT NULL DEFAULT 0,
    ifcs        TEXT NOT NULL DEFAULT '[]',
    scscf_name  TEXT
)"""

_V1_IMPUS = """
CREATE TABLE public_identities (
    impu           TEXT PRIMARY KEY,
    imsi           TEXT NOT NULL REFERENCES subscribers(imsi) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    barred         INTEGER NOT NULL DEFAULT 0,
    identity_type  INTEGER NOT NULL DEFAULT 0,
    reg_state      INTEGER NOT NULL DEFAULT 0
)"""

_V1_INDEX = "CREATE INDEX public_identities_imsi ON public_identities(imsi)"


def _v1(blob: str, int64: str) -> tuple[str, ...]:
    return (
        _V1_SUBSCRIBERS.format(blob=blob, int64=int64),
        _V1_IMPUS,
        _V1_INDEX,
    )


# v3: the S-CSCF's Diameter host (the SAR's Origin-Host), and the outbox of RTR/PPR the
# provisioning CLI queues for the running HSS to send. The outbox has no foreign key: an
# RTR must still go out after its subscriber is deleted.
_V3_OUTBOX = """
CREATE TABLE cx_outbox (
    id                 {serial},
    kind               TEXT NOT NULL,
    state              TEXT NOT NULL DEFAULT 'pending',
    imsi               TEXT NOT NULL,
    impi               TEXT NOT NULL,
    impus              TEXT NOT NULL DEFAULT '[]',
    destination_host   TEXT NOT NULL,
    reason_code        INTEGER,
    reason_info        TEXT,
    result_code        INTEGER,
    experimental_code  INTEGER,
    detail             TEXT,
    created_at         {real} NOT NULL,
    updated_at         {real} NOT NULL
)"""

# The poll reads only this (partial) index: its cost follows the pending entries, not the
# outbox's history.
_V3_PENDING = "CREATE INDEX cx_outbox_pending ON cx_outbox(id) WHERE state = 'pending'"


def _v3(serial: str, real: str) -> tuple[str, ...]:
    return (
        "ALTER TABLE subscribers ADD COLUMN scscf_host TEXT",
        _V3_OUTBOX.format(serial=serial, real=real),
        _V3_PENDING,
    )


_V4_POSITION = "CREATE INDEX public_identities_position ON public_identities(imsi, position)"


MIGRATIONS: tuple[Migration, ...] = (
    (1, _v1("BLOB", "INTEGER"), _v1("BYTEA", "BIGINT")),
    # v2: look-ups by MSISDN (subscriber show/delete by number, future Sh).
    (
        2,
        ("CREATE INDEX subscribers_msisdn ON subscribers(msisdn)",),
        ("CREATE INDEX subscribers_msisdn ON subscribers(msisdn)",),
    ),
    (
        3,
        _v3("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
        _v3("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"),
    ),
    # v4: a subscriber's identities in position order straight from an index, so the
    # look-up of every Cx request needs no sort step.
    (4, (_V4_POSITION,), (_V4_POSITION,)),
)

LATEST = MIGRATIONS[-1][0]
