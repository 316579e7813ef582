"""Which columns hold storage URLs: the plan's list resolved against the catalog, or discovery.

A column is named `table.column` (schema `public`) or `schema.table.column`; every name is
used as a quoted identifier, so mixed case, spaces and keywords work as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from bucketshift.config import split_column_name
from bucketshift.database.connection import translate
from bucketshift.errors import ConfigError

__all__ = [
    "SYSTEM_SCHEMAS",
    "URL_TYPES",
    "Column",
    "Found",
    "candidate_columns",
    "discover",
    "needle_filter",
    "resolve",
]

SYSTEM_SCHEMAS = (
    "pg_catalog",
    "information_schema",
    "pg_toast",
    "storage",
    "auth",
    "extensions",
    "graphql",
    "graphql_public",
    "realtime",
    "_realtime",
    "supabase_functions",
    "supabase_migrations",
    "vault",
    "pgsodium",
    "pgsodium_masks",
    "net",
    "cron",
    "pgbouncer",
    "_analytics",
    "bucketshift",
)
"""Schemas that belong to Postgres, Supabase or bucketshift itself, never to the application."""

URL_TYPES = {"text": "text", "character varying": "text", "text[]": "text[]", "character varying[]": "text[]"}
URL_TYPES |= {"json": "json", "jsonb": "jsonb"}


@dataclass(frozen=True)
class Column:
    """One column that may hold storage URLs, with what a rewrite needs to know about its table."""

    schema: str
    table: str
    column: str
    kind: str
    primary_key: tuple[str, ...]
    primary_key_types: tuple[str, ...] = ()
    sql_type: str = "text"
    max_length: int | None = None
    """The most characters a value (an array: each element) may hold: `n` of `varchar(n)`."""

    @property
    def name(self) -> str:
        prefix = "" if self.schema == "public" else f"{self.schema}."
        return f"{prefix}{self.table}.{self.column}"

    @property
    def table_sql(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.table))


_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, NULL) AS type,
       ARRAY(SELECT k.attname FROM pg_index i
             JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS u(attnum, ord) ON true
             JOIN pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = u.attnum
             WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY u.ord) AS pk,
       ARRAY(SELECT format_type(k.atttypid, k.atttypmod) FROM pg_index i
             JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS u(attnum, ord) ON true
             JOIN pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = u.attnum
             WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY u.ord) AS pk_types,
       format_type(a.atttypid, a.atttypmod) AS full_type,
       CASE WHEN a.atttypmod >= 4 AND format_type(a.atttypid, NULL) IN ('character varying', 'character varying[]')
            THEN a.atttypmod - 4 END AS max_length
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p')
"""


def _kind(type_name: str) -> str | None:
    return URL_TYPES.get(type_name)


def _column(row: tuple[object, ...], kind: str) -> Column:
    schema, table, column, _, pk, pk_types, full_type, max_length = row
    return Column(
        str(schema),
        str(table),
        str(column),
        kind,
        tuple(str(p) for p in pk or ()),  # type: ignore[attr-defined]
        tuple(str(t) for t in pk_types or ()),  # type: ignore[attr-defined]
        str(full_type),
        None if max_length is None else int(max_length),  # type: ignore[call-overload]
    )


def resolve(conn: psycopg.Connection[tuple[object, ...]], names: list[str]) -> list[Column]:
    """The plan's `columns`, checked against the catalog: each missing or unusable one is one line."""
    out = []
    for name in names:
        parts = split_column_name(name)
        if len(parts) not in (2, 3):
            raise ConfigError(f"database.columns: {name!r} must be written table.column or schema.table.column")
        schema, table, column = ["public", *parts] if len(parts) == 2 else parts
        try:
            row = conn.execute(
                _COLUMNS + " AND n.nspname = %s AND c.relname = %s AND a.attname = %s", (schema, table, column)
            ).fetchone()
        except psycopg.Error as error:
            raise translate(error, f"read the catalog for {name}") from None
        if row is None:
            exists = conn.execute(
                "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s",
                (schema, table),
            ).fetchone()
            what = f"column {column!r}" if exists else f"table {schema}.{table}"
            raise ConfigError(f"database.columns: {name}: {what} does not exist; fix the name or remove it")
        kind = _kind(str(row[3]))
        if kind is None:
            raise ConfigError(
                f"database.columns: {name} is of type {row[3]}; only text, varchar, text[], json and jsonb hold URLs"
            )
        out.append(_column(row, kind))
    return out


def candidate_columns(conn: psycopg.Connection[tuple[object, ...]]) -> list[Column]:
    """Every text-like column of the application's own tables."""
    rows = conn.execute(
        _COLUMNS + " AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg_%%' ORDER BY 1, 2, a.attnum",
        (list(SYSTEM_SCHEMAS),),
    ).fetchall()
    out = []
    for row in rows:
        kind = _kind(str(row[3]))
        if kind is not None:
            out.append(_column(row, kind))
    return out


def needle_filter(column: Column, needles: list[str]) -> sql.Composable:
    """Rows whose value contains one of the storage API bases (the URL parser then reads them)."""
    value = sql.Identifier(column.column)
    tests = [sql.SQL("strpos({}::text, {}) > 0").format(value, sql.Literal(n)) for n in needles]
    return sql.SQL("({})").format(sql.SQL(" OR ").join(tests))


@dataclass(frozen=True)
class Found:
    """A column holding storage URLs: rows with at least one, and rows that only mention the host."""

    column: Column
    rows: int
    mentions_only: int


def discover(
    conn: psycopg.Connection[tuple[object, ...]], needles: list[str], holds_url: Callable[[str], bool]
) -> list[Found]:
    """Columns whose values hold a storage URL: SQL finds values containing `needle` (the
    storage API base), then every such value is read with the URL parser, so a value that merely
    mentions the project does not count."""
    found = []
    for column in candidate_columns(conn):
        tests = sql.SQL(" OR ").join(
            sql.SQL("strpos({}::text, {}) > 0").format(sql.Identifier(column.column), sql.Literal(n)) for n in needles
        )
        query = sql.SQL("SELECT {}::text FROM {} WHERE {}").format(
            sql.Identifier(column.column), column.table_sql, tests
        )
        rows = mentions = 0
        try:
            with conn.cursor(name="bucketshift_discover") as cursor:
                cursor.itersize = 10_000
                cursor.execute(query)
                for (value,) in cursor:
                    if holds_url(str(value)):
                        rows += 1
                    else:
                        mentions += 1
        except psycopg.Error as error:
            conn.rollback()
            raise translate(error, f"scan {column.name}") from None
        conn.rollback()
        if rows or mentions:
            found.append(Found(column, rows, mentions))
    return found
