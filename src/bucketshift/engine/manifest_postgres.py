"""The manifest in PostgreSQL: the SQLite file's rows, in a schema several processes can share.

Schema `bucketshift_state` (another name may be given), versioned like the journal: a
`schema_info` table, created if absent under an advisory lock (two workers starting at once
create it once), and a newer version refused, not guessed at.  The tables, their columns and
every statement that writes them are the SQLite store's (`ManifestStore` holds them once); times
are the same ISO text, so both stores give identical records.  Keys are `COLLATE "C"`: key order
is byte order, as in SQLite, whatever the database's locale.

One connection, in autocommit: a batch of writes is one explicit transaction whose statements go
in one pipeline (one round trip per batch, not per row), and reads run between batches.  Nothing
relies on session state (no `SET`, no `search_path`), so a transaction-mode pooler in front works.
Messages name the server, database, user and schema, never the DSN as written or its password.

Version 2 adds the tables through which worker processes share a run (`shared_run.py`): the runs
they join, the workers, the listing units, the queue of listed objects and the pacing limits.
An object's queue row is deleted in the same transaction as the manifest row that settles it
(`settle_queued`), so a kill never leaves an object settled and still queued, or the reverse.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bucketshift.engine.manifest import (
    COLUMNS,
    FLUSH_SECONDS,
    INSERT_RUN,
    Manifest,
    ManifestStore,
    ObjectRecord,
    State,
    row_record,
)
from bucketshift.engine.state_connection import connect_state, state_error
from bucketshift.errors import BucketshiftError, ConfigError
from bucketshift.postgres_errors import bad_dsn

__all__ = ["DEFAULT_SCHEMA", "PAGE_ROWS", "STATE_VERSION", "PostgresManifest", "describe"]

DEFAULT_SCHEMA = "bucketshift_state"
STATE_VERSION = 2
PAGE_ROWS = 5000
"""Rows `iter_records` reads per query: memory stays bounded however many objects a mapping has."""

_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.schema_info (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS {schema}.runs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    started_at text NOT NULL,
    finished_at text,
    summary text
);
CREATE TABLE IF NOT EXISTS {schema}.steps (
    phase text NOT NULL,
    name text NOT NULL,
    state text NOT NULL CHECK (state IN ('started', 'done', 'failed')),
    started_at text NOT NULL,
    finished_at text,
    detail text,
    PRIMARY KEY (phase, name)
);
CREATE TABLE IF NOT EXISTS {schema}.objects (
    mapping text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'copying', 'copied', 'verified', 'failed', 'conflict')),
    size bigint,
    sha256 text,
    crc64nvme text,
    source_etag text,
    source_modified text,
    dest_key text,
    dest_etag text,
    dest_size bigint,
    dest_modified text,
    resolution text,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    copied_at text,
    verified_at text,
    PRIMARY KEY (mapping, key)
);
CREATE INDEX IF NOT EXISTS objects_state ON {schema}.objects (mapping, state);
CREATE TABLE IF NOT EXISTS {schema}.shared_runs (
    id bigserial PRIMARY KEY,
    run_id bigint NOT NULL,
    fingerprint text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS {schema}.workers (
    id text PRIMARY KEY,
    shared_run bigint NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    lease_seconds double precision NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now(),
    left_at timestamptz,
    summary text
);
CREATE TABLE IF NOT EXISTS {schema}.units (
    shared_run bigint NOT NULL,
    mapping text COLLATE "C" NOT NULL,
    seq integer NOT NULL,
    token text,
    state text NOT NULL CHECK (state IN ('open', 'done')),
    holder text,
    lease_until timestamptz,
    listed integer,
    PRIMARY KEY (shared_run, mapping, seq)
);
CREATE TABLE IF NOT EXISTS {schema}.queue (
    mapping text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    shared_run bigint NOT NULL,
    info jsonb NOT NULL,
    decision text NOT NULL,
    dest jsonb,
    holder text,
    lease_until timestamptz,
    claims integer NOT NULL DEFAULT 0,
    PRIMARY KEY (mapping, key)
);
CREATE INDEX IF NOT EXISTS queue_holder ON {schema}.queue (holder);
CREATE TABLE IF NOT EXISTS {schema}.pacing (
    shared_run bigint NOT NULL,
    name text NOT NULL,
    rate double precision NOT NULL,
    burst double precision NOT NULL,
    tokens double precision NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (shared_run, name)
);
"""

