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

from bucketshift.config import Plan, S3Endpoint
from bucketshift.engine.diff import MappingSpec
from bucketshift.engine.verify import VerifyReport
from bucketshift.errors import UsageError
from bucketshift.operations.context import manifest_path, mapping_specs
from bucketshift.operations.provision import posture as read_posture
from bucketshift.operations.rewrite import RewriteReport
from bucketshift.provision.posture import BucketPosture
from bucketshift.report.from_manifest import from_manifest
from bucketshift.report.html import render_html
from bucketshift.report.model import ColumnRewrite, EstimateVsActual, FailureRow, PostureRow, Report

__all__ = ["destination_posture", "manifest_report", "posture_rows", "rewrite_rows", "verify_report", "write_report"]

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
    state: Path | None,
    *,
    command: str,
    specs: Sequence[MappingSpec] | None = None,
    extra_failures: Iterable[FailureRow] = (),
    posture: Iterable[BucketPosture] | None = None,
    rewrite: RewriteReport | None = None,
    estimate: EstimateVsActual | None = None,
    notes: Iterable[str] = (),
    clock: Clock = _utc_now,
) -> Report:
    """A report whose object sections come from the plan's manifest; the others from what the verb
    passes (None: that section was not part of this run).  `extra_failures` are findings the
    manifest holds no row for; a key already listed from the manifest is not listed twice."""
    chosen = list(specs) if specs is not None else mapping_specs(plan)
    sections = from_manifest(manifest_path(plan, state), chosen)
    listed = {(f.bucket, f.key) for f in sections.failures}
    failures = list(sections.failures)
    for row in extra_failures:
        if (row.bucket, row.key) not in listed:
            listed.add((row.bucket, row.key))
            failures.append(row)
    return Report(
        title=f"bucketshift {command} report",
        generated_at=clock(),
        plan_name=_plan_name(plan),
        command=command,
        buckets=sections.buckets,
        throughput=sections.throughput,
        rewrite=None if rewrite is None else rewrite_rows(rewrite),
        failures=tuple(failures),
        posture=None if posture is None else posture_rows(posture),
        estimate=estimate,
        notes=tuple(notes),
    )


def _verify_findings(report: VerifyReport) -> list[FailureRow]:
    bucket = report.spec.source_bucket
    rows = [FailureRow(bucket, key, "missing at the destination (verify)", 0, "missing") for key in report.missing]
    rows += [FailureRow(bucket, m.key, m.reason, 0, "differs") for m in report.differing]
    rows += [FailureRow(bucket, m.key, m.reason, 0, "conflict") for m in report.conflicts]
    return rows


def _verify_notes(reports: Sequence[VerifyReport]) -> list[str]:
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
    state: Path | None,
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
        extra_failures=[row for r in verify_reports for row in _verify_findings(r)],
        posture=posture,
        notes=_verify_notes(verify_reports),
        clock=clock,
    )
