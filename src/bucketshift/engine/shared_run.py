"""One run shared by many worker processes through the PostgreSQL state.

Every `bucketshift copy` given the same PostgreSQL `--state` joins the run that is open there
(or opens one), so N identical processes, started by hand or by an orchestrator, split one
migration with no coordinator of their own.  The tables are the state's (`manifest_postgres`):

- `shared_runs`: the open run and the options it was started with (`fingerprint`); a worker
  with other options is refused while the run has live workers, and an abandoned one (no
  worker seen for a lease) is closed and a new one opened.
- `units`: the listing, one unit per page of each mapping's source listing, chained by the
  page token (each page's holder adds the next): claimed with `FOR UPDATE SKIP LOCKED`.
- `queue`: the objects a page listed that need work, with the decision its lister took.
  Workers claim batches under a lease (`holder`, `lease_until`) that they renew while they
  work; a row whose lease ran out (its worker died) is claimed by another, counted in `claims`.
- `workers`: who is live (`seen_at`) and what each said when it left (`summary`).

Every claim is one statement (one round trip); a lease is renewed for everything a worker
holds in one.  The queue row of an object goes in the same transaction as the manifest row
that settles it (`PostgresManifest.settle_queued`), so a row still queued is work not done.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from bucketshift.engine.manifest import COLUMNS, ObjectRecord, row_record
from bucketshift.engine.manifest_postgres import DEFAULT_SCHEMA, describe
from bucketshift.engine.state_connection import connect_state, state_error
from bucketshift.errors import BucketshiftError, UsageError
from bucketshift.stores.base import ObjectInfo, SourceVersion

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "Claimed",
    "Joined",
    "MappingProgress",
    "RunView",
    "SharedRun",
    "Unit",
    "WorkerView",
    "info_from_json",
    "info_to_json",
    "read_run",
]

DEFAULT_LEASE_SECONDS = 60.0
"""How long a claim holds without renewal: a killed worker's work waits this long for another."""


@dataclass(frozen=True)
class Joined:
    shared_run: int
    run_id: int
    opened: bool
    """This worker opened the run (the others joined it)."""


@dataclass(frozen=True)
class Unit:
    """One page of one mapping's source listing: `token` None is the first page."""

    mapping: str
    seq: int
    token: str | None


@dataclass(frozen=True)
class Queued:
    """A listed object that needs work, as its lister decided."""

    info: ObjectInfo
    decision: str
    dest: ObjectInfo | None


@dataclass(frozen=True)
class Claimed:
    info: ObjectInfo
    decision: str
    dest: ObjectInfo | None
    record: ObjectRecord | None
    claims: int
    """How many times the row was claimed: more than 1 means a worker holding it stopped."""


@dataclass(frozen=True)
class MappingProgress:
    open_units: int
    claimable: int
    """Rows no live lease holds (never claimed, or their holder's lease ran out)."""
    held_by_others: int

    @property
    def finished(self) -> bool:
        return self.open_units == 0 and self.claimable == 0 and self.held_by_others == 0


@dataclass(frozen=True)
class WorkerView:
    """A live worker as `status` shows it."""

    id: str
    host: str
    pid: int
    started_at: datetime
    seen_seconds_ago: float
    held_objects: int
    held_units: int
    mappings: tuple[str, ...]


@dataclass(frozen=True)
class RunView:
    """The shared run open in a state: what is left and who is at it."""

    run_id: int
    started_at: datetime
    queued: int
    """Objects listed and not settled yet (held by a worker or waiting)."""
    open_units: int
    """Listing pages not listed yet (the listing goes on while this is more than zero)."""
    joined: int
    """Workers that ever joined it."""
    workers: list[WorkerView]
    """The live ones."""


# ObjectInfo <-> the queue's jsonb --------------------------------------------------------------


