"""How `migrate` looks: a heading per step, each step's own result as its verb shows it, a summary.

Each step's result is drawn by the renderers its own verb uses (render.py), so `migrate` reads like
the verbs run one after another.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from bucketshift.cli import render
from bucketshift.cli.progress import Row
from bucketshift.cli.progress_rows import rewrite_rows, transfer_rows, verify_rows
from bucketshift.cli.render_estimate import estimate_json, estimate_table
from bucketshift.operations.copy import CopyRun
from bucketshift.operations.migrate import MigratePreview, MigrateRun, Step, StepPreview
from bucketshift.operations.provision import ProvisionResult
from bucketshift.operations.rewrite import RewriteReport, RewriteRun
from bucketshift.operations.verify import VerifyRun

__all__ = [
    "failure",
    "heading",
    "preview",
    "preview_json",
    "progress_rows",
    "result_json",
    "rewrite_plan",
    "skipped",
    "step_result",
    "summary",
]

WHAT = {
    "provision": "the destination buckets with the access each mapping asks for",
    "copy": "every object missing or different at the destination, streamed with its metadata",
    "verify": "every source object at the destination, same size and checksum",
    "rewrite-urls": "the storage URLs kept in the app's database, journaled",
    "verify-after-rewrite": "verify again, after the rewrite",
}


def _when(stamp: str | None) -> str:
    if not stamp:
        return "?"
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return stamp


def _title(number: int, total: int, name: str) -> str:
    return f"{number}/{total} {name}"


def heading(step: Step) -> None:
    render.out.print(Text.assemble("\n", (_title(step.number, step.total, step.name), "bold"), f": {WHAT[step.name]}"))


def skipped(step: Step) -> None:
    render.out.print(
        Text.assemble(
            (_title(step.number, step.total, step.name), "bold"),
            f": already done at {_when(step.finished_at)}, skipped",
        )
    )


def progress_rows(step: Step | None) -> list[Row]:
    """The running step's live counters as progress rows (none for provision)."""
    work = step.work if step is not None else None
    if isinstance(work, CopyRun):
        return transfer_rows(work)
    if isinstance(work, VerifyRun):
        return verify_rows(work)
    if isinstance(work, RewriteRun):
        return rewrite_rows(work)
    return []


def rewrite_plan(step: Step) -> None:
    """The rewrite's plan, shown before it is applied."""
    if step.preview is None:
        return
    render.rewrite_report(step.preview)
    if not any(c.tally.rewritten for c in step.preview.columns):
        render.out.print("nothing to rewrite: no stored URL points at an object verified at the destination")


def step_result(step: Step) -> None:
    """A finished step's result, as its own verb shows it."""
    result = step.result
    if isinstance(result, ProvisionResult):
        render.provision_plan(result.plan)
        render.provision_result(result)
    elif isinstance(result, CopyRun):
        render.reconciled(result.reconciled)
        render.transfer_summary(result.reports, mode="copy", dry_run=False, elapsed=step.seconds)
    elif isinstance(result, VerifyRun):
        render.verify_summary(result.reports)
    elif isinstance(result, RewriteReport) and result.mode == "apply":
        render.rewrite_report(result, samples=step.preview is None)


def failure(step: Step) -> None:
    render.err.print(Text.assemble(("error:", "red"), f" step {step.name}: {step.error}"))
    if step.next_step:
        render.err.print(step.next_step, markup=False)


def _counts(step: Step) -> str:
    s = step.summary or {}
    if step.name == "provision":
        return f"{s.get('applied', 0)} changes applied, {s.get('in_place', 0)} in place"
    if step.name == "copy":
        buckets = [v for k, v in s.items() if k != "buckets" and isinstance(v, dict)]
        copied = sum(b.get("copied", 0) for b in buckets)
        adopted = sum(b.get("adopted", 0) for b in buckets)
        failed = sum(b.get("failed", 0) + b.get("conflicts", 0) for b in buckets)
        return f"{copied} copied, {adopted} already there" + (f", {failed} failed or in conflict" if failed else "")
    if step.name in ("verify", "verify-after-rewrite"):
        bad = s.get("missing", 0) + s.get("differing", 0) + s.get("conflicts", 0)
        return f"{s.get('verified', 0)} verified" + (f", {bad} not" if bad else "")
    if step.name == "rewrite-urls":
        columns = s.get("columns") or {}
        rewritten = sum(c.get("rewritten", 0) for c in columns.values())
        run = f" (journal run {s['run_id']})" if s.get("run_id") else ""
        return f"{rewritten} URLs rewritten in {len(columns)} columns{run}"
    return ""


