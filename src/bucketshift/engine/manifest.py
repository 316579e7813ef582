"""The manifest: one SQLite row per (mapping, key) recording what happened to that object.

Object stores are not transactional, so every write is journaled as intent (`copying`) and
then done (`copied`).  Writes are committed in groups (every `FLUSH_ROWS` rows or
`FLUSH_SECONDS`, and before any read) in WAL mode, in the order they were made: a run killed at
any instant, kill -9 included, leaves a manifest whose `copied` rows are all safely at the
destination; what the kill cost is at most the last group's records, whose objects a rerun
copies again.  One commit per object cost more CPU than the rest of a small object's copy.
The schema carries a version; a newer manifest than this code knows is refused, not guessed at.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from bucketshift.errors import ConfigError

__all__ = ["FLUSH_ROWS", "FLUSH_SECONDS", "SCHEMA_VERSION", "Manifest", "ObjectRecord", "State"]

SCHEMA_VERSION = 1
FLUSH_ROWS = 256
FLUSH_SECONDS = 0.5


class State(StrEnum):
    PENDING = "pending"
    COPYING = "copying"
    COPIED = "copied"
    VERIFIED = "verified"
    FAILED = "failed"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_info (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    mapping TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'copying', 'copied', 'verified', 'failed')),
    size INTEGER,
    sha256 TEXT,
    source_etag TEXT,
    source_modified TEXT,
    dest_key TEXT,
    dest_etag TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    copied_at TEXT,
    verified_at TEXT,
    PRIMARY KEY (mapping, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_state ON objects (mapping, state);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    summary TEXT
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """One object's row as last written."""

    mapping: str
    key: str
    state: State
    size: int | None
    sha256: str | None
    source_etag: str | None
    source_modified: str | None
    dest_key: str | None
    dest_etag: str | None
    attempts: int
    last_error: str | None


_COLUMNS = "mapping, key, state, size, sha256, source_etag, source_modified, dest_key, dest_etag, attempts, last_error"


def _record(row: tuple[object, ...]) -> ObjectRecord:
    mapping, key, state, size, sha, etag, modified, dest_key, dest_etag, attempts, error = row
    return ObjectRecord(
        str(mapping),
        str(key),
        State(str(state)),
        None if size is None else int(size),  # type: ignore[call-overload]
        None if sha is None else str(sha),
        None if etag is None else str(etag),
        None if modified is None else str(modified),
        None if dest_key is None else str(dest_key),
        None if dest_etag is None else str(dest_etag),
        int(attempts),  # type: ignore[call-overload]
        None if error is None else str(error),
    )