def info_to_json(info: ObjectInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"key": info.key, "size": info.size}
    for name in ("etag", "content_type", "cache_control", "sha256", "content_disposition", "content_encoding",
                 "content_language", "crc64nvme"):  # fmt: skip
        value = getattr(info, name)
        if value is not None:
            out[name] = value
    if info.last_modified is not None:
        out["last_modified"] = info.last_modified.isoformat()
    if info.metadata:
        out["metadata"] = dict(info.metadata)
    if info.copied_from is not None:
        origin = info.copied_from
        out["copied_from"] = {"etag": origin.etag, "size": origin.size, "sha256": origin.sha256}
    return out


def info_from_json(data: Mapping[str, Any]) -> ObjectInfo:
    fields = dict(data)
    if "last_modified" in fields:
        fields["last_modified"] = datetime.fromisoformat(fields["last_modified"])
    if "copied_from" in fields:
        origin = fields["copied_from"]
        fields["copied_from"] = SourceVersion(origin.get("etag"), int(origin["size"]), origin.get("sha256"))
    return ObjectInfo(**fields)


# the statements ---------------------------------------------------------------------------------

_OPEN_RUN = "SELECT id, run_id, fingerprint FROM {shared_runs} WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1"
_LIVE_COUNT = """
SELECT count(*) FROM {workers}
WHERE shared_run = %(run)s AND id <> %(me)s AND left_at IS NULL
  AND seen_at > now() - make_interval(secs => lease_seconds)
"""
_CLAIM_UNIT = """
UPDATE {units} u SET holder = %(me)s, lease_until = now() + make_interval(secs => %(lease)s)
FROM (SELECT shared_run, mapping, seq FROM {units}
      WHERE shared_run = %(run)s AND mapping = %(mapping)s AND state = 'open'
        AND (holder IS NULL OR holder = %(me)s OR lease_until < now())
      ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) pick
WHERE u.shared_run = pick.shared_run AND u.mapping = pick.mapping AND u.seq = pick.seq
RETURNING u.seq, u.token
"""
_QUEUE_ROW = """
INSERT INTO {queue} (mapping, key, shared_run, info, decision, dest)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (mapping, key) DO NOTHING
"""
_NEXT_UNIT = """
INSERT INTO {units} (shared_run, mapping, seq, token, state) VALUES (%s, %s, %s, %s, 'open')
ON CONFLICT DO NOTHING
"""
_UNIT_DONE = """
UPDATE {units} SET state = 'done', holder = NULL, lease_until = NULL, listed = %s
WHERE shared_run = %s AND mapping = %s AND seq = %s
"""
_CLAIM_ITEMS = """
WITH pick AS (
    SELECT mapping, key FROM {queue}
    WHERE mapping = %(mapping)s AND shared_run = %(run)s AND (holder IS NULL OR lease_until < now())
    ORDER BY key LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE {queue} q SET holder = %(me)s, lease_until = now() + make_interval(secs => %(lease)s),
        claims = q.claims + 1
    FROM pick WHERE q.mapping = pick.mapping AND q.key = pick.key
    RETURNING q.mapping, q.key, q.info, q.decision, q.dest, q.claims
)
SELECT c.info, c.decision, c.dest, c.claims, o.* FROM claimed c
LEFT JOIN LATERAL (SELECT {columns} FROM {objects} WHERE mapping = c.mapping AND key = c.key) o ON true
"""
_PROGRESS = """
SELECT
    (SELECT count(*) FROM {units} WHERE shared_run = %(run)s AND mapping = %(mapping)s AND state = 'open'),
    count(*) FILTER (WHERE holder IS NULL OR lease_until < now()),
    count(*) FILTER (WHERE holder <> %(me)s AND lease_until >= now())
FROM {queue} WHERE shared_run = %(run)s AND mapping = %(mapping)s
"""
_RENEW = [
    "UPDATE {queue} SET lease_until = now() + make_interval(secs => %(lease)s) WHERE holder = %(me)s",
    "UPDATE {units} SET lease_until = now() + make_interval(secs => %(lease)s) "
    "WHERE holder = %(me)s AND state = 'open'",
    "UPDATE {workers} SET seen_at = now() WHERE id = %(me)s",
]
_RELEASE = [
    "UPDATE {queue} SET holder = NULL, lease_until = NULL WHERE holder = %(me)s",
    "UPDATE {units} SET holder = NULL, lease_until = NULL WHERE holder = %(me)s AND state = 'open'",
]
_NOTHING_LEFT = """
SELECT NOT EXISTS (SELECT 1 FROM {units} WHERE shared_run = %(run)s AND state = 'open')
   AND NOT EXISTS (SELECT 1 FROM {queue} WHERE shared_run = %(run)s)
"""
_SUMMARIES = "SELECT summary FROM {workers} WHERE shared_run = %(run)s AND summary IS NOT NULL"
_WORKERS = """
SELECT w.id, w.host, w.pid, w.started_at, extract(epoch FROM now() - w.seen_at),
    (SELECT count(*) FROM {queue} q WHERE q.holder = w.id AND q.lease_until >= now()),
    (SELECT count(*) FROM {units} u WHERE u.holder = w.id AND u.state = 'open' AND u.lease_until >= now()),
    ARRAY(SELECT DISTINCT q.mapping FROM {queue} q WHERE q.holder = w.id AND q.lease_until >= now() ORDER BY 1)
FROM {workers} w
WHERE w.shared_run = %(run)s AND w.left_at IS NULL AND w.seen_at > now() - make_interval(secs => w.lease_seconds)
ORDER BY w.started_at, w.id
"""
_RUN_VIEW = """
SELECT r.id, r.run_id, r.started_at,
    (SELECT count(*) FROM {queue} q WHERE q.shared_run = r.id),
    (SELECT count(*) FROM {units} u WHERE u.shared_run = r.id AND u.state = 'open'),
    (SELECT count(*) FROM {workers} w WHERE w.shared_run = r.id)
FROM {shared_runs} r WHERE r.finished_at IS NULL ORDER BY r.id DESC LIMIT 1
"""

