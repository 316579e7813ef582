"""`bucketshift rollback`: thin: parse the options, confirm, call the operation, render its result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bucketshift import eventloop
from bucketshift.cli import render
from bucketshift.cli.progress import Row, live
from bucketshift.cli.render_rollback import rollback_json, rollback_report
from bucketshift.cli.report_commands import ReportOption, save_report
from bucketshift.cli.state_option import StateOption, warn_state
from bucketshift.config import load_plan
from bucketshift.engine.diff import ConflictPolicy
from bucketshift.errors import EXIT_FAILURES, UsageError
from bucketshift.operations.report import rollback_report as report_page
from bucketshift.operations.rollback import RollbackReport, RollbackRequest, RollbackRun, progress_rows

__all__ = ["register", "run_rollback"]

DEFAULT_PLAN = Path("bucketshift.toml")


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')} needs a yes and there is no terminal to ask on; pass --yes")
    return typer.confirm(question, default=False, err=True)


def run_rollback(work: RollbackRun) -> RollbackReport:
    async def go() -> RollbackReport:
        def rows() -> list[Row]:
            return [Row(label, done, total, moved, failed) for label, done, total, moved, failed in progress_rows(work)]

        async with live(render.err, rows, enabled=not work.request.dry_run):
            return await work.run()

    return eventloop.run(go())


def rollback(
    config: Annotated[Path, typer.Option("--config", "-c", help="The plan file.", envvar="BUCKETSHIFT_CONFIG")] = (
        DEFAULT_PLAN
    ),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what each step would do; write nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Roll back without asking.")] = False,
    state: StateOption = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, max=1024, help="Objects in flight.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, max=100_000, help="Rows per batch.")] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite-supabase-changes", help="Conflicts: the application's S3 version replaces Supabase's."
        ),
    ] = False,
    keep: Annotated[
        bool, typer.Option("--keep-supabase-changes", help="Conflicts: Supabase's version stays and counts as done.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    report_path: ReportOption = None,
) -> None:
    """Move back to Supabase: copy back what the app wrote on S3, revert and rewrite the URLs, verify."""
    if overwrite and keep:
        raise UsageError("choose one of --overwrite-supabase-changes and --keep-supabase-changes")
    policy: ConflictPolicy = "overwrite" if overwrite else "keep" if keep else "report"
    plan = warn_state(load_plan(config), state)
    if not dry_run and not yes and not _confirm("roll back to Supabase (objects copied back, rows rewritten)?"):
        raise typer.Exit(EXIT_FAILURES)
    request = RollbackRequest(
        dry_run=dry_run, state=state, concurrency=concurrency, on_conflict=policy, batch_size=batch_size
    )
    report = run_rollback(RollbackRun(plan, request))
    if json_output:
        render.emit_json(rollback_json(report))
    else:
        rollback_report(report)
    if report_path is not None:
        save_report(report_path, report_page(plan, request, report))
    if not report.ok:
        raise typer.Exit(EXIT_FAILURES)


def register(app: typer.Typer) -> None:
    app.command("rollback")(rollback)
