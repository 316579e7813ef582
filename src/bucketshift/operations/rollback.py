"""`rollback`: the phase the other way, so switching the application back loses nothing.

Four steps, in order, each recorded in the manifest (phase "rollback") so a rerun skips what is
done and resumes what was interrupted:

1. copy-back: every S3 object the application wrote or rewrote after the cut-over is copied to
   Supabase with its metadata, through the forward engine with the stores swapped
   (`engine/reverse.py`); a Supabase object someone changed since the copy is a conflict, and
   stops the rollback until the user settles it (`on_conflict`).
2. verify-back: every object copied back is read at Supabase: same size, same sha256.
3. revert-urls: the forward URL rewrite is undone from its journal (every forward run in place).
4. rewrite-back: the S3 forms the application wrote into rows after the cut-over become Supabase
   URLs, for objects verified at Supabase only, journaled as a run of kind `rollback`
   (`database/reverse.py`): `rewrite-urls --revert --run N` undoes it, and nothing takes it for a
   forward rewrite still in place.

Then `STORAGE_BACKEND=supabase` switches the application back.  A finished rollback forgets the
migrate phase's steps, so a later `migrate` runs it again; a rerun of a finished rollback does
nothing.  A dry run changes nothing anywhere (it never writes the manifest or the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from bucketshift.config import DatabaseConfig, Plan, S3Endpoint, SupabaseEndpoint
from bucketshift.database import journal
from bucketshift.database.columns import Column, discover, resolve
from bucketshift.database.connection import connect
from bucketshift.database.reverse import BackRewriter, back_needles, finish_back_run, forward_runs, start_back_run
from bucketshift.database.revert import RevertReport, revert_run
from bucketshift.database.rewrite import rewrite_column
from bucketshift.engine.budget import MemoryBudget
from bucketshift.engine.diff import ConflictPolicy
from bucketshift.engine.manifest import Manifest, StepState
from bucketshift.engine.reverse import BackCheck, ReverseSpec, at_supabase, listing, reverse_spec, seed_manifest
from bucketshift.engine.reverse import verify_back as verify_one
from bucketshift.engine.transfer import MappingReport, TransferOptions, transfer
from bucketshift.errors import BucketshiftError, UsageError
from bucketshift.operations.context import Context, open_context, state_exists, state_where
from bucketshift.operations.rewrite import WRITERS, ColumnResult
from bucketshift.retry import RetryPolicy

__all__ = ["PHASE", "STEPS", "SWITCH", "RollbackReport", "RollbackRequest", "RollbackRun", "StepOutcome"]

PHASE = "rollback"
STEPS = ("copy-back", "verify-back", "revert-urls", "rewrite-back")
SWITCH = "STORAGE_BACKEND=supabase"
"""The one setting that switches the application's storage client (`bucketshift.storage`) back."""

Conn = psycopg.Connection[tuple[Any, ...]]
Outcome = Literal["done", "done before", "stopped", "would run", "not needed"]


@dataclass(frozen=True)
class RollbackRequest:
    dry_run: bool = False
    state: str | Path | None = None
    concurrency: int | None = None
    max_attempts: int = 8
    on_conflict: ConflictPolicy = "report"
    batch_size: int | None = None


@dataclass
class StepOutcome:
    name: str
    outcome: Outcome
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RollbackReport:
    dry_run: bool
    steps: list[StepOutcome] = field(default_factory=list)
    copies: list[MappingReport] = field(default_factory=list)
    checks: list[BackCheck] = field(default_factory=list)
    reverts: list[RevertReport] = field(default_factory=list)
    rewrite: list[ColumnResult] = field(default_factory=list)
    rewrite_run: int | None = None
    already_done: bool = False
    notes: list[str] = field(default_factory=list)
    switch: str = SWITCH

    @property
    def stopped_at(self) -> str | None:
        return next((s.name for s in self.steps if s.outcome == "stopped"), None)

    @property
    def finished(self) -> bool:
        """Every step done (now or by an earlier run): the application may switch back."""
        return not self.dry_run and self.stopped_at is None

    @property
    def ok(self) -> bool:
        return self.dry_run or self.finished