_TABLES = ("shared_runs", "workers", "units", "queue", "objects", "runs", "pacing")


class SharedRun:
    """This worker's side of a shared run: its own connection (never the manifest's, whose
    transactions it must not slip into), one statement per claim."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        field: str = "--state",
    ) -> None:
        if lease_seconds <= 0:
            raise UsageError("the lease must be more than zero seconds")
        self.schema = schema
        self.lease = float(lease_seconds)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._dsn, self._field = dsn, field
        self._where = describe(dsn, schema, field)
        self._lock = threading.Lock()
        self.round_trips = 0
        """Calls made to coordinate (a claim, a renewal, a page queued, joining, leaving), each one
        statement or one transaction: what sharing the run costs the state, beside the manifest's rows."""
        self.shared_run = 0
        self._conn: psycopg.Connection[tuple[Any, ...]] = connect_state(dsn, field=field, name="bucketshift worker")
        self._tables = {name: sql.Identifier(schema, name).as_string(self._conn) for name in _TABLES}
        self._statements: dict[str, str] = {}

    def _sql(self, statement: str) -> str:
        found = self._statements.get(statement)
        if found is None:
            found = self._statements[statement] = statement.format(columns=COLUMNS, **self._tables)
        return found

    def _params(self, **extra: object) -> dict[str, object]:
        return {"me": self.id, "lease": self.lease, "run": self.shared_run, **extra}

    def _run(self, doing: str, work: Any) -> Any:
        with self._lock:
            try:
                return work()
            except psycopg.Error as error:
                raise self._error(error, doing) from None

    # joining and leaving ---------------------------------------------------------------------

    def join(self, kind: str, fingerprint: str, mappings: Iterable[str]) -> Joined:
        """Join the open run with these options, or open one; refused while a run with other
        options has live workers (one shared run at a time per state)."""

        def work() -> Joined:
            with self._conn.transaction():
                self.round_trips += 1
                self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"bucketshift_run:{self.schema}",))
                found = self._conn.execute(self._sql(_OPEN_RUN)).fetchone()
                opened = False
                if found is not None and found[2] != fingerprint:
                    live = self._conn.execute(
                        self._sql(_LIVE_COUNT), {"run": found[0], "me": self.id, "lease": self.lease}
                    ).fetchone()
                    if live and int(live[0]):
                        raise UsageError(
                            f"another run with other options is in progress in {self._where} ({int(live[0])} live "
                            "workers); give this worker the same options, or wait for that run to end"
                        )
                    self._conn.execute(
                        self._sql("UPDATE {shared_runs} SET finished_at = now() WHERE id = %s"), (found[0],)
                    )
                    found = None
                if found is None:
                    opened = True
                    found = self._open(kind, fingerprint, list(mappings))
                self.shared_run = int(found[0])
                self._conn.execute(
                    self._sql(
                        "INSERT INTO {workers} (id, shared_run, host, pid, lease_seconds) VALUES (%s, %s, %s, %s, %s)"
                    ),
                    (self.id, self.shared_run, socket.gethostname(), os.getpid(), self.lease),
                )
                return Joined(self.shared_run, int(found[1]), opened)

        return self._run("join the shared run", work)

    def _open(self, kind: str, fingerprint: str, mappings: list[str]) -> tuple[int, int, str]:
        row = self._conn.execute(
            self._sql("INSERT INTO {runs} (kind, started_at) VALUES (%s, %s) RETURNING id"), (kind, _now())
        ).fetchone()
        assert row is not None
        run_id = int(row[0])
        shared = self._conn.execute(
            self._sql("INSERT INTO {shared_runs} (run_id, fingerprint) VALUES (%s, %s) RETURNING id"),
            (run_id, fingerprint),
        ).fetchone()
        assert shared is not None
        self._conn.execute(self._sql("DELETE FROM {queue}"))
        self._conn.execute(self._sql("DELETE FROM {units}"))
        with self._conn.cursor() as cursor:
            cursor.executemany(self._sql(_NEXT_UNIT), [(shared[0], m, 0, None) for m in mappings])
        return int(shared[0]), run_id, fingerprint

    def leave(self, summary: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Say what this worker did; the run ends when nothing is left, and then the run's
        summary (every worker's summed) is returned and recorded, by whoever leaves last."""

        def work() -> Mapping[str, Any] | None:
            params = self._params(summary=json.dumps(summary))
            with self._conn.transaction():
                self.round_trips += 1
                self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"bucketshift_run:{self.schema}",))
                self._conn.execute(
                    self._sql("UPDATE {workers} SET left_at = now(), summary = %(summary)s WHERE id = %(me)s"), params
                )
                for statement in _RELEASE:
                    self._conn.execute(self._sql(statement), params)
                done = self._conn.execute(self._sql(_NOTHING_LEFT), params).fetchone()
                if not (done and done[0]):
                    return None
                row = self._conn.execute(
                    self._sql("UPDATE {shared_runs} SET finished_at = now() WHERE id = %(run)s RETURNING run_id"),
                    params,
                ).fetchone()
                total = _sum(json.loads(str(s)) for (s,) in self._conn.execute(self._sql(_SUMMARIES), params))
                if row is not None:
                    self._conn.execute(
                        self._sql("UPDATE {runs} SET finished_at = %s, summary = %s WHERE id = %s"),
                        (_now(), json.dumps(total), row[0]),
                    )
                return total

        return self._run("leave the shared run", work)

    def release(self) -> None:
        """Give back what this worker holds, for another to claim now (a worker that stops early)."""

        def work() -> None:
            with self._conn.transaction():
                self.round_trips += 1
                for statement in _RELEASE:
                    self._conn.execute(self._sql(statement), self._params())

        self._run("release claims", work)

    def renew(self) -> None:
        """Renew the lease on everything this worker holds, and say it is alive: one round trip."""

        def work() -> None:
            with self._conn.pipeline(), self._conn.transaction():
                self.round_trips += 1
                for statement in _RENEW:
                    self._conn.execute(self._sql(statement), self._params())

        self._run("renew the lease", work)

    # the listing -------------------------------------------------------------------------------

    def claim_unit(self, mapping: str) -> Unit | None:
        def work() -> Unit | None:
            self.round_trips += 1
            row = self._conn.execute(self._sql(_CLAIM_UNIT), self._params(mapping=mapping)).fetchone()
            return None if row is None else Unit(mapping, int(row[0]), row[1])

        return self._run("claim a listing unit", work)

    def finish_unit(self, unit: Unit, queued: list[Queued], next_token: str | None, listed: int) -> None:
        """The page's objects join the queue, the next page becomes a unit, this one is done: one
        transaction, so a page is never half queued (and a page listed twice queues nothing twice)."""

        def work() -> None:
            rows = [
                (unit.mapping, q.info.key, self.shared_run, json.dumps(info_to_json(q.info)), q.decision,
                 None if q.dest is None else json.dumps(info_to_json(q.dest)))
                for q in queued
            ]  # fmt: skip
            with self._conn.pipeline(), self._conn.transaction(), self._conn.cursor() as cursor:
                self.round_trips += 1
                if rows:
                    cursor.executemany(self._sql(_QUEUE_ROW), rows)
                if next_token is not None:
                    cursor.execute(self._sql(_NEXT_UNIT), (self.shared_run, unit.mapping, unit.seq + 1, next_token))
                cursor.execute(self._sql(_UNIT_DONE), (listed, self.shared_run, unit.mapping, unit.seq))

        self._run("queue a listed page", work)

    # the work ----------------------------------------------------------------------------------

    def claim(self, mapping: str, limit: int) -> list[Claimed]:
        """Up to `limit` queued objects no live lease holds, each with its manifest row."""

        def work() -> list[Claimed]:
            self.round_trips += 1
            rows = self._conn.execute(self._sql(_CLAIM_ITEMS), self._params(mapping=mapping, limit=limit)).fetchall()
            out = []
            for info, decision, dest, claims, *record in rows:
                out.append(
                    Claimed(
                        info_from_json(info),
                        str(decision),
                        None if dest is None else info_from_json(dest),
                        None if record[0] is None else row_record(tuple(record)),
                        int(claims),
                    )
                )
            return out

        return self._run("claim queued objects", work)

    def progress(self, mapping: str) -> MappingProgress:
        def work() -> MappingProgress:
            self.round_trips += 1
            row = self._conn.execute(self._sql(_PROGRESS), self._params(mapping=mapping)).fetchone()
            assert row is not None
            return MappingProgress(int(row[0]), int(row[1]), int(row[2]))

        return self._run("read the shared run's progress", work)

    def close(self) -> None:
        self._conn.close()

    def _error(self, error: psycopg.Error, doing: str) -> BucketshiftError:
        return state_error(error, doing, dsn=self._dsn, field=self._field)


