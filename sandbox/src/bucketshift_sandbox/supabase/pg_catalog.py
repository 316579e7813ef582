"""The catalog in PostgreSQL: rows in real ``storage.buckets`` and ``storage.objects`` tables.

The real server keeps its rows in the project's Postgres, and bucketshift can list a bucket
straight from ``storage.objects``; with this catalog the emulator writes the rows that path
reads, so both are tested against the same data.  The tables follow the server's tenant
migrations (``migrations/tenant/`` in supabase/storage) as of the single-version schema: the
columns, types, defaults, the generated ``path_tokens`` and the indexes the list functions use.
Not reproduced: roles, policies, triggers (the ``updated_at`` trigger would overrule the
emulator's clock) and the later ``level``/``prefixes`` and versioning machinery.

Every comparison and ordering of names is ``COLLATE "C"`` (byte order, as the server's list
queries and SQLite's default), so results do not depend on the database's own collation.
"""

# ruff: noqa: S608 - queries interpolate only constant column lists and whitelisted identifiers.
from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

from bucketshift_sandbox.supabase.catalog import (
    BUCKET_SORT_COLUMNS,
    BUCKET_UPDATE_COLUMNS,
    BucketRow,
    Catalog,
    CatalogConflict,
    CatalogMissingBucket,
    ObjectRow,
    iso_timestamp,
    like_escape,
    successor,
)

__all__ = ["DEFAULT_POOL_SIZE", "CatalogUnavailable", "PostgresCatalog", "prepare_schema"]

DEFAULT_POOL_SIZE = 8
CONNECT_TIMEOUT = 15
# Serializes schema creation: two emulators starting at once on one database would otherwise
# race on CREATE TYPE / CREATE TABLE IF NOT EXISTS (catalog entries are not created atomically).
SCHEMA_LOCK_KEY = 0x62756373686966  # "bucshif"
UPSERT_ATTEMPTS = 5

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS storage;
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'storage' AND t.typname = 'buckettype'
    ) THEN
        CREATE TYPE storage.buckettype AS ENUM ('STANDARD', 'ANALYTICS', 'VECTOR');
    END IF;
END$$;
CREATE TABLE IF NOT EXISTS storage.buckets (
    id text NOT NULL,
    name text NOT NULL,
    owner uuid,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    public boolean DEFAULT false,
    avif_autodetection boolean DEFAULT false,
    file_size_limit bigint,
    allowed_mime_types text[],
    owner_id text,
    type storage.buckettype NOT NULL DEFAULT 'STANDARD',
    PRIMARY KEY (id),
    CONSTRAINT buckets_name_length_check CHECK (length(name) > 0 AND length(name) < 101)
);
CREATE UNIQUE INDEX IF NOT EXISTS bname ON storage.buckets USING btree (name);
CREATE TABLE IF NOT EXISTS storage.objects (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    bucket_id text,
    name text,
    owner uuid,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    last_accessed_at timestamptz DEFAULT now(),
    metadata jsonb,
    path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
    version text,
    owner_id text,
    user_metadata jsonb,
    PRIMARY KEY (id),
    CONSTRAINT "objects_bucketId_fkey" FOREIGN KEY (bucket_id) REFERENCES storage.buckets (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS bucketid_objname ON storage.objects USING btree (bucket_id, name);
CREATE INDEX IF NOT EXISTS name_prefix_search ON storage.objects USING btree (name text_pattern_ops);
CREATE INDEX IF NOT EXISTS idx_objects_bucket_id_name ON storage.objects USING btree (bucket_id, name COLLATE "C");
CREATE INDEX IF NOT EXISTS idx_objects_bucket_id_name_lower
    ON storage.objects USING btree (bucket_id, lower(name) COLLATE "C");
DO $$
BEGIN
    IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = 'storage.buckets'::regclass) THEN
        ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
    END IF;
    IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = 'storage.objects'::regclass) THEN
        ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
    END IF;
