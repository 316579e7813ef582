"""Reading a Supabase project's own object rows (`storage.objects`) straight from its Postgres.

One query lists a whole bucket with sizes, types and user metadata, which is far faster than
the HTTP listing on millions of objects, and is the ground truth an API listing is reconciled
against.  Read-only: this module never writes to the project's database.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from bucketshift.errors import (
    AccessDenied,
    BucketNotFound,
    BucketshiftError,
    ConfigError,
    StoreError,
    TransientError,
)
from bucketshift.postgres_errors import bad_dsn, connection_failure
from bucketshift.stores._supabase_rows import info_from_metadata
from bucketshift.stores.base import ListPage

__all__ = ["StorageCatalog"]

FIELD = "source.dsn"

BATCH = 1000

_QUERY = sql.SQL(
    """SELECT name, metadata, user_metadata, updated_at
       FROM storage.objects
       WHERE bucket_id = %(bucket)s AND starts_with(name, %(prefix)s)
         AND (%(after)s::text IS NULL OR name COLLATE "C" > %(after)s::text COLLATE "C")
       ORDER BY name COLLATE "C\""""
)


def _translate(error: psycopg.Error, what: str) -> BucketshiftError:
    """Our error for a driver error met while `what`; never the DSN, which may hold a password."""
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return AccessDenied(f"the database role may not read storage.objects ({what}); use a role that can")
    if isinstance(error, psycopg.errors.UndefinedTable):
        return ConfigError("source.dsn has no storage.objects table; point it at the Supabase project's database")
    if what == "connecting" and isinstance(error, psycopg.ProgrammingError):
        return bad_dsn(error, field=FIELD)
    if isinstance(error, psycopg.OperationalError):
        failure = connection_failure(str(error), field=FIELD, what="the Supabase project's database")
        if failure is not None:
            return failure
        said = f": {error.diag.message_primary}" if error.diag.message_primary else ""
        return TransientError(f"the Supabase project's database failed while {what}{said}; try again")
    return StoreError(f"database error while {what}: {error.diag.message_primary or type(error).__name__}")


class StorageCatalog:
    """`storage.buckets` and `storage.objects` of one project, read through one connection.

    A listing is one server-side cursor; `list_page` hands out its batches, and a retry with
    the last key seen opens a new cursor after that key, so a page can be fetched again.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._cursor: psycopg.AsyncServerCursor[Any] | None = None
        self._position: tuple[str, str, str | None] | None = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self._dsn, connect_timeout=15)
            except psycopg.Error as error:
                raise _translate(error, "connecting") from None
            await self._conn.set_read_only(True)
        return self._conn

    async def bucket_exists(self, bucket: str) -> bool:
        conn = await self._connection()
        try:
            cursor = await conn.execute("SELECT 1 FROM storage.buckets WHERE id = %s", (bucket,))
            found = await cursor.fetchone() is not None
            await conn.rollback()
        except psycopg.Error as error:
            await self._reset()
            raise _translate(error, f"looking up bucket {bucket}") from None
        return found

    async def list_page(self, bucket: str, prefix: str = "", token: str | None = None) -> ListPage:
        """The next batch of one bucket's rows in byte order of name; the token is the last name."""
        try:
            if token is None and not await self.bucket_exists(bucket):
                raise BucketNotFound(f"bucket {bucket} has no row in storage.buckets", bucket=bucket)
            if self._cursor is None or self._position != (bucket, prefix, token):
                await self._open(bucket, prefix, token)
            assert self._cursor is not None
            rows = await self._cursor.fetchmany(BATCH)
        except psycopg.Error as error:
            await self._reset()
            raise _translate(error, f"listing bucket {bucket}") from None
        infos = [info_from_metadata(name, meta, updated, user) for name, meta, user, updated in rows]
        if len(rows) < BATCH:
            await self._close_cursor()
            return ListPage(infos, None)
        last = infos[-1].key
        self._position = (bucket, prefix, last)
        return ListPage(infos, last)

    async def _open(self, bucket: str, prefix: str, after: str | None) -> None:
        await self._close_cursor()
        conn = await self._connection()
        self._cursor = conn.cursor(name="bucketshift_list")
        await self._cursor.execute(_QUERY, {"bucket": bucket, "prefix": prefix, "after": after})
        self._position = (bucket, prefix, after)

    async def _close_cursor(self) -> None:
        if self._cursor is not None:
            cursor, self._cursor, self._position = self._cursor, None, None
            try:
                await cursor.close()
                if self._conn is not None:
                    await self._conn.rollback()
            except psycopg.Error:
                await self._reset()

    async def _reset(self) -> None:
        self._cursor, self._position = None, None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def aclose(self) -> None:
        await self._close_cursor()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
