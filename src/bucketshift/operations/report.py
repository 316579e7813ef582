"""`--report PATH`: what a run did, written as one HTML page; the pieces each verb fills.

The manifest is the source of every object number (totals, throughput, failures), so a page
agrees with the manifest whichever verb wrote it.  Only names reach a report: the plan file's
name, buckets, keys, columns; never the plan's keys or DSNs.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bucketshift.config import Plan, S3Endpoint
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.reverse import reverse_spec
from bucketshift.engine.verify import VerifyReport
from bucketshift.errors import BucketshiftError, UsageError
from bucketshift.operations.context import mapping_specs, open_state, state_exists, state_where
from bucketshift.operations.copy import CopyRun
from bucketshift.operations.estimate import Estimate
from bucketshift.operations.migrate import MigratePreview, MigrateRun, Step
from bucketshift.operations.provision import posture as read_posture
from bucketshift.operations.rewrite import RewriteReport
from bucketshift.operations.rollback import RollbackReport, RollbackRequest, StepOutcome
from bucketshift.operations.status import StatusReport, StatusRequest
from bucketshift.operations.verify import VerifyRun
from bucketshift.provision.posture import BucketPosture
from bucketshift.report.costs import Estimated, Moved, compare
from bucketshift.report.from_manifest import from_manifest
from bucketshift.report.html import render_html
from bucketshift.report.model import CheckLine, ColumnRewrite, EstimateVsActual, FailureRow, PostureRow, Report

__all__ = [
    "copy_moved",
    "destination_posture",
    "estimate_figures",
    "manifest_report",
    "migrate_preview_report",
    "migrate_report",
    "posture_rows",
    "rewrite_rows",
    "rollback_report",
    "status_report",
    "verify_findings",
    "verify_notes",
    "verify_report",
    "write_report",
]

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def write_report(path: Path, report: Report) -> Path:
    """Write the page atomically (a temporary file beside it, then a rename): a reader never sees
    half a page, and a failed write leaves the previous report in place."""
    target = Path(path)
    page = render_html(report).encode("utf-8")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {target}: {exc.strerror or exc}; pass --report PATH") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(page)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write the report to {target}: {exc.strerror or exc}; pass --report PATH") from None
    return target


def destination_posture(plan: Plan) -> list[BucketPosture] | None:
    """Each destination bucket's exposure, read live; None where the destination is not S3 (a local
    directory has no exposure to judge)."""
    if not isinstance(plan.destination, S3Endpoint):
        return None
    return read_posture(plan).buckets


def posture_rows(postures: Iterable[BucketPosture]) -> tuple[PostureRow, ...]:
    return tuple(PostureRow(p.bucket, p.access, tuple(p.findings)) for p in postures)


def rewrite_rows(report: RewriteReport) -> tuple[ColumnRewrite, ...]:
    """Per column: URLs rewritten (or, for a plan, that would be), the rest of the Supabase URLs
    found, and values left alone because their new form would not fit."""
    return tuple(
        ColumnRewrite(c.column, c.tally.rewritten, c.tally.urls - c.tally.rewritten, c.tally.too_long)
        for c in report.columns
    )


def _plan_name(plan: Plan) -> str:
    return plan.path.name if plan.path is not None else "(plan not from a file)"


def manifest_report(
    plan: Plan,
    state: str | Path | None,
    *,
    command: str,
    specs: Sequence[MappingSpec] | None = None,
    extra_failures: Iterable[FailureRow] = (),
    posture: Iterable[BucketPosture] | None = None,
    rewrite: RewriteReport | Sequence[ColumnRewrite] | None = None,
    estimate: EstimateVsActual | None = None,
    checklist: Iterable[CheckLine] | None = None,
    notes: Iterable[str] = (),
    title: str | None = None,
    way_back: bool = False,
    clock: Clock = _utc_now,
) -> Report:
    """A report whose object sections come from the plan's manifest; the others from what the verb
    passes (None: that section was not part of this run).  `extra_failures` are findings the
    manifest holds no row for; a key already listed from the manifest is not listed twice.

    Where the manifest does not exist yet (status, or a dry run, before anything was copied), the
    object sections are left out and a note says so; the failures section then holds the extras."""
    chosen = list(specs) if specs is not None else mapping_specs(plan)
    notes = list(notes)
    sections = None
    if state_exists(plan, state):
        with open_state(plan, state, read_only=True) as manifest:
            sections = from_manifest(manifest, chosen)
    if sections is None:
        notes.append(
            f"no manifest at {state_where(plan, state)} yet: nothing was copied with this plan, so no object numbers"
        )
    failures = list(sections.failures) if sections is not None else []
    listed = {(f.bucket, f.key) for f in failures}
    for row in extra_failures:
        if (row.bucket, row.key) not in listed:
            listed.add((row.bucket, row.key))
            failures.append(row)
    columns = rewrite_rows(rewrite) if isinstance(rewrite, RewriteReport) else rewrite
    return Report(
        title=title or f"bucketshift {command} report",
        generated_at=clock(),
        plan_name=_plan_name(plan),
        command=command,
        buckets=None if sections is None else sections.buckets,
        throughput=None if sections is None else sections.throughput,
        rewrite=None if columns is None else tuple(columns),
        failures=tuple(failures),
        posture=None if posture is None else posture_rows(posture),
        estimate=estimate,
        checklist=None if checklist is None else tuple(checklist),
        notes=tuple(notes),
        way_back=way_back,
    )


def verify_findings(report: VerifyReport) -> list[FailureRow]:
    """What one mapping's verify found, as failure rows (the manifest holds no row for a missing object)."""
    bucket = report.spec.source_bucket
    rows = [FailureRow(bucket, key, "missing at the destination (verify)", 0, "missing") for key in report.missing]
    rows += [FailureRow(bucket, m.key, m.reason, 0, "differs") for m in report.differing]
    rows += [FailureRow(bucket, m.key, m.reason, 0, "conflict") for m in report.conflicts]
    return rows


