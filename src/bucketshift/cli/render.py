"""How results look on a terminal and as JSON; the only place that prints."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bucketshift.database.revert import RevertReport
from bucketshift.database.rewriter import Tally
from bucketshift.engine.reconcile import ReconcileReport
from bucketshift.engine.transfer import MappingReport
from bucketshift.engine.verify import VerifyReport
from bucketshift.operations.check import CheckResult
from bucketshift.operations.copy import CopyRun
from bucketshift.operations.demo import Landing
from bucketshift.operations.listing import ListResult
from bucketshift.operations.provision import PostureReport, ProvisionPlan, ProvisionResult
from bucketshift.operations.rewrite import RewriteReport
from bucketshift.provision.diff import Change
from bucketshift.provision.lifecycle import abort_days, abort_rule, same_rule
from bucketshift.units import size_text as size


def _console(stderr: bool) -> Console:
    """A pipe or a CI log is not 80 columns wide: give tables room there."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False, width=160)
    return console


out = _console(stderr=False)
err = _console(stderr=True)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def emit_json(value: Any) -> None:
    print(json.dumps(_plain(value), indent=2, sort_keys=True))


def check(result: CheckResult) -> None:
    for side, kind, error in (
        ("source", result.source_type, result.source_error),
        ("destination", result.destination_type, result.destination_error),
    ):
        status = f"[red]unreachable: {escape(error)}[/red]" if error else "[green]reachable[/green]"
        out.print(f"{side} ({kind}): {status}")
    table = Table("source bucket", "public", "destination bucket", "access", "exists at destination")
    for b in result.buckets:
        exists = {True: "yes", False: "no (provision creates it)", None: "?"}[b.destination_exists]
        public = {True: "yes", False: "no", None: "-"}[b.source_public]
        source = Text(b.source) if b.source_exists else Text(f"{b.source} (missing)", style="red")
        table.add_row(source, public, Text(b.destination), b.access, exists)
    out.print(table)
    for b in result.buckets:
        for warning in b.warnings:
            out.print(f"[yellow]warning:[/yellow] {escape(warning)}")


def listing(result: ListResult) -> None:
    table = Table("key", "size", "content type", "last modified")
    for info in result.shown:
        modified = info.last_modified.strftime("%Y-%m-%d %H:%M") if info.last_modified else ""
        table.add_row(Text(info.key), size(info.size), Text(info.content_type or ""), modified)
    out.print(table)
    more = f", first {len(result.shown)} shown" if len(result.shown) < result.count else ""
    out.print(
        f"{result.side} bucket {result.bucket}: {result.count} objects, {size(result.total_bytes)}{more}", markup=False
    )


def transfer_json(run: CopyRun, *, manifest: str) -> dict[str, Any]:
    reports, mode, dry_run = run.reports, run.request.mode, run.request.dry_run
    buckets = []
    for r in reports:
        s = r.stats
        buckets.append(
            {
                "source": r.spec.source_bucket,
                "destination": r.spec.dest_bucket,
                "listed": s.listed,
                "listed_bytes": s.listed_bytes,
                "to_copy": s.to_copy,
                "to_copy_bytes": s.to_copy_bytes,
                "copied": s.copied,
                "copied_bytes": s.copied_bytes,
                "adopted": s.adopted,
                "kept": s.kept,
                "failed": s.failed,
                "retries": s.retries,
                "source_requests": s.tallies.source_requests,
                "resumed_reads": s.tallies.resumed_reads,
                "md5_mismatches": s.tallies.md5_mismatches,
                "metadata": r.metadata_path,
                "decisions": {str(k): v for k, v in s.decisions.items()},
                "decision_bytes": {str(k): v for k, v in s.decision_bytes.items()},
                "failures": [{"key": f.key, "error": f.error, "kind": f.kind} for f in r.failures],
                "conflicts": [_plain(c) for c in r.conflicts],
                "notes": list(r.notes),
            }
        )
    return {
        "mode": mode,
        "dry_run": dry_run,
        "manifest": manifest,
        "memory_peak_bytes": run.memory_peak,
        "memory_budget_bytes": run.budget.limit,
        "buckets": buckets,
        "reconcile": [_plain(r) for r in run.reconciled],
    }