class Manifest:
    """The state of every object of every mapping, in one SQLite file."""

    def __init__(self, path: Path | None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else Path(":memory:")
        if path is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        elif read_only:
            if not self.path.exists():
                raise ConfigError(f"no manifest at {self.path}; run `bucketshift copy` first or pass --state PATH")
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.Lock()
        self._pending: list[tuple[str, tuple[object, ...]]] = []
        self._pending_since = 0.0
        self._migrate(read_only)

    def _migrate(self, read_only: bool) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "schema_info" in tables:
            row = self._db.execute("SELECT version FROM schema_info").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"manifest {self.path} has schema version {version}, newer than this bucketshift "
                    f"understands ({SCHEMA_VERSION}); upgrade bucketshift"
                )
            if version == SCHEMA_VERSION:
                return
        if read_only:
            raise ConfigError(f"{self.path} is not a bucketshift manifest")
        if tables - {"schema_info", "objects", "runs", "sqlite_sequence"}:
            raise ConfigError(f"{self.path} is not a bucketshift manifest; pass --state with another path")
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._db.execute("DELETE FROM schema_info")
            self._db.execute("INSERT INTO schema_info (version) VALUES (?)", (SCHEMA_VERSION,))

    @classmethod
    def for_preview(cls, path: Path) -> Manifest:
        """What a dry run reads: the manifest if there is one (never written), else an empty one."""
        return cls(path, read_only=True) if path.exists() else cls(None)

    def flush(self) -> None:
        """Commit the writes made so far, in one transaction."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        self._db.execute("BEGIN")
        try:
            for statement, params in self._pending:
                self._db.execute(statement, params)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._pending.clear()

    def close(self) -> None:
        with self._lock:
            try:
                self._flush_locked()
            finally:
                self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def records(self, mapping: str) -> dict[str, ObjectRecord]:
        """Every row of one mapping, by key (loaded at once: the diff needs them all)."""
        self.flush()
        cursor = self._db.execute(f"SELECT {_COLUMNS} FROM objects WHERE mapping = ?", (mapping,))  # noqa: S608
        return {row[1]: _record(row) for row in cursor}

    def get(self, mapping: str, key: str) -> ObjectRecord | None:
        self.flush()
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM objects WHERE mapping = ? AND key = ?",  # noqa: S608
            (mapping, key),
        ).fetchone()
        return None if row is None else _record(row)

    def iter_records(self, mapping: str, states: Iterable[State] | None = None) -> Iterator[ObjectRecord]:
        self.flush()
        if states is None:
            cursor = self._db.execute(f"SELECT {_COLUMNS} FROM objects WHERE mapping = ? ORDER BY key", (mapping,))  # noqa: S608
        else:
            wanted = [s.value for s in states]
            marks = ",".join("?" * len(wanted))
            cursor = self._db.execute(
                f"SELECT {_COLUMNS} FROM objects WHERE mapping = ? AND state IN ({marks}) ORDER BY key",  # noqa: S608
                (mapping, *wanted),
            )
        for row in cursor:
            yield _record(row)

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        with self._lock:
            now = time.monotonic()
            if not self._pending:
                self._pending_since = now
            self._pending.append((sql, params))
            if len(self._pending) >= FLUSH_ROWS or now - self._pending_since >= FLUSH_SECONDS:
                self._flush_locked()

    def mark_copying(self, mapping: str, key: str, *, source_etag: str | None, source_modified: str | None) -> None:
        """The intent: this object is being written now (a crash here means: copy it again)."""
        now = _now()
        self._write(
            """INSERT INTO objects (mapping, key, state, source_etag, source_modified, attempts, created_at, updated_at)
               VALUES (?, ?, 'copying', ?, ?, 0, ?, ?)
               ON CONFLICT (mapping, key) DO UPDATE SET state = 'copying', source_etag = excluded.source_etag,
               source_modified = excluded.source_modified, updated_at = excluded.updated_at""",
            (mapping, key, source_etag, source_modified, now, now),
        )

    def mark_copied(
        self,
        mapping: str,
        key: str,
        *,
        size: int,
        sha256: str,
        source_etag: str | None,
        source_modified: str | None,
        dest_key: str,
        dest_etag: str | None,
        attempts: int,
    ) -> None:
        """Done: the bytes with this sha256 are at `dest_key`."""
        now = _now()
        self._write(
            """INSERT INTO objects (mapping, key, state, size, sha256, source_etag, source_modified, dest_key,
                   dest_etag, attempts, last_error, created_at, updated_at, copied_at)
               VALUES (?, ?, 'copied', ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)
               ON CONFLICT (mapping, key) DO UPDATE SET state = 'copied', size = excluded.size,
                   sha256 = excluded.sha256, source_etag = excluded.source_etag,
                   source_modified = excluded.source_modified, dest_key = excluded.dest_key,
                   dest_etag = excluded.dest_etag, attempts = objects.attempts + excluded.attempts,
                   last_error = NULL, updated_at = excluded.updated_at, copied_at = excluded.copied_at,
                   verified_at = NULL""",
            (mapping, key, size, sha256, source_etag, source_modified, dest_key, dest_etag, attempts, now, now, now),
        )

    def mark_failed(self, mapping: str, key: str, error: str, attempts: int) -> None:
        now = _now()
        self._write(
            """INSERT INTO objects (mapping, key, state, attempts, last_error, created_at, updated_at)
               VALUES (?, ?, 'failed', ?, ?, ?, ?)
               ON CONFLICT (mapping, key) DO UPDATE SET state = 'failed',
                   attempts = objects.attempts + excluded.attempts, last_error = excluded.last_error,
                   updated_at = excluded.updated_at""",
            (mapping, key, attempts, error[:2000], now, now),
        )

    def mark_verified(self, mapping: str, keys: Iterable[str]) -> None:
        now = _now()
        statement = (
            "UPDATE objects SET state = 'verified', verified_at = ?, updated_at = ? "
            "WHERE mapping = ? AND key = ? AND state IN ('copied', 'verified')"
        )
        with self._lock:
            self._pending.extend((statement, (now, now, mapping, key)) for key in keys)
            self._flush_locked()

    def counts(self, mapping: str) -> dict[str, int]:
        self.flush()
        rows = self._db.execute("SELECT state, count(*) FROM objects WHERE mapping = ? GROUP BY state", (mapping,))
        return {str(state): int(n) for state, n in rows}

    def start_run(self, kind: str) -> int:
        with self._lock:
            self._flush_locked()
            cursor = self._db.execute("INSERT INTO runs (kind, started_at) VALUES (?, ?)", (kind, _now()))
            return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, summary: str) -> None:
        self._write("UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?", (_now(), summary, run_id))
        self.flush()