def verify_notes(reports: Sequence[VerifyReport]) -> list[str]:
    notes: list[str] = []
    for r in reports:
        s, name = r.stats, r.spec.source_bucket
        mode = "deep (destination bytes read and hashed)" if r.deep else "by the checksums the destination stores"
        notes.append(f"{name}: {s.checked:,} objects checked {mode}, {s.verified:,} verified")
        if s.placeholders_skipped:
            notes.append(f"{name}: {s.placeholders_skipped:,} folder placeholders skipped (never copied)")
        if s.extra_at_destination:
            notes.append(f"{name}: {s.extra_at_destination:,} objects at the destination that the source lacks")
        notes += r.notes
    return notes


def verify_report(
    plan: Plan,
    state: str | Path | None,
    verify_reports: Sequence[VerifyReport],
    posture: Iterable[BucketPosture] | None = None,
    *,
    clock: Clock = _utc_now,
) -> Report:
    """What `verify --report` writes: the manifest's numbers after the verify, with what verify found
    that the manifest has no row for (objects never copied), and the exposure when checked."""
    return manifest_report(
        plan,
        state,
        command="verify",
        specs=[r.spec for r in verify_reports],
        extra_failures=[row for r in verify_reports for row in verify_findings(r)],
        posture=posture,
        notes=verify_notes(verify_reports),
        clock=clock,
    )


# migrate -----------------------------------------------------------------------------------------


def estimate_figures(estimated: Estimate) -> Estimated:
    """The estimate's figures that `report.costs.compare` sets beside what the copy did."""
    cost, requests = estimated.cost, estimated.requests
    return Estimated(
        objects=estimated.objects_to_copy,
        bytes=estimated.bytes_to_copy,
        seconds=estimated.time.seconds,
        how_timed=estimated.time.how,
        put_class=requests["dest_put_class"],
        get_class=requests["dest_get_class"],
        listing_pages=requests["dest_lists"],
        egress_usd=cost.egress_usd,
        requests_usd=round(cost.put_requests_usd + cost.get_requests_usd, 6),
        total_once_usd=cost.total_once_usd,
        prices=cost.prices,
    )


def copy_moved(copy: CopyRun, seconds: float | None) -> Moved:
    """What one copy really wrote and read (its reports' counters)."""
    stats = [r.stats for r in copy.reports]
    return Moved(
        objects=sum(s.copied for s in stats),
        bytes=sum(s.copied_bytes for s in stats),
        read_bytes=sum(s.bytes_moved for s in stats),
        seconds=seconds,
    )


_STEP_OK: dict[str, bool | None] = {"done": True, "skipped": True, "failed": False, "declined": False}


def _when(stamp: str | None) -> str:
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else "?"
    except ValueError:
        return stamp or "?"


def _why(step: Step) -> str:
    """What stopped a step, then what to do next."""
    return ". ".join(part.rstrip(".") for part in (step.error, step.next_step) if part) + "."


