"""Rewriting one column in batches keyed by primary key, each batch one transaction.

A batch reads up to `batch_size` rows whose value contains the storage API base (keyset
pagination on the primary key) and computes the new values in Python; they travel to the
server as a few separator-joined strings (or, when they cannot, staged by COPY into a temporary
table), and one statement updates the rows and writes one journal row per changed value.  A
row is updated only if it still holds the value that was read, so a concurrent edit is never
overwritten; the journal therefore holds exactly what changed.  Without a run id nothing is
written and the counts are those an apply would produce.

A value is never cut to fit its column.  The rewriter leaves out (and counts) every new value
longer than the column allows; should one get through all the same, the UPDATE assigns it
without an explicit cast, so PostgreSQL's assignment coercion refuses it ("value too long")
instead of truncating it as `::varchar(n)` would, and the whole batch rolls back, journal
included.  A `char_length(...) <= n` condition would skip such a row as silently as it skips a
row edited since the read: a misjudged length would go unreported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from bucketshift.database.columns import Column, needle_filter
from bucketshift.database.connection import translate
from bucketshift.database.rewriter import Rewriter, Tally
from bucketshift.database.writers import write_batches
from bucketshift.errors import ConfigError

__all__ = [
    "IN_KEY_ORDER",
    "LOOKUP_BY_KEY",
    "Batch",
    "Change",
    "apply_changes",
    "key_pairs",
    "read_batches",
    "rewrite_column",
    "sql_statements",
]

Conn = psycopg.Connection[tuple[Any, ...]]

LOOKUP_BY_KEY = "SET LOCAL enable_mergejoin = off; SET LOCAL enable_hashjoin = off"
"""A batch is a few thousand rows of a large table: left to itself the planner merge-joins it
along the whole primary-key index (from its start, for every batch) or hash-joins it against
a scan of the table; each row looked up by its key costs a third as much, wherever the batch lies."""

IN_KEY_ORDER = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
"""A batch read continues along an index from the last key: with stale statistics the planner
would instead collect every remaining row and sort them, for every batch (quadratic time)."""


Change = tuple[tuple[Any, ...], str, Any]
"""One value to write: (the row's key, the text it was read as, its new value).  A plain tuple:
a batch builds thousands, and a named tuple cost a microsecond each."""


@dataclass
class Batch:
    """Rows read in one batch and the changes computed for them."""

    last_key: tuple[Any, ...] | None
    changes: list[Change]


def _require_key(column: Column) -> None:
    if not column.primary_key:
        raise ConfigError(
            f"{column.schema}.{column.table} has no primary key; bucketshift rewrites rows by key so that a revert "
            "is exact: add a primary key or leave this column out of database.columns"
        )


def _select(column: Column, needles: list[str], with_after: bool, limit: int) -> sql.Composed:
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in column.primary_key)
    value = sql.Identifier(column.column)
    where = needle_filter(column, needles)
    if with_after:
        marks = sql.SQL(", ").join(sql.Placeholder(f"k{i}") for i in range(len(column.primary_key)))
        where = sql.SQL("{} AND ({}) > ({})").format(where, keys, marks)
    # A text value is its own old text; an array is read both as a list and as its text form.
    fetched = sql.SQL("{0}, {0}::text").format(value) if column.kind == "text[]" else sql.SQL("{}::text").format(value)
    return sql.SQL("SELECT {keys}, {fetched} FROM {table} WHERE {where} ORDER BY {keys} LIMIT {limit}").format(
        keys=keys, fetched=fetched, table=column.table_sql, where=where, limit=sql.Literal(limit)
    )


def read_batches(
    conn: Conn, column: Column, rewriter: Rewriter, needles: list[str], batch_size: int, tally: Tally
) -> Iterator[Batch]:
    """Read the column's candidate rows batch by batch, computing each batch's changes."""
    _require_key(column)
    width = len(column.primary_key)
    text_at = width + 1 if column.kind == "text[]" else width
    after: tuple[Any, ...] | None = None
    while True:
        params: dict[str, Any] = {}
        if after is not None:
            params.update({f"k{i}": v for i, v in enumerate(after)})
        try:
            conn.execute(IN_KEY_ORDER)
            rows = conn.execute(_select(column, needles, after is not None, batch_size), params).fetchall()
        except psycopg.Error as error:
            conn.rollback()
            raise translate(error, f"read {column.name}") from None
        if not rows:
            return
        news = rewriter.values(column.kind, [row[width] for row in rows], tally, limit=column.max_length)
        changes = [(row[:width], row[text_at], new) for row, new in zip(rows, news, strict=True) if new is not None]
        after = tuple(rows[-1][:width])
        yield Batch(after, changes)
        if len(rows) < batch_size:
            return


def _stage_type(column: Column) -> str:
    return {"text[]": "text[]", "json": "json", "jsonb": "jsonb"}.get(column.kind, "text")


def key_pairs(column: Column) -> list[tuple[str, sql.Identifier, str]]:
    """(key column, its staging name, its type) for each primary-key column."""
    names = [sql.Identifier(f"k{i}") for i in range(len(column.primary_key))]
    return list(zip(column.primary_key, names, column.primary_key_types, strict=True))


_JOINED_KEY_TYPES = frozenset({"bigint", "integer", "smallint", "text", "uuid"})
_SEPARATOR = "\x1f"
"""ASCII's unit separator, between the values of a joined batch column (checked absent from them)."""

_LOOKUP_BY_KEY_CALL = "SELECT set_config('enable_mergejoin', 'off', true), set_config('enable_hashjoin', 'off', true)"
"""`LOOKUP_BY_KEY` as one statement, which a pipeline can carry."""


def _joined(column: Column, changes: list[Change]) -> list[str] | None:
    """A batch's columns (keys..., old texts, new texts) each as one string, when they can be.

    A text column keyed by common types travels as a few strings that PostgreSQL splits back
    with `string_to_array`: one round trip, no staging table, and no Python work per value
    (psycopg adapts a list value by value).  None when a column's type does not allow it or a
    value holds the separator (or a one-value column is empty): such a batch is staged by COPY.
    """
    if column.kind != "text" or any(kind not in _JOINED_KEY_TYPES for kind in column.primary_key_types):
        return None
    fields: list[list[str]] = [
        [key[i] for key, _, _ in changes] if kind == "text" else [str(key[i]) for key, _, _ in changes]
        for i, kind in enumerate(column.primary_key_types)
    ]
    fields += [[old_text for _, old_text, _ in changes], [new for _, _, new in changes]]
    joined = []
    for values in fields:
        try:
            text = _SEPARATOR.join(values)
        except TypeError:  # a NULL to write (a revert to NULL): only COPY carries it
            return None
        if not text or text.count(_SEPARATOR) != len(changes) - 1:
            return None
        joined.append(text)
    return joined


def _update_and_journal(column: Column, source: sql.Composable) -> sql.Composed:
    """One statement: update the batch's rows that still hold the value read, journal each."""
    pairs = key_pairs(column)
    target = sql.Identifier(column.column)
    match = sql.SQL(" AND ").join(sql.SQL("t.{} = b.{}").format(sql.Identifier(k), name) for k, name, _ in pairs)
    row_key = sql.SQL(", ").join(sql.SQL("{}, b.{}").format(sql.Literal(k), name) for k, name, _ in pairs)
    return sql.SQL(
        """WITH changed AS (
               UPDATE {table} AS t SET {target} = b.new_value
               FROM {source}
               WHERE {match} AND t.{target}::text = b.old_text
               RETURNING jsonb_build_object({row_key}) AS row_key, b.old_text, t.{target}::text AS new_text)
           INSERT INTO bucketshift.journal
               (run_id, table_schema, table_name, column_name, row_key, old_value, new_value)
           SELECT %(run_id)s, %(schema)s, %(table)s, %(column)s, row_key, old_text, new_text FROM changed"""
    ).format(
        table=column.table_sql,
        target=target,
        source=source,
        match=match,
        row_key=row_key,
    )


def apply_changes(conn: Conn, column: Column, run_id: int, changes: list[Change]) -> int:
    """Update the rows and journal them in one transaction; returns how many rows changed."""
    pairs = key_pairs(column)
    names = sql.SQL(", ").join(name for _, name, _ in pairs)
    params: dict[str, Any] = {"run_id": run_id, "schema": column.schema, "table": column.table, "column": column.column}
    joined = _joined(column, changes)
    if joined is not None:
        split = [
            sql.SQL("string_to_array({}, {})::{}[]").format(sql.Placeholder(f"f{i}"), _SEPARATOR, sql.SQL(kind))
            for i, kind in enumerate([*column.primary_key_types, "text", "text"])
        ]
        source = sql.SQL("unnest({}) AS b({}, old_text, new_value)").format(sql.SQL(", ").join(split), names)
        params.update({f"f{i}": text for i, text in enumerate(joined)})
        with conn.pipeline():
            conn.execute(_LOOKUP_BY_KEY_CALL)
            cursor = conn.execute(_update_and_journal(column, source), params)
            conn.commit()
        return cursor.rowcount
    keys = sql.SQL(", ").join(sql.SQL("{} {}").format(name, sql.SQL(kind)) for _, name, kind in pairs)
    create = "CREATE TEMP TABLE bucketshift_batch ({keys}, old_text text, new_value {type}) ON COMMIT DROP; {lookup}"
    conn.execute(sql.SQL(create).format(keys=keys, type=sql.SQL(_stage_type(column)), lookup=sql.SQL(LOOKUP_BY_KEY)))
    copy_in = sql.SQL("COPY bucketshift_batch ({}, old_text, new_value) FROM STDIN").format(names)
    with conn.cursor().copy(copy_in) as copy:
        for key, old_text, new in changes:
            copy.write_row((*key, old_text, new))
    cursor = conn.execute(_update_and_journal(column, sql.SQL("bucketshift_batch AS b")), params)
    count = cursor.rowcount
    conn.commit()
    return count


def _write(conn: Conn, column: Column, run_id: int, changes: list[Change]) -> int:
    try:
        return apply_changes(conn, column, run_id, changes)
    except psycopg.Error as error:
        conn.rollback()
        raise translate(error, f"rewrite {column.name}") from None


def rewrite_column(
    conn: Conn,
    column: Column,
    rewriter: Rewriter,
    needles: list[str],
    *,
    run_id: int | None,
    batch_size: int,
    sleep: float = 0.0,
    progress: Callable[[int], None] | None = None,
    writers: Sequence[Conn] = (),
) -> tuple[Tally, int]:
    """Plan (run_id None) or apply one column; returns its tally and the rows actually changed.

    Applying writes each batch on one of the `writers` while this thread reads and computes
    the next (`write_batches`).
    """
    tally = Tally()

    def batches() -> Iterator[list[Change]]:
        for batch in read_batches(conn, column, rewriter, needles, batch_size, tally):
            conn.rollback()
            if progress is not None:
                progress(tally.rows_scanned)
            if batch.changes and run_id is not None:
                yield batch.changes

    if run_id is None:
        for _ in batches():
            pass
        return tally, 0
    written = sum(write_batches(batches(), lambda w, changes: _write(w, column, run_id, changes), writers, sleep=sleep))
    return tally, written


def sql_statements(conn: Conn, column: Column, changes: list[Change]) -> Iterator[str]:
    """The UPDATE statements an apply would run, for a DBA to read or run by hand (no journal).

    The new value is assigned as a literal, without a cast, so that a value too long for the
    column fails there too rather than being cut.
    """
    target = sql.Identifier(column.column)
    template = sql.SQL("UPDATE {table} SET {target} = {new} WHERE {match} AND {target}::text = {old};")
    for key, old_text, new in changes:
        match = sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v))
            for k, v in zip(column.primary_key, key, strict=True)
        )
        statement = template.format(
            table=column.table_sql,
            target=target,
            new=sql.Literal(new),
            match=match,
            old=sql.Literal(old_text),
        )
        yield statement.as_string(conn)