def reconciled(reports: list[ReconcileReport]) -> None:
    """The API listing against storage.objects; silent when there was nothing to compare."""
    for r in reports:
        if r.ok:
            out.print(f"reconcile {r.bucket}: {r.listed} listed = {r.in_database} in storage.objects", markup=False)
            continue
        out.print(
            f"[yellow]reconcile {escape(r.bucket)}:[/yellow] {r.listed} listed, {r.in_database} in storage.objects: "
            f"{r.only_in_database} only in the database, {r.only_listed} only in the listing, "
            f"{r.size_differs} with other sizes",
            markup=True,
        )
        for sample in r.samples[:10]:
            out.print(f"  {sample}", markup=False)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "?"


def transfer_summary(reports: list[MappingReport], *, mode: str, dry_run: bool, elapsed: float) -> None:
    title = f"{mode} (dry run: nothing written)" if dry_run else mode
    table = Table(title=title)
    for column in ("source", "destination", "listed", "new", "changed", "unchanged", "placeholders skipped"):
        table.add_column(column)
    table.add_column("would copy" if dry_run else "copied")
    for column in ("already there", "conflicts", "failed"):
        table.add_column(column)
    for r in reports:
        s, d = r.stats, r.stats.decisions
        moved = f"{s.to_copy} ({size(s.to_copy_bytes)})" if dry_run else f"{s.copied} ({size(s.copied_bytes)})"
        there = d.get("adopt", 0) + d.get("look", 0) if dry_run else s.adopted
        table.add_row(
            Text(r.spec.source_bucket),
            Text(r.spec.dest_bucket),
            str(s.listed),
            str(d.get("new", 0) + d.get("retry", 0)),
            str(d.get("changed", 0) + d.get("missing", 0) + d.get("overwrite", 0)),
            str(d.get("same", 0)),
            str(d.get("placeholder", 0)),
            moved,
            f"{there} (to look at)" if dry_run and d.get("look", 0) else str(there),
            f"[yellow]{s.conflicts}[/yellow]" if s.conflicts else "0",
            f"[red]{s.failed}[/red]" if s.failed else "0",
        )
    out.print(table)
    if not dry_run:
        moved_bytes = sum(r.stats.copied_bytes for r in reports)
        objects = sum(r.stats.copied for r in reports)
        rate = objects / elapsed if elapsed > 0 else 0.0
        out.print(f"{objects} objects, {size(moved_bytes)} in {elapsed:.1f}s ({rate:.1f} objects/s)")
    for r in reports:
        if r.metadata_path and r.stats.listed:
            out.print(Text(f"{r.spec.source_bucket}: user metadata {r.metadata_path}"))
        for c in r.conflicts[:20]:
            out.print(
                Text.assemble(
                    ("conflict", "yellow"),
                    f" {r.spec.source_bucket}/{c.key}: {c.reason}; source {size(c.source_size)} "
                    f"({_when(c.source_modified)}), destination {size(c.dest_size or 0)} ({_when(c.dest_modified)})",
                )
            )
        if r.conflicts:
            out.print(
                Text(
                    f"{len(r.conflicts)} objects of {r.spec.source_bucket} left as the app wrote them; "
                    "--keep-destination-changes keeps them, --overwrite-destination-changes writes the source's"
                )
            )
        for failure in r.failures[:20]:
            out.print(Text.assemble(("failed", "red"), f" {r.spec.source_bucket}/{failure.key}: {failure.error}"))
        if len(r.failures) > 20:
            out.print(
                f"... and {len(r.failures) - 20} more failures in {r.spec.source_bucket} (see --json)", markup=False
            )
        for note in r.notes:
            out.print(Text.assemble(("note:", "yellow"), f" {note}"))