def _now() -> str:
    """A time as the manifest writes them (ISO text, UTC)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _sum(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-mapping counters of every worker, added up."""
    total: dict[str, dict[str, int]] = {}
    for summary in summaries:
        for mapping, counts in summary.items():
            into = total.setdefault(mapping, {})
            for name, value in counts.items():
                into[name] = into.get(name, 0) + int(value)
    return total


def read_run(dsn: str, schema: str = DEFAULT_SCHEMA, *, field: str = "--state") -> RunView | None:
    """The shared run open in the state, with its live workers (for `status`); None when none is
    open, or the state has no coordination tables yet.  Reads only, on a connection of its own."""
    where = describe(dsn, schema, field)
    try:
        with connect_state(dsn, field=field) as conn:
            found = conn.execute("SELECT to_regclass(%s)", (sql.Identifier(schema, "shared_runs").as_string(conn),))
            if found.fetchone() in (None, (None,)):
                return None
            tables = {name: sql.Identifier(schema, name).as_string(conn) for name in _TABLES}
            row = conn.execute(_RUN_VIEW.format(**tables)).fetchone()
            if row is None:
                return None
            workers = [
                WorkerView(str(i), str(host), int(pid), started, float(seen), int(objects), int(units), tuple(maps))
                for i, host, pid, started, seen, objects, units, maps in conn.execute(
                    _WORKERS.format(**tables), {"run": row[0]}
                )
            ]
    except psycopg.Error as error:
        raise state_error(error, f"read the shared run in {where}", dsn=dsn, field=field) from None
    return RunView(int(row[1]), row[2], int(row[3]), int(row[4]), int(row[5]), workers)
