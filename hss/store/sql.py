"""The SQL shared by both backends (written with ``?`` placeholders).

:class:`~hss.store.sqlbase.SqlBase` runs the statements; everything else — row mapping,
SQN arithmetic in SQL, registration updates, the outbox — lives here once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hss import sqn as sqnmod
from hss.model import (
    PublicIdentity,
    Push,
    PushKind,
    PushState,
    RegState,
    Subscriber,
    ifcs_from_json,
    ifcs_to_json,
)
from hss.store.base import (
    KEEP,
    DuplicateError,
    Page,
    SubscriberQuery,
    UnknownSubscriber,
    _Keep,
)
from hss.store.sqlbase import Cursor, SqlBase

__all__ = ["Cursor", "SqlStore"]

_SUB_COLS = "s.imsi, s.impi, s.msisdn, s.k, s.opc, s.op, s.amf, s.sqn, s.schemes, s.ha1, " \
    "s.barred, s.ifcs, s.scscf_name, s.scscf_host"
_IMPU_COLS = "p.impu, p.barred, p.identity_type, p.reg_state"
_JOINED = (
    f"SELECT {_SUB_COLS}, {_IMPU_COLS} FROM subscribers s "
    "JOIN public_identities p ON p.imsi = s.imsi WHERE {where} ORDER BY p.position"
)


# One row per subscriber, its public identities in one JSON column of
# [position, impu, barred, identity_type, reg_state] arrays: a single statement (one
# consistent snapshot) with no subscriber columns repeated per identity. Backends name the
# aggregate ({agg}); elements are put in position order here, whatever order it used.
_ONE = (
    f"SELECT {_SUB_COLS}, (SELECT {{agg}} FROM public_identities p WHERE p.imsi = s.imsi) "
    "FROM subscribers s WHERE {where}"
)
_BY_IMSI = _ONE.format(agg="{agg}", where="s.imsi = ?")
_BY_IMPI = _ONE.format(agg="{agg}", where="s.impi = ?")
_BY_IMPU = _ONE.format(
    agg="{agg}", where="s.imsi = (SELECT imsi FROM public_identities WHERE impu = ?)"
)
_PAGE = _ONE + " ORDER BY s.imsi LIMIT ?"  # {where}: see _page_filter

# A subscriber with an identity in the state given as parameter.
_HAS_STATE = ("EXISTS (SELECT 1 FROM public_identities p WHERE p.imsi = s.imsi "
              "AND p.reg_state = ?)")
_R, _U = int(RegState.REGISTERED), int(RegState.UNREGISTERED)
# Subscriber.state in SQL: registered when any identity is, else unregistered when any is.
_STATE_FILTERS: dict[RegState, tuple[str, tuple[int, ...]]] = {
    RegState.REGISTERED: (_HAS_STATE, (_R,)),
    RegState.UNREGISTERED: (f"{_HAS_STATE} AND NOT {_HAS_STATE}", (_U, _R)),
    RegState.NOT_REGISTERED: (f"NOT {_HAS_STATE} AND NOT {_HAS_STATE}", (_R, _U)),
}


def _page_filter(q: SubscriberQuery) -> tuple[str, list[Any]]:
    """The WHERE condition of a page and its parameters: fixed SQL text per filter, every
    value a parameter."""
    where: list[str] = []
    params: list[Any] = []
    if q.after is not None:
        where.append("s.imsi > ?")
        params.append(q.after)
    if q.imsi_prefix:
        escaped = q.imsi_prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_")
        where.append("s.imsi LIKE ? ESCAPE '!'")
        params.append(escaped + "%")
    if q.msisdn is not None:
        where.append("s.msisdn = ?")
        params.append(q.msisdn)
    if q.impu is not None:
        where.append("s.imsi IN (SELECT imsi FROM public_identities WHERE impu = ?)")
        params.append(q.impu)
    if q.barred is not None:
        where.append("s.barred = ?")
        params.append(int(q.barred))
    if q.state is not None:
        clause, states = _STATE_FILTERS[q.state]
        where.append(clause)
        params.extend(states)
    return " AND ".join(where) or "1 = 1", params


# Integer parameters in SQN arithmetic: psycopg may bind small ints as int2, whose
# shifts would overflow in PostgreSQL; the cast keeps the arithmetic 64-bit.
_N = "CAST(? AS BIGINT)"


_REG_STATES = {int(s): s for s in RegState}


def _identity(impu: str, barred: Any, identity_type: Any, reg_state: int) -> PublicIdentity:
    # The enum call RegState(x) costs several times a dict look-up; a value outside the
    # enum still raises ValueError from it.
    state = _REG_STATES.get(reg_state)
    if state is None:
        state = RegState(reg_state)
    return PublicIdentity(impu, bool(barred), int(identity_type), state)


# Parsed identity sets by their JSON text: they change far less often than they are read
# (a MAR reads them, then only the SQN changes). Immutable values; bounded.
_IDENTITY_SETS: dict[str, tuple[PublicIdentity, ...]] = {}
_MAX_IDENTITY_SETS = 4096


def _identities(text: str | None, *, keep: bool = True) -> tuple[PublicIdentity, ...]:
    """The identities of *text*; *keep* False (a listing's one-off reads) parses them
    without adding them to the kept sets the Cx look-ups reuse."""
    if not text:
        return ()
    impus = _IDENTITY_SETS.get(text)
    if impus is None:
        items = sorted(json.loads(text), key=lambda x: int(x[0]))
        impus = tuple(_identity(x[1], x[2], x[3], x[4]) for x in items)
        if not keep:
            return impus
        if len(_IDENTITY_SETS) >= _MAX_IDENTITY_SETS:
            _IDENTITY_SETS.clear()
        _IDENTITY_SETS[text] = impus
    return impus


def _subscriber(rows: Sequence[Sequence[Any]]) -> Subscriber | None:
    """From joined rows: the subscriber's columns, then one identity per row."""
    if not rows:
        return None
    return _with_identities(rows[0], tuple(_identity(x[14], x[15], x[16], x[17]) for x in rows))


def _with_identities(r: Sequence[Any], impus: tuple[PublicIdentity, ...]) -> Subscriber | None:
    if not impus:  # as with the join: no identity, no subscriber
        return None
    return Subscriber(
        imsi=r[0],
        impi=r[1],
        msisdn=r[2],
        k=bytes(r[3]),
        opc=bytes(r[4]),
        op=None if r[5] is None else bytes(r[5]),
        amf=bytes(r[6]),
        sqn=int(r[7]),
        schemes=tuple(s for s in r[8].split(",") if s),
        ha1=r[9],
        barred=bool(r[10]),
        ifcs=ifcs_from_json(r[11]),
        scscf_name=r[12],
        scscf_host=r[13],
        impus=impus,
    )


class SqlStore(SqlBase):
    """Common implementation; subclasses supply connections and transactions."""

    # What makes a SELECT lock the rows it reads until the transaction ends (SQLite's
    # write transactions lock the whole database already).
    row_lock = ""
    # The JSON array of a subscriber's identities (see _ONE), as text.
    identities_agg = (
        "json_group_array(json_array(p.position, p.impu, p.barred, p.identity_type, "
        "p.reg_state))"
    )

    def __init__(self, *, ind_bits: int = sqnmod.DEFAULT_IND_BITS) -> None:
        super().__init__(ind_bits=ind_bits)
        b, mod = ind_bits, 1 << ind_bits
        # One statement: SEQ += n, IND = (IND + n) mod 2^b (Annex C.3.2); the row lock
        # makes concurrent callers (threads, processes, HSS fronts) get disjoint ranges.
        # SEQ must stay within its 48 - b bits: the row is left alone otherwise.
        self._next_sqns = (
            f"UPDATE subscribers SET sqn = (((sqn >> {b}) + {_N}) << {b}) "
            f"| (((sqn & {mod - 1}) + {_N}) % {mod}) "
            f"WHERE imsi = ? AND (sqn >> {b}) + {_N} < {_N} RETURNING sqn"
        )
        self._page = _PAGE.format(agg=self.identities_agg, where="{where}")
        self._by_imsi, self._by_impi, self._by_impu = (
            self._sql(q.format(agg=self.identities_agg)) for q in (_BY_IMSI, _BY_IMPI, _BY_IMPU)
        )

    # -- provisioning ---------------------------------------------------------------------
    def add(self, subs: Iterable[Subscriber], *, replace: bool = False) -> int:
        imsis: list[str] = []
        try:
            with self._tx() as cur:
                for s in subs:
                    imsis.append(s.imsi)
                    if replace:
                        self._q(cur, "DELETE FROM subscribers WHERE imsi = ?", (s.imsi,))
                    self._insert(cur, s)
        except Exception as exc:
            if self._is_duplicate(exc):
                raise DuplicateError(f"already provisioned: {exc}") from None
            raise
        finally:
            for imsi in imsis:
                self._changed(imsi)
        return len(imsis)

    def _insert(self, cur: Cursor, s: Subscriber) -> None:
        self._q(
            cur,
            "INSERT INTO subscribers (imsi, impi, msisdn, k, opc, op, amf, sqn, schemes, ha1, "
            "barred, ifcs, scscf_name, scscf_host) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.imsi, s.impi, s.msisdn, s.k, s.opc, s.op, s.amf, s.sqn, ",".join(s.schemes),
                s.ha1, int(s.barred), ifcs_to_json(s.ifcs), s.scscf_name, s.scscf_host,
            ),
        )
        for i, p in enumerate(s.impus):
            self._insert_identity(cur, s.imsi, i, p)

    def _insert_identity(self, cur: Cursor, imsi: str, position: int, p: PublicIdentity) -> None:
        self._q(
            cur,
            "INSERT INTO public_identities (impu, imsi, position, barred, identity_type, "
            "reg_state) VALUES (?, ?, ?, ?, ?, ?)",
            (p.impu, imsi, position, int(p.barred), int(p.identity_type), int(p.state)),
        )

    def update_profile(self, sub: Subscriber) -> None:
        try:
            with self._tx() as cur:
                if not self._q(
                    cur, "UPDATE subscribers SET barred = ?, ifcs = ?, msisdn = ? WHERE imsi = ?",
                    (int(sub.barred), ifcs_to_json(sub.ifcs), sub.msisdn, sub.imsi),
                ).rowcount:  # fmt: skip
                    raise UnknownSubscriber(sub.imsi)
                rows = self._q(
                    cur, "SELECT impu FROM public_identities WHERE imsi = ?", (sub.imsi,)
                ).fetchall()
                stored = {r[0] for r in rows}
                for gone in stored - set(sub.impu_names):
                    self._q(
                        cur, "DELETE FROM public_identities WHERE impu = ? AND imsi = ?",
                        (gone, sub.imsi),
                    )  # fmt: skip
                for i, p in enumerate(sub.impus):
                    if p.impu not in stored:
                        self._insert_identity(cur, sub.imsi, i, p)
                        continue
                    # The registration state is the Cx handlers' to change, not this.
                    self._q(
                        cur,
                        "UPDATE public_identities SET position = ?, barred = ?, "
                        "identity_type = ? WHERE impu = ? AND imsi = ?",
                        (i, int(p.barred), int(p.identity_type), p.impu, sub.imsi),
                    )
        except Exception as exc:
            if self._is_duplicate(exc):
                raise DuplicateError(f"already provisioned: {exc}") from None
            raise
        finally:
            self._changed(sub.imsi)

    def update_auth(self, sub: Subscriber) -> None:
        try:
            with self._tx() as cur:
                if not self._q(
                    cur, "UPDATE subscribers SET k = ?, opc = ?, op = ?, amf = ?, schemes = ?, "
                    "ha1 = ? WHERE imsi = ?",
                    (sub.k, sub.opc, sub.op, sub.amf, ",".join(sub.schemes), sub.ha1, sub.imsi),
                ).rowcount:  # fmt: skip
                    raise UnknownSubscriber(sub.imsi)
        finally:
            self._changed(sub.imsi)

    def delete(self, imsi: str) -> bool:
        try:
            with self._tx() as cur:
                # Explicit child delete: SQLite enforces ON DELETE CASCADE only with the pragma.
                self._q(cur, "DELETE FROM public_identities WHERE imsi = ?", (imsi,))
                return bool(
                    self._q(cur, "DELETE FROM subscribers WHERE imsi = ?", (imsi,)).rowcount
                )
        finally:
            self._changed(imsi)

    def subscribers(self, limit: int | None = None) -> list[Subscriber]:
        with self._tx() as cur:
            lim = "" if limit is None else f" LIMIT {int(limit)}"
            imsis = [r[0] for r in self._q(cur, f"SELECT imsi FROM subscribers ORDER BY imsi{lim}")]
            if not imsis:
                return []
            rows = self._q(
                cur,
                _JOINED.format(where="s.imsi >= ? AND s.imsi <= ?").replace(
                    "ORDER BY p.position", "ORDER BY s.imsi, p.position"
                ),
                (imsis[0], imsis[-1]),
            ).fetchall()
        wanted = set(imsis)
        grouped: dict[str, list[Any]] = {}
        for r in rows:
            if r[0] in wanted:
                grouped.setdefault(r[0], []).append(r)
        out = [_subscriber(grouped[i]) for i in imsis if i in grouped]
        return [s for s in out if s is not None]

    def page(self, query: SubscriberQuery) -> Page:
        where, params = _page_filter(query)
        sql = self._page.replace("{where}", where)
        rows = self._fetch_all(self._sql(sql), (*params, query.limit))
        subs = [_with_identities(r, _identities(r[14], keep=False)) for r in rows]
        full = len(rows) == query.limit
        return Page([s for s in subs if s is not None], rows[-1][0] if full else None)

    def count(self) -> int:
        with self._read() as cur:
            return int(self._q(cur, "SELECT COUNT(*) FROM subscribers").fetchone()[0])

    # -- lookups ----------------------------------------------------------------------------
    def _fetch_all(self, sql: str, params: tuple[Any, ...]) -> list[Sequence[Any]]:
        """All rows of one read-only statement (*sql* already in this backend's style)."""
        with self._read() as cur:
            rows: list[Sequence[Any]] = cur.execute(sql, params).fetchall()
            return rows

    def _one(self, sql: str, key: str) -> Subscriber | None:
        # One statement, so one consistent snapshot without a write lock.
        rows = self._fetch_all(sql, (key,))
        return _with_identities(rows[0], _identities(rows[0][14])) if rows else None

    def get(self, imsi: str) -> Subscriber | None:
        return self._one(self._by_imsi, imsi)

    def by_impi(self, impi: str) -> Subscriber | None:
        return self._one(self._by_impi, impi)

    def by_impu(self, impu: str) -> Subscriber | None:
        return self._one(self._by_impu, impu)

    # -- SQN ----------------------------------------------------------------------------------
    def next_sqns(self, imsi: str, n: int) -> list[int]:
        if n < 1:
            raise ValueError("n must be >= 1")
        b = self.ind_bits
        row = self._update_one(self._next_sqns, (n, n, imsi, n, 1 << (sqnmod.SQN_BITS - b)))
        if row is None:
            if self.get(imsi) is None:
                raise UnknownSubscriber(imsi)
            raise sqnmod.SqnExhausted(f"SQN of {imsi} exhausted")
        last = int(row[0])
        self._sqn_changed(imsi, last)
        return sqnmod.batch(last, n, b)

    def resync(self, imsi: str, sqn_ms: int) -> int:
        b = self.ind_bits
        seq_ms = sqn_ms >> b
        row = self._update_one(
            f"UPDATE subscribers SET sqn = CASE WHEN (sqn >> {b}) < {_N} "
            f"THEN ({_N} << {b}) | (sqn & {(1 << b) - 1}) ELSE sqn END "
            "WHERE imsi = ? RETURNING sqn",
            (seq_ms, seq_ms, imsi),
        )
        if row is None:
            raise UnknownSubscriber(imsi)
        stored = int(row[0])
        self._sqn_changed(imsi, stored)
        return stored

    def set_sqn(self, imsi: str, sqn: int) -> tuple[int, int]:
        if not 0 <= sqn < 1 << sqnmod.SQN_BITS:
            raise ValueError(f"SQN must fit {sqnmod.SQN_BITS} bits")
        # Read and write under one lock (SQLite's write lock, PostgreSQL's row lock):
        # no next_sqns of any process falls between them.
        with self._tx() as cur:
            row = self._q(
                cur, f"SELECT sqn FROM subscribers WHERE imsi = ?{self.row_lock}", (imsi,)
            ).fetchone()
            if row is None:
                raise UnknownSubscriber(imsi)
            self._q(cur, "UPDATE subscribers SET sqn = ? WHERE imsi = ?", (sqn, imsi))
        self._sqn_changed(imsi, sqn)
        return int(row[0]), sqn

    # -- registration ---------------------------------------------------------------------------
    def update_registration(
        self,
        imsi: str,
        states: Mapping[str, RegState],
        scscf_name: str | _Keep | None = KEEP,
        scscf_host: str | _Keep | None = KEEP,
    ) -> None:
        sets: list[str] = []
        params: list[Any] = []
        if not isinstance(scscf_host, _Keep):
            sets.append("scscf_host = ?")
            params.append(scscf_host)
        elif not isinstance(scscf_name, _Keep):
            # Another S-CSCF's name makes the stored host stale (right-hand sides read
            # the row as it was before the update, in both backends).
            sets.append("scscf_host = CASE WHEN scscf_name = ? THEN scscf_host END")
            params.append(scscf_name)
        if not isinstance(scscf_name, _Keep):
            sets.append("scscf_name = ?")
            params.append(scscf_name)
        try:
            with self._tx() as cur:
                if sets:
                    cur_ = self._q(
                        cur, f"UPDATE subscribers SET {', '.join(sets)} WHERE imsi = ?",
                        (*params, imsi),
                    )  # fmt: skip
                    if cur_.rowcount == 0:
                        raise UnknownSubscriber(imsi)
                for impu, state in states.items():
                    self._q(
                        cur,
                        "UPDATE public_identities SET reg_state = ? WHERE impu = ? AND imsi = ?",
                        (int(state), impu, imsi),
                    )
        finally:
            self._changed(imsi)

    # -- outbox of HSS-initiated requests (RTR, PPR) ------------------------------------------
    def queue_push(self, push: Push, now: float) -> int:
        with self._tx() as cur:
            row = self._q(
                cur,
                f"INSERT INTO cx_outbox ({_PUSH_NEW}, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (*_push_values(push), PushState.PENDING.value, now, now),
            ).fetchone()
        return int(row[0])

    def claim_pushes(self, limit: int, now: float) -> list[Push]:
        # The poll: one read of the partial index, no write lock while nothing is queued.
        with self._read() as cur:
            if self._q(
                cur, "SELECT id FROM cx_outbox WHERE state = 'pending' ORDER BY id LIMIT 1"
            ).fetchone() is None:  # fmt: skip
                return []
        # The outer state test makes a concurrent claimer (another HSS front on the same
        # PostgreSQL database) skip the rows it lost the race for.
        with self._tx() as cur:
            rows = self._q(
                cur,
                "UPDATE cx_outbox SET state = 'sent', updated_at = ? WHERE state = 'pending' "
                "AND id IN (SELECT id FROM cx_outbox WHERE state = 'pending' ORDER BY id "
                f"LIMIT {int(limit)}) RETURNING {_PUSH_COLS}",
                (now,),
            ).fetchall()
        return sorted((_push(r) for r in rows), key=lambda p: p.id)

    def finish_push(
        self,
        push_id: int,
        state: PushState,
        now: float,
        *,
        result_code: int | None = None,
        experimental_code: int | None = None,
        detail: str | None = None,
    ) -> None:
        with self._tx() as cur:
            self._q(
                cur,
                "UPDATE cx_outbox SET state = ?, result_code = ?, experimental_code = ?, "
                "detail = ?, updated_at = ? WHERE id = ?",
                (state.value, result_code, experimental_code, detail, now, push_id),
            )

    def get_push(self, push_id: int) -> Push | None:
        with self._read() as cur:
            row = self._q(
                cur, f"SELECT {_PUSH_COLS} FROM cx_outbox WHERE id = ?", (push_id,)
            ).fetchone()
        return None if row is None else _push(row)

    def purge_pushes(self, before: float) -> int:
        with self._tx() as cur:
            return int(self._q(
                cur, "DELETE FROM cx_outbox WHERE state IN ('done', 'failed') AND updated_at < ?",
                (before,),
            ).rowcount)  # fmt: skip


_PUSH_NEW = "kind, imsi, impi, impus, destination_host, reason_code, reason_info"
_PUSH_COLS = f"id, {_PUSH_NEW}, state, result_code, experimental_code, detail"


def _push_values(p: Push) -> tuple[Any, ...]:
    return (p.kind.value, p.imsi, p.impi, json.dumps(list(p.impus)), p.destination_host,
            p.reason_code, p.reason_info)  # fmt: skip


def _push(r: Sequence[Any]) -> Push:
    return Push(
        id=int(r[0]), kind=PushKind(r[1]), imsi=r[2], impi=r[3],
        impus=tuple(str(x) for x in json.loads(r[4])), destination_host=r[5],
        reason_code=r[6], reason_info=r[7], state=PushState(r[8]), result_code=r[9],
        experimental_code=r[10], detail=r[11],
    )  # fmt: skip