def verify_json(reports: list[VerifyReport]) -> dict[str, Any]:
    buckets = []
    for r in reports:
        s = r.stats
        buckets.append(
            {
                "source": r.spec.source_bucket,
                "destination": r.spec.dest_bucket,
                "checked": s.checked,
                "verified": s.verified,
                "missing": s.missing,
                "differing": s.differing,
                "placeholders_skipped": s.placeholders_skipped,
                "extra_at_destination": s.extra_at_destination,
                "conflicts": s.conflicts,
                "taken_back": s.taken_back,
                "by_stored_checksum": s.by_stored_checksum,
                "without_stored_checksum": s.without_stored_checksum,
                "missing_keys": sorted(r.missing),
                "differing_keys": [
                    {"key": m.key, "reason": m.reason} for m in sorted(r.differing, key=lambda m: m.key)
                ],
                "conflict_keys": [{"key": m.key, "reason": m.reason} for m in sorted(r.conflicts, key=lambda m: m.key)],
                "notes": list(r.notes),
            }
        )
    return {
        "ok": all(r.ok for r in reports),
        "deep": any(r.deep for r in reports),
        "missing": sum(r.stats.missing for r in reports),
        "differing": sum(r.stats.differing for r in reports),
        "conflicts": sum(r.stats.conflicts for r in reports),
        "verified": sum(r.stats.verified for r in reports),
        "buckets": buckets,
    }


def verify_summary(reports: list[VerifyReport]) -> None:
    deep = any(r.deep for r in reports)
    table = Table(title="verify (deep: destination bytes re-read)" if deep else "verify")
    columns = ("source", "destination", "checked", "verified", "missing", "differing", "conflicts",
               "placeholders skipped")  # fmt: skip
    for column in columns:
        table.add_column(column)
    for r in reports:
        s = r.stats
        table.add_row(
            Text(r.spec.source_bucket),
            Text(r.spec.dest_bucket),
            str(s.checked),
            str(s.verified),
            f"[red]{s.missing}[/red]" if s.missing else "0",
            f"[red]{s.differing}[/red]" if s.differing else "0",
            f"[red]{s.conflicts}[/red]" if s.conflicts else "0",
            str(s.placeholders_skipped),
        )
    out.print(table)
    for r in reports:
        for key in sorted(r.missing)[:20]:
            out.print(Text.assemble(("missing", "red"), f" {r.spec.source_bucket}/{key}"))
        for m in sorted(r.differing, key=lambda m: m.key)[:20]:
            out.print(Text.assemble(("differs", "red"), f" {r.spec.source_bucket}/{m.key}: {m.reason}"))
        for m in sorted(r.conflicts, key=lambda m: m.key)[:20]:
            out.print(Text.assemble(("conflict", "yellow"), f" {r.spec.source_bucket}/{m.key}: {m.reason}"))
        if r.stats.taken_back:
            taken = f"{r.stats.taken_back} objects of {r.spec.source_bucket} are no longer counted as copied"
            out.print(Text(f"{taken}: the next copy repairs them, rewrite-urls leaves their URLs alone"))
        for note in r.notes:
            out.print(Text.assemble(("note:", "yellow"), f" {note}"))
    missing, differing = sum(r.stats.missing for r in reports), sum(r.stats.differing for r in reports)
    conflicts = sum(r.stats.conflicts for r in reports)
    good = not missing and not differing and not conflicts
    verdict = "[green]verified[/green]" if good else "[red]NOT verified[/red]"
    out.print(f"{verdict}: {missing} missing, {differing} differing, {conflicts} conflicts")


def demo_intro(source_url: str, s3_url: str, plan: Path, counts: dict[str, int], database_rows: dict[str, int]) -> None:
    out.print(f"  Supabase Storage emulator: {source_url}/storage/v1", markup=False)
    out.print(f"  S3 (moto):                 {s3_url}", markup=False)
    seeded = ", ".join(f"{bucket} {n}" for bucket, n in counts.items())
    out.print(f"  seeded the source with an app's files: {seeded} objects", markup=False)
    if database_rows:
        rows = ", ".join(f"{column} {n}" for column, n in database_rows.items())
        out.print(f"  the app's database (a throw-away PostgreSQL), rows holding storage URLs: {rows}", markup=False)
    out.print(f"  plan file: {plan}", markup=False)