def summary(work: MigrateRun) -> None:
    table = Table("step", "outcome", "what", title="migrate")
    for step in work.steps:
        outcome = {
            "done": "[green]done[/green]",
            "skipped": f"already done ({_when(step.finished_at)})",
            "failed": "[red]failed[/red]",
            "declined": "[yellow]not applied[/yellow]",
        }.get(step.status, "not run")
        what = _counts(step) if step.status in ("done", "skipped") else (step.error or "")
        table.add_row(Text(_title(step.number, step.total, step.name)), outcome, Text(what))
    render.out.print(table)
    if work.ok:
        render.out.print(Text.assemble(("migrated", "green"), f": every step done; manifest {work.manifest_where}"))


def _step_json(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": step.number,
        "name": step.name,
        "status": step.status,
        "finished_at": step.finished_at,
        "summary": step.summary,
        "error": step.error,
        "next_step": step.next_step,
    }
    result = step.result
    if isinstance(result, ProvisionResult):
        out["result"] = render.provision_result_json(result, dry_run=False)
    elif isinstance(result, CopyRun):
        out["result"] = render.transfer_json(result, manifest=result.manifest_where)
    elif isinstance(result, VerifyRun):
        out["result"] = render.verify_json(result.reports)
    elif isinstance(result, RewriteReport):
        out["result"] = render.rewrite_json(result)
    if step.preview is not None and step.preview is not result:
        out["plan"] = render.rewrite_json(step.preview)
    return out


def result_json(work: MigrateRun) -> dict[str, Any]:
    return {
        "dry_run": False,
        "ok": work.ok,
        "exit_code": work.exit_code,
        "manifest": work.manifest_where,
        "steps": [_step_json(s) for s in work.steps],
    }


# the dry run -----------------------------------------------------------------------------------


def _preview_step(shown: StepPreview) -> None:
    title = _title(shown.number, shown.total, shown.name)
    if shown.done_at is not None:
        render.out.print(
            Text.assemble("\n", (title, "bold"), f": already done at {_when(shown.done_at)}; a run skips it")
        )
        return
    render.out.print(Text.assemble("\n", (title, "bold"), f": {WHAT[shown.name]}"))
    if shown.provision is not None:
        render.provision_plan(shown.provision)
    if shown.copy is not None:
        render.reconciled(shown.copy.reconciled)
        render.transfer_summary(shown.copy.reports, mode="copy", dry_run=True, elapsed=0.0)
    if shown.new_buckets:
        table = Table("source", "destination (created by provision)", "would copy", title="copy into new buckets")
        for b in shown.new_buckets:
            table.add_row(Text(b.source), Text(b.destination), f"{b.objects} ({render.size(b.bytes)})")
        render.out.print(table)
    if shown.rewrite is not None:
        render.rewrite_report(shown.rewrite)
    if shown.note:
        render.out.print(Text.assemble(("note:", "yellow"), f" {shown.note}"))


def preview(shown: MigratePreview) -> None:
    for step in shown.steps:
        _preview_step(step)
    if shown.estimate is not None:
        render.out.print("\n[bold]estimate[/bold]: what the copy step will cost and take")
        estimate_table(shown.estimate)
    render.out.print("\n[bold]dry run[/bold]: nothing was written (no bucket, object, manifest or row)")


def preview_json(shown: MigratePreview) -> dict[str, Any]:
    steps = []
    for s in shown.steps:
        item: dict[str, Any] = {"number": s.number, "name": s.name, "done_at": s.done_at, "note": s.note}
        if s.provision is not None:
            item["provision"] = render.provision_plan_json(s.provision)
        if s.copy is not None:
            item["copy"] = render.transfer_json(s.copy, manifest=str(shown.manifest))
        if s.new_buckets:
            item["new_buckets"] = [
                {"source": b.source, "destination": b.destination, "objects": b.objects, "bytes": b.bytes}
                for b in s.new_buckets
            ]
        if s.rewrite is not None:
            item["rewrite"] = render.rewrite_json(s.rewrite)
        steps.append(item)
    estimated = estimate_json(shown.estimate) if shown.estimate is not None else None
    return {"dry_run": True, "manifest": str(shown.manifest), "steps": steps, "estimate": estimated}
