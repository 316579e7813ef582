"""Bucket and object rows, shaped like the real ``storage.buckets`` and ``storage.objects``.

The server keeps these rows in the project's Postgres; the emulator keeps them in SQLite at
``DIR/catalog.sqlite3`` by default, or with ``--catalog-dsn`` in real ``storage.buckets`` and
``storage.objects`` tables (``pg_catalog.PostgresCatalog``).  Everything above this module
talks to the small async ``Catalog`` interface, so either serves the routes unchanged.
Listing algorithms are built on one ordered range-scan primitive (``scan``), the same shape
as the index scans of the server's PL/pgSQL list functions.
"""

# ruff: noqa: S608 - queries interpolate only constant column lists and whitelisted identifiers.
from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "BucketRow",
    "Catalog",
    "CatalogConflict",
    "CatalogMissingBucket",
    "ObjectRow",
    "SqliteCatalog",
    "iso_timestamp",
    "successor",
]

BUCKET_SORT_COLUMNS = frozenset({"id", "name", "created_at", "updated_at"})
BUCKET_UPDATE_COLUMNS = frozenset({"public", "file_size_limit", "allowed_mime_types"})


class CatalogConflict(Exception):
    """A row with the same unique key exists (bucket id or name, or bucket and object name)."""


class CatalogMissingBucket(Exception):
    """The row names a bucket that does not exist."""


@dataclass(frozen=True)
class BucketRow:
    """One ``storage.buckets`` row."""

    id: str
    name: str
    owner: str | None
    public: bool
    file_size_limit: int | None
    allowed_mime_types: list[str] | None
    type: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class ObjectRow:
    """One ``storage.objects`` row; ``metadata`` holds eTag, size, mimetype and the rest."""

    id: str
    bucket_id: str
    name: str
    owner: str | None
    version: str | None
    metadata: dict[str, Any] | None
    user_metadata: dict[str, Any] | None
    created_at: str
    updated_at: str
    last_accessed_at: str


def iso_timestamp(moment: datetime) -> str:
    """The form node-postgres gives a ``timestamptz`` once it is JSON: milliseconds and ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def successor(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (non-empty)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Catalog(ABC):
    """The rows the storage API reads and writes; async so a network database fits behind it."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection."""

    def snapshot(self) -> AbstractAsyncContextManager[None]:
        """Reads inside the block see one state of the rows (a listing is many scans, one answer).

        The default does nothing: a catalog whose methods never yield to the event loop (SQLite)
        already gives every request a consistent view.
        """
        return nullcontext()

    @abstractmethod
    async def list_buckets(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        sort_column: str | None = None,
        sort_order: str | None = None,
        search: str | None = None,
    ) -> list[BucketRow]:
        """Buckets, optionally filtered by a case-insensitive substring of the name and paged."""

    @abstractmethod
    async def get_bucket(self, bucket_id: str) -> BucketRow | None:
        """One bucket by id."""

    @abstractmethod
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
        """Create a bucket; CatalogConflict when the id or name is taken."""

    @abstractmethod
    async def update_bucket(self, bucket_id: str, changes: Mapping[str, Any]) -> bool:
        """Change public, file_size_limit or allowed_mime_types; False when there is no such bucket."""

    @abstractmethod
    async def delete_bucket(self, bucket_id: str) -> bool:
        """Delete an (empty) bucket; False when there is no such bucket."""

    @abstractmethod
    async def count_objects(self, bucket_id: str) -> int:
        """How many objects a bucket holds."""

    @abstractmethod
    async def get_object(self, bucket_id: str, name: str) -> ObjectRow | None:
        """One object by bucket and name."""

    @abstractmethod
    async def find_objects(self, bucket_id: str, names: Sequence[str]) -> list[ObjectRow]:
        """The objects among ``names`` that exist."""

    @abstractmethod
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
        """Insert (with ``new_id``) or overwrite in place (keeping id and created_at).

        Returns the row written and the row it replaced; CatalogMissingBucket when the bucket
        does not exist.
        """

    @abstractmethod
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
        """Rename an object (a move), keeping its id; None when the source is gone.

        CatalogConflict when the destination exists, CatalogMissingBucket when its bucket does not.
        """

    @abstractmethod
    async def delete_object(self, bucket_id: str, name: str) -> ObjectRow | None:
        """Delete one object, returning the deleted row."""

    @abstractmethod
    async def delete_objects(self, bucket_id: str, names: Sequence[str]) -> list[ObjectRow]:
        """Delete the named objects that exist, returning the deleted rows."""

    @abstractmethod
    async def delete_all_objects(self, bucket_id: str) -> list[ObjectRow]:
        """Delete every object of a bucket, returning the deleted rows."""

    @abstractmethod
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
        """Objects in byte order of (k, name), k being ``lower(name)`` when ``fold_case`` else name.

        Only rows with ``low <= k < high`` (each bound optional), and strictly after ``cursor``
        in the scan direction (before it when ``descending``).  This is COLLATE "C" order.
        """

    @abstractmethod
    async def rows_with_prefix(self, bucket_id: str, prefix: str, *, fold_case: bool) -> list[ObjectRow]:
        """Every object whose name (or lowercased name) starts with ``prefix``, in name order."""


