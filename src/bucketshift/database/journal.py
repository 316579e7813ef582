"""The journal: every value bucketshift changes in the application's database, in that database.

Schema `bucketshift`, versioned: `runs` (one row per run: `apply`, a forward rewrite to S3;
`rollback`, a rollback's rewrite back to Supabase; `revert`, the undoing of either) and `journal`
(one row per changed value: table, row key, column, old and new value as text).  A batch's updates and
its journal rows are written in one transaction, so the journal is exactly what happened.
`journal.run_id` has no foreign key on purpose: its check cost a quarter of each batch's time,
and only bucketshift writes these rows, always for a run it has just created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bucketshift.database.connection import translate
from bucketshift.errors import ConfigError

__all__ = [
    "JOURNAL_VERSION",
    "REWRITE_KINDS",
    "Run",
    "already_reverted",
    "changes_in",
    "ensure_schema",
    "exists",
    "find_run",
    "finish_run",
    "rows_in_place",
    "start_run",
    "unreverted_runs",
]

JOURNAL_VERSION = 3
REWRITE_KINDS = ("apply", "rollback")
"""Runs that rewrote values (a revert undoes one of them); only `apply` runs are forward rewrites."""

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bucketshift;
CREATE TABLE IF NOT EXISTS bucketshift.schema_info (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS bucketshift.runs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CONSTRAINT runs_kind_check CHECK (kind IN ('apply', 'revert', 'rollback')),
    reverts bigint REFERENCES bucketshift.runs (id),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    summary jsonb
);
CREATE TABLE IF NOT EXISTS bucketshift.journal (
    id bigserial,
    run_id bigint NOT NULL,
    table_schema text NOT NULL,
    table_name text NOT NULL,
    column_name text NOT NULL,
    row_key jsonb NOT NULL,
    old_value text,
    new_value text,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, id)
);
"""

_FROM_VERSION_1 = """
ALTER TABLE bucketshift.journal DROP CONSTRAINT journal_pkey, ADD PRIMARY KEY (run_id, id);
DROP INDEX IF EXISTS bucketshift.journal_run;
UPDATE bucketshift.schema_info SET version = 2;
"""
"""Version 1 kept two indexes, on id and on (run_id, id); one serves every read (a run's rows in
order) and each index cost about 2 us per journaled value."""

_FROM_VERSION_2 = """
DO $$
DECLARE
    found text;
BEGIN
    FOR found IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'bucketshift.runs'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%kind%'
    LOOP
        EXECUTE format('ALTER TABLE bucketshift.runs DROP CONSTRAINT %I', found);
    END LOOP;
END $$;
ALTER TABLE bucketshift.runs
    ADD CONSTRAINT runs_kind_check CHECK (kind IN ('apply', 'revert', 'rollback'));
UPDATE bucketshift.runs SET kind = 'rollback' WHERE kind = 'apply' AND summary ->> 'rollback' = 'true';
UPDATE bucketshift.schema_info SET version = 3;
"""
"""Version 2 knew only `apply` and `revert`: a rollback's rewrite was an `apply` run marked
`{"rollback": true}` in its summary, which every reader of forward runs had to skip.  Those runs
become `rollback` runs, their journal rows untouched."""


@dataclass(frozen=True)
class Run:
    id: int
    kind: str
    reverts: int | None
    finished: bool


def ensure_schema(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    """Create the journal schema if absent; refuse one written by a newer bucketshift."""
    try:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('bucketshift.journal'))")
        conn.execute(_SCHEMA)
        row = conn.execute("SELECT max(version) FROM bucketshift.schema_info").fetchone()
        version = row[0] if row else None
        if version is None:
            conn.execute("INSERT INTO bucketshift.schema_info (version) VALUES (%s)", (JOURNAL_VERSION,))
        elif int(version) < JOURNAL_VERSION:
            if int(version) == 1:
                conn.execute(_FROM_VERSION_1)
            conn.execute(_FROM_VERSION_2)
        elif int(version) > JOURNAL_VERSION:
            raise ConfigError(
                f"the database's bucketshift journal has version {version}, newer than this bucketshift "
                f"({JOURNAL_VERSION}); upgrade bucketshift"
            )
        conn.commit()
    except psycopg.Error as error:
        conn.rollback()
        raise translate(error, "create the bucketshift journal schema") from None


