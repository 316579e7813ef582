"""`rewrite-urls`: discover, plan (the default), write SQL, apply or revert the URL rewrite.

Only URLs whose objects the manifest records as verified at the destination are rewritten, each
to where the manifest records its object was written; every change is journaled in the
application's own database so `--revert` is exact.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from bucketshift.config import DatabaseConfig, Plan, S3Endpoint, SupabaseEndpoint
from bucketshift.database import journal
from bucketshift.database.columns import Column, Found, discover, resolve
from bucketshift.database.connection import connect
from bucketshift.database.revert import RevertReport, revert_run
from bucketshift.database.rewrite import read_batches, rewrite_column, sql_statements
from bucketshift.database.rewriter import Rewriter, Tally, Verified
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.manifest import State
from bucketshift.errors import ConfigError, UsageError
from bucketshift.operations.context import open_state
from bucketshift.urls import SupabaseURLs, storage_base

WRITERS = 2
"""Connections that write batches while the main one reads: one writer left a core idle."""

__all__ = ["ColumnResult", "RewriteReport", "RewriteRequest", "RewriteRun", "StepProgress"]

Mode = Literal["plan", "discover", "sql", "apply", "revert"]
Conn = psycopg.Connection[tuple[Any, ...]]


def _holds_url(origins: list[str]) -> Callable[[str], bool]:
    urls = SupabaseURLs(origins)
    return lambda text: urls.parse(text) is not None or bool(urls.find(text))


@dataclass(frozen=True)
class RewriteRequest:
    mode: Mode = "plan"
    run_id: int | None = None
    batch_size: int | None = None
    sleep: float = 0.0
    sql_path: Path | None = None
    state: str | Path | None = None


@dataclass
class ColumnResult:
    column: str
    kind: str
    tally: Tally
    written: int = 0
    seconds: float = 0.0
    max_length: int | None = None
    """The most characters the column holds (`varchar(n)`), which `tally.too_long` values exceed."""


@dataclass
class RewriteReport:
    mode: Mode
    run_id: int | None = None
    columns: list[ColumnResult] = field(default_factory=list)
    discovered: list[Found] = field(default_factory=list)
    reverted: RevertReport | None = None
    nothing_to_revert: str | None = None
    still_applied: list[int] = field(default_factory=list)
    """After a revert: other apply runs whose changes are still in place (an apply run again)."""

    @property
    def ok(self) -> bool:
        """False when a revert left values changed since the rewrite, or leaves other runs in
        place: the database is not back where it was, and someone has to look."""
        if self.mode != "revert":
            return True
        conflicts = self.reverted.conflicts if self.reverted is not None else 0
        return not conflicts and not self.still_applied


def _database(plan: Plan) -> DatabaseConfig:
    if plan.database is None:
        raise ConfigError("rewrite-urls needs a [database] section with the application's dsn in the plan file")
    return plan.database


def _origins(plan: Plan, database: DatabaseConfig) -> list[str]:
    if not isinstance(plan.source, SupabaseEndpoint):
        raise UsageError("rewrite-urls rewrites Supabase storage URLs: the plan's [source] must be type 'supabase'")
    return [plan.source.url, *database.extra_origins]


def verified_destinations(plan: Plan, state: str | Path | None) -> Verified:
    """Source bucket -> each key verified at the destination -> the key it was written under
    there, as the manifest recorded it, read only.

    The recorded key, not today's prefix: the plan's prefix may have changed since the copy.
    None stands for "where the mapping's prefix puts it", which is also where an old manifest
    that recorded no key had it; it spares holding a second copy of every key.
    """
    with open_state(plan, state, read_only=True) as manifest:
        out: dict[str, dict[str, str | None]] = {}
        for mapping in plan.buckets:
            spec = MappingSpec(mapping.source, mapping.destination, mapping.prefix, mapping.access)
            out[mapping.source] = {
                r.key: None if not r.dest_key or r.dest_key == spec.dest_key(r.key) else r.dest_key
                for r in manifest.iter_records(spec.name, [State.VERIFIED])
            }
    return out


@dataclass
class StepProgress:
    done: int = 0
    total: int | None = None


@dataclass
class RewriteRun:
    """One rewrite-urls invocation; `steps` grows while it works (for progress).

    One step per column (rows read) or per reverted run (journal rows dealt with).  Only a
    revert knows its total beforehand: a plan's or apply's would cost a scan of every column.
    """

    plan: Plan
    request: RewriteRequest
    steps: dict[str, StepProgress] = field(default_factory=dict)

    def _step(self, name: str, total: int | None = None) -> Callable[[int], None]:
        step = self.steps[name] = StepProgress(total=total)

        def advance(rows: int) -> None:
            step.done = rows

        return advance

    def run(self) -> RewriteReport:
        database = _database(self.plan)
        origins = _origins(self.plan, database)
        needles = [storage_base(origin) + "/" for origin in origins]
        report = RewriteReport(self.request.mode)
        dsn = database.dsn.get_secret_value()
        with connect(dsn) as conn, contextlib.ExitStack() as stack:
            writing = self.request.mode in ("apply", "revert")
            writers = [stack.enter_context(connect(dsn)) for _ in range(WRITERS if writing else 0)]
            for writer in writers:
                writer.execute("SET synchronous_commit = off")
            if self.request.mode == "discover":
                urls = SupabaseURLs(origins)
                report.discovered = discover(
                    conn, needles, lambda text: bool(urls.find(text)) or urls.parse(text) is not None
                )
                return report
            if self.request.mode == "revert":
                self._revert(conn, writers, report, database)
                report.still_applied = journal.unreverted_runs(conn)
                return report
            columns = self._columns(conn, database, needles, origins)
            rewriter = self._rewriter(origins, database)
            batch = self.request.batch_size or database.batch_size
            if self.request.mode == "apply":
                journal.ensure_schema(conn)
                report.run_id = journal.start_run(conn, "apply")
            for column in columns:
                advance = self._step(column.name)
                started = time.monotonic()
                if self.request.mode == "sql":
                    result = ColumnResult(column.name, column.kind, Tally(), max_length=column.max_length)
                    self._write_sql(conn, column, rewriter, needles, batch, result.tally)
                else:
                    tally, written = rewrite_column(
                        conn, column, rewriter, needles, run_id=report.run_id, batch_size=batch,
                        sleep=self.request.sleep, progress=advance, writers=writers,
                    )  # fmt: skip
                    result = ColumnResult(column.name, column.kind, tally, written, max_length=column.max_length)
                result.seconds = time.monotonic() - started
                report.columns.append(result)
            if report.run_id is not None:
                journal.finish_run(conn, report.run_id, _summary(report))
        return report

    def _columns(self, conn, database: DatabaseConfig, needles: list[str], origins: list[str]) -> list[Column]:
        if database.columns:
            return resolve(conn, database.columns)
        found = discover(conn, needles, _holds_url(origins))
        return [f.column for f in found if f.rows]

    def _rewriter(self, origins: list[str], database: DatabaseConfig) -> Rewriter:
        if not isinstance(self.plan.destination, S3Endpoint):
            raise UsageError("rewrite-urls writes S3 URLs: the plan's [destination] must be type 's3'")
        verified = verified_destinations(self.plan, self.request.state)
        return Rewriter(
            origins, self.plan.buckets, self.plan.destination, verified, private_url_style=database.private_url_style
        )

    def _write_sql(
        self, conn, column: Column, rewriter: Rewriter, needles: list[str], batch: int, tally: Tally
    ) -> None:
        path = self.request.sql_path
        if path is None:
            raise UsageError("--sql needs a file name")
        with path.open("a", encoding="utf-8") as out:
            out.write(f"-- {column.name}: statements an apply would run (run by hand, they are not journaled)\n")
            for chunk in read_batches(conn, column, rewriter, needles, batch, tally):
                for statement in sql_statements(conn, column, chunk.changes):
                    out.write(statement + "\n")
                conn.rollback()

    def _revert(self, conn, writers: list[Conn], report: RewriteReport, database: DatabaseConfig) -> None:
        journal.ensure_schema(conn)
        try:
            target = journal.find_run(conn, self.request.run_id)
        except ConfigError as error:
            if self.request.run_id is None:
                report.nothing_to_revert = str(error)
                return
            raise
        if journal.already_reverted(conn, target.id):
            report.nothing_to_revert = f"run {target.id} was already reverted; nothing to do"
            return
        advance = self._step(f"revert run {target.id}", journal.changes_in(conn, target.id))
        report.run_id = journal.start_run(conn, "revert", reverts=target.id)
        report.reverted = revert_run(
            conn, target.id, report.run_id, batch_size=self.request.batch_size or database.batch_size,
            writers=writers, sleep=self.request.sleep, progress=advance,
        )  # fmt: skip
        r = report.reverted
        summary = {"reverted": target.id, "restored": r.restored, "already_restored": r.already_restored,
                   "conflicts": r.conflicts}  # fmt: skip
        journal.finish_run(conn, report.run_id, summary)


def _summary(report: RewriteReport) -> dict[str, object]:
    return {
        c.column: {"rewritten": c.tally.rewritten, "rows_changed": c.written, "too_long": c.tally.too_long}
        for c in report.columns
    }