def demo_landing(landings: list[Landing], *, manifest: str) -> None:
    out.print("\n[bold]where everything landed[/bold]")
    table = Table("source", "destination (S3)", "access", "objects", "size")
    for landing in landings:
        table.add_row(
            Text(landing.source), Text(landing.destination), landing.access, str(landing.objects),
            size(landing.total_bytes),
        )  # fmt: skip
    out.print(table)
    for landing in landings:
        if landing.sample_url:
            kind = "signed URL, valid 1 hour" if landing.access == "private" else "public URL"
            out.print(f"{landing.destination} ({kind}):", markup=False)
            out.print(f"  {landing.sample_url}", markup=False, overflow="ignore", crop=False)
    out.print(f"manifest (one row per object, for resume and verify): {manifest}", markup=False)


def demo_end() -> None:
    out.print(
        "\nThe servers stop now; to do it for real: `bucketshift init` writes a plan file from your project, "
        "then `bucketshift migrate --dry-run`."
    )


# provisioning ---------------------------------------------------------------------------------

_MARK = {"create": "[green]+[/green]", "change": "[yellow]~[/yellow]", "remove": "[red]-[/red]", "in place": "="}


def _compact(value: Any) -> str:
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _abort_text(rule: Any) -> str:
    """Our abort rule in words when that is all it says; anything else as its document."""
    days = abort_days(rule) if isinstance(rule, dict) else None
    if days is not None and same_rule(rule, abort_rule(days)):
        return f"abort unfinished multipart uploads after {days} days"
    return _compact(rule)


def _lifecycle_detail(change: Change) -> list[str]:
    """The rule in words, and the note (what is kept, or why nothing is added)."""
    if change.kind == "in place" and change.note:
        return [change.note]
    if change.kind in ("create", "in place"):
        lines = [_abort_text(change.new)]
    else:
        lines = [f"old: {_abort_text(change.old)}", f"new: {_abort_text(change.new)}"]
    if change.note:
        lines[-1] += f" ({change.note})"
    return lines


def _change_detail(change: Change) -> list[str]:
    """Old and new of one change: field by field for flat settings, whole documents otherwise."""
    old, new = change.old, change.new
    if change.resource == "lifecycle":
        return _lifecycle_detail(change)
    if change.kind == "in place":
        documents = change.resource in ("policy", "cors", "iam-policy", "access-key")
        return ["as planned"] if documents and new is not None else [_compact(new)]
    flat = isinstance(old, dict) and isinstance(new, dict)
    if flat and all(isinstance(v, bool) for v in (*old.values(), *new.values())):
        keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        return [", ".join(f"{k}: {_compact(old.get(k))} -> {_compact(new.get(k))}" for k in keys)]
    if change.kind == "create":
        return [_compact(new)]
    return [f"old: {_compact(old)}", f"new: {_compact(new)}"]


def _change_lines(changes: list[Change]) -> None:
    target = None
    for change in changes:
        if change.target != target:
            target = change.target
            out.print(Text(target, style="bold"))
        detail = _change_detail(change)
        first = detail[0] if len(detail) == 1 else ""
        out.print(f"  {_MARK[change.kind]} {change.resource:<20} {change.kind:<9} ", end="")
        out.print(first, markup=False, overflow="ignore", crop=False)
        if len(detail) > 1:
            for line in detail:
                out.print(f"      {line}", markup=False, overflow="ignore", crop=False)


def provision_plan(planned: ProvisionPlan) -> None:
    """The difference per resource, exposure findings of existing buckets, and the app's policy."""
    for warning in planned.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    pending = len(planned.pending)
    buckets = len({c.target for c in planned.changes if not c.target.startswith("iam user ")})
    out.print(
        f"plan: {buckets} buckets in {planned.region} at {planned.endpoint}: "
        f"{pending} to change, {len(planned.changes) - pending} in place",
        markup=False,
    )
    _change_lines(planned.changes)
    for bucket in planned.postures:
        if bucket.findings and not any(
            c.target == bucket.bucket and c.resource == "bucket" and c.pending for c in planned.changes
        ):
            for finding in bucket.findings:
                out.print(f"[red]exposure[/red] {escape(bucket.bucket)} ({bucket.access}): ", end="")
                out.print(finding, markup=False)
    if planned.iam_user is None:
        out.print("IAM policy for the application (attach it to its ECS task role or other role, or pass --iam-user):")
        out.print(json.dumps(planned.app_policy, indent=2), markup=False)
    if not pending:
        out.print("[green]no change[/green]: the destination matches the plan file")