_PAGE = f"SELECT {COLUMNS} FROM {{objects}} WHERE mapping = ? AND state = ANY(?)"  # noqa: S608 - module constants
_FIRST_PAGE = _PAGE + f" ORDER BY key LIMIT {PAGE_ROWS}"
_NEXT_PAGE = _PAGE + f" AND key > ? ORDER BY key LIMIT {PAGE_ROWS}"
_ALL_STATES = [s.value for s in State]
_SELECT_KEYS = f"SELECT {COLUMNS} FROM {{objects}} WHERE mapping = ? AND key = ANY(?)"  # noqa: S608 - module constants
_SETTLE_QUEUED = "DELETE FROM {queue} WHERE mapping = ? AND key = ?"


class _NoState(ConfigError):
    """The database has no bucketshift state (yet) in that schema."""


class PostgresManifest(ManifestStore):
    """The manifest in schema `schema` of the database `dsn` names."""

    def __init__(
        self,
        dsn: str,
        *,
        read_only: bool = False,
        flush_seconds: float = FLUSH_SECONDS,
        schema: str = DEFAULT_SCHEMA,
        field: str = "--state",
    ) -> None:
        self.schema = schema
        self._dsn = dsn
        self._field = field
        self._where = describe(dsn, schema, field)
        super().__init__(read_only=read_only, flush_seconds=flush_seconds)
        self._conn: psycopg.Connection[tuple[Any, ...]] = connect_state(dsn, field=field)
        tables = {
            name: sql.SQL("{} AS {}").format(sql.Identifier(schema, name), sql.Identifier(name)).as_string(self._conn)
            for name in ("objects", "runs", "steps", "queue")
        }
        self._tables = tables
        self._statements: dict[str, str] = {}
        try:
            self._open_schema()
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def for_preview(cls, dsn: str, *, schema: str = DEFAULT_SCHEMA, field: str = "--state") -> ManifestStore:
        """What a dry run reads: the state if the database has one (never written), else an empty
        one in memory (a dry run creates no schema in anyone's database)."""
        try:
            return cls(dsn, read_only=True, schema=schema, field=field)
        except _NoState:
            return Manifest(None)

    # the schema ----------------------------------------------------------------------------

    def _open_schema(self) -> None:
        """Check the version, and (unless reading only) create what is absent, under one lock."""
        name = sql.Identifier(self.schema)
        try:
            with self._conn.transaction():
                if not self.read_only:
                    lock = f"bucketshift_state:{self.schema}"
                    self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
                found = self._conn.execute(
                    "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
                    (f"{name.as_string(self._conn)}.schema_info", f"{name.as_string(self._conn)}.objects"),
                ).fetchone()
                has_info, has_objects = bool(found and found[0]), bool(found and found[1])
                version = None
                if has_info:
                    row = self._conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_info").format(name)).fetchone()
                    version = None if row is None or row[0] is None else int(row[0])
                if version is not None and version > STATE_VERSION:
                    raise ConfigError(
                        f"the state in {self._where} has schema version {version}, newer than this "
                        f"bucketshift understands ({STATE_VERSION}); upgrade bucketshift"
                    )
                if self.read_only:
                    if version is None or not has_objects:
                        raise _NoState(
                            f"there is no bucketshift state in {self._where}; run `bucketshift copy` "
                            f"with this {self._field} first"
                        )
                    return
                self._conn.execute(sql.SQL(_DDL).format(schema=name))  # type: ignore[arg-type]
                if version is None:
                    self._conn.execute(
                        sql.SQL("INSERT INTO {}.schema_info (version) VALUES (%s)").format(name), (STATE_VERSION,)
                    )
                elif version < STATE_VERSION:  # the DDL above added what the newer version has
                    self._conn.execute(sql.SQL("UPDATE {}.schema_info SET version = %s").format(name), (STATE_VERSION,))
        except psycopg.Error as error:
            raise self._error(error, "create the bucketshift state schema") from None

    # what ManifestStore asks of a store ------------------------------------------------------

    @property
    def where(self) -> str:
        return self._where

    def _sql(self, statement: str) -> str:
        found = self._statements.get(statement)
        if found is None:
            found = self._statements[statement] = statement.format(**self._tables).replace("?", "%s")
        return found

    def _commit(self, batch: list[tuple[str, tuple[object, ...]]]) -> None:
        try:
            with self._conn.pipeline(), self._conn.transaction(), self._conn.cursor() as cursor:
                for statement, rows in itertools.groupby(batch, key=lambda item: item[0]):
                    cursor.executemany(statement, [params for _, params in rows])  # type: ignore[arg-type]
        except psycopg.Error as error:
            raise self._error(error, "record objects in the state") from None

    def _execute_now(self, statement: str, params: tuple[object, ...]) -> None:
        try:
            self._conn.execute(statement, params)  # type: ignore[arg-type]
        except psycopg.Error as error:
            raise self._error(error, "record a step in the state") from None

    def _query(self, statement: str, params: tuple[object, ...]) -> Iterable[tuple[object, ...]]:
        with self._lock:
            try:
                return self._conn.execute(self._sql(statement), params).fetchall()  # type: ignore[arg-type]
            except psycopg.Error as error:
                raise self._error(error, "read the state") from None

    def _insert_run(self, kind: str, started_at: str) -> int:
        try:
            row = self._conn.execute(self._sql(INSERT_RUN + " RETURNING id"), (kind, started_at)).fetchone()  # type: ignore[arg-type]
        except psycopg.Error as error:
            raise self._error(error, "record a run in the state") from None
        assert row is not None
        return int(row[0])

    def _disconnect(self) -> None:
        self._conn.close()

    @property
    def dsn(self) -> str:
        """The DSN as given (for the coordination's own connections; never shown)."""
        return self._dsn

    def records_for(self, mapping: str, keys: list[str]) -> dict[str, ObjectRecord]:
        """The rows of these keys only: a worker listing one page reads that page's rows, not all."""
        self.flush()
        return {str(row[1]): row_record(row) for row in self._query(_SELECT_KEYS, (mapping, keys))}

    def settle_queued(self, mapping: str, key: str) -> None:
        """The object's queue row goes, committed with the rows its worker wrote before this."""
        self._write(_SETTLE_QUEUED, (mapping, key))

    def iter_records(self, mapping: str, states: Iterable[State] | None = None) -> Iterator[ObjectRecord]:
        """In pages along the key, each a short query: no cursor or transaction stays open while
        the caller works through the rows (and writes, which commit between pages)."""
        self.flush()
        wanted = _ALL_STATES if states is None else [s.value for s in states]
        rows = list(self._query(_FIRST_PAGE, (mapping, wanted)))
        while True:
            yield from (row_record(row) for row in rows)
            if len(rows) < PAGE_ROWS:
                return
            rows = list(self._query(_NEXT_PAGE, (mapping, wanted, rows[-1][1])))

    def _error(self, error: psycopg.Error, doing: str) -> BucketshiftError:
        return state_error(error, doing, dsn=self._dsn, field=self._field)


def describe(dsn: str, schema: str, field: str) -> str:
    """`user@host:port/database (schema s)`: what a message may say of the state's DSN."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        raise bad_dsn(error, field=field) from None
    if not all(port.isdigit() for port in str(parts.get("port") or "0").split(",")):
        raise ConfigError(f"the port in {field} is not a number from 1 to 65535; fix it")
    server = ":".join(str(parts[k]) for k in ("host", "port") if parts.get(k)) or "the default server"
    user = f"{parts['user']}@" if parts.get("user") else ""
    database = parts.get("dbname") or "(default database)"
    return f"PostgreSQL {user}{server}/{database} (schema {schema})"
