"""Reverting a rewrite run from its journal, exactly, and only where nothing changed since.

For every journal row of the run: the row is put back to the old value when it still holds the
value the run wrote; a row that already holds the old value (an earlier revert of this run was
interrupted after restoring it) is counted as such; any other row is reported and left alone.
The revert is itself a run, and every value it restores is journaled, in the same transaction
as the change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from bucketshift.database.columns import Column, resolve
from bucketshift.database.connection import translate
from bucketshift.database.rewrite import IN_KEY_ORDER, LOOKUP_BY_KEY

__all__ = ["Conflict", "RevertReport", "revert_run"]

Conn = psycopg.Connection[tuple[Any, ...]]
SAMPLES = 20


@dataclass(frozen=True)
class Conflict:
    """A value changed since the run wrote it: left as it is."""

    column: str
    row_key: dict[str, Any]


@dataclass
class RevertReport:
    run_id: int
    revert_run_id: int | None = None
    restored: int = 0
    already_restored: int = 0
    conflicts: int = 0
    conflict_samples: list[Conflict] = field(default_factory=list)
    by_column: dict[str, int] = field(default_factory=dict)


def _groups(conn: Conn, run_id: int) -> list[tuple[str, str, str]]:
    rows = conn.execute(
        "SELECT DISTINCT table_schema, table_name, column_name FROM bucketshift.journal "
        "WHERE run_id = %s ORDER BY 1, 2, 3",
        (run_id,),
    ).fetchall()
    conn.rollback()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


@dataclass
class _BatchResult:
    last_id: int
    restored: int = 0
    already: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    conflict_count: int = 0


def _revert_batch(conn: Conn, column: Column, run_id: int, revert_id: int, after: int, size: int) -> _BatchResult:
    """One batch of journal rows (by id, after `after`)."""
    conn.execute(IN_KEY_ORDER)
    conn.execute(
        "CREATE TEMP TABLE bucketshift_undo ON COMMIT DROP AS "
        "SELECT id, row_key, old_value, new_value FROM bucketshift.journal "
        "WHERE run_id = %s AND table_schema = %s AND table_name = %s AND column_name = %s AND id > %s "
        "ORDER BY id LIMIT %s",
        (run_id, column.schema, column.table, column.column, after, size),
    )
    conn.execute("ANALYZE bucketshift_undo")
    # The journal read is done; the restore below may sort its few thousand conflicts again.
    conn.execute("SET LOCAL enable_bitmapscan = on; SET LOCAL enable_sort = on")
    conn.execute(LOOKUP_BY_KEY)
    last = conn.execute("SELECT max(id), count(*) FROM bucketshift_undo").fetchone()
    if last is None or last[0] is None:
        conn.rollback()
        return _BatchResult(after)
    target = sql.Identifier(column.column)
    match = sql.SQL(" AND ").join(
        sql.SQL("t.{} = (u.row_key ->> {})::{}").format(sql.Identifier(k), sql.Literal(k), sql.SQL(kind))
        for k, kind in zip(column.primary_key, column.primary_key_types, strict=True)
    )
    restore = sql.SQL(
        """WITH restored AS (
               UPDATE {table} AS t SET {target} = u.old_value::{type}
               FROM bucketshift_undo AS u
               WHERE {match} AND t.{target}::text = u.new_value
               RETURNING u.id, u.row_key, u.old_value, u.new_value),
           journaled AS (
               INSERT INTO bucketshift.journal
                   (run_id, table_schema, table_name, column_name, row_key, old_value, new_value)
               SELECT %s, %s, %s, %s, row_key, new_value, old_value FROM restored
               RETURNING 1)
           SELECT u.row_key, t.{target}::text IS NOT DISTINCT FROM u.old_value
           FROM bucketshift_undo AS u LEFT JOIN {table} AS t ON {match}
           WHERE u.id NOT IN (SELECT id FROM restored)
           ORDER BY u.id"""
    ).format(table=column.table_sql, target=target, type=sql.SQL(column.sql_type), match=match)
    left = conn.execute(restore, (revert_id, column.schema, column.table, column.column)).fetchall()
    conn.commit()
    changed = [row_key for row_key, already in left if not already]
    return _BatchResult(
        last_id=int(last[0]),
        restored=int(last[1]) - len(left),
        already=len(left) - len(changed),
        conflicts=[Conflict(column.name, dict(row_key)) for row_key in changed[:SAMPLES]],
        conflict_count=len(changed),
    )


def revert_run(
    conn: Conn,
    run_id: int,
    revert_id: int,
    *,
    batch_size: int,
    sleep: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> RevertReport:
    """Undo the journaled changes of `run_id` under the revert run `revert_id`.

    `progress` is told how many of the run's journal rows have been dealt with (restored, found
    already restored, or reported), after each batch; `sleep` pauses between batches, for a busy database.
    """
    report = RevertReport(run_id, revert_id)
    for schema, table, column_name in _groups(conn, run_id):
        name = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table, column_name))
        (column,) = resolve(conn, [name])
        conn.rollback()
        after = 0
        while True:
            try:
                batch = _revert_batch(conn, column, run_id, revert_id, after, batch_size)
            except psycopg.Error as error:
                conn.rollback()
                raise translate(error, f"revert {column.name}") from None
            if batch.last_id == after:
                break
            after = batch.last_id
            report.restored += batch.restored
            report.already_restored += batch.already
            report.conflicts += batch.conflict_count
            report.by_column[column.name] = report.by_column.get(column.name, 0) + batch.restored
            report.conflict_samples.extend(batch.conflicts[: max(0, SAMPLES - len(report.conflict_samples))])
            if progress is not None:
                progress(report.restored + report.already_restored + report.conflicts)
            if sleep:
                time.sleep(sleep)
    return report