def _step_line(step: Step) -> CheckLine:
    label = f"{step.number}/{step.total} {step.name}"
    if step.status == "skipped":
        detail = f"already done at {_when(step.finished_at)}, skipped"
    elif step.status == "done":
        detail = f"done at {_when(step.finished_at)} in {step.seconds:.1f} s"
    elif step.status in ("failed", "declined"):
        detail = _why(step)
    else:
        detail = "not run"
    return CheckLine("step", label, _STEP_OK.get(step.status), detail)


def _summary_columns(summary: dict[str, Any] | None) -> list[ColumnRewrite] | None:
    """The rewrite's columns as a step record keeps them (a rewrite done by an earlier run)."""
    columns = (summary or {}).get("columns")
    if not isinstance(columns, dict):
        return None
    return [
        ColumnRewrite(name, int(c.get("rewritten", 0)), int(c.get("urls", 0)) - int(c.get("rewritten", 0)), 0)
        for name, c in columns.items()
    ]


def _migrate_rewrite(work: MigrateRun, notes: list[str]) -> RewriteReport | list[ColumnRewrite] | None:
    step = next((s for s in work.steps if s.name == "rewrite-urls"), None)
    if step is None:
        return None
    if step.status == "skipped":
        notes.append("URL rewrite: done by an earlier run; its counts are that run's (too-long values not recorded)")
        return _summary_columns(step.summary)
    result = step.result
    if isinstance(result, RewriteReport) and (
        result.mode == "apply" or not any(c.tally.rewritten for c in result.columns)
    ):
        return result
    if step.status == "declined":
        notes.append("URL rewrite: planned but not applied (not confirmed); no row was changed")
    return None


def _migrate_estimate(work: MigrateRun, notes: list[str]) -> EstimateVsActual | None:
    copy = next(s for s in work.steps if s.name == "copy")
    if work.estimate_error is not None:
        notes.append(f"estimate: could not be made before the copy: {work.estimate_error}")
    if work.estimated is None:
        if copy.status == "skipped":
            notes.append("estimate: the copy was done by an earlier run, so this run made none")
        return None
    moved = copy_moved(copy.result, copy.seconds) if isinstance(copy.result, CopyRun) else None
    return compare(estimate_figures(work.estimated), moved)


def _step_failures(work: MigrateRun) -> list[FailureRow]:
    """The step that stopped the run, as a failure row: a run stopped by an error has no object row to show."""
    failed = work.failed_step
    if failed is None:
        return []
    return [FailureRow(f"step {failed.name}", "(the whole step)", _why(failed), 0, "step " + failed.status)]


def _live_posture(plan: Plan, notes: list[str]) -> list[BucketPosture] | None:
    """The exposure read now; a report is still written when it cannot be read (the note says why)."""
    try:
        return destination_posture(plan)
    except BucketshiftError as error:
        notes.append(f"posture: could not be read: {error.message}")
        return None


def migrate_report(work: MigrateRun, *, clock: Clock = _utc_now) -> Report:
    """What `migrate --report` writes, after the run however it ended: each step as a checklist line,
    the manifest's numbers, what the last verify found, the rewrite, the exposure and the estimate."""
    notes: list[str] = []
    posture = _live_posture(work.scoped_plan, notes)
    verified = [s.result for s in work.steps if isinstance(s.result, VerifyRun)]
    findings = [row for r in verified[-1].reports for row in verify_findings(r)] if verified else []
    if verified:
        notes += verify_notes(verified[-1].reports)
    rewrite = _migrate_rewrite(work, notes)
    estimate = _migrate_estimate(work, notes)
    return manifest_report(
        work.plan,
        work.request.state,
        command="migrate",
        specs=work.specs,
        extra_failures=[*_step_failures(work), *findings],
        posture=posture,
        rewrite=rewrite,
        estimate=estimate,
        checklist=[_step_line(s) for s in work.steps],
        notes=notes,
        clock=clock,
    )


def migrate_preview_report(work: MigrateRun, shown: MigratePreview, *, clock: Clock = _utc_now) -> Report:
    """What `migrate --dry-run --report` writes: the plan of each step and the estimate; nothing was changed."""
    notes = ["dry run: nothing was changed; the object numbers are the manifest's as it stands"]
    posture = _live_posture(work.scoped_plan, notes)
    lines = [
        CheckLine("step", f"{s.number}/{s.total} {s.name}", True if s.done_at else None,
                  f"already done at {_when(s.done_at)}; a run skips it" if s.done_at else "would run")
        for s in shown.steps
    ]  # fmt: skip
    estimate = None if shown.estimate is None else compare(estimate_figures(shown.estimate), None)
    return manifest_report(
        work.plan,
        work.request.state,
        command="migrate --dry-run",
        specs=work.specs,
        posture=posture,
        estimate=estimate,
        checklist=lines,
        notes=notes,
        title="bucketshift migrate report (dry run: nothing was changed)",
        clock=clock,
    )


