"""How a rollback looks on a terminal and as JSON (keys, paths and server text are never markup)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from bucketshift.cli.render import _tally_json, out, size
from bucketshift.operations.rollback import RollbackReport

__all__ = ["rollback_json", "rollback_report"]

_NEXT = {
    "copy-back": (
        "objects changed at Supabase since the copy were left as they are; look at them, then run rollback again "
        "with --overwrite-supabase-changes (the application's S3 version wins) or --keep-supabase-changes "
        "(Supabase's version stays); failed objects are copied again by a plain rerun"
    ),
    "verify-back": "objects copied back do not match at Supabase; run rollback again to copy them again",
}


def rollback_json(report: RollbackReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "already_done": report.already_done,
        "finished": report.finished,
        "stopped_at": report.stopped_at,
        "steps": [{"name": s.name, "outcome": s.outcome, "detail": s.detail} for s in report.steps],
        "conflicts": [
            {
                "mapping": r.spec.name,
                "key": c.key,
                "supabase_key": c.dest_key,
                "s3_size": c.source_size,
                "supabase_size": c.dest_size,
                "reason": c.reason,
            }
            for r in report.copies
            for c in r.conflicts
        ],
        "failures": [
            {"mapping": r.spec.name, "key": f.key, "error": f.error} for r in report.copies for f in r.failures
        ],
        "verify": [
            {
                "mapping": c.spec.name,
                "checked": c.checked,
                "verified": c.verified,
                "missing": c.missing,
                "differing": [{"key": m.key, "reason": m.reason} for m in c.differing],
            }
            for c in report.checks
        ],
        "reverted": [
            {"run": r.run_id, "revert_run": r.revert_run_id, "restored": r.restored, "changed_since": r.conflicts}
            for r in report.reverts
        ],
        "rewrite_run": report.rewrite_run,
        "rewrite": [{"column": c.column, "rows_written": c.written, **_tally_json(c.tally)} for c in report.rewrite],
        "switch": report.switch if report.finished else None,
    }


def _copies(report: RollbackReport) -> None:
    table = Table(
        "Supabase bucket <- S3 bucket",
        "to copy back",
        "copied",
        "bytes",
        "already there",
        "conflicts",
        "failed",
        title="copy back" + (" (dry run: nothing written)" if report.dry_run else ""),
    )
    for r in report.copies:
        s = r.stats
        table.add_row(
            Text(r.spec.name),
            str(s.to_copy),
            str(s.copied),
            size(s.copied_bytes),
            str(s.adopted),
            str(s.conflicts),
            str(s.failed),
        )
    out.print(table)
    for r in report.copies:
        for c in r.conflicts[:20]:
            out.print(f"  conflict {r.spec.dest_bucket}/{c.dest_key}: {c.reason}", markup=False, style="yellow")
        for f in r.failures[:20]:
            out.print(f"  failed {r.spec.source_bucket}/{f.key}: {f.error}", markup=False, style="red")


def rollback_report(report: RollbackReport) -> None:
    if report.already_done:
        out.print("the rollback is done already; nothing to do")
    elif report.copies and any(s.outcome in ("done", "would run", "stopped") for s in report.steps[:1]):
        _copies(report)
    for check in report.checks:
        out.print(
            f"verify {check.spec.dest_bucket}: {check.verified} of {check.checked} objects copied back read "
            f"back with the same sha256",
            markup=False,
        )
        for key in check.missing[:20]:
            out.print(f"  missing at Supabase: {key}", markup=False, style="red")
        for m in check.differing[:20]:
            out.print(f"  {m.key}: {m.reason}", markup=False, style="red")
    for r in report.reverts:
        out.print(
            f"forward rewrite run {r.run_id} reverted (journaled as run {r.revert_run_id}): {r.restored} "
            f"values restored",
            markup=False,
        )
        if r.conflicts:
            out.print(
                f"  {r.conflicts} values changed since the rewrite were left to the rewrite back",
                markup=False,
                style="yellow",
            )
    for c in report.rewrite:
        t = c.tally
        if report.dry_run:
            out.print(
                f"{c.column}: {t.rewritten} S3 forms in {t.rows_changed} rows now; the ones the revert does not "
                f"restore would be rewritten to Supabase URLs; {t.unverified} point at objects not at Supabase",
                markup=False,
            )
        else:
            out.print(
                f"{c.column}: rewrote {t.rewritten} S3 forms to Supabase URLs in {c.written} rows; "
                f"{t.unverified} point at objects not at Supabase (left as they are)",
                markup=False,
            )
        for old, new in t.samples[:3]:
            out.print(f"  {old}\n    -> {new}", markup=False, overflow="ignore", crop=False)
    table = Table("step", "outcome", "detail", title="rollback steps")
    for step in report.steps:
        table.add_row(Text(step.name), Text(step.outcome), Text(_short(step.detail)))
    out.print(table)
    if report.rewrite_run is not None and not report.dry_run:
        out.print(
            f"the rewrite back is journaled as run {report.rewrite_run}; undo it with: "
            f"bucketshift rewrite-urls --revert --run {report.rewrite_run}"
        )
    stopped = report.stopped_at
    if stopped is not None:
        out.print(
            f"rollback stopped at {stopped}: {_NEXT.get(stopped, 'run rollback again')}", markup=False, style="yellow"
        )
    elif report.dry_run:
        out.print("dry run: nothing was written; run rollback without --dry-run to do it")
    else:
        out.print(
            f"the files and rows are back at Supabase; switch the application back with: {report.switch}", markup=False
        )


def _short(detail: dict[str, Any]) -> str:
    text = ", ".join(f"{k}: {v}" for k, v in detail.items())
    return text if len(text) <= 200 else text[:197] + "..."
