"""`bucketshift migrate`: the whole phase, step by step, resumable; `--dry-run` shows every step's plan.

Thin: parse the options, run the operation, draw each step as it happens.
"""

from __future__ import annotations

import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated

import typer

from bucketshift import eventloop
from bucketshift.cli import render, render_migrate
from bucketshift.cli.progress import live
from bucketshift.cli.report_commands import ReportOption, save_report
from bucketshift.cli.state_option import StateOption, warn_state
from bucketshift.config import load_plan
from bucketshift.engine.diff import ConflictPolicy
from bucketshift.engine.pacing import parse_rate
from bucketshift.errors import UsageError
from bucketshift.operations.migrate import MigrateRequest, MigrateRun, StepEvent
from bucketshift.operations.report import migrate_preview_report, migrate_report
from bucketshift.operations.rewrite import RewriteReport

__all__ = ["register", "run_migrate"]

DEFAULT_PLAN = Path("bucketshift.toml")


def _on_conflict(overwrite: bool, keep: bool) -> ConflictPolicy:
    if overwrite and keep:
        raise UsageError(
            "--overwrite-destination-changes and --keep-destination-changes contradict each other; give one"
        )
    return "overwrite" if overwrite else "keep" if keep else "report"


def _rate(bandwidth: str | None) -> float | None:
    try:
        return parse_rate(bandwidth) if bandwidth else None
    except ValueError as exc:
        raise UsageError(f"--bandwidth: {exc}") from None


def _confirm(preview: RewriteReport) -> bool:
    urls = sum(c.tally.rewritten for c in preview.columns)
    return typer.confirm(f"apply the rewrite of these {urls} URLs in the application's database?", err=True)


class _Bars:
    """The running step's progress bars, closed while a result is drawn or a question asked."""

    def __init__(self) -> None:
        self._stack: AsyncExitStack | None = None

    async def open(self, work: MigrateRun) -> None:
        await self.close()
        self._stack = AsyncExitStack()
        await self._stack.enter_async_context(live(render.err, lambda: render_migrate.progress_rows(work.current)))

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()


def _draw(event: StepEvent) -> None:
    step = event.step
    if event.kind == "skipped":
        render_migrate.skipped(step)
    elif event.kind == "started":
        render_migrate.heading(step)
    elif event.kind == "planned":
        render_migrate.rewrite_plan(step)
    elif event.kind == "finished":
        render_migrate.step_result(step)
        if step.status in ("failed", "declined"):
            render_migrate.failure(step)


async def run_migrate(work: MigrateRun, json_output: bool) -> None:
    bars = _Bars()
    try:
        async for event in work.events(_confirm):
            if event.kind in ("planned", "finished"):
                await bars.close()
            if not json_output:
                _draw(event)
            if event.kind in ("started", "applying") and event.step.name != "provision":
                await bars.open(work)
    finally:
        await bars.close()


def migrate(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The plan file.", envvar="BUCKETSHIFT_CONFIG", show_default=True)
    ] = DEFAULT_PLAN,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what every step would change; write nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply the URL rewrite without asking.")] = False,
    state: StateOption = None,
    bucket: Annotated[
        list[str] | None,
        typer.Option(
            "--bucket",
            "-b",
            help="Only this bucket mapping (repeatable), in every step: provision and the "
            "rewrite then cover only its bucket.",
        ),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, max=1024, help="Objects in flight (default: plan file).")
    ] = None,
    bandwidth: Annotated[str | None, typer.Option("--bandwidth", help="Cap on bytes copied, e.g. 50MB/s.")] = None,
    overwrite_destination_changes: Annotated[
        bool,
        typer.Option(
            "--overwrite-destination-changes",
            help="Objects the app changed at the destination: write the source's version over them.",
        ),
    ] = False,
    keep_destination_changes: Annotated[
        bool,
        typer.Option(
            "--keep-destination-changes",
            help="Objects the app changed at the destination: keep them, recorded as done for verify and rewrite.",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    report: ReportOption = None,
) -> None:
    """Provision, copy, verify, rewrite the app's URLs and verify again; a rerun resumes where it stopped."""
    request = MigrateRequest(
        dry_run=dry_run, yes=yes, state=state, buckets=bucket, concurrency=concurrency, bandwidth=_rate(bandwidth),
        on_conflict=_on_conflict(overwrite_destination_changes, keep_destination_changes),
        estimate_before_copy=report is not None,
    )  # fmt: skip
    work = MigrateRun(warn_state(load_plan(config), state), request)
    if dry_run:
        shown = eventloop.run(work.preview())
        render.emit_json(render_migrate.preview_json(shown)) if json_output else render_migrate.preview(shown)
        if report is not None:
            save_report(report, migrate_preview_report(work, shown))
        return
    if work.will_ask() and not sys.stdin.isatty():
        raise UsageError(
            "migrate applies the URL rewrite after a yes and there is no terminal to ask on; "
            "pass --yes, or --dry-run to only look"
        )
    eventloop.run(run_migrate(work, json_output))
    if json_output:
        render.emit_json(render_migrate.result_json(work))
    else:
        render_migrate.summary(work)
    if report is not None:
        save_report(report, migrate_report(work))
    if work.exit_code:
        raise typer.Exit(work.exit_code)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
