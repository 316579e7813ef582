"""The manifest: one row per (mapping, key) recording what happened to that object.

`ManifestStore` is its interface, with the rules of every state; `Manifest` keeps it in one
SQLite file (the default), `manifest_postgres.PostgresManifest` in a PostgreSQL schema that
several processes can share.  What follows holds for both.

Object stores are not transactional, so every write is journaled as intent (`copying`) and
then done (`copied`, with the ETag the destination answered and the checksums of the bytes).
Writes are committed in groups (SQLite in WAL mode), in the order they were made: when `FLUSH_ROWS`
rows are waiting, and by the clock, at most `FLUSH_SECONDS` after the first of them (a thread
of the manifest's own commits them even when no other write follows), and before any read.
A run killed at any instant, kill -9 included, leaves a manifest whose `copied` rows are all at
the destination; the rows it loses are the last half second's, and their objects carry their
source version in their metadata, so a rerun adopts them instead of fetching them again.

A row's state is a claim that `verify` re-checks: `verified` is taken back (to `pending`, with
the reason) when the object is missing or differs.  `conflict` marks an object the application
changed at the destination; `resolution` records how a user settled one.  The schema carries a
version; an older manifest is upgraded in place, a newer one is refused, not guessed at.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Self

from bucketshift.errors import ConfigError, UsageError

__all__ = [
    "COLUMNS",
    "FLUSH_ROWS",
    "FLUSH_SECONDS",
    "INSERT_RUN",
    "KEPT",
    "SCHEMA_VERSION",
    "Manifest",
    "ManifestStore",
    "ObjectRecord",
    "State",
    "StepRecord",
    "StepState",
    "row_record",
]

SCHEMA_VERSION = 3
FLUSH_ROWS = 256
FLUSH_SECONDS = 0.5
KEPT = "kept-destination"
"""`resolution` of a conflict settled by keeping the destination's version (the app's write)."""


class State(StrEnum):
    PENDING = "pending"
    COPYING = "copying"
    COPIED = "copied"
    VERIFIED = "verified"
    FAILED = "failed"
    CONFLICT = "conflict"


_OBJECTS = """
CREATE TABLE IF NOT EXISTS objects (
    mapping TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'copying', 'copied', 'verified', 'failed', 'conflict')),
    size INTEGER,
    sha256 TEXT,
    crc64nvme TEXT,
    source_etag TEXT,
    source_modified TEXT,
    dest_key TEXT,
    dest_etag TEXT,
    dest_size INTEGER,
    dest_modified TEXT,
    resolution TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    copied_at TEXT,
    verified_at TEXT,
    PRIMARY KEY (mapping, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_state ON objects (mapping, state);
"""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS schema_info (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    phase TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed')),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    detail TEXT,
    PRIMARY KEY (phase, name)
) WITHOUT ROWID;
"""
    + _OBJECTS
)

_V1_COLUMNS = (
    "mapping, key, state, size, sha256, source_etag, source_modified, dest_key, dest_etag, attempts, last_error, "
    "created_at, updated_at, copied_at, verified_at"
)
_UPGRADE_FROM_V1 = f"""
ALTER TABLE objects RENAME TO objects_v1;
DROP INDEX IF EXISTS objects_state;
{_OBJECTS}
INSERT INTO objects ({_V1_COLUMNS}, dest_size) SELECT {_V1_COLUMNS}, size FROM objects_v1;
DROP TABLE objects_v1;
"""  # noqa: S608 - built from this module's constants