def provision_result(result: ProvisionResult, *, secret: str | None = None) -> None:
    if not result.applied:
        return
    out.print(f"[green]applied[/green] {len(result.applied)} changes")
    key = result.created_key
    if key is not None:
        out.print(
            f"access key {key.access_key_id} of IAM user {key.user} written to {key.key_file} (mode 0600)", markup=False
        )
        if secret is not None:
            out.print(f"AWS_SECRET_ACCESS_KEY={secret}", markup=False)


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "target": change.target,
        "resource": change.resource,
        "kind": change.kind,
        "old": change.old,
        "new": change.new,
        "note": change.note,
    }


def provision_plan_json(planned: ProvisionPlan) -> dict[str, Any]:
    return {
        "region": planned.region,
        "endpoint": planned.endpoint,
        "pending": len(planned.pending),
        "changes": [_change_json(c) for c in planned.changes],
        "warnings": list(planned.warnings),
        "posture": [{"bucket": b.bucket, "access": b.access, "findings": b.findings} for b in planned.postures],
        "app_policy": planned.app_policy,
        "iam_user": planned.iam_user,
        "key_file": str(planned.key_file) if planned.key_file else None,
    }


def provision_result_json(result: ProvisionResult, *, dry_run: bool, secret: str | None = None) -> dict[str, Any]:
    key = result.created_key
    out_json: dict[str, Any] = {
        "dry_run": dry_run,
        "plan": provision_plan_json(result.plan),
        "applied": [_change_json(c) for c in result.applied],
        "access_key_id": key.access_key_id if key else None,
        "key_file": str(key.key_file) if key else None,
    }
    if secret is not None:
        out_json["secret_access_key"] = secret
    return out_json


def posture_report(report: PostureReport) -> None:
    table = Table("bucket", "access", "posture")
    for bucket in report.buckets:
        table.add_row(
            Text(bucket.bucket),
            bucket.access,
            "[green]as planned[/green]" if bucket.ok else f"[red]{len(bucket.findings)} findings[/red]",
        )
    out.print(table)
    for bucket in report.buckets:
        for finding in bucket.findings:
            out.print(f"[red]exposure[/red] {escape(bucket.bucket)} ({bucket.access}): ", end="")
            out.print(finding, markup=False)
    out.print("[green]posture as planned[/green]" if report.ok else "[red]posture differs from the plan[/red]")


def posture_json(report: PostureReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "buckets": [
            {"bucket": b.bucket, "access": b.access, "ok": b.ok, "findings": b.findings} for b in report.buckets
        ],
    }


def _tally_json(t: Tally) -> dict[str, Any]:
    return {
        "rows_scanned": t.rows_scanned,
        "rows_matched": t.rows_matched,
        "rows_changed": t.rows_changed,
        "urls": t.urls,
        "rewritten": t.rewritten,
        "unverified": t.unverified,
        "unmapped": t.unmapped,
        "ambiguous": t.ambiguous,
        "private_inside_text": t.embedded_private,
        "too_long": t.too_long,
        "warnings": dict(t.warnings),
        "samples": [{"old": old, "new": new} for old, new in t.samples],
        "unverified_samples": t.unverified_samples,
        "too_long_samples": [{"value": value, "needs": needs} for value, needs in t.too_long_samples],
    }


def rewrite_json(report: RewriteReport) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": report.mode, "run_id": report.run_id}
    if report.discovered:
        out["discovered"] = [
            {"column": f.column.name, "type": f.column.kind, "rows": f.rows, "mentions_only": f.mentions_only}
            for f in report.discovered
        ]
    if report.columns:
        out["columns"] = [
            {"column": c.column, "type": c.kind, "rows_written": c.written, "seconds": round(c.seconds, 3),
             **_tally_json(c.tally)}
            for c in report.columns
        ]  # fmt: skip
    if report.reverted is not None:
        r = report.reverted
        out["reverted"] = {
            "run": r.run_id,
            "restored": r.restored,
            "already_restored": r.already_restored,
            "conflicts": r.conflicts,
            "by_column": r.by_column,
            "conflict_samples": [{"column": c.column, "key": c.row_key} for c in r.conflict_samples],
        }
    if report.nothing_to_revert:
        out["nothing_to_revert"] = report.nothing_to_revert
    if report.mode == "revert":
        out["still_applied"] = report.still_applied
    return out


