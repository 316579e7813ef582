"""`migrate`: the whole phase in order: provision, copy, verify, rewrite-urls, verify again.

Each step is recorded in the manifest (phase "migrate") when it starts and when it ends, so a rerun
skips the steps that are done and runs again the one that was interrupted or failed.  The steps'
own operations make a rerun cheap and safe: the copy adopts what the manifest and the destination
already hold, verify only reads, and the rewrite only finds URLs not yet rewritten (each change
journaled).  The run stops at the first step that fails and says what to do next.

The library never prints and never asks: `events` yields what happens, step by step, and the
rewrite's apply waits for the caller's `confirm` (or `yes`).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bucketshift.config import Plan
from bucketshift.engine.diff import ConflictPolicy, MappingSpec
from bucketshift.engine.listing import list_all
from bucketshift.engine.manifest import Manifest, ManifestStore, StepRecord, StepState
from bucketshift.errors import EXIT_FAILURES, BucketshiftError, UsageError
from bucketshift.operations import provision as provisioning
from bucketshift.operations.context import (
    ListFrom,
    listing_source,
    mapping_specs,
    open_state,
    state_where,
)
from bucketshift.operations.copy import CopyRequest, CopyRun
from bucketshift.operations.estimate import Estimate, estimate
from bucketshift.operations.provision import ProvisionPlan, ProvisionResult
from bucketshift.operations.rewrite import RewriteReport, RewriteRequest, RewriteRun
from bucketshift.operations.verify import VerifyRequest, VerifyRun
from bucketshift.retry import RetryPolicy
from bucketshift.stores.base import PLACEHOLDER_NAME
from bucketshift.stores.registry import open_store
from bucketshift.stores.supabase_keys import require_service_keys

__all__ = [
    "PHASE",
    "MigratePreview",
    "MigrateRequest",
    "MigrateRun",
    "NewBucket",
    "Step",
    "StepEvent",
    "StepPreview",
    "step_names",
]

PHASE = "migrate"
ROLLBACK_PHASE = "rollback"

StepName = Literal["provision", "copy", "verify", "rewrite-urls", "verify-after-rewrite"]
Status = Literal["pending", "skipped", "running", "done", "failed", "declined"]
EventKind = Literal["skipped", "started", "planned", "applying", "finished"]
Confirm = Callable[[RewriteReport], bool]


def step_names(plan: Plan) -> list[StepName]:
    """The steps of this plan: the rewrite and the verify after it only when it has a `[database]`."""
    names: list[StepName] = ["provision", "copy", "verify"]
    if plan.database is not None:
        names += ["rewrite-urls", "verify-after-rewrite"]
    return names


@dataclass(frozen=True)
class MigrateRequest:
    dry_run: bool = False
    yes: bool = False
    """Apply the URL rewrite without asking."""
    state: str | Path | None = None
    buckets: list[str] | None = None
    """Only these mappings, in every step (provision and the rewrite then cover only their buckets)."""
    concurrency: int | None = None
    bandwidth: float | None = None
    on_conflict: ConflictPolicy = "report"
    list_from: ListFrom = "auto"
    estimate_before_copy: bool = False
    """Estimate the copy right before it runs (`--report` sets it, to set the estimate beside what the
    copy really did); a copy skipped as done is not estimated."""


@dataclass
class Step:
    """One step as this run sees it; live while it runs (`work` is what progress is drawn from)."""

    number: int
    total: int
    name: StepName
    status: Status = "pending"
    finished_at: str | None = None
    """When it was done: for a step skipped, the earlier run's time."""
    summary: dict[str, Any] | None = None
    """Its counts, as recorded in the manifest."""
    error: str | None = None
    next_step: str | None = None
    """For a step that failed: one sentence saying what to do next."""
    exit_code: int = 0
    work: CopyRun | VerifyRun | RewriteRun | None = None
    result: ProvisionResult | CopyRun | VerifyRun | RewriteReport | None = None
    preview: RewriteReport | None = None
    """rewrite-urls: the plan shown before the apply."""
    seconds: float = 0.0


@dataclass(frozen=True)
class StepEvent:
    """`started`, `finished` or `skipped`; the rewrite adds `planned` (its plan is ready, the
    confirmation comes next) and `applying` (confirmed, writing)."""

    kind: EventKind
    step: Step


