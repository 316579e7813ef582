"""Reverting a rewrite run from its journal, exactly, and only where nothing changed since.

For every journal row of the run: the row is put back to the old value when it still holds the
value the run wrote; a row that already holds the old value (an earlier revert of this run was
interrupted after restoring it) is counted as such; any other row is reported and left alone.

A revert is an apply whose changes come from the journal (the value the run wrote is the text
to find, its old value the one to write), so it runs through the same batches, writers and
journaling as the apply: it is itself a run, and every value it restores is journaled in the
same transaction as the change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from bucketshift.database.columns import Column, resolve
from bucketshift.database.connection import translate
from bucketshift.database.rewrite import IN_KEY_ORDER, Change, apply_changes, key_pairs
from bucketshift.database.writers import write_batches

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
class _Restored:
    """What one batch of journal rows came to."""

    restored: int
    already: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    conflict_count: int = 0


def _journal_batches(conn: Conn, column: Column, run_id: int, size: int) -> Iterator[list[Change]]:
    """The run's journal rows for one column, in journal order, as changes that undo them."""
    keys = sql.SQL(", ").join(sql.SQL("row_key ->> {}").format(sql.Literal(k)) for k in column.primary_key)
    query = sql.SQL(
        "SELECT id, {keys}, new_value, old_value FROM bucketshift.journal "
        "WHERE run_id = %s AND table_schema = %s AND table_name = %s AND column_name = %s AND id > %s "
        "ORDER BY id LIMIT {size}"
    ).format(keys=keys, size=sql.Literal(size))
    width = len(column.primary_key)
    after = 0
    while True:
        try:
            conn.execute(IN_KEY_ORDER)
            rows = conn.execute(query, (run_id, column.schema, column.table, column.column, after)).fetchall()
            conn.rollback()
        except psycopg.Error as error:
            conn.rollback()
            raise translate(error, f"read the journal of {column.name}") from None
        if not rows:
            return
        after = rows[-1][0]
        yield [(row[1 : width + 1], row[width + 1], row[width + 2]) for row in rows]
        if len(rows) < size:
            return


def _left_alone(conn: Conn, column: Column, changes: list[Change], restored: int) -> _Restored:
    """Sort the batch's rows that were not restored: already back at the old value, or changed since.

    Only a batch with such rows (rare) pays for this second look at its rows.
    """
    pairs = key_pairs(column)
    names = [name for _, name, _ in pairs]
    arrays = sql.SQL(", ").join(
        sql.SQL("{}::text[]::{}[]").format(sql.Placeholder(), sql.SQL(kind)) for _, _, kind in pairs
    )
    match = sql.SQL(" AND ").join(sql.SQL("t.{} = u.{}").format(sql.Identifier(k), n) for k, n, _ in pairs)
    row_key = sql.SQL(", ").join(sql.SQL("{}, u.{}").format(sql.Literal(k), n) for k, n, _ in pairs)
    query = sql.SQL(
        "SELECT u.ord, jsonb_build_object({row_key}), t.{target}::text "
        "FROM unnest({arrays}) WITH ORDINALITY AS u({names}, ord) LEFT JOIN {table} AS t ON {match} ORDER BY u.ord"
    ).format(
        row_key=row_key, target=sql.Identifier(column.column), arrays=arrays,
        names=sql.SQL(", ").join(names), table=column.table_sql, match=match,
    )  # fmt: skip
    columns = [[str(key[i]) for key, _, _ in changes] for i in range(len(names))]
    current = conn.execute(query, columns).fetchall()
    conn.rollback()
    back = 0
    conflicts: list[Conflict] = []
    for (_, row_key, value), (_, _, old_value) in zip(current, changes, strict=True):
        if value is not None and value == old_value:
            back += 1
        else:
            conflicts.append(Conflict(column.name, dict(row_key)))
    return _Restored(restored, back - restored, conflicts[:SAMPLES], len(conflicts))


def _restore(conn: Conn, changes: list[Change], *, column: Column, revert_id: int) -> _Restored:
    try:
        restored = apply_changes(conn, column, revert_id, changes)
        if restored == len(changes):
            return _Restored(restored)
        return _left_alone(conn, column, changes, restored)
    except psycopg.Error as error:
        conn.rollback()
        raise translate(error, f"revert {column.name}") from None


def revert_run(
    conn: Conn,
    run_id: int,
    revert_id: int,
    *,
    batch_size: int,
    writers: Sequence[Conn],
    sleep: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> RevertReport:
    """Undo the journaled changes of `run_id` under the revert run `revert_id`.

    Batches are read on `conn` and written on `writers`, connections of their own.
    `progress` is told how many of the run's journal rows have been dealt with (restored, found
    already restored, or reported), after each batch; `sleep` pauses between batches, for a
    busy database.
    """
    report = RevertReport(run_id, revert_id)
    for schema, table, column_name in _groups(conn, run_id):
        name = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table, column_name))
        (column,) = resolve(conn, [name])
        conn.rollback()
        batches = _journal_batches(conn, column, run_id, batch_size)
        restore = functools.partial(_restore, column=column, revert_id=revert_id)
        for batch in write_batches(batches, restore, writers, sleep=sleep):
            report.restored += batch.restored
            report.already_restored += batch.already
            report.conflicts += batch.conflict_count
            report.by_column[column.name] = report.by_column.get(column.name, 0) + batch.restored
            report.conflict_samples.extend(batch.conflicts[: max(0, SAMPLES - len(report.conflict_samples))])
            if progress is not None:
                progress(report.restored + report.already_restored + report.conflicts)
    return report
