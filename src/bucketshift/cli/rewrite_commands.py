"""`bucketshift rewrite-urls`: discover, plan (default), --sql, --apply, --revert.

Thin: parse the options, call the operation, render its result.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from bucketshift import eventloop
from bucketshift.cli import render
from bucketshift.cli.progress import live
from bucketshift.cli.progress_rows import rewrite_rows
from bucketshift.cli.state_option import StateOption, warn_state
from bucketshift.config import load_plan
from bucketshift.errors import EXIT_FAILURES, UsageError
from bucketshift.operations.rewrite import RewriteReport, RewriteRequest, RewriteRun

__all__ = ["register", "run_with_progress"]

DEFAULT_PLAN = Path("bucketshift.toml")


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')} needs a yes and there is no terminal to ask on; pass --yes")
    return typer.confirm(question, default=False, err=True)


def run_with_progress(work: RewriteRun) -> RewriteReport:
    """Run `work` off the event loop while its steps show as progress rows."""

    async def go() -> RewriteReport:
        async with live(render.err, lambda: rewrite_rows(work)):
            return await asyncio.to_thread(work.run)

    return eventloop.run(go())


def rewrite_urls(
    revert_run: Annotated[
        int | None, typer.Argument(metavar="RUN", help="With --revert: the run to revert (as --run).")
    ] = None,
    config: Annotated[Path, typer.Option("--config", "-c", help="The plan file.", envvar="BUCKETSHIFT_CONFIG")] = (
        DEFAULT_PLAN
    ),
    discover: Annotated[bool, typer.Option("--discover", help="List the columns that hold storage URLs.")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Rewrite the verified URLs, journaled.")] = False,
    sql_file: Annotated[
        Path | None, typer.Option("--sql", help="Write the UPDATE statements to this file instead of running them.")
    ] = None,
    revert: Annotated[bool, typer.Option("--revert", help="Undo a rewrite run from its journal.")] = False,
    run: Annotated[int | None, typer.Option("--run", help="The run to revert (default: the latest).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, max=100_000, help="Rows per batch.")] = None,
    sleep: Annotated[float, typer.Option("--sleep", min=0.0, help="Seconds to pause between batches.")] = 0.0,
    state: StateOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply or revert without asking.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Rewrite the storage URLs kept in the app's database (plan by default; --apply; --revert)."""
    chosen = [
        name
        for name, on in (("--discover", discover), ("--apply", apply), ("--sql", sql_file), ("--revert", revert))
        if on
    ]
    if len(chosen) > 1:
        raise UsageError(f"choose one of {', '.join(chosen)}")
    mode = "discover" if discover else "apply" if apply else "sql" if sql_file else "revert" if revert else "plan"
    if revert_run is not None:
        if run is not None and run != revert_run:
            raise UsageError(f"two runs to revert given ({revert_run} and --run {run}); give one")
        run = revert_run
    if run is not None and mode != "revert":
        raise UsageError("a run number only goes with --revert")
    plan = warn_state(load_plan(config), state)
    if (
        mode in ("apply", "revert")
        and not yes
        and not _confirm(f"{mode} the URL rewrite in the application's database?")
    ):
        raise typer.Exit(EXIT_FAILURES)
    if sql_file is not None:
        sql_file.write_text("", encoding="utf-8")
    request = RewriteRequest(mode=mode, run_id=run, batch_size=batch_size, sleep=sleep, sql_path=sql_file, state=state)
    work = RewriteRun(plan, request)
    report = run_with_progress(work) if mode in ("apply", "plan", "revert") else work.run()
    if json_output:
        render.emit_json(render.rewrite_json(report))
    else:
        render.rewrite_report(report, sql_file=sql_file)
    if not report.ok:
        raise typer.Exit(EXIT_FAILURES)


def register(app: typer.Typer) -> None:
    app.command("rewrite-urls")(rewrite_urls)