def start_run(conn: psycopg.Connection[tuple[Any, ...]], kind: str, reverts: int | None = None) -> int:
    """A new run of `kind` (`apply`, `rollback` or `revert` of run `reverts`), committed at once."""
    row = conn.execute(
        "INSERT INTO bucketshift.runs (kind, reverts) VALUES (%s, %s) RETURNING id", (kind, reverts)
    ).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def finish_run(conn: psycopg.Connection[tuple[Any, ...]], run_id: int, summary: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE bucketshift.runs SET finished_at = now(), summary = %s WHERE id = %s", (Jsonb(summary), run_id)
    )
    conn.commit()


def already_reverted(conn: psycopg.Connection[tuple[Any, ...]], run_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM bucketshift.runs WHERE kind = 'revert' AND reverts = %s AND finished_at IS NOT NULL", (run_id,)
    ).fetchone()
    conn.rollback()
    return row is not None


def changes_in(conn: psycopg.Connection[tuple[Any, ...]], run_id: int) -> int:
    """How many values the run changed: a revert's total, read along the journal's key."""
    row = conn.execute("SELECT count(*) FROM bucketshift.journal WHERE run_id = %s", (run_id,)).fetchone()
    conn.rollback()
    return int(row[0]) if row else 0


_UNREVERTED = (
    "kind = 'apply' AND coalesce(r.summary ->> 'rollback', '') <> 'true' "
    "AND NOT EXISTS (SELECT 1 FROM bucketshift.runs v WHERE v.reverts = r.id AND v.finished_at IS NOT NULL) "
    "AND EXISTS (SELECT 1 FROM bucketshift.journal j WHERE j.run_id = r.id)"
)
"""A forward apply run (`r`) that changed something and has no finished revert.  The summary's
mark is for a version 2 journal that a read-only command (status, a dry run) reads un-upgraded,
where a rollback's rewrite is an `apply` run marked `{"rollback": true}`."""


def unreverted_runs(conn: psycopg.Connection[tuple[Any, ...]]) -> list[int]:
    """Forward apply runs still in place, oldest first (a rollback's own rewrite is not one).

    An apply interrupted and run again leaves two runs, and a revert undoes one: the caller
    says which others are still in place.
    """
    rows = conn.execute(f"SELECT id FROM bucketshift.runs r WHERE {_UNREVERTED} ORDER BY id").fetchall()  # noqa: S608
    conn.rollback()
    return [int(row[0]) for row in rows]


def exists(conn: psycopg.Connection[tuple[Any, ...]]) -> bool:
    """Whether the database has the journal: a reader (status, a dry run) must not create it to find out."""
    row = conn.execute("SELECT to_regclass('bucketshift.journal') IS NOT NULL").fetchone()
    conn.rollback()
    return bool(row and row[0])


def rows_in_place(conn: psycopg.Connection[tuple[Any, ...]]) -> dict[tuple[str, str, str], int]:
    """(schema, table, column) -> rows the forward apply runs still in place rewrote; empty without a journal."""
    try:
        if not exists(conn):
            return {}
        found = conn.execute(
            "SELECT table_schema, table_name, column_name, count(DISTINCT row_key) FROM bucketshift.journal "
            "WHERE run_id = ANY(%s) GROUP BY 1, 2, 3",
            (unreverted_runs(conn),),
        ).fetchall()
    except psycopg.Error as error:
        raise translate(error, "read the bucketshift journal") from None
    finally:
        conn.rollback()
    return {(str(s), str(t), str(c)): int(n) for s, t, c, n in found}


def find_run(conn: psycopg.Connection[tuple[Any, ...]], run_id: int | None) -> Run:
    """The given rewrite run (a forward apply, or a rollback's rewrite back, so a rollback can be
    undone too), or without one the latest forward apply that changed something and is not yet
    reverted."""
    if run_id is None:
        row = conn.execute(
            "SELECT id, kind, reverts, finished_at IS NOT NULL FROM bucketshift.runs r "  # noqa: S608
            f"WHERE {_UNREVERTED} ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise ConfigError("there is no rewrite run to revert in this database's bucketshift journal")
    else:
        row = conn.execute(
            "SELECT id, kind, reverts, finished_at IS NOT NULL FROM bucketshift.runs WHERE id = %s", (run_id,)
        ).fetchone()
        if row is None or row[1] not in REWRITE_KINDS:
            raise ConfigError(f"run {run_id} is not a rewrite run in this database's bucketshift journal")
    conn.rollback()
    return Run(int(row[0]), str(row[1]), None if row[2] is None else int(row[2]), bool(row[3]))