@dataclass(frozen=True)
class NewBucket:
    """A mapping whose destination bucket provision creates: everything listed would be copied."""

    source: str
    destination: str
    objects: int
    bytes: int


@dataclass
class StepPreview:
    number: int
    total: int
    name: StepName
    done_at: str | None = None
    """Already done: a run would skip it."""
    provision: ProvisionPlan | None = None
    copy: CopyRun | None = None
    new_buckets: list[NewBucket] = field(default_factory=list)
    rewrite: RewriteReport | None = None
    note: str | None = None


@dataclass
class MigratePreview:
    steps: list[StepPreview]
    manifest: str
    """Where the manifest is, as output may say it (no DSN password)."""
    estimate: Estimate | None = None
    """The copy's requests, cost and time, as `bucketshift estimate` gives them."""


class _StepFailed(Exception):
    """A step's operation finished but reported failures: `message` is what it found; `redo` names an
    earlier step whose work it took back (verify found objects to copy again), run again by a rerun."""

    def __init__(self, message: str, next_step: str, redo: StepName | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.next_step = next_step
        self.redo = redo


@dataclass
class MigrateRun:
    plan: Plan
    request: MigrateRequest = field(default_factory=MigrateRequest)
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.estimated: Estimate | None = None
        """The copy's estimate, made right before it ran (`estimate_before_copy`)."""
        self.estimate_error: str | None = None
        """Why the estimate could not be made (the copy ran all the same)."""
        self.specs: list[MappingSpec] = mapping_specs(self.plan, self.request.buckets)
        names = step_names(self.plan)
        self.steps = [Step(i, len(names), name) for i, name in enumerate(names, 1)]
        self.scope: list[str] | None = sorted(s.source_bucket for s in self.specs) if self.request.buckets else None
        self.scoped_plan = (
            self.plan
            if self.scope is None
            else self.plan.model_copy(update={"buckets": [m for m in self.plan.buckets if m.source in self.scope]})
        )

    @property
    def manifest_where(self) -> str:
        return state_where(self.plan, self.request.state)

    @property
    def current(self) -> Step | None:
        return next((s for s in self.steps if s.status == "running"), None)

    @property
    def failed_step(self) -> Step | None:
        return next((s for s in self.steps if s.status in ("failed", "declined")), None)

    @property
    def ok(self) -> bool:
        return all(s.status in ("done", "skipped") for s in self.steps)

    @property
    def exit_code(self) -> int:
        failed = self.failed_step
        return failed.exit_code if failed is not None else 0 if self.ok else EXIT_FAILURES

    # what is already done ---------------------------------------------------------------

    def _recorded(self) -> dict[str, StepRecord]:
        with open_state(self.plan, self.request.state, preview=True) as manifest:
            return manifest.steps(PHASE)

    def _covers(self, record: StepRecord) -> bool:
        """Done for at least the buckets this run asks for."""
        if record.state != StepState.DONE:
            return False
        try:
            done_for = json.loads(record.detail or "{}").get("buckets")
        except json.JSONDecodeError:
            return False
        return done_for is None or (self.scope is not None and set(self.scope) <= set(done_for))

    def to_skip(self) -> dict[str, StepRecord]:
        """The steps a run would skip: done (for these buckets), before the first one that is not."""
        recorded = self._recorded()
        skip: dict[str, StepRecord] = {}
        for step in self.steps:
            record = recorded.get(step.name)
            if record is None or not self._covers(record):
                break
            skip[step.name] = record
        return skip

    def will_ask(self) -> bool:
        """True when this run would reach the rewrite's apply and ask for a yes first."""
        if self.request.yes or self.request.dry_run or self.plan.database is None:
            return False
        return "rewrite-urls" not in self.to_skip()

    # the run ----------------------------------------------------------------------------

    async def run(self, confirm: Confirm | None = None) -> list[Step]:
        """All the steps, without watching them one by one."""
        async for _ in self.events(confirm):
            pass
        return self.steps

    async def events(self, confirm: Confirm | None = None) -> AsyncIterator[StepEvent]:
        """Run the steps in order, yielding as each starts, skips and ends; stop at the first failure."""
        if self.request.dry_run:
            raise UsageError("a dry run of migrate is `preview()`, which writes nothing")
        require_service_keys(self.plan)
        skip = self.to_skip()
        with open_state(self.plan, self.request.state) as manifest:
            for step in self.steps:
                record = skip.get(step.name)
                if record is not None:
                    step.status, step.finished_at = "skipped", record.finished_at
                    step.summary = _loads(record.detail)
                    yield StepEvent("skipped", step)
                    continue
                # The phase moves forward again: a rollback after it has everything to do again.
                manifest.clear_steps(ROLLBACK_PHASE)
                manifest.start_step(PHASE, step.name)
                step.status = "running"
                yield StepEvent("started", step)
                if step.name == "copy" and self.request.estimate_before_copy:
                    await self._estimate_copy()
                started = time.monotonic()
                try:
                    async for event in self._run_step(step, confirm):
                        yield event
                except _StepFailed as failure:
                    self._fail(manifest, step, failure.message, failure.next_step, EXIT_FAILURES)
                    if failure.redo is not None:
                        manifest.fail_step(PHASE, failure.redo, f"{step.name}: {failure.message}")
                except BucketshiftError as error:
                    self._fail(manifest, step, error.message, self._next_after_error(step), error.exit_code)
                except Exception as error:
                    self._fail(manifest, step, f"{type(error).__name__}: {error}", self._next_after_error(step), 1)
                    raise
                else:
                    if step.status == "declined":
                        manifest.fail_step(PHASE, step.name, step.error or "not confirmed")
                    else:
                        summary = {"buckets": self.scope, **(step.summary or {})}
                        step.summary = summary
                        manifest.finish_step(PHASE, step.name, json.dumps(summary, sort_keys=True))
                        step.status = "done"
                        step.finished_at = manifest.steps(PHASE)[step.name].finished_at
                step.work = None
                step.seconds = time.monotonic() - started
                yield StepEvent("finished", step)
                if step.status != "done":
                    return

    async def _estimate_copy(self) -> None:
        """The copy's estimate as `bucketshift estimate` makes it, before the copy's clock starts; an
        estimate that cannot be made is noted, and the copy runs all the same."""
        r = self.request
        try:
            self.estimated = await estimate(
                self.plan, state=r.state, only=r.buckets, list_from=r.list_from, on_conflict=r.on_conflict,
                concurrency=r.concurrency,
            )  # fmt: skip
        except BucketshiftError as error:
            self.estimate_error = error.message

    def _fail(self, manifest: ManifestStore, step: Step, error: str, next_step: str, code: int) -> None:
        step.status, step.error, step.next_step, step.exit_code = "failed", error, next_step, code
        manifest.fail_step(PHASE, step.name, error)

    async def _run_step(self, step: Step, confirm: Confirm | None) -> AsyncIterator[StepEvent]:
        if step.name == "provision":
            await self._provision(step)
        elif step.name == "copy":
            await self._copy(step)
        elif step.name in ("verify", "verify-after-rewrite"):
            await self._verify(step)
        else:
            async for event in self._rewrite(step, confirm):
                yield event

    async def _provision(self, step: Step) -> None:
        result = await asyncio.to_thread(provisioning.provision, self.scoped_plan)
        step.result = result
        step.summary = {"applied": len(result.applied), "in_place": len(result.plan.changes) - len(result.applied)}

    def _copy_request(self, *, dry_run: bool = False, buckets: list[str] | None = None) -> CopyRequest:
        r = self.request
        return CopyRequest(
            dry_run=dry_run, concurrency=r.concurrency, bandwidth=r.bandwidth, state=r.state,
            buckets=buckets if buckets is not None else r.buckets, list_from=r.list_from, on_conflict=r.on_conflict,
        )  # fmt: skip

    async def _copy(self, step: Step) -> None:
        work = CopyRun(self.plan, self._copy_request())
        step.work = step.result = work
        await work.run()
        step.summary = {
            r.spec.source_bucket: {
                "listed": r.stats.listed, "copied": r.stats.copied, "copied_bytes": r.stats.copied_bytes,
                "adopted": r.stats.adopted, "kept": r.stats.kept, "conflicts": r.stats.conflicts,
                "failed": r.stats.failed,
            }
            for r in work.reports
        }  # fmt: skip
        if work.conflicts:
            raise _StepFailed(
                f"{work.conflicts} objects were changed by the app at the destination and left alone",
                f"Step copy stopped on {work.conflicts} conflicts: run `bucketshift migrate{self._args()} "
                "--keep-destination-changes` to keep the app's versions, or --overwrite-destination-changes "
                "to write the source's.",
            )
        if work.failed:
            raise _StepFailed(
                f"{work.failed} objects could not be copied",
                f"Step copy failed for {work.failed} objects (listed above): run `bucketshift migrate{self._args()}` "
                "again to retry them; the copy resumes where it stopped.",
            )

    async def _verify(self, step: Step) -> None:
        r = self.request
        request = VerifyRequest(concurrency=r.concurrency, state=r.state, buckets=r.buckets, list_from=r.list_from)
        work = VerifyRun(self.plan, request)
        step.work = step.result = work
        await work.run()
        missing = sum(x.stats.missing for x in work.reports)
        differing = sum(x.stats.differing for x in work.reports)
        conflicts = sum(x.stats.conflicts for x in work.reports)
        step.summary = {
            "verified": sum(x.stats.verified for x in work.reports),
            "missing": missing,
            "differing": differing,
            "conflicts": conflicts,
        }
        if not work.ok:
            found = f"{missing} objects missing, {differing} differing and {conflicts} in conflict at the destination"
            if conflicts and not (missing or differing):
                raise _StepFailed(
                    found,
                    f"Step {step.name} found {conflicts} objects the app changed at the destination: run "
                    f"`bucketshift migrate{self._args()} --keep-destination-changes` to keep the app's versions, or "
                    "--overwrite-destination-changes to write the source's.",
                    redo="copy",
                )
            raise _StepFailed(
                found,
                f"Step {step.name} found objects not as the source holds them (listed above): run "
                f"`bucketshift migrate{self._args()}` again; it copies them again from the copy step on.",
                redo="copy",
            )

    async def _rewrite(self, step: Step, confirm: Confirm | None) -> AsyncIterator[StepEvent]:
        planning = RewriteRun(self.scoped_plan, RewriteRequest(mode="plan", state=self.request.state))
        step.work = planning
        preview = await asyncio.to_thread(planning.run)
        step.preview = step.result = preview
        to_rewrite = sum(c.tally.rewritten for c in preview.columns)
        step.summary = {"run_id": None, "columns": _columns(preview)}
        step.work = None
        yield StepEvent("planned", step)
        if not to_rewrite:
            return
        if not self.request.yes:
            if confirm is None:
                raise UsageError("the URL rewrite needs a yes: pass yes=True or a confirm callback")
            if not confirm(preview):
                step.status = "declined"
                step.exit_code = EXIT_FAILURES
                step.error = "the URL rewrite was not confirmed; nothing was written to the database"
                step.next_step = (
                    f"Step rewrite-urls was not applied: run `bucketshift migrate{self._args()}` again and "
                    "answer yes, or add --yes."
                )
                return
        applying = RewriteRun(self.scoped_plan, RewriteRequest(mode="apply", state=self.request.state))
        step.work = applying
        yield StepEvent("applying", step)
        report = await asyncio.to_thread(applying.run)
        step.result = report
        step.summary = {"run_id": report.run_id, "columns": _columns(report)}

    def _args(self) -> str:
        """The options that name this plan, for the commands a next-step sentence gives."""
        args = f" -c {self.plan.path}" if self.plan.path is not None else ""
        if self.request.state is not None:
            args += f" --state {self.request.state}"
        return args

    def _next_after_error(self, step: Step) -> str:
        again = f"then run `bucketshift migrate{self._args()}` again"
        inspect = {
            "provision": f"see what it would change with `bucketshift plan{self._args()}`",
            "copy": f"check both sides with `bucketshift check{self._args()}`",
            "verify": f"check both sides with `bucketshift check{self._args()}`",
            "verify-after-rewrite": f"check both sides with `bucketshift check{self._args()}`",
            "rewrite-urls": f"look at the rewrite's plan with `bucketshift rewrite-urls{self._args()}`",
        }[step.name]
        return f"Step {step.name} stopped on the error above: {inspect}, fix the cause, {again}."

    # the dry run ------------------------------------------------------------------------

    async def preview(self) -> MigratePreview:
        """What each step would change, reading only: no manifest, bucket or row is written."""
        require_service_keys(self.plan)
        skip = self.to_skip()
        out: list[StepPreview] = []
        provision_plan: ProvisionPlan | None = None
        listed: dict[str, NewBucket] | None = None
        with tempfile.TemporaryDirectory(prefix="bucketshift-preview-") as tmp:
            projected = Path(tmp) / "projected.manifest.sqlite3"
            for step in self.steps:
                shown = StepPreview(step.number, step.total, step.name)
                out.append(shown)
                if step.name in skip:
                    shown.done_at = skip[step.name].finished_at
                elif step.name == "provision":
                    provision_plan = shown.provision = await asyncio.to_thread(provisioning.plan, self.scoped_plan)
                elif step.name == "copy":
                    listed = listed or await self._project(projected)
                    await self._preview_copy(shown, provision_plan, listed)
                elif step.name == "rewrite-urls":
                    listed = listed or await self._project(projected)
                    request = RewriteRequest(mode="plan", state=projected)
                    shown.rewrite = await asyncio.to_thread(RewriteRun(self.scoped_plan, request).run)
                    shown.note = (
                        "counted as the rewrite finds them once every object the source holds now is copied and "
                        "verified; URLs of objects the source lacks stay not verified"
                    )
                else:
                    shown.note = "reads every object's size and checksum at the destination against the source"
            estimated = await estimate(
                self.plan, state=self.request.state, only=self.request.buckets, list_from=self.request.list_from,
                on_conflict=self.request.on_conflict, concurrency=self.request.concurrency,
            )  # fmt: skip
        return MigratePreview(out, self.manifest_where, estimated)

    async def _preview_copy(
        self, shown: StepPreview, provision_plan: ProvisionPlan | None, listed: dict[str, NewBucket]
    ) -> None:
        """The copy's own dry run where the destination bucket exists; the listing where provision makes it."""
        changes = provision_plan.changes if provision_plan is not None else []
        created = {c.target for c in changes if c.resource == "bucket" and c.kind == "create"}
        existing = [s.source_bucket for s in self.specs if s.dest_bucket not in created]
        if existing:
            shown.copy = CopyRun(self.plan, self._copy_request(dry_run=True, buckets=existing))
            await shown.copy.run()
        shown.new_buckets = [listed[s.source_bucket] for s in self.specs if s.dest_bucket in created]

    async def _project(self, path: Path) -> dict[str, NewBucket]:
        """List the source once and write, in a throw-away manifest at `path`, every object as the copy
        and verify would leave it, so the rewrite's plan counts what it will really change."""
        kind = listing_source(self.plan, self.request.list_from)
        out: dict[str, NewBucket] = {}
        with Manifest(path) as projected:
            async with open_store(self.plan.source, list_from=kind, transfer=self.plan.transfer) as source:
                for spec in self.specs:
                    count = total = 0
                    keys: list[str] = []
                    async for info in list_all(source, spec.source_bucket, "", RetryPolicy()):
                        if info.key.rsplit("/", 1)[-1] == PLACEHOLDER_NAME:
                            continue
                        count, total = count + 1, total + info.size
                        projected.mark_copied(spec.name, info.key, size=info.size, sha256=None, crc64nvme=None,
                                              source_etag=info.etag, source_modified=None,
                                              dest_key=spec.dest_key(info.key), dest_etag=None, attempts=0)  # fmt: skip
                        keys.append(info.key)
                        if len(keys) >= 1000:
                            projected.mark_verified(spec.name, keys)
                            keys = []
                    projected.mark_verified(spec.name, keys)
                    out[spec.source_bucket] = NewBucket(spec.source_bucket, spec.dest_bucket, count, total)
        return out


def _columns(report: RewriteReport) -> dict[str, dict[str, int]]:
    return {
        c.column: {
            "urls": c.tally.urls,
            "rewritten": c.tally.rewritten,
            "rows_changed": c.written if report.mode == "apply" else c.tally.rows_changed,
            "not_verified": c.tally.unverified,
        }
        for c in report.columns
    }


def _loads(detail: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(detail) if detail else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