END$$;
"""

_OBJECT_COLUMNS = (
    "id::text AS id, bucket_id, name, COALESCE(owner_id, owner::text) AS owner, version, metadata,"
    " user_metadata, created_at, updated_at, last_accessed_at"
)
_BUCKET_COLUMNS = (
    "id, name, COALESCE(owner_id, owner::text) AS owner, public, file_size_limit, allowed_mime_types,"
    " type::text AS type, created_at, updated_at"
)
_TEXT_COLUMNS = frozenset({"id", "name"})
_NAME = 'name COLLATE "C"'
_LOWER_NAME = 'lower(name) COLLATE "C"'


class CatalogUnavailable(Exception):
    """The catalog database cannot be reached or its ``storage`` schema cannot be created."""


def _describe(error: psycopg.Error) -> str:
    """One line about a connection failure; a malformed DSN is not echoed (it may hold a password)."""
    if isinstance(error, psycopg.ProgrammingError):
        return "the DSN is not a valid PostgreSQL connection string"
    first = str(error).strip().splitlines()
    return f"{type(error).__name__}: {first[0] if first else 'no detail'}"


def prepare_schema(dsn: str) -> None:
    """Create the ``storage`` schema, tables and indexes when absent; harmless when present."""
    try:
        with psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            conn.execute(SCHEMA)
    except psycopg.Error as error:
        reason = _describe(error)
        raise CatalogUnavailable(f"cannot prepare the storage schema in the catalog database: {reason}") from None


def _uuid_or_none(value: str | None) -> str | None:
    """The deprecated ``owner`` column is a uuid; the server fills it only when the subject is one."""
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _iso(value: datetime | None) -> str:
    return iso_timestamp(value) if value is not None else ""


def _json_object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _object_row(row: DictRow) -> ObjectRow:
    return ObjectRow(
        id=row["id"],
        bucket_id=row["bucket_id"],
        name=row["name"],
        owner=row["owner"],
        version=row["version"],
        metadata=_json_object(row["metadata"]),
        user_metadata=_json_object(row["user_metadata"]),
        created_at=_iso(row["created_at"]),
        updated_at=_iso(row["updated_at"]),
        last_accessed_at=_iso(row["last_accessed_at"]),
    )


def _bucket_row(row: DictRow) -> BucketRow:
    return BucketRow(
        id=row["id"],
        name=row["name"],
        owner=row["owner"],
        public=bool(row["public"]),
        file_size_limit=row["file_size_limit"],
        allowed_mime_types=row["allowed_mime_types"],
        type=row["type"],
        created_at=_iso(row["created_at"]),
        updated_at=_iso(row["updated_at"]),
    )


Connection = psycopg.AsyncConnection[DictRow]


class _Connections:
    """At most ``size`` connections, opened on demand and reused.

    A connection comes back to the idle list only when it is open and idle (no transaction,
    no query in flight): a request cancelled mid-query leaves its connection closed instead
    of handing a half-used one to the next request.
    """

    def __init__(self, dsn: str, size: int) -> None:
        self._dsn = dsn
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Connection] = []
        self._closed = False

    async def _take(self) -> Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        return await psycopg.AsyncConnection.connect(
            self._dsn, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT
        )

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection of one's own for the block."""
        async with self._slots:
            conn = await self._take()
            try:
                yield conn
            finally:
                if not self._closed and not conn.closed and conn.info.transaction_status == pq.TransactionStatus.IDLE:
                    self._idle.append(conn)
                else:
                    await conn.close()

    async def close(self) -> None:
        """Close the idle connections; those in use close when they come back."""
        self._closed = True
        while self._idle:
            await self._idle.pop().close()