def _database(plan: Plan) -> DatabaseConfig | None:
    return plan.database


def _require_sides(plan: Plan) -> tuple[SupabaseEndpoint, S3Endpoint]:
    if not isinstance(plan.source, SupabaseEndpoint) or not isinstance(plan.destination, S3Endpoint):
        raise UsageError(
            "rollback moves an S3 destination back to Supabase: the plan's [source] must be type "
            "'supabase' and its [destination] type 's3'"
        )
    return plan.source, plan.destination


@dataclass
class RollbackRun:
    """One `rollback` invocation; `report.copies` are live while `run` works (for progress)."""

    plan: Plan
    request: RollbackRequest
    report: RollbackReport = field(init=False)

    def __post_init__(self) -> None:
        self.report = RollbackReport(self.request.dry_run)
        self.retry = RetryPolicy(max_attempts=self.request.max_attempts)
        self.budget = MemoryBudget(self.plan.transfer.memory_budget)

    @property
    def manifest_where(self) -> str:
        return state_where(self.plan, self.request.state)

    def _options(self, dry_run: bool) -> TransferOptions:
        return TransferOptions(
            concurrency=self.request.concurrency or self.plan.transfer.concurrency,
            retry=self.retry,
            dry_run=dry_run,
            on_conflict=self.request.on_conflict,
            budget=self.budget,
        )

    async def run(self) -> RollbackReport:
        _require_sides(self.plan)
        if self.request.dry_run:
            await self._preview()
            return self.report
        if not state_exists(self.plan, self.request.state):
            raise UsageError(
                f"there is no manifest at {self.manifest_where}: nothing was migrated with this plan "
                "(pass --state with the manifest's path)"
            )
        async with open_context(self.plan, state=self.request.state) as ctx:
            done = ctx.manifest.steps(PHASE)
            if done and all(n in done and done[n].state == StepState.DONE for n in STEPS):
                self.report.already_done = True
                self.report.steps = [StepOutcome(n, "done before", _detail(done[n].detail)) for n in STEPS]
                return self.report
            specs = [reverse_spec(s) for s in ctx.specs]
            self.report.copies = [MappingReport(spec) for spec in specs]
            for name in STEPS:
                record = done.get(name)
                if record is not None and record.state == StepState.DONE:
                    self.report.steps.append(StepOutcome(name, "done before", _detail(record.detail)))
                    continue
                ctx.manifest.start_step(PHASE, name)
                try:
                    detail, ok = await self._step(name, ctx, specs)
                except BucketshiftError as error:
                    ctx.manifest.fail_step(PHASE, name, str(error))
                    raise
                except BaseException:
                    ctx.manifest.fail_step(PHASE, name, "interrupted")
                    raise
                if not ok:
                    ctx.manifest.fail_step(PHASE, name, json.dumps(detail))
                    self.report.steps.append(StepOutcome(name, "stopped", detail))
                    return self.report
                ctx.manifest.finish_step(PHASE, name, json.dumps(detail))
                self.report.steps.append(StepOutcome(name, "done", detail))
            ctx.manifest.clear_steps("migrate")
        return self.report

    async def _step(self, name: str, ctx: Context, specs: list[ReverseSpec]) -> tuple[dict[str, Any], bool]:
        if name == "copy-back":
            return await self._copy_back(ctx, specs)
        if name == "verify-back":
            return await self._verify_back(ctx, specs)
        database = _database(self.plan)
        if database is None:
            return {"skipped": "the plan has no [database]"}, True
        if name == "revert-urls":
            return await asyncio.to_thread(self._revert_urls, database), True
        keys = {spec.dest_bucket: at_supabase(ctx.manifest, spec) for spec in specs}
        return await asyncio.to_thread(self._rewrite_back, database, keys, False), True

    # objects ------------------------------------------------------------------------------

    async def _copy_back(self, ctx: Context, specs: list[ReverseSpec]) -> tuple[dict[str, Any], bool]:
        for spec in specs:
            seed_manifest(ctx.manifest, ctx.manifest, spec)
        listings: dict[str, object] = {spec.name: listing(ctx.dest, spec, self.retry) for spec in specs}
        run_id = ctx.manifest.start_run("rollback")
        await transfer(
            ctx.dest,
            ctx.source,
            specs,
            ctx.manifest,
            self._options(False),
            reports=self.report.copies,
            listings=listings,
        )
        detail = _copy_detail(self.report.copies)
        ctx.manifest.finish_run(run_id, json.dumps(detail))
        ok = not any(r.stats.failed or r.stats.conflicts for r in self.report.copies)
        return detail, ok

    async def _verify_back(self, ctx: Context, specs: list[ReverseSpec]) -> tuple[dict[str, Any], bool]:
        concurrency = min(self.request.concurrency or self.plan.transfer.concurrency, 32)
        self.report.checks = [BackCheck(spec) for spec in specs]
        for check in self.report.checks:
            await verify_one(
                ctx.dest, ctx.source, check.spec, ctx.manifest, retry=self.retry, concurrency=concurrency, check=check
            )
        detail = {
            c.spec.name: {
                "checked": c.checked,
                "verified": c.verified,
                "missing": len(c.missing),
                "differing": len(c.differing),
            }
            for c in self.report.checks
        }
        return detail, all(c.ok for c in self.report.checks)

    # rows ---------------------------------------------------------------------------------

    def _revert_urls(self, database: DatabaseConfig) -> dict[str, Any]:
        dsn = database.dsn.get_secret_value()
        batch = self.request.batch_size or database.batch_size
        with connect(dsn) as conn, contextlib.ExitStack() as stack:
            writers = [stack.enter_context(connect(dsn)) for _ in range(WRITERS)]
            journal.ensure_schema(conn)
            for run_id in forward_runs(conn):
                revert_id = journal.start_run(conn, "revert", reverts=run_id)
                reverted = revert_run(conn, run_id, revert_id, batch_size=batch, writers=writers)
                journal.finish_run(
                    conn,
                    revert_id,
                    {
                        "reverted": run_id,
                        "restored": reverted.restored,
                        "already_restored": reverted.already_restored,
                        "conflicts": reverted.conflicts,
                        "rollback": True,
                    },
                )
                self.report.reverts.append(reverted)
        return {
            "reverted": [r.run_id for r in self.report.reverts],
            "restored": sum(r.restored for r in self.report.reverts),
            "changed_since": sum(r.conflicts for r in self.report.reverts),
        }

    def _columns(
        self, conn: Conn, database: DatabaseConfig, needles: list[str], rewriter: BackRewriter
    ) -> list[Column]:
        """The plan's columns; else those discovery finds holding S3 forms, and those the forward rewrite
        journaled (where bare keys may have been written)."""
        if database.columns:
            return resolve(conn, database.columns)
        found = discover(conn, [n for n in needles if n], lambda text: rewriter.holds_s3_form(text))
        columns = {f.column.name: f.column for f in found if f.rows}
        if journal.exists(conn):
            rows = conn.execute(
                "SELECT DISTINCT table_schema, table_name, column_name FROM bucketshift.journal ORDER BY 1, 2, 3"
            ).fetchall()
            conn.rollback()
            names = [".".join('"' + str(p).replace('"', '""') + '"' for p in row) for row in rows]
            for column in resolve(conn, names):
                columns.setdefault(column.name, column)
        return list(columns.values())

    def _rewrite_back(self, database: DatabaseConfig, keys: dict[str, set[str]], preview: bool) -> dict[str, Any]:
        source, endpoint = _require_sides(self.plan)
        rewriter = BackRewriter(
            source.url, self.plan.buckets, endpoint, keys, private_url_style=database.private_url_style
        )
        needles = back_needles(self.plan.buckets, endpoint, database.private_url_style)
        dsn = database.dsn.get_secret_value()
        batch = self.request.batch_size or database.batch_size
        with connect(dsn) as conn, contextlib.ExitStack() as stack:
            writers = [] if preview else [stack.enter_context(connect(dsn)) for _ in range(WRITERS)]
            columns = self._columns(conn, database, needles, rewriter)
            run_id = None
            if not preview:
                journal.ensure_schema(conn)
                run_id = self.report.rewrite_run = start_back_run(conn)
            for column in columns:
                tally, written = rewrite_column(
                    conn, column, rewriter, needles, run_id=run_id, batch_size=batch, writers=writers
                )
                self.report.rewrite.append(
                    ColumnResult(column.name, column.kind, tally, written, max_length=column.max_length)
                )
            summary = {
                c.column: {
                    "rewritten": c.tally.rewritten,
                    "rows_changed": c.written,
                    "not_at_supabase": c.tally.unverified,
                }
                for c in self.report.rewrite
            }
            if run_id is not None:
                finish_back_run(conn, run_id, summary)
        return {"run": run_id, "columns": summary}

    # dry run ------------------------------------------------------------------------------

    async def _preview(self) -> None:
        """Every step as it would run now, from a scratch copy of the manifest: nothing is written."""
        async with open_context(self.plan, state=self.request.state, preview=True) as ctx:
            done = ctx.manifest.steps(PHASE)
            specs = [reverse_spec(s) for s in ctx.specs]
            self.report.copies = [MappingReport(spec) for spec in specs]
            with Manifest(None) as scratch:
                for spec in specs:
                    seed_manifest(ctx.manifest, scratch, spec, copy_existing=True)
                seen: dict[str, set[str]] = {spec.name: set() for spec in specs}
                listings: dict[str, object] = {s.name: listing(ctx.dest, s, self.retry, seen[s.name]) for s in specs}
                await transfer(
                    ctx.dest,
                    ctx.source,
                    specs,
                    scratch,
                    self._options(True),
                    reports=self.report.copies,
                    listings=listings,
                )
                keys = {}
                for spec, copied in zip(specs, self.report.copies, strict=True):
                    conflicts = {c.key for c in copied.conflicts}
                    would = {spec.dest_key(k) for k in seen[spec.name] - conflicts}
                    keys[spec.dest_bucket] = would | at_supabase(scratch, spec)
        self._preview_step(done, "copy-back", _copy_detail(self.report.copies))
        self._preview_step(done, "verify-back", {"to_read": sum(r.stats.to_copy for r in self.report.copies)})
        database = _database(self.plan)
        if database is None:
            self.report.steps += [
                StepOutcome(n, "not needed", {"skipped": "the plan has no [database]"}) for n in STEPS[2:]
            ]
            return
        self._preview_step(done, "revert-urls", await asyncio.to_thread(self._preview_revert, database))
        rewrite = await asyncio.to_thread(self._rewrite_back, database, keys, True)
        self._preview_step(done, "rewrite-back", rewrite)

    def _preview_step(self, done: dict[str, Any], name: str, detail: dict[str, Any]) -> None:
        record = done.get(name)
        if record is not None and record.state == StepState.DONE:
            self.report.steps.append(StepOutcome(name, "done before", _detail(record.detail)))
        else:
            self.report.steps.append(StepOutcome(name, "would run", detail))

    def _preview_revert(self, database: DatabaseConfig) -> dict[str, Any]:
        with connect(database.dsn.get_secret_value()) as conn:
            if not journal.exists(conn):
                return {"runs": [], "values": 0}
            runs = forward_runs(conn)
            return {"runs": runs, "values": sum(journal.changes_in(conn, r) for r in runs)}


def _detail(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"error": text}
    return value if isinstance(value, dict) else {"detail": value}


def _copy_detail(reports: list[MappingReport]) -> dict[str, Any]:
    return {
        r.spec.name: {
            "copied": r.stats.copied,
            "to_copy": r.stats.to_copy,
            "adopted": r.stats.adopted,
            "conflicts": r.stats.conflicts,
            "kept": r.stats.kept,
            "failed": r.stats.failed,
            "decisions": {str(k): v for k, v in r.stats.decisions.items()},
        }
        for r in reports
    }


def progress_rows(run: RollbackRun) -> list[tuple[str, int, int | None, int, int]]:
    """(label, objects settled, objects to copy, bytes moved, failures) per mapping, for a progress display."""
    return [
        (
            r.spec.name,
            r.stats.settled,
            r.stats.queued if r.stats.listing_done else None,
            r.stats.bytes_moved,
            r.stats.failed,
        )
        for r in run.report.copies
    ]