class StepState(StrEnum):
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step of a phase (`migrate`, `rollback`): a rerun skips the steps that are `done` and
    resumes the one that was `started` (killed) or `failed`.  `detail` is the step's own summary
    (JSON text) when done, or the error when failed."""

    phase: str
    name: str
    state: StepState
    started_at: str
    finished_at: str | None
    detail: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """One object's row as last written.

    `size`, `sha256` and `crc64nvme` describe the bytes copied; `dest_etag`, `dest_size` and
    `dest_modified` the destination object as bucketshift last knew it (for a conflict: the
    version found there)."""

    mapping: str
    key: str
    state: State
    size: int | None
    sha256: str | None
    crc64nvme: str | None
    source_etag: str | None
    source_modified: str | None
    dest_key: str | None
    dest_etag: str | None
    dest_size: int | None
    dest_modified: str | None
    resolution: str | None
    attempts: int
    last_error: str | None

    @property
    def done(self) -> bool:
        return self.state in (State.COPIED, State.VERIFIED)

    @property
    def kept(self) -> bool:
        return self.resolution == KEPT


COLUMNS = (
    "mapping, key, state, size, sha256, crc64nvme, source_etag, source_modified, dest_key, dest_etag, dest_size, "
    "dest_modified, resolution, attempts, last_error"
)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def row_record(row: tuple[object, ...]) -> ObjectRecord:
    """The record of a row read as `SELECT COLUMNS` (both stores read them so)."""
    (mapping, key, state, size, sha, crc, etag, modified, dest_key, dest_etag, dest_size, dest_modified,
     resolution, attempts, error) = row  # fmt: skip
    return ObjectRecord(
        str(mapping),
        str(key),
        State(str(state)),
        _int(size),
        _text(sha),
        _text(crc),
        _text(etag),
        _text(modified),
        _text(dest_key),
        _text(dest_etag),
        _int(dest_size),
        _text(dest_modified),
        _text(resolution),
        int(attempts),  # type: ignore[call-overload]
        _text(error),
    )


# the statements both stores run -------------------------------------------------------------
# Written once, with `?` for values and `{objects}`, `{runs}`, `{steps}` for the tables: each store
# fills in its own table names (quoted, in its schema) and placeholder style, so the two cannot
# drift apart in what a state means.

_SELECT = f"SELECT {COLUMNS} FROM {{objects}}"  # noqa: S608 - the columns are this module's constant
SELECT_MAPPING = _SELECT + " WHERE mapping = ?"
SELECT_ONE = _SELECT + " WHERE mapping = ? AND key = ?"
SELECT_ORDERED = _SELECT + " WHERE mapping = ? ORDER BY key"
COUNTS = "SELECT state, count(*) FROM {objects} WHERE mapping = ? GROUP BY state"
COPY_TIMES = "SELECT key, copied_at FROM {objects} WHERE mapping = ? AND copied_at IS NOT NULL"
SELECT_STEPS = "SELECT phase, name, state, started_at, finished_at, detail FROM {steps} WHERE phase = ?"

_MARK_COPYING = """INSERT INTO {objects} (mapping, key, state, source_etag, source_modified, dest_key, attempts,
                   created_at, updated_at)
               VALUES (?, ?, 'copying', ?, ?, ?, 0, ?, ?)
               ON CONFLICT (mapping, key) DO UPDATE SET state = 'copying', source_etag = excluded.source_etag,
               source_modified = excluded.source_modified, dest_key = excluded.dest_key,
               updated_at = excluded.updated_at"""
_MARK_COPIED = """INSERT INTO {objects} (mapping, key, state, size, sha256, crc64nvme, source_etag, source_modified,
                   dest_key, dest_etag, dest_size, dest_modified, resolution, attempts, last_error, created_at,
                   updated_at, copied_at)
               VALUES (?, ?, 'copied', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)
               ON CONFLICT (mapping, key) DO UPDATE SET state = 'copied', size = excluded.size,
                   sha256 = excluded.sha256, crc64nvme = excluded.crc64nvme, source_etag = excluded.source_etag,
                   source_modified = excluded.source_modified, dest_key = excluded.dest_key,
                   dest_etag = excluded.dest_etag, dest_size = excluded.dest_size,
                   dest_modified = excluded.dest_modified, resolution = excluded.resolution,
                   attempts = objects.attempts + excluded.attempts, last_error = NULL,
                   updated_at = excluded.updated_at, copied_at = excluded.copied_at, verified_at = NULL"""
_MARK_KEPT = """INSERT INTO {objects} (mapping, key, state, size, sha256, crc64nvme, source_etag, source_modified,
                   dest_key, dest_etag, dest_size, dest_modified, resolution, attempts, created_at, updated_at,
                   copied_at)
               VALUES (?, ?, 'copied', ?, NULL, NULL, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
               ON CONFLICT (mapping, key) DO UPDATE SET state = 'copied', size = excluded.size, sha256 = NULL,
                   crc64nvme = NULL, source_etag = excluded.source_etag, source_modified = excluded.source_modified,
                   dest_key = excluded.dest_key, dest_etag = excluded.dest_etag, dest_size = excluded.dest_size,
                   dest_modified = excluded.dest_modified, resolution = excluded.resolution, last_error = NULL,
                   updated_at = excluded.updated_at, copied_at = excluded.copied_at, verified_at = NULL"""
_MARK_CONFLICT = """INSERT INTO {objects} (mapping, key, state, dest_key, dest_etag, dest_size, dest_modified,
                   attempts, last_error, created_at, updated_at)
               VALUES (?, ?, 'conflict', ?, ?, ?, ?, 0, ?, ?, ?)
               ON CONFLICT (mapping, key) DO UPDATE SET state = 'conflict', dest_key = excluded.dest_key,
                   dest_etag = excluded.dest_etag, dest_size = excluded.dest_size,
                   dest_modified = excluded.dest_modified, last_error = excluded.last_error,
                   updated_at = excluded.updated_at, verified_at = NULL"""
_MARK_FAILED = """INSERT INTO {objects} (mapping, key, state, attempts, last_error, created_at, updated_at)
               VALUES (?, ?, 'failed', ?, ?, ?, ?)
               ON CONFLICT (mapping, key) DO UPDATE SET state = 'failed',
                   attempts = objects.attempts + excluded.attempts, last_error = excluded.last_error,
                   updated_at = excluded.updated_at"""
_MARK_VERIFIED = (
    "UPDATE {objects} SET state = 'verified', verified_at = ?, updated_at = ?, last_error = NULL "
    "WHERE mapping = ? AND key = ? AND state IN ('copied', 'verified')"
)
_TAKE_BACK = (
    "UPDATE {objects} SET state = 'pending', verified_at = NULL, updated_at = ?, last_error = ? "
    "WHERE mapping = ? AND key = ? AND state IN ('copied', 'verified')"
)
_START_STEP = (
    "INSERT INTO {steps} (phase, name, state, started_at) VALUES (?, ?, 'started', ?) "
    "ON CONFLICT (phase, name) DO UPDATE SET state = 'started', started_at = excluded.started_at, "
    "finished_at = NULL, detail = NULL"
)
_END_STEP = "UPDATE {steps} SET state = ?, finished_at = ?, detail = ? WHERE phase = ? AND name = ?"
_CLEAR_STEPS = "DELETE FROM {steps} WHERE phase = ?"
INSERT_RUN = "INSERT INTO {runs} (kind, started_at) VALUES (?, ?)"
_FINISH_RUN = "UPDATE {runs} SET finished_at = ?, summary = ? WHERE id = ?"


class ManifestStore(ABC):
    """The manifest's interface: the state of every object of every mapping, the runs and the steps.

    Its public methods are all the rest of bucketshift calls; the rules of each state live here,
    once.  A store gives the connection: it runs a batch of writes in one transaction (`_commit`),
    one statement committed at once (`_execute_now`), a read (`_query`, `iter_records`), a new run
    (`_insert_run`), and fills the statements above with its table names (`_sql`).

    Writes wait in memory and are committed in groups, in the order they were made: when
    `FLUSH_ROWS` rows wait, and at most `flush_seconds` after the first of them (a thread of the
    store's own commits them even when no other write follows), and before any read.  So a kill
    loses at most the last `flush_seconds` of rows, and every row written before is there.
    """

    def __init__(self, *, read_only: bool, flush_seconds: float) -> None:
        self.read_only = read_only
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._pending: list[tuple[str, tuple[object, ...]]] = []
        self._pending_since = 0.0
        self._flush_seconds = flush_seconds
        self._closing = False
        self._flusher: threading.Thread | None = None

    # what a store provides -----------------------------------------------------------------

    @property
    @abstractmethod
    def where(self) -> str:
        """The state's name in a message: a file's path, or a server and database (never a password)."""

    @abstractmethod
    def _sql(self, statement: str) -> str:
        """`statement` (one of this module's) in the store's own table names and placeholders."""

    @abstractmethod
    def _commit(self, batch: list[tuple[str, tuple[object, ...]]]) -> None:
        """Run the batch's statements (already through `_sql`) in order, in one transaction."""

    @abstractmethod
    def _execute_now(self, statement: str, params: tuple[object, ...]) -> None:
        """Run one statement and commit it before returning."""

    @abstractmethod
    def _query(self, statement: str, params: tuple[object, ...]) -> Iterable[tuple[object, ...]]:
        """The rows of one read (the writes waiting are already committed)."""

    @abstractmethod
    def _insert_run(self, kind: str, started_at: str) -> int:
        """Add a run, committed at once, and return its id."""

    @abstractmethod
    def _disconnect(self) -> None:
        """Close the connection (the last writes are committed)."""

    @abstractmethod
    def iter_records(self, mapping: str, states: Iterable[State] | None = None) -> Iterator[ObjectRecord]:
        """One mapping's rows in key order (of the keys' bytes), optionally only some states."""

    # writing ------------------------------------------------------------------------------

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise UsageError(f"the manifest {self.where} is open for reading only; it cannot record this")

    def flush(self) -> None:
        """Commit the writes made so far, in one transaction."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        self._commit(self._pending)
        self._pending.clear()

    def _flush_by_clock(self) -> None:
        """The flusher thread: commit what waits once it has waited `flush_seconds`."""
        with self._lock:
            while not self._closing:
                if not self._pending:
                    self._due.wait()
                    continue
                left = self._pending_since + self._flush_seconds - time.monotonic()
                if left > 0:
                    self._due.wait(left)
                    continue
                self._flush_locked()

    def _write(self, statement: str, params: tuple[object, ...]) -> None:
        self._refuse_if_read_only()
        sql = self._sql(statement)
        with self._lock:
            if not self._pending:
                self._pending_since = time.monotonic()
                if self._flusher is None:
                    self._flusher = threading.Thread(
                        target=self._flush_by_clock, name="bucketshift-manifest", daemon=True
                    )
                    self._flusher.start()
                self._due.notify()
            self._pending.append((sql, params))
            if len(self._pending) >= FLUSH_ROWS:
                self._flush_locked()

    def _write_all_now(self, statement: str, rows: Iterable[tuple[object, ...]]) -> None:
        """Many rows of one statement, committed before returning (with what waited before them)."""
        batch = [(self._sql(statement), params) for params in rows]
        if batch:
            self._refuse_if_read_only()
        with self._lock:
            self._pending.extend(batch)
            self._flush_locked()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._due.notify()
        if self._flusher is not None:
            self._flusher.join()
        with self._lock:
            try:
                self._flush_locked()
            finally:
                self._disconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reading ------------------------------------------------------------------------------

    def records(self, mapping: str) -> dict[str, ObjectRecord]:
        """Every row of one mapping, by key (loaded at once: the diff needs them all)."""
        self.flush()
        return {str(row[1]): row_record(row) for row in self._query(SELECT_MAPPING, (mapping,))}

    def get(self, mapping: str, key: str) -> ObjectRecord | None:
        self.flush()
        row = next(iter(self._query(SELECT_ONE, (mapping, key))), None)
        return None if row is None else row_record(row)

    def counts(self, mapping: str) -> dict[str, int]:
        self.flush()
        return {str(state): int(n) for state, n in self._query(COUNTS, (mapping,))}  # type: ignore[call-overload]

    def copy_times(self, mapping: str) -> dict[str, str]:
        """Key -> when it was last copied (or kept), of one mapping's rows: `ObjectRecord` does not
        carry it, and only the report's throughput wants it."""
        self.flush()
        return {str(key): str(when) for key, when in self._query(COPY_TIMES, (mapping,))}

    # object states ------------------------------------------------------------------------

    def mark_copying(
        self, mapping: str, key: str, *, source_etag: str | None, source_modified: str | None, dest_key: str
    ) -> None:
        """The intent: this object is being written now (a crash here means: look, then copy it again)."""
        now = _now()
        self._write(_MARK_COPYING, (mapping, key, source_etag, source_modified, dest_key, now, now))

    def mark_copied(
        self,
        mapping: str,
        key: str,
        *,
        size: int,
        sha256: str | None,
        crc64nvme: str | None,
        source_etag: str | None,
        source_modified: str | None,
        dest_key: str,
        dest_etag: str | None,
        dest_modified: str | None = None,
        attempts: int,
        resolution: str | None = None,
    ) -> None:
        """Done: the bytes with these checksums are at `dest_key`, as the version `dest_etag`."""
        now = _now()
        self._write(
            _MARK_COPIED,
            (mapping, key, size, sha256, crc64nvme, source_etag, source_modified, dest_key, dest_etag, size,
             dest_modified, resolution, attempts, now, now, now),
        )  # fmt: skip

    def mark_kept(
        self,
        mapping: str,
        key: str,
        *,
        source_etag: str | None,
        source_modified: str | None,
        source_size: int,
        dest_key: str,
        dest_etag: str | None,
        dest_size: int,
        dest_modified: str | None,
    ) -> None:
        """A conflict settled for the destination: its version (the app's) counts as done.

        `size` and the source columns name the source version it was settled against, so a later
        change at the source is a new conflict; `dest_*` the version kept."""
        now = _now()
        self._write(
            _MARK_KEPT,
            (mapping, key, source_size, source_etag, source_modified, dest_key, dest_etag, dest_size, dest_modified,
             KEPT, now, now, now),
        )  # fmt: skip

    def mark_conflict(
        self,
        mapping: str,
        key: str,
        reason: str,
        *,
        dest_key: str,
        dest_etag: str | None,
        dest_size: int | None,
        dest_modified: str | None,
    ) -> None:
        """The application wrote this object at the destination: left alone until the user settles it.

        What was copied before (size, checksums, the ETag written) stays; the destination's version
        found goes in `dest_*`."""
        now = _now()
        self._write(
            _MARK_CONFLICT, (mapping, key, dest_key, dest_etag, dest_size, dest_modified, reason[:2000], now, now)
        )

    def mark_failed(self, mapping: str, key: str, error: str, attempts: int) -> None:
        now = _now()
        self._write(_MARK_FAILED, (mapping, key, attempts, error[:2000], now, now))

    def mark_verified(self, mapping: str, keys: Iterable[str]) -> None:
        now = _now()
        self._write_all_now(_MARK_VERIFIED, ((now, now, mapping, key) for key in keys))

    def take_back(self, mapping: str, found: Iterable[tuple[str, str]]) -> None:
        """Verify found these objects missing or differing: no longer copied, with the reason.

        The row keeps what was written (its ETag, checksums), so the next copy can tell an object
        it may repair from one the application changed."""
        now = _now()
        self._write_all_now(_TAKE_BACK, ((now, reason[:2000], mapping, key) for key, reason in found))

    # steps of a phase ---------------------------------------------------------------------

    def steps(self, phase: str) -> dict[str, StepRecord]:
        """The phase's steps as last recorded, by name."""
        self.flush()
        return {
            str(name): StepRecord(
                str(ph), str(name), StepState(str(state)), str(started), _text(finished), _text(detail)
            )
            for ph, name, state, started, finished, detail in self._query(SELECT_STEPS, (phase,))
        }

    def start_step(self, phase: str, name: str) -> None:
        """Recorded and committed at once: a step killed from here on is found `started`."""
        self._step_now(_START_STEP, (phase, name, _now()))

    def finish_step(self, phase: str, name: str, detail: str | None = None) -> None:
        self._step_now(_END_STEP, (StepState.DONE.value, _now(), detail, phase, name))

    def fail_step(self, phase: str, name: str, error: str) -> None:
        self._step_now(_END_STEP, (StepState.FAILED.value, _now(), error, phase, name))

    def clear_steps(self, phase: str) -> None:
        """Forget a phase's steps, so the next run does every one again (a new phase after a rollback)."""
        self._step_now(_CLEAR_STEPS, (phase,))

    def _step_now(self, statement: str, params: tuple[object, ...]) -> None:
        self._refuse_if_read_only()
        with self._lock:
            self._flush_locked()
            self._execute_now(self._sql(statement), params)

    # runs ---------------------------------------------------------------------------------

    def start_run(self, kind: str) -> int:
        self._refuse_if_read_only()
        with self._lock:
            self._flush_locked()
            return self._insert_run(kind, _now())

    def finish_run(self, run_id: int, summary: str) -> None:
        self._write(_FINISH_RUN, (_now(), summary, run_id))
        self.flush()


class Manifest(ManifestStore):
    """The manifest in one SQLite file (WAL mode, one writer), or in memory without a path."""

    def __init__(self, path: Path | None, *, read_only: bool = False, flush_seconds: float = FLUSH_SECONDS) -> None:
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
        super().__init__(read_only=read_only, flush_seconds=flush_seconds)
        self._migrate(read_only)

    def _migrate(self, read_only: bool) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = 0
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
            raise ConfigError(
                f"{self.path} is not a bucketshift manifest"
                if version == 0
                else f"manifest {self.path} has schema version {version}, older than this bucketshift's "
                f"({SCHEMA_VERSION}); run `bucketshift copy --dry-run` once to upgrade it"
            )
        if tables - {"schema_info", "objects", "runs", "steps", "sqlite_sequence"}:
            raise ConfigError(f"{self.path} is not a bucketshift manifest; pass --state with another path")
        script = "BEGIN;\n" + (_UPGRADE_FROM_V1 if version == 1 else "") + _SCHEMA
        script += f"DELETE FROM schema_info;\nINSERT INTO schema_info (version) VALUES ({SCHEMA_VERSION});\nCOMMIT;"  # noqa: S608
        with self._lock:
            try:
                self._db.executescript(script)
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @classmethod
    def for_preview(cls, path: Path) -> Manifest:
        """What a dry run reads: the manifest if there is one (never written), else an empty one."""
        if not path.exists():
            return cls(None)
        try:
            return cls(path, read_only=True)
        except ConfigError:
            with cls(path):  # an older schema: upgraded (no object row changes), then read
                pass
            return cls(path, read_only=True)

    @property
    def where(self) -> str:
        return str(self.path)

    def _sql(self, statement: str) -> str:
        return _sqlite(statement)

    def _commit(self, batch: list[tuple[str, tuple[object, ...]]]) -> None:
        self._db.execute("BEGIN")
        try:
            for statement, params in batch:
                self._db.execute(statement, params)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _execute_now(self, statement: str, params: tuple[object, ...]) -> None:
        self._db.execute(statement, params)

    def _query(self, statement: str, params: tuple[object, ...]) -> Iterable[tuple[object, ...]]:
        return self._db.execute(self._sql(statement), params)

    def _insert_run(self, kind: str, started_at: str) -> int:
        cursor = self._db.execute(self._sql(INSERT_RUN), (kind, started_at))
        return int(cursor.lastrowid or 0)

    def _disconnect(self) -> None:
        self._db.close()

    def iter_records(self, mapping: str, states: Iterable[State] | None = None) -> Iterator[ObjectRecord]:
        self.flush()
        if states is None:
            cursor = self._query(SELECT_ORDERED, (mapping,))
        else:
            wanted = [s.value for s in states]
            marks = ",".join("?" * len(wanted))
            cursor = self._db.execute(
                f"SELECT {COLUMNS} FROM objects WHERE mapping = ? AND state IN ({marks}) ORDER BY key",  # noqa: S608
                (mapping, *wanted),
            )
        for row in cursor:
            yield row_record(row)


@functools.cache
def _sqlite(statement: str) -> str:
    return statement.format(objects="objects", runs="runs", steps="steps")