class PostgresCatalog(Catalog):
    """The catalog in a PostgreSQL database, through a small pool of async connections.

    Each method is one statement or one transaction, so it is atomic as SqliteCatalog's
    methods are; ``snapshot`` pins one connection in a repeatable-read transaction so that a
    listing's many range scans see one state of the rows, as the server's single list query
    does.  Timestamps come from the emulator's clock, not ``now()``, as in SqliteCatalog.
    """

    def __init__(
        self,
        dsn: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        prepare_schema(dsn)
        self._clock = clock
        self._pool = _Connections(dsn, pool_size)
        self._pinned: ContextVar[Connection | None] = ContextVar(f"pinned-{id(self)}", default=None)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        pinned = self._pinned.get()
        if pinned is not None:
            yield pinned
            return
        async with self._pool.connection() as conn:
            yield conn

    def snapshot(self) -> AbstractAsyncContextManager[None]:
        """Reads in the block share one connection and one repeatable-read snapshot."""
        return self._snapshot()

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[None]:
        if self._pinned.get() is not None:
            yield
            return
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            token = self._pinned.set(conn)
            try:
                yield
            finally:
                self._pinned.reset(token)

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[DictRow]:
        async with self._connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> DictRow | None:
        async with self._connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()

    async def _rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount

    async def close(self) -> None:
        """Close the pool's connections."""
        await self._pool.close()

    async def list_buckets(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        sort_column: str | None = None,
        sort_order: str | None = None,
        search: str | None = None,
    ) -> list[BucketRow]:
        """Buckets in creation order unless a sort column is given."""
        sql = f"SELECT {_BUCKET_COLUMNS} FROM storage.buckets"
        params: list[Any] = []
        if search:
            sql += " WHERE name COLLATE \"C\" ILIKE %s ESCAPE '\\'"
            params.append(f"%{like_escape(search)}%")
        if sort_column in BUCKET_SORT_COLUMNS:
            direction = "DESC" if (sort_order or "").lower() == "desc" else "ASC"
            collate = ' COLLATE "C"' if sort_column in _TEXT_COLUMNS else ""
            sql += f" ORDER BY {sort_column}{collate} {direction}"
        else:
            sql += ' ORDER BY created_at, id COLLATE "C"'
        if limit is not None or offset is not None:
            sql += " LIMIT %s OFFSET %s"
            params += [limit, offset or 0]
        return [_bucket_row(row) for row in await self._all(sql, params)]

    async def get_bucket(self, bucket_id: str) -> BucketRow | None:
        """One bucket by id."""
        row = await self._one(f"SELECT {_BUCKET_COLUMNS} FROM storage.buckets WHERE id = %s", (bucket_id,))
        return _bucket_row(row) if row else None

    async def insert_bucket(
        self,
        *,
        bucket_id: str,
        name: str,
        owner: str | None,
        public: bool,
        file_size_limit: int | None,
        allowed_mime_types: list[str] | None,
    ) -> BucketRow:
        """Insert a bucket row."""
        now = self._clock()
        try:
            row = await self._one(
                "INSERT INTO storage.buckets (id, name, owner, owner_id, public, file_size_limit,"
                " allowed_mime_types, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s::text[], %s, %s)"
                f" RETURNING {_BUCKET_COLUMNS}",
                (bucket_id, name, _uuid_or_none(owner), owner, public, file_size_limit, allowed_mime_types, now, now),
            )
        except errors.UniqueViolation as exc:
            raise CatalogConflict(str(exc)) from exc
        assert row is not None
        return _bucket_row(row)

    async def update_bucket(self, bucket_id: str, changes: Mapping[str, Any]) -> bool:
        """Update the given columns and ``updated_at``."""
        columns = [name for name in changes if name in BUCKET_UPDATE_COLUMNS]
        assignments = [f"{name} = %s::text[]" if name == "allowed_mime_types" else f"{name} = %s" for name in columns]
        values: list[Any] = [bool(changes[name]) if name == "public" else changes[name] for name in columns]
        sql = f"UPDATE storage.buckets SET {', '.join([*assignments, 'updated_at = %s'])} WHERE id = %s"
        return await self._rowcount(sql, [*values, self._clock(), bucket_id]) > 0

    async def delete_bucket(self, bucket_id: str) -> bool:
        """Delete a bucket row."""
        try:
            return await self._rowcount("DELETE FROM storage.buckets WHERE id = %s", (bucket_id,)) > 0
        except errors.ForeignKeyViolation as exc:
            raise CatalogMissingBucket(str(exc)) from exc

    async def count_objects(self, bucket_id: str) -> int:
        """Count a bucket's objects."""
        row = await self._one("SELECT count(*) AS n FROM storage.objects WHERE bucket_id = %s", (bucket_id,))
        return int(row["n"]) if row else 0

    async def get_object(self, bucket_id: str, name: str) -> ObjectRow | None:
        """One object row."""
        row = await self._one(
            f"SELECT {_OBJECT_COLUMNS} FROM storage.objects WHERE bucket_id = %s AND name = %s", (bucket_id, name)
        )
        return _object_row(row) if row else None

    async def find_objects(self, bucket_id: str, names: Sequence[str]) -> list[ObjectRow]:
        """The existing objects among ``names``."""
        if not names:
            return []
        rows = await self._all(
            f"SELECT {_OBJECT_COLUMNS} FROM storage.objects WHERE bucket_id = %s AND name = ANY(%s::text[])",
            (bucket_id, list(names)),
        )
        return [_object_row(row) for row in rows]

    async def upsert_object(
        self,
        *,
        bucket_id: str,
        name: str,
        new_id: str,
        version: str,
        owner: str | None,
        metadata: dict[str, Any],
        user_metadata: dict[str, Any] | None,
    ) -> tuple[ObjectRow, ObjectRow | None]:
        """Lock the row if it exists and overwrite it, else insert; a racing insert means try again."""
        now = self._clock()
        meta = Jsonb(metadata)
        user_meta = Jsonb(user_metadata) if user_metadata is not None else None
        owners = (_uuid_or_none(owner), owner)
        for _ in range(UPSERT_ATTEMPTS):
            try:
                async with self._connection() as conn, conn.transaction():
                    cursor = await conn.execute(
                        f"SELECT {_OBJECT_COLUMNS} FROM storage.objects WHERE bucket_id = %s AND name = %s FOR UPDATE",
                        (bucket_id, name),
                    )
                    previous = await cursor.fetchone()
                    if previous is None:
                        cursor = await conn.execute(
                            "INSERT INTO storage.objects (id, bucket_id, name, owner, owner_id, version, metadata,"
                            " user_metadata, created_at, updated_at, last_accessed_at)"
                            f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_OBJECT_COLUMNS}",
                            (new_id, bucket_id, name, *owners, version, meta, user_meta, now, now, now),
                        )
                    else:
                        cursor = await conn.execute(
                            "UPDATE storage.objects SET version = %s, metadata = %s, user_metadata = %s, owner = %s,"
                            f" owner_id = %s, updated_at = %s WHERE id = %s RETURNING {_OBJECT_COLUMNS}",
                            (version, meta, user_meta, *owners, now, previous["id"]),
                        )
                    current = await cursor.fetchone()
            except errors.UniqueViolation:
                continue
            except errors.ForeignKeyViolation as exc:
                raise CatalogMissingBucket(str(exc)) from exc
            assert current is not None
            return _object_row(current), _object_row(previous) if previous is not None else None
        raise CatalogConflict(f"{bucket_id}/{name} kept being inserted concurrently")

    async def relocate_object(
        self,
        *,
        bucket_id: str,
        name: str,
        new_bucket_id: str,
        new_name: str,
        version: str,
        metadata: dict[str, Any],
    ) -> ObjectRow | None:
        """Rename one object row (``path_tokens`` follows, being generated)."""
        try:
            row = await self._one(
                "UPDATE storage.objects SET bucket_id = %s, name = %s, version = %s, metadata = %s, updated_at = %s"
                f" WHERE bucket_id = %s AND name = %s RETURNING {_OBJECT_COLUMNS}",
                (new_bucket_id, new_name, version, Jsonb(metadata), self._clock(), bucket_id, name),
            )
        except errors.UniqueViolation as exc:
            raise CatalogConflict(str(exc)) from exc
        except errors.ForeignKeyViolation as exc:
            raise CatalogMissingBucket(str(exc)) from exc
        return _object_row(row) if row else None

    async def delete_object(self, bucket_id: str, name: str) -> ObjectRow | None:
        """Delete one object row."""
        row = await self._one(
            f"DELETE FROM storage.objects WHERE bucket_id = %s AND name = %s RETURNING {_OBJECT_COLUMNS}",
            (bucket_id, name),
        )
        return _object_row(row) if row else None

    async def delete_objects(self, bucket_id: str, names: Sequence[str]) -> list[ObjectRow]:
        """Delete the named rows that exist, in one statement."""
        if not names:
            return []
        rows = await self._all(
            "WITH gone AS (DELETE FROM storage.objects WHERE bucket_id = %s AND name = ANY(%s::text[])"
            f" RETURNING {_OBJECT_COLUMNS}) SELECT * FROM gone ORDER BY {_NAME}",
            (bucket_id, list(names)),
        )
        return [_object_row(row) for row in rows]

    async def delete_all_objects(self, bucket_id: str) -> list[ObjectRow]:
        """Delete every row of a bucket."""
        rows = await self._all(
            f"DELETE FROM storage.objects WHERE bucket_id = %s RETURNING {_OBJECT_COLUMNS}", (bucket_id,)
        )
        return [_object_row(row) for row in rows]

    async def scan(
        self,
        bucket_id: str,
        *,
        fold_case: bool,
        low: str | None,
        high: str | None,
        cursor: tuple[str, str] | None,
        descending: bool,
        limit: int,
    ) -> list[ObjectRow]:
        """One ordered index range scan, in byte order whatever the database's collation."""
        key = _LOWER_NAME if fold_case else _NAME
        where = ["bucket_id = %s"]
        params: list[Any] = [bucket_id]
        if low is not None:
            where.append(f"{key} >= %s")
            params.append(low)
        if high is not None:
            where.append(f"{key} < %s")
            params.append(high)
        if cursor is not None:
            where.append(f"({key}, {_NAME}) {'<' if descending else '>'} (%s, %s)")
            params += list(cursor)
        direction = "DESC" if descending else "ASC"
        sql = (
            f"SELECT {_OBJECT_COLUMNS} FROM storage.objects WHERE {' AND '.join(where)}"
            f" ORDER BY {key} {direction}, {_NAME} {direction} LIMIT %s"
        )
        return [_object_row(row) for row in await self._all(sql, [*params, limit])]

    async def rows_with_prefix(self, bucket_id: str, prefix: str, *, fold_case: bool) -> list[ObjectRow]:
        """A prefix range scan without a limit (for the timestamp-sorted listings)."""
        key = _LOWER_NAME if fold_case else _NAME
        if not prefix:
            sql = f"SELECT {_OBJECT_COLUMNS} FROM storage.objects WHERE bucket_id = %s ORDER BY {_NAME}"
            return [_object_row(row) for row in await self._all(sql, (bucket_id,))]
        sql = (
            f"SELECT {_OBJECT_COLUMNS} FROM storage.objects"
            f" WHERE bucket_id = %s AND {key} >= %s AND {key} < %s ORDER BY {_NAME}"
        )
        return [_object_row(row) for row in await self._all(sql, (bucket_id, prefix, successor(prefix)))]