_OBJECT_COLUMNS = (
    "id, bucket_id, name, owner, version, metadata, user_metadata, created_at, updated_at, last_accessed_at"
)
_BUCKET_COLUMNS = "id, name, owner, public, file_size_limit, allowed_mime_types, type, created_at, updated_at"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    owner TEXT,
    public INTEGER NOT NULL DEFAULT 0,
    file_size_limit INTEGER,
    allowed_mime_types TEXT,
    type TEXT NOT NULL DEFAULT 'STANDARD',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY,
    bucket_id TEXT NOT NULL REFERENCES buckets (id),
    name TEXT NOT NULL,
    owner TEXT,
    version TEXT,
    metadata TEXT,
    user_metadata TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_accessed_at TEXT NOT NULL,
    UNIQUE (bucket_id, name)
);
CREATE INDEX IF NOT EXISTS objects_bucket_lower_name ON objects (bucket_id, lower(name), name);
"""


def _object_row(row: sqlite3.Row) -> ObjectRow:
    return ObjectRow(
        id=row["id"],
        bucket_id=row["bucket_id"],
        name=row["name"],
        owner=row["owner"],
        version=row["version"],
        metadata=json.loads(row["metadata"]) if row["metadata"] is not None else None,
        user_metadata=json.loads(row["user_metadata"]) if row["user_metadata"] is not None else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_accessed_at=row["last_accessed_at"],
    )


def _bucket_row(row: sqlite3.Row) -> BucketRow:
    return BucketRow(
        id=row["id"],
        name=row["name"],
        owner=row["owner"],
        public=bool(row["public"]),
        file_size_limit=row["file_size_limit"],
        allowed_mime_types=json.loads(row["allowed_mime_types"]) if row["allowed_mime_types"] is not None else None,
        type=row["type"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _integrity(exc: sqlite3.IntegrityError) -> Exception:
    if "FOREIGN KEY" in str(exc):
        return CatalogMissingBucket(str(exc))
    return CatalogConflict(str(exc))


def like_escape(text: str) -> str:
    """A LIKE pattern matching `text` literally (backslash is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqliteCatalog(Catalog):
    """The catalog in one SQLite file (WAL), used from the event loop thread only.

    Queries are short and local, so they run inline; every method body is free of awaits,
    which makes each one atomic with respect to the other requests the loop serves.
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def _now(self) -> str:
        return iso_timestamp(self._clock())

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    async def close(self) -> None:
        """Close the SQLite connection."""
        self._db.close()

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
        sql = f"SELECT {_BUCKET_COLUMNS} FROM buckets"
        params: list[Any] = []
        if search:
            sql += " WHERE name LIKE ? ESCAPE '\\'"
            params.append(f"%{like_escape(search)}%")
        if sort_column in BUCKET_SORT_COLUMNS:
            direction = "DESC" if (sort_order or "").lower() == "desc" else "ASC"
            sql += f" ORDER BY {sort_column} {direction}"
        else:
            sql += " ORDER BY rowid"
        if limit is not None or offset is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit if limit is not None else -1, offset or 0]
        return [_bucket_row(row) for row in self._db.execute(sql, params)]

    def _fetch_bucket(self, bucket_id: str) -> BucketRow | None:
        row = self._db.execute(f"SELECT {_BUCKET_COLUMNS} FROM buckets WHERE id = ?", (bucket_id,)).fetchone()
        return _bucket_row(row) if row else None

    def _fetch_object(self, bucket_id: str, name: str) -> ObjectRow | None:
        row = self._db.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket_id = ? AND name = ?", (bucket_id, name)
        ).fetchone()
        return _object_row(row) if row else None

    async def get_bucket(self, bucket_id: str) -> BucketRow | None:
        """One bucket by id."""
        return self._fetch_bucket(bucket_id)

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
        now = self._now()
        mimes = json.dumps(allowed_mime_types) if allowed_mime_types is not None else None
        try:
            self._db.execute(
                "INSERT INTO buckets"
                " (id, name, owner, public, file_size_limit, allowed_mime_types, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (bucket_id, name, owner, int(public), file_size_limit, mimes, now, now),
            )
        except sqlite3.IntegrityError as exc:
            raise _integrity(exc) from exc
        bucket = self._fetch_bucket(bucket_id)
        assert bucket is not None
        return bucket

    async def update_bucket(self, bucket_id: str, changes: Mapping[str, Any]) -> bool:
        """Update the given columns and ``updated_at``."""
        columns = [name for name in changes if name in BUCKET_UPDATE_COLUMNS]
        values: list[Any] = []
        for name in columns:
            value = changes[name]
            if name == "allowed_mime_types" and value is not None:
                value = json.dumps(value)
            elif name == "public":
                value = int(bool(value))
            values.append(value)
        assignments = ", ".join([f"{name} = ?" for name in columns] + ["updated_at = ?"])
        cursor = self._db.execute(f"UPDATE buckets SET {assignments} WHERE id = ?", [*values, self._now(), bucket_id])
        return cursor.rowcount > 0

    async def delete_bucket(self, bucket_id: str) -> bool:
        """Delete a bucket row."""
        try:
            cursor = self._db.execute("DELETE FROM buckets WHERE id = ?", (bucket_id,))
        except sqlite3.IntegrityError as exc:
            raise _integrity(exc) from exc
        return cursor.rowcount > 0

    async def count_objects(self, bucket_id: str) -> int:
        """Count a bucket's objects."""
        return int(self._db.execute("SELECT count(*) FROM objects WHERE bucket_id = ?", (bucket_id,)).fetchone()[0])

    async def get_object(self, bucket_id: str, name: str) -> ObjectRow | None:
        """One object row."""
        return self._fetch_object(bucket_id, name)

    async def find_objects(self, bucket_id: str, names: Sequence[str]) -> list[ObjectRow]:
        """The existing objects among ``names``, in chunks to stay under SQLite's variable limit."""
        found: list[ObjectRow] = []
        for start in range(0, len(names), 500):
            chunk = list(names[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket_id = ? AND name IN ({marks})", [bucket_id, *chunk]
            )
            found.extend(_object_row(row) for row in rows)
        return found

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
        """Insert or overwrite one object row."""
        now = self._now()
        meta = json.dumps(metadata)
        user_meta = json.dumps(user_metadata) if user_metadata is not None else None
        try:
            with self._transaction() as db:
                previous = self._fetch_object(bucket_id, name)
                if previous is None:
                    db.execute(
                        f"INSERT INTO objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (new_id, bucket_id, name, owner, version, meta, user_meta, now, now, now),
                    )
                else:
                    db.execute(
                        "UPDATE objects SET version = ?, metadata = ?, user_metadata = ?, owner = ?, updated_at = ?"
                        " WHERE id = ?",
                        (version, meta, user_meta, owner, now, previous.id),
                    )
                current = self._fetch_object(bucket_id, name)
        except sqlite3.IntegrityError as exc:
            raise _integrity(exc) from exc
        assert current is not None
        return current, previous

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
        """Rename one object row."""
        try:
            cursor = self._db.execute(
                "UPDATE objects SET bucket_id = ?, name = ?, version = ?, metadata = ?, updated_at = ?"
                " WHERE bucket_id = ? AND name = ?",
                (new_bucket_id, new_name, version, json.dumps(metadata), self._now(), bucket_id, name),
            )
        except sqlite3.IntegrityError as exc:
            raise _integrity(exc) from exc
        if cursor.rowcount == 0:
            return None
        return self._fetch_object(new_bucket_id, new_name)

    async def delete_object(self, bucket_id: str, name: str) -> ObjectRow | None:
        """Delete one object row."""
        row = self._db.execute(
            f"DELETE FROM objects WHERE bucket_id = ? AND name = ? RETURNING {_OBJECT_COLUMNS}", (bucket_id, name)
        ).fetchone()
        return _object_row(row) if row else None

    async def delete_objects(self, bucket_id: str, names: Sequence[str]) -> list[ObjectRow]:
        """Delete the named rows that exist."""
        deleted: list[ObjectRow] = []
        with self._transaction() as db:
            for start in range(0, len(names), 500):
                chunk = list(names[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                rows = db.execute(
                    f"DELETE FROM objects WHERE bucket_id = ? AND name IN ({marks}) RETURNING {_OBJECT_COLUMNS}",
                    [bucket_id, *chunk],
                ).fetchall()
                deleted.extend(_object_row(row) for row in rows)
        return deleted

    async def delete_all_objects(self, bucket_id: str) -> list[ObjectRow]:
        """Delete every row of a bucket."""
        rows = self._db.execute(
            f"DELETE FROM objects WHERE bucket_id = ? RETURNING {_OBJECT_COLUMNS}", (bucket_id,)
        ).fetchall()
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
        """One ordered index range scan."""
        key = "lower(name)" if fold_case else "name"
        where = ["bucket_id = ?"]
        params: list[Any] = [bucket_id]
        if low is not None:
            where.append(f"{key} >= ?")
            params.append(low)
        if high is not None:
            where.append(f"{key} < ?")
            params.append(high)
        if cursor is not None:
            where.append(f"({key}, name) {'<' if descending else '>'} (?, ?)")
            params += list(cursor)
        direction = "DESC" if descending else "ASC"
        sql = (
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE {' AND '.join(where)}"
            f" ORDER BY {key} {direction}, name {direction} LIMIT ?"
        )
        return [_object_row(row) for row in self._db.execute(sql, [*params, limit])]

    async def rows_with_prefix(self, bucket_id: str, prefix: str, *, fold_case: bool) -> list[ObjectRow]:
        """A prefix range scan without a limit (for the timestamp-sorted listings)."""
        key = "lower(name)" if fold_case else "name"
        if not prefix:
            sql = f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket_id = ? ORDER BY name"
            return [_object_row(row) for row in self._db.execute(sql, (bucket_id,))]
        sql = f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket_id = ? AND {key} >= ? AND {key} < ? ORDER BY name"
        return [_object_row(row) for row in self._db.execute(sql, (bucket_id, prefix, successor(prefix)))]