def _reverted(r: RevertReport) -> None:
    out.print(f"revert of run {r.run_id} (journaled as run {r.revert_run_id}): {r.restored} values restored")
    for column, n in sorted(r.by_column.items()):
        out.print(f"  {column}: {n}", markup=False)
    if r.already_restored:
        out.print(f"{r.already_restored} values already held their old value (an earlier revert of this run "
                  "was interrupted after restoring them)")  # fmt: skip
    if r.conflicts:
        out.print(f"[yellow]{r.conflicts} values changed since the rewrite were left as they are:[/yellow]")
        for c in r.conflict_samples:
            out.print(f"  {c.column} {c.row_key}", markup=False)


def rewrite_report(report: RewriteReport, *, sql_file: Path | None = None, samples: bool = True) -> None:
    """`samples=False` leaves out the per-value lines (migrate showed them in the plan just before)."""
    if report.mode == "discover":
        table = Table("table.column", "type", "rows with storage URLs", "rows that only mention the host")
        for f in report.discovered:
            table.add_row(Text(f.column.name), Text(f.column.kind), str(f.rows), str(f.mentions_only))
        out.print(table)
        if not report.discovered:
            out.print("no column holds a storage URL of the source project")
        return
    if report.mode == "revert":
        if report.reverted is not None:
            _reverted(report.reverted)
        if report.nothing_to_revert:
            out.print(report.nothing_to_revert, markup=False)
        for run in report.still_applied:
            out.print(f"[yellow]run {run} also rewrote values and is not reverted[/yellow]; undo it with: "
                      f"bucketshift rewrite-urls --revert --run {run}")  # fmt: skip
        return
    title = {"plan": "rewrite plan (nothing written)", "sql": "rewrite as SQL", "apply": "rewrite applied"}
    table = Table("column", "type", "rows with URLs", "URLs", "to rewrite" if report.mode != "apply" else "rewritten",
                  "not verified", "other buckets", "ambiguous", "rows changed", title=title[report.mode])  # fmt: skip
    for c in report.columns:
        t = c.tally
        changed = str(c.written) if report.mode == "apply" else str(t.rows_changed)
        table.add_row(Text(c.column), Text(c.kind), str(t.rows_matched), str(t.urls), str(t.rewritten),
                      str(t.unverified), str(t.unmapped), str(t.ambiguous), changed)  # fmt: skip
    out.print(table)
    for c in report.columns if samples else ():
        t = c.tally
        for old, new in t.samples[:3]:
            out.print(f"  {c.column}: {old}\n    -> {new}", markup=False, overflow="ignore", crop=False)
        for sample in t.unverified_samples[:3]:
            out.print(f"  {c.column}: not verified at the destination, left as is: {sample}", markup=False)
        for warning, n in sorted(t.warnings.items()):
            out.print(f"  [yellow]warning[/yellow] {escape(c.column)}: {n} x {escape(warning)}")
        if t.embedded_private:
            out.print(f"  [yellow]warning[/yellow] {escape(c.column)}: {t.embedded_private} private-bucket URLs "
                      "inside longer text left as they are (a reference would break the text)")  # fmt: skip
        if t.too_long:
            out.print(f"  warning {c.column}: {t.too_long} values left as they are: the new value would be longer "
                      f"than the column's {c.max_length} characters (widen the column, then rewrite again)",
                      markup=False, style="yellow")  # fmt: skip
        for old, needs in t.too_long_samples[:3]:
            out.print(f"  {c.column}: needs {needs} characters, left as is: {old}", markup=False, overflow="ignore",
                      crop=False)  # fmt: skip
    if report.mode == "apply":
        out.print(
            f"journaled as run {report.run_id}; undo with: bucketshift rewrite-urls --revert --run {report.run_id}"
        )
    elif report.mode == "sql" and sql_file is not None:
        out.print(f"statements written to {sql_file}", markup=False)