# status ------------------------------------------------------------------------------------------


def status_report(plan: Plan, request: StatusRequest, found: StatusReport, *, clock: Clock = _utc_now) -> Report:
    """What `status --report` writes: every line of the checklist, the manifest's numbers, and the
    exposure the status read itself (None where the destination is not S3 or could not be read)."""
    lines = [CheckLine(line.check, line.name, line.ok, line.detail) for line in found.lines]
    return manifest_report(
        plan,
        request.state,
        command="status",
        specs=mapping_specs(plan, request.buckets),
        posture=found.postures,
        checklist=lines,
        notes=[f"{len(found.unticked)} checklist lines not ticked" if found.unticked else "every line ticked"],
        clock=clock,
    )


# rollback ----------------------------------------------------------------------------------------


def _rollback_failures(report: RollbackReport) -> list[FailureRow]:
    """What the run found that the real manifest may not hold (a dry run writes only a scratch one)."""
    rows = [FailureRow(r.spec.source_bucket, f.key, f.error, 0, "failed") for r in report.copies for f in r.failures]
    rows += [
        FailureRow(r.spec.source_bucket, c.key, c.reason, 0, "conflict") for r in report.copies for c in r.conflicts
    ]
    for check in report.checks:
        bucket = check.spec.source_bucket
        rows += [FailureRow(bucket, key, "missing at Supabase (verify-back)", 0, "missing") for key in check.missing]
        rows += [FailureRow(bucket, m.key, m.reason, 0, "differs") for m in check.differing]
    return rows


_OUTCOME_OK: dict[str, bool | None] = {"done": True, "done before": True, "not needed": True, "stopped": False}


def _totals(detail: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    """A step record's counts summed over its mappings or columns (`{mapping: {copied: 1}}` -> copied 1);
    text and lists kept as they are; the copy's per-decision counts left out (the JSON output has them)."""
    for name, value in detail.items():
        if isinstance(value, bool) or name == "decisions":
            continue
        if isinstance(value, dict):
            _totals(value, into)
        elif isinstance(value, int):
            into[name] = into.get(name, 0) + value
        elif value is not None:
            into[name] = value
    return into


def _rollback_line(outcome: StepOutcome) -> CheckLine:
    counts = _totals(outcome.detail, {})
    shown = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items())
    detail = f"{outcome.outcome}: {shown}" if shown else outcome.outcome
    return CheckLine("step", outcome.name, _OUTCOME_OK.get(outcome.outcome), detail)


def rollback_report(plan: Plan, request: RollbackRequest, report: RollbackReport, *, clock: Clock = _utc_now) -> Report:
    """What `rollback --report` writes: the way back's rows of the manifest (S3 bucket -> Supabase
    bucket), each step, the rewrite back per column.  A dry run's page says so in its title: its
    object numbers are the manifest's as it stands, what would be copied back is in the checklist."""
    specs = [reverse_spec(s) for s in mapping_specs(plan)]
    notes = list(report.notes)
    if report.finished:
        notes.append(f"the application goes back to Supabase with {report.switch}")
    if report.dry_run:
        notes.append("dry run: nothing was changed; the object numbers are the manifest's as it stands")
    title = "bucketshift rollback report: the way back to Supabase"
    columns = [
        ColumnRewrite(c.column, c.tally.rewritten, c.tally.urls - c.tally.rewritten, c.tally.too_long)
        for c in report.rewrite
    ]
    ran_rewrite = any(s.name == "rewrite-back" and s.outcome in ("done", "would run") for s in report.steps)
    return manifest_report(
        plan,
        request.state,
        command="rollback --dry-run" if report.dry_run else "rollback",
        specs=specs,
        extra_failures=_rollback_failures(report),
        rewrite=columns if ran_rewrite else None,
        checklist=[_rollback_line(s) for s in report.steps],
        notes=notes,
        title=title + (" (dry run: nothing was changed)" if report.dry_run else ""),
        way_back=True,
        clock=clock,
    )
